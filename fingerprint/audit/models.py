"""The models an audit compares, and what each said to the shared prompts.

A model is either *runnable* (a :class:`~fingerprint.sources.base.LogitSource`: an ONNX model,
an n-gram model, anything with ``next_token_logits`` and ``generate``) or *recorded* (its
responses to the prompts with their top-k log-probs, as an API returns them, read from a file).
Runnable models are asked the prompts here; recorded ones answered them before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Responses:
    """A model's responses to the shared prompts.

    ``prompt_index[i]``: which audit prompt response i answers; ``tokens``/``offsets``: the
    response tokens (ragged); ``top_ids``/``top_logprobs`` ([N, k], -1 / -inf pads): the model's
    own top-k at each response position (None if unknown).
    """

    prompt_index: np.ndarray
    tokens: np.ndarray
    offsets: np.ndarray
    top_ids: np.ndarray | None = None
    top_logprobs: np.ndarray | None = None

    def response(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]: self.offsets[i + 1]]

    @property
    def num_tokens(self) -> int:
        return int(self.offsets[-1])


@dataclass
class AuditModel:
    """One model in an audit: ``source`` (runnable) or ``recorded`` responses, or both."""

    name: str
    kind: str
    source: object | None = None
    recorded: Responses | None = None
    path: str | None = None
    tokenizer: object | None = None  # the tokenizer a .gguf file carries

    @property
    def runnable(self) -> bool:
        return self.source is not None

    def describe(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "runnable": self.runnable}
        if self.path:
            d["path"] = self.path
        return d


RECORDED_SUFFIXES = (".jsonl", ".json", ".parquet", ".arrow")


def split_spec(spec: str) -> tuple[str, str | None]:
    """``PATH`` or ``NAME=PATH`` → (path, name or None)."""
    if "=" in spec and not Path(spec).exists():
        name, path = spec.split("=", 1)
        if not name:
            raise ValueError(f"model spec {spec!r}: expected NAME=PATH or PATH, got an empty name")
        return path, name
    return spec, None


def load_model(spec: str, *, num_threads: int | None = None, prompts=None) -> AuditModel:
    """Open a model from a path: ``.onnx`` (ONNX Runtime), ``.gguf`` (converted once to ONNX),
    ``.npz`` (a saved :class:`fingerprint.zoo.NGramLM`), or a recorded responses file
    (``.jsonl``/``.json``/``.parquet``: API responses with top-k log-probs)."""
    path, name = split_spec(spec)
    p = Path(path)
    if not p.exists():
        raise ValueError(f"model {spec!r}: no such file {str(p)!r} (expected an .onnx, .gguf or .npz model, "
                         "or a .jsonl/.json/.parquet file of recorded responses)")
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        from ..sources.onnx import OnnxCausalLM

        return AuditModel(name or p.stem, "onnx", OnnxCausalLM(str(p), num_threads=num_threads), path=str(p))
    if suffix == ".gguf":
        from ..sources.gguf import load_gguf

        src, tok = load_gguf(p, num_threads=num_threads)
        return AuditModel(name or src.name, "gguf", src, path=str(p), tokenizer=tok)
    if suffix == ".npz":
        from ..zoo import NGramLM

        return AuditModel(name or p.stem, "ngram", NGramLM.load(str(p)), path=str(p))
    if suffix in RECORDED_SUFFIXES:
        from .recorded import read_responses

        if prompts is None:
            raise ValueError(f"model {spec!r}: recorded responses need the audit prompts to match against")
        return AuditModel(name or p.stem, "recorded", recorded=read_responses(str(p), prompts), path=str(p))
    raise ValueError(f"model {spec!r}: unknown file type {suffix!r}; expected .onnx, .gguf, .npz, "
                     ".jsonl, .json, .parquet or .arrow")
