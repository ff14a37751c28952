"""Recorded data for an audit: a closed model's responses, and the teacher's watermarked texts.

Both are record files read by :mod:`fingerprint.sources.readers` (canonical JSONL/Parquet with
``prompt_ids`` and ``token_ids``; responses also need ``top_ids``/``top_logprobs``, the model's top-k
at each response position, as an API returns them).
"""

from __future__ import annotations

import numpy as np

from .models import Responses


def _read(path: str, vocab_size: int):
    from ..sources.readers import read_all

    b = read_all(path)
    if b.prompt_tokens is None:
        raise ValueError(f"{path}: records need a 'prompt_ids' field (the prompt each response answers)")
    big = int(b.tokens.max(initial=-1))
    if big >= vocab_size:
        raise ValueError(f"{path}: token id {big} is outside the teacher's vocabulary of {vocab_size}")
    return b


def read_texts(path: str, vocab_size: int) -> tuple[Responses, list[np.ndarray]]:
    """The teacher's texts: (Responses with one prompt per text, the prompts)."""
    b = _read(path, vocab_size)
    prompts = [b.prompt_tokens[b.prompt_offsets[i]: b.prompt_offsets[i + 1]].copy() for i in range(len(b))]
    return Responses(np.arange(len(b), dtype=np.int64), b.tokens, b.offsets), prompts


def read_responses(path: str, prompts: list[np.ndarray]) -> Responses:
    """A closed model's responses to the audit ``prompts``, matched by prompt token ids (a record whose
    prompt is not an audit prompt raises: the audit compares models on the same prompts)."""
    vmax = max((int(p.max(initial=0)) for p in prompts), default=0)
    b = _read(path, np.iinfo(np.int64).max)
    if b.top_ids is None:
        raise ValueError(f"{path}: recorded responses need top-k log-probs ('top_ids', 'top_logprobs'); "
                         "request logprobs with top_logprobs > 0 from the API")
    index = {tuple(p.tolist()): i for i, p in enumerate(prompts)}
    which = np.empty(len(b), dtype=np.int64)
    for i in range(len(b)):
        key = tuple(b.prompt_tokens[b.prompt_offsets[i]: b.prompt_offsets[i + 1]].tolist())
        if key not in index:
            raise ValueError(f"{path}: record {b.ids[i]!r}: its prompt_ids match none of the {len(prompts)} audit "
                             f"prompts (tokenized with the teacher's tokenizer, ids up to {vmax})")
        which[i] = index[key]
    return Responses(which, b.tokens, b.offsets, b.top_ids, b.top_logprobs)
