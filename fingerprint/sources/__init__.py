"""Where token ids, logits and log-probs come from, and where they go.

- :mod:`fingerprint.sources.base`: the :class:`LogitSource` protocol and :class:`LogitsChunk`.
- :mod:`fingerprint.sources.onnx`: :class:`OnnxCausalLM` (ONNX Runtime decoder-only models).
- :mod:`fingerprint.sources.gguf`: GGUF (Llama) → ONNX conversion, tokenizer from GGUF metadata.
- :mod:`fingerprint.sources.records`: :class:`TokenBatch` (records in ragged layout), read stats.
- :mod:`fingerprint.sources.readers`: streaming readers (OpenAI / vLLM JSON, JSONL, Parquet, Arrow, NumPy),
  the entry points; the formats' parsers live in :mod:`~fingerprint.sources.api_json` (JSON/JSONL)
  and :mod:`~fingerprint.sources.columnar` (Parquet, Arrow IPC, .npz).
- :mod:`fingerprint.sources.writers`: atomic Parquet / JSONL writers.
- :mod:`fingerprint.sources.vocab`: token strings/bytes to ids; alignment of two tokenisations by bytes.

Heavy dependencies (onnxruntime, onnx, gguf, tokenizers, pyarrow) load on first use, so
``import fingerprint`` stays light.
"""

from __future__ import annotations

from .base import LogitsChunk, LogitSource
from .gguf import convert as convert_gguf, load_gguf, load_smollm2
from .onnx import OnnxCausalLM, TopK

__all__ = ["LogitSource", "LogitsChunk", "OnnxCausalLM", "TopK", "convert_gguf", "load_gguf", "load_smollm2"]
