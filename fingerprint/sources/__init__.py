"""Log-prob sources: where next-token distributions come from (ONNX Runtime models, GGUF conversions)."""

from __future__ import annotations

from .base import LogitsChunk, LogitSource
from .gguf import convert as convert_gguf, load_gguf, load_smollm2
from .onnx import OnnxCausalLM, TopK

__all__ = ["LogitSource", "LogitsChunk", "OnnxCausalLM", "TopK", "convert_gguf", "load_gguf", "load_smollm2"]
