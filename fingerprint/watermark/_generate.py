"""Sampling with a logits processor, for tests and demos: any ``logits_fn`` becomes a watermarked model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._validate import index_vector, integer, real_open


def generate(
    logits_fn: Callable[[np.ndarray], np.ndarray],
    prompt_ids: object,
    max_new_tokens: int,
    *,
    processor: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    temperature: float = 1.0,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Sample ``max_new_tokens`` tokens after ``prompt_ids``; returns the new tokens (int64).

    At each step ``logits_fn(ids)`` (ids: the prompt and the tokens sampled so far, int64) gives the
    next-token logits (1-D); ``processor(ids, logits)`` (e.g. ``KGW(...).processor(delta)``) may
    change them; the token is drawn from ``softmax(logits / temperature)`` (computed in float64)
    with ``rng`` (a NumPy Generator or a seed).
    """
    if not callable(logits_fn):
        raise TypeError(f"logits_fn: expected a callable, got {type(logits_fn).__name__}")
    if processor is not None and not callable(processor):
        raise TypeError(f"processor: expected a callable or None, got {type(processor).__name__}")
    ids = list(index_vector("prompt_ids", prompt_ids))
    n = integer("max_new_tokens", max_new_tokens, lo=0)
    t = real_open("temperature", temperature, 0.0, float("inf"))
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    out = np.empty(n, dtype=np.int64)
    for step in range(n):
        cur = np.asarray(ids, dtype=np.int64)
        logits = np.asarray(logits_fn(cur))
        if logits.ndim != 1 or not np.issubdtype(logits.dtype, np.floating):
            raise ValueError(f"logits_fn: expected a 1-D float array, got {logits.dtype} {logits.shape}")
        if processor is not None:
            logits = processor(cur, logits)
        x = logits.astype(np.float64) / t
        x -= np.max(x)
        p = np.exp(x)
        c = np.cumsum(p)
        tok = int(np.searchsorted(c, gen.random() * c[-1], side="right"))
        tok = min(tok, len(c) - 1)
        out[step] = tok
        ids.append(tok)
    return out
