"""fingerprint: statistical evidence of distillation between language models.

The public API is re-exported here; everything else is private. Importing the package loads
NumPy only: native kernels, Numba and optional back ends load on first use.
"""

from __future__ import annotations

from ._native import set_simd, simd_info
from ._threads import get_num_threads, set_num_threads
from .attribution import Attribution, Candidate, ModelDistance, attribute, bootstrap_mean, model_distance, panel_index
from .binary_index import BinaryIndex, jaccard_from_hamming, minhash_bits, simhash_codes
from . import audit, jobs, minhash, scores, sources, watermark
from .detector_bench import benchmark_detectors
from .divergence import token_divergences
from .index import FingerprintIndex, SearchResult
from .minhash import MinHashLSH
from .model_fingerprint import ModelFingerprint, default_anchors, logit_profile, model_fingerprint, text_fingerprint, topk_from_logits, topk_sketch
from .probes import Probe, ProbeSet, default_probes
from .zoo import LowRankLM, NGramLM, Zoo, make_zoo
from .result import ALL_FIELDS, DivergenceResult
from .sources import LogitsChunk, LogitSource, OnnxCausalLM, load_gguf, load_smollm2
from .sources.readers import iter_batches
from .sources.records import TokenBatch
from .topk import topk_divergences

__version__ = "0.1.0"

__all__ = [
    "ALL_FIELDS",
    "Attribution",
    "BinaryIndex",
    "Candidate",
    "DivergenceResult",
    "FingerprintIndex",
    "LogitSource",
    "LogitsChunk",
    "LowRankLM",
    "MinHashLSH",
    "ModelDistance",
    "ModelFingerprint",
    "NGramLM",
    "OnnxCausalLM",
    "Probe",
    "ProbeSet",
    "SearchResult",
    "TokenBatch",
    "Zoo",
    "__version__",
    "attribute",
    "audit",
    "benchmark_detectors",
    "bootstrap_mean",
    "default_anchors",
    "default_probes",
    "get_num_threads",
    "iter_batches",
    "jaccard_from_hamming",
    "jobs",
    "load_gguf",
    "load_smollm2",
    "logit_profile",
    "make_zoo",
    "minhash",
    "minhash_bits",
    "model_distance",
    "model_fingerprint",
    "panel_index",
    "scores",
    "set_num_threads",
    "set_simd",
    "simd_info",
    "simhash_codes",
    "sources",
    "text_fingerprint",
    "token_divergences",
    "topk_divergences",
    "topk_from_logits",
    "topk_sketch",
    "watermark",
]
