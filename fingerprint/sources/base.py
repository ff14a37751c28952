"""The LogitSource protocol: anything that gives next-token distributions over token sequences.

Implemented by :class:`fingerprint.sources.onnx.OnnxCausalLM` (ONNX Runtime) and by the n-gram
models of ``fingerprint.zoo``; consumed by the audit and by fingerprints. See INTERFACES in the
README: rows for sequence ``s`` with tokens ``x_0..x_{L-1}`` are produced for positions
``j = score_from[s] .. L-1`` in order of ``s`` then ``j``; row = float32 logits of ``x_j`` given
``x_0..x_{j-1}`` (teacher forcing), streamed one :class:`LogitsChunk` at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class LogitsChunk:
    """One streamed block of teacher-forced rows.

    ``seq_index`` int64 [n] (sequence s), ``positions`` int64 [n] (j), ``targets`` int64 [n] (x_j),
    ``logits`` float32 [n, V] C-contiguous (row i: logits of the token at ``positions[i]`` given
    the tokens before it).
    """

    seq_index: np.ndarray
    positions: np.ndarray
    targets: np.ndarray
    logits: np.ndarray


@runtime_checkable
class LogitSource(Protocol):
    """Next-token logits over ragged token sequences, teacher-forced, and sampling."""

    vocab_size: int
    name: str

    def next_token_logits(
        self, tokens: np.ndarray, offsets: np.ndarray, *, score_from: np.ndarray | None = None, batch_size: int = 8
    ) -> Iterator[LogitsChunk]: ...

    def generate(
        self,
        prompts: list[np.ndarray],
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 0,
        processor: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        eos_token_id: int | None = None,
    ) -> list[np.ndarray]: ...


def teacher_forcing_inputs(tokens, offsets, score_from, vocab_size: int, *, min_context: int):
    """Validated ``(tokens, offsets, lengths, score_from)`` of :meth:`LogitSource.next_token_logits`.

    ``score_from`` defaults to 1 for every sequence; each value must lie in
    ``[min_context, max(len(sequence), min_context)]`` (``min_context``: the fewest tokens a model needs
    before the first scored position: 1 for a transformer, 0 for an n-gram model).
    """
    from .._validate import index_vector, offsets_vector

    t = index_vector("tokens", tokens, upper=vocab_size)
    o = offsets_vector("offsets", offsets, t.shape[0])
    lens = np.diff(o)
    if score_from is None:
        return t, o, lens, np.ones(lens.shape[0], dtype=np.int64)
    sf = index_vector("score_from", score_from, length=lens.shape[0])
    bad = np.flatnonzero((sf < min_context) | (sf > np.maximum(lens, min_context)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"score_from: expected {min_context} <= score_from[s] <= length of sequence s; "
                         f"score_from[{i}] = {int(sf[i])}, length {int(lens[i])}")
    return t, o, lens, sf
