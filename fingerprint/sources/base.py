"""The LogitSource protocol (see INTERFACES.md) and the chunks it streams."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class LogitsChunk:
    """Rows of next-token logits under teacher forcing.

    ``seq_index`` int64 [n]: the sequence each row belongs to; ``positions`` int64 [n]: j within it;
    ``targets`` int64 [n]: the observed token x_j; ``logits`` float32 [n, V] (C-contiguous): the
    logits of x_j given x_0..x_{j-1}.
    """

    seq_index: np.ndarray
    positions: np.ndarray
    targets: np.ndarray
    logits: np.ndarray


@runtime_checkable
class LogitSource(Protocol):
    """Anything that gives next-token distributions over ragged token sequences."""

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
