"""fingerprint: statistical evidence of distillation between language models.

The public API is re-exported here; everything else is private. Importing the package loads
NumPy only: native kernels, Numba and optional back ends load on first use.
"""

from __future__ import annotations

from ._native import set_simd, simd_info
from ._threads import get_num_threads, set_num_threads
from . import jobs, minhash, scores, watermark
from .divergence import token_divergences
from .index import FingerprintIndex, SearchResult
from .minhash import MinHashLSH
from .result import ALL_FIELDS, DivergenceResult
from .sources.readers import iter_batches
from .sources.records import TokenBatch
from .topk import topk_divergences

__version__ = "0.1.0"

__all__ = [
    "ALL_FIELDS",
    "DivergenceResult",
    "FingerprintIndex",
    "MinHashLSH",
    "SearchResult",
    "TokenBatch",
    "__version__",
    "get_num_threads",
    "iter_batches",
    "jobs",
    "minhash",
    "scores",
    "set_num_threads",
    "set_simd",
    "simd_info",
    "token_divergences",
    "topk_divergences",
    "watermark",
]
