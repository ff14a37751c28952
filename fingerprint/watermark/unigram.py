r"""Unigram watermark (Zhao et al. 2023, "Provable Robust Watermarking for AI-Generated Text").

One fixed green list for every position. It is derived exactly as the authors' code
(XuandongZhao/Unigram-Watermark, ``gptwm.py``) derives it, with NumPy:

- ``seed = int.from_bytes(sha256(int64(key) as 8 little-endian bytes).digest()[:4], "little")``;
- ``mask = [True] * int(gamma * V) + [False] * (V - int(gamma * V))`` (a NumPy bool array);
- ``numpy.random.default_rng(seed).shuffle(mask)``; green tokens are those where ``mask`` is True.

(The reference hashes ``np.int64(key)`` in the machine's byte order; on the little-endian machines
it runs on that is the order used here, on any machine.)

Detection counts green tokens. The reference offers two statistics, both
:math:`z = (G - \gamma T) / \sqrt{\gamma (1 - \gamma) T}`:

- over all tokens (``detect``, used by its ``run_detect.py``): ``unique_tokens=False``; reported
  ``p_value = norm.sf(z)``;
- over the distinct tokens (``unidetect``, with the dynamic threshold
  :math:`\tau = \sqrt{1 - (m - 1)/(V - 1)}\,\Phi^{-1}(1 - \alpha)` of the paper for m distinct
  tokens): ``unique_tokens=True`` (default); reported ``p_value = norm.sf(z / sqrt(1 - (m-1)/(V-1)))``,
  which is below alpha exactly when z exceeds the dynamic threshold.

``p_value_exact``: with ``unique_tokens=True``, the exact hypergeometric tail: under H0 (the text
does not depend on the key) the green list is a uniformly random ``int(gamma V)``-subset, so the
number of green tokens among m distinct tokens is Hypergeometric(V, int(gamma V), m), whatever the
text. With ``unique_tokens=False``, the binomial tail over all T tokens with probability
``int(gamma V) / V``, valid only for i.i.d. uniform tokens; a :class:`RepeatedNgramWarning` is
raised when tokens repeat (a repeated token is the same trial counted again).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .. import _native
from .._threads import resolve_num_threads
from .._validate import boolean, index_vector, integer, real_finite, real_open
from ._stats import binom_upper, hypergeom_upper, p_norm_sf
from .kgw import _ragged, _warn_repeated
from .result import WatermarkBatchResult


def unigram_green_mask(vocab_size: int, gamma: float, key: int) -> np.ndarray:
    """The Unigram green list as a bool mask of length ``vocab_size`` (see the module documentation)."""
    v = integer("vocab_size", vocab_size, lo=1, hi=2**31)
    g = real_open("gamma", gamma, 0.0, 1.0)
    k = integer("key", key, lo=-(2**63), hi=2**63)
    seed = int.from_bytes(hashlib.sha256(np.int64(k).astype("<i8").tobytes()).digest()[:4], "little")
    n_green = int(g * v)
    mask = np.array([True] * n_green + [False] * (v - n_green))
    np.random.default_rng(seed).shuffle(mask)
    return mask


class Unigram:
    """Unigram watermark: detector and generator over one fixed green list.

    ``Unigram(vocab_size, gamma=..., key=...)``; ``unique_tokens`` picks the statistic (see the
    module documentation). ``detect``, ``detect_batch`` and ``processor`` as for :class:`KGW`.
    """

    def __init__(self, vocab_size: int, *, gamma: float, key: int, unique_tokens: bool = True) -> None:
        self.vocab_size = integer("vocab_size", vocab_size, lo=2, hi=2**31)
        self.gamma = real_open("gamma", gamma, 0.0, 1.0)
        self.key = integer("key", key, lo=-(2**63), hi=2**63)
        self.unique_tokens = boolean("unique_tokens", unique_tokens)
        self.green_size = int(self.gamma * self.vocab_size)
        if self.green_size < 1:
            raise ValueError(
                f"gamma: int(gamma * vocab_size) = int({self.gamma} * {self.vocab_size}) = 0 gives an empty green list"
            )
        self.green_mask = unigram_green_mask(self.vocab_size, self.gamma, self.key)
        self.green_mask.setflags(write=False)
        self._green_u8 = np.ascontiguousarray(self.green_mask, dtype=np.uint8)
        self._meta = {
            "scheme": "unigram",
            "vocab_size": self.vocab_size,
            "gamma": self.gamma,
            "key": self.key,
            "green_size": self.green_size,
            "unique_tokens": self.unique_tokens,
        }

    def __repr__(self) -> str:
        return f"Unigram(vocab_size={self.vocab_size}, gamma={self.gamma}, key={self.key}, unique_tokens={self.unique_tokens})"

    @property
    def green_ids(self) -> np.ndarray:
        return np.flatnonzero(self.green_mask)

    def detect(self, ids: object, *, return_mask: bool = False):
        """Score one text (1-D token ids); raises ValueError for an empty text."""
        a = index_vector("ids", ids, upper=self.vocab_size)
        if a.shape[0] == 0:
            raise ValueError("ids: empty text; nothing to score")
        res = self._run(a, np.array([0, a.shape[0]], dtype=np.int64), boolean("return_mask", return_mask), 1, 3)
        return res[0]

    def detect_batch(self, ids: object, offsets: object = None, *, return_mask: bool = False, num_threads: int | None = None):
        """Score many texts (concatenated ids + offsets, or a list of sequences). Empty texts are
        marked ``too_short``."""
        a, offs = _ragged(ids, offsets, self.vocab_size)
        return self._run(a, offs, boolean("return_mask", return_mask), resolve_num_threads(num_threads), 3)

    def _run(self, ids, offs, return_mask, nthreads, stacklevel):
        total, green, uniq, green_u = _native.core().wm_unigram_counts(self._green_u8, ids, offs, nthreads)
        f = self.gamma
        if self.unique_tokens:
            T, G = uniq, green_u
        else:
            T, G = total, green
        Tf, Gf = T.astype(np.float64), G.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (Gf - f * Tf) / np.sqrt(f * (1 - f) * Tf)  # the reference's operation order
            frac = Gf / Tf
            if self.unique_tokens:
                factor = np.sqrt(1 - (Tf - 1) / (self.vocab_size - 1))
                p = p_norm_sf(z / factor)
            else:
                p = p_norm_sf(z)
        if self.unique_tokens:
            p_exact = hypergeom_upper(G, T, self.vocab_size, self.green_size)
        else:
            p_exact = binom_upper(G, T, self.green_size / self.vocab_size)
        repeated = total - uniq
        too_short = total == 0
        z[too_short] = np.nan
        p[too_short] = np.nan
        if not self.unique_tokens:
            bad = np.flatnonzero(repeated > 0)
            if bad.size:
                _warn_repeated(bad, repeated, len(T), "tokens", stacklevel + 1)
        data = {
            "z_score": z,
            "p_value": p,
            "p_value_exact": p_exact,
            "num_tokens_scored": T,
            "num_green_tokens": G,
            "green_fraction": frac,
            "num_trials": T,
            "num_green_trials": G,
            "num_repeated": repeated,
        }
        gm = sm = None
        if return_mask:
            gm = self.green_mask[ids] if ids.size else np.zeros(0, dtype=bool)
            if self.unique_tokens:
                sm = np.zeros(ids.shape[0], dtype=bool)
                for b in range(len(offs) - 1):
                    a, e = int(offs[b]), int(offs[b + 1])
                    _, first = np.unique(ids[a:e], return_index=True)
                    sm[a + first] = True
            else:
                sm = np.ones(ids.shape[0], dtype=bool)
        return WatermarkBatchResult(data, too_short, offs, gm, sm, self._meta)

    def processor(self, delta: float = 2.0) -> UnigramLogitsProcessor:
        return UnigramLogitsProcessor(self, delta)


class UnigramLogitsProcessor:
    """Adds ``delta`` to the green logits (the same list at every position), as the reference's
    ``GPTWatermarkLogitsWarper``. ``proc(prefix_ids, logits)`` returns a new array; the prefix is
    ignored. Logits may have more entries than ``vocab_size`` (those are never green)."""

    def __init__(self, unigram: Unigram, delta: float = 2.0) -> None:
        if not isinstance(unigram, Unigram):
            raise TypeError(f"unigram: expected a Unigram instance, got {type(unigram).__name__}")
        self.unigram = unigram
        self.delta = real_finite("delta", delta)

    def __call__(self, input_ids: object, logits: object) -> np.ndarray:
        x = np.asarray(logits)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"logits: expected a floating-point array, got dtype {x.dtype}")
        if x.ndim not in (1, 2):
            raise ValueError(f"logits: expected 1-D [V] or 2-D [B, V], got shape {x.shape}")
        v = self.unigram.vocab_size
        if x.shape[-1] < v:
            raise ValueError(f"logits: last axis has {x.shape[-1]} entries, fewer than vocab_size {v}")
        out = np.array(x, copy=True)
        out[..., :v][..., self.unigram.green_mask] += out.dtype.type(self.delta)
        return out
