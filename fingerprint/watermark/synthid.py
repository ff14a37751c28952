r"""SynthID-Text (Dathathri et al. 2024, "Scalable watermarking for identifying large language model outputs").

Every n-gram of ``ngram_len`` tokens gets ``depth = len(keys)`` pseudo-random bits, the g-values;
generation (tournament sampling) favours tokens whose g-values are 1, detection averages them.
Everything is computed natively with O(depth) integer hashing per token (no vocabulary-sized work).

Hash. One step on an int64 state ``h`` with an int64 value ``x`` is
``h = (h + x) * 6364136223846793005 + 1`` with two's-complement wrap-around. The n-gram hash runs
this step over the n-gram's tokens from an initial value ``iv``; the key of layer ``d`` is one more
step with ``keys[d]``. Two variants exist, and ``compat`` picks the one reproduced:

``compat="synthid-text"`` (google-deepmind/synthid-text, current code):
  - ``iv = int.from_bytes(sha256(keys as little-endian int64 bytes), "big") mod (2**63 - 1)``
    (the reference hashes the keys' int64 tensor in the machine's byte order; on the
    little-endian machines it runs on that is the order used here, on any machine);
  - g-value: twelve times ``k = hash_step(k, 1) >> 5`` (arithmetic shift), then bit 30 of ``k``.
  Under H0 (text independent of the keys) a g-value is 1 with probability 1/2.

``compat="transformers"`` (``SynthIDTextWatermarkLogitsProcessor``, the older hashing):
  - ``iv = 1``;
  - g-value: ``table[k mod table_size]`` (floor modulo of the int64), where ``table`` is
    ``torch.randint(0, 2, (sampling_table_size,))`` from a CPU generator seeded with
    ``sampling_table_seed`` (transformers' defaults 65,536 and 0; reproduced with
    :func:`torch_randint`, no torch needed). The table is fixed and does not depend on the keys;
    for the default table 32,743 of its 65,536 entries are 1, so under H0 a g-value is 1 with
    probability 32,743 / 65,536 = 0.49962, not 1/2. The statistics below use the table's exact
    fraction.

Both variants share everything else: n-grams are ``ids[j : j + ngram_len]``; the context of the
n-gram is its first ``ngram_len - 1`` tokens, hashed from ``iv``; masks are per n-gram:

- context-repetition mask: 0 when the context's hash is among the previous ``context_history_size``
  context hashes of the text. As in both references, the history starts filled with zeros, so a
  context whose hash is 0 is masked until ``context_history_size`` contexts have been seen;
- EOS mask (with ``eos_token_id``): 0 from the n-gram whose last token is the first EOS on (the
  references compute it per token and drop the first ``ngram_len - 1`` entries);
- ``mask`` is the product of the two.

Scores (synthid-text's ``detector_mean``): ``mean_score = sum(g * m) / (depth * sum(m))`` and
``weighted_mean_score`` the same with layer weights ``w = linspace(10, 1, depth)`` rescaled to sum
to ``depth``. NaN when no n-gram is kept.

Differences between the references that are not a matter of ``compat`` in detection:

- generation: synthid-text's processor restricts the tournament to the ``top_k`` tokens after
  temperature scaling; transformers' processor applies it to the whole vocabulary
  (:meth:`SynthID.processor` ``top_k``). Both start from a context of ``ngram_len - 1`` zeros and
  ignore the prompt, shifting in each new token; both leave the logits unchanged where the context
  repeats within the history;
- numerics of the processors: transformers applies the tournament in float32 and replaces
  non-finite log-probabilities by the float32 minimum, synthid-text by -1e12; this module works in
  float64 and returns -inf there. Ties among the top-k logits may be broken differently from
  ``torch.topk``;
- detection: transformers ships a trained Bayesian detector (``SynthIDTextWatermarkDetector``)
  over these g-values and masks, synthid-text both that and the mean scores; this module gives the
  mean scores and exact tests, not the Bayesian posterior.

Tests (H0: the text does not depend on the keys). A g-value is then a Bernoulli(p0) draw
(p0 = 1/2, or the table fraction), independent across layers and across n-grams with distinct
hashes. The references' mask only removes contexts repeated *within* the history window; a context
seen earlier than that (long texts) would repeat its draws. The exact tests therefore use the
``num_trials`` kept n-grams whose context occurs for the first time in the text (equal to
``num_tokens_scored`` for texts shorter than ``context_history_size + ngram_len``):

- ``p_value_exact``: ``P(X >= sum of their g-values)`` for ``X ~ Binomial(depth * num_trials, p0)``;
- ``p_value_weighted``: a Chernoff bound on ``P(W >= w)`` for the weighted sum
  ``W = sum_d w_d C_d`` with independent ``C_d ~ Binomial(num_trials, p0)``:
  ``min over t >= 0 of exp(-t w) prod_d (1 - p0 + p0 exp(t w_d))**num_trials``. It is never below
  the exact tail (provably conservative), and within a small polynomial factor of it;
- ``z_score`` and ``p_value``: the normal approximation ``(S - p0 N) / sqrt(N p0 (1 - p0))``,
  ``norm.sf(z)``, over the references' mask (``N = depth * num_tokens_scored``, S the sum of kept
  g-values): neither reference reports a p-value; this one is for comparison only.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence

import numpy as np

from .. import _native
from .._threads import resolve_num_threads
from .._validate import _as_array, choice, integer, offsets_vector
from ._rng import torch_randint
from .result import WatermarkBatchResult

COMPAT_MODES = ("transformers", "synthid-text")

#: Fields of a SynthID detection result, in order.
SYNTHID_FIELDS: tuple[str, ...] = (
    "mean_score",
    "weighted_mean_score",
    "z_score",
    "p_value",
    "p_value_exact",
    "p_value_weighted",
    "num_tokens_scored",
    "num_ngrams",
    "num_trials",
    "num_g_ones",
    "num_repeated",
)

_MODE = {"synthid-text": 0, "transformers": 1}
_MUL = 6364136223846793005
_M64 = (1 << 64) - 1

_DOC = """
    - ``mean_score``, ``weighted_mean_score``: synthid-text's mean and weighted-mean scores over
      the n-grams kept by the references' mask (NaN when none is kept).
    - ``z_score``, ``p_value``: normal approximation over the same n-grams (for comparison only).
    - ``p_value_exact``: exact binomial tail over the ``num_trials`` kept n-grams with a
      first-seen context (use this one as evidence); 1.0 when there is none.
    - ``p_value_weighted``: conservative (Chernoff) tail of the weighted sum over the same n-grams.
    - ``num_tokens_scored``: n-grams kept by the mask; ``num_ngrams``: n-grams in the text
      (``max(0, len - ngram_len + 1)``).
    - ``num_trials``, ``num_g_ones``: kept n-grams with a first-seen context, and the sum of their
      g-values (over all layers).
    - ``num_repeated``: kept n-grams whose context occurred earlier in the text, beyond the
      history window (excluded from the exact tests).
"""


def _check_ids(name: str, x: object) -> np.ndarray:
    if isinstance(x, (list, tuple)) and len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    a = _as_array(name, x)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {a.shape}")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer array, got dtype {a.dtype}")
    if a.size:
        if a.dtype.kind == "u" and a.dtype.itemsize == 8:
            big = np.flatnonzero(a > np.uint64(2**63 - 1))
            if big.size:
                i = int(big[0])
                raise ValueError(f"{name}: values must fit in int64; {name}[{i}] = {int(a[i])}")
        neg = np.flatnonzero(a < 0) if a.dtype.kind == "i" else np.zeros(0, dtype=np.int64)
        if neg.size:
            i = int(neg[0])
            raise ValueError(
                f"{name}: token ids must be >= 0; {name}[{i}] = {int(a[i])} ({neg.size} negative value(s))"
            )
    return np.ascontiguousarray(a, dtype=np.int64)


def _ragged(ids: object, offsets: object) -> tuple[np.ndarray, np.ndarray]:
    if offsets is None:
        if not isinstance(ids, (list, tuple)):
            raise TypeError(
                "offsets: required when ids is an array (concatenated texts); or pass ids as a list of 1-D sequences"
            )
        parts = [_check_ids(f"ids[{i}]", s) for i, s in enumerate(ids)]
        offs = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([p.shape[0] for p in parts], out=offs[1:])
        a = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return np.ascontiguousarray(a, dtype=np.int64), offs
    a = _check_ids("ids", ids)
    return a, offsets_vector("offsets", offsets, a.shape[0])


def _keys(keys: object) -> np.ndarray:
    if isinstance(keys, (str, bytes)) or not isinstance(keys, (Sequence, np.ndarray)):
        raise TypeError(f"keys: expected a sequence of integers, got {type(keys).__name__}")
    out = [integer(f"keys[{i}]", k, lo=-(2**63), hi=2**63) for i, k in enumerate(keys)]
    if not out:
        raise ValueError("keys: expected at least one key (one per tournament layer), got none")
    return np.array(out, dtype=np.int64)


def synthid_text_hash_iv(keys: object) -> int:
    """synthid-text's initial hash value: sha256 of the keys as little-endian int64, big-endian, mod 2**63 - 1."""
    k = _keys(keys)
    return int.from_bytes(hashlib.sha256(k.astype("<i8").tobytes()).digest(), "big") % (2**63 - 1)


def weights(depth: int) -> np.ndarray:
    """synthid-text's default weighted-mean weights: linspace(10, 1, depth) rescaled to sum to depth."""
    d = integer("depth", depth, lo=1)
    w = np.linspace(10.0, 1.0, d)
    return w * (d / np.sum(w))


def _weighted(counts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row sums of counts * w, row by row (the same bits whatever the number of rows; a BLAS
    matrix product is not)."""
    return np.sum(counts.astype(np.float64) * w[None, :], axis=1)


def _chernoff_upper(x: np.ndarray, n: np.ndarray, w: np.ndarray, p0: float) -> np.ndarray:
    """min over t >= 0 of exp(-t x) prod_d (1 - p0 + p0 exp(t w_d))**n, vectorised (1 where x <= mean)."""
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    out = np.ones_like(x)
    mean = n * p0 * np.sum(w)
    top = n * np.sum(w)
    todo = (n > 0) & (x > mean * (1 + 1e-12))
    if not np.any(todo):
        return out
    xs, ns = x[todo], n[todo]
    lq, lp = np.log1p(-p0), np.log(p0)

    def log_mgf(t):  # per row: n * sum_d log(1 - p0 + p0 exp(t w_d))
        return ns * np.sum(np.logaddexp(lq, lp + t[:, None] * w[None, :]), axis=1)

    def slope(t):  # derivative of log_mgf: n * sum_d w_d * sigmoid(t w_d + log(p0/(1-p0)))
        z = t[:, None] * w[None, :] + (lp - lq)
        return ns * np.sum(w[None, :] / (1.0 + np.exp(-z)), axis=1)

    at_top = xs >= top[todo] * (1 - 1e-12)
    lo = np.zeros_like(xs)
    hi = np.full_like(xs, 1.0)
    for _ in range(200):  # bracket the root of slope(t) = x
        grow = (slope(hi) < xs) & ~at_top
        if not np.any(grow):
            break
        hi = np.where(grow, hi * 2.0, hi)
    for _ in range(60):  # any t >= 0 gives a valid bound: precision only affects tightness
        mid = 0.5 * (lo + hi)
        below = slope(mid) < xs
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    t = hi
    logb = log_mgf(t) - t * xs
    # x at the maximum: the bound's infimum is the probability of the maximum, p0**(n * depth).
    logb = np.where(at_top, ns * w.shape[0] * lp, logb)
    out[todo] = np.minimum(1.0, np.exp(logb))
    return out


class SynthIDResult:
    __doc__ = "SynthID detection result for one text; fields read as attributes.\n" + _DOC

    __slots__ = (*SYNTHID_FIELDS, "meta")

    def __init__(self, values: dict[str, object], meta=None):
        for name in SYNTHID_FIELDS:
            setattr(self, name, values[name])
        self.meta = dict(meta or {})

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in SYNTHID_FIELDS}

    def __repr__(self) -> str:
        return (
            f"SynthIDResult(mean_score={self.mean_score:.4g}, weighted_mean_score={self.weighted_mean_score:.4g}, "
            f"p_value_exact={self.p_value_exact:.4g}, num_tokens_scored={self.num_tokens_scored})"
        )


class SynthIDBatchResult(WatermarkBatchResult):
    __doc__ = (
        "SynthID detection results for B texts: each field is an array of length B.\n"
        + _DOC
        + """
    ``too_short`` marks texts with no n-gram (shorter than ``ngram_len``). ``res[i]`` is the
    :class:`SynthIDResult` of text i.
    """
    )

    __slots__ = ()

    def __getitem__(self, i: int) -> SynthIDResult:
        n = len(self)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"index: expected an integer, got {type(i).__name__}")
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} texts")
        i = int(i) % n
        values = {k: (int(v[i]) if v.dtype.kind == "i" else float(v[i])) for k, v in self._data.items()}
        return SynthIDResult(values, self.meta)

    def __repr__(self) -> str:
        return f"SynthIDBatchResult(n={len(self)}, fields={list(self._data)})"


class SynthID:
    """SynthID-Text watermark: g-values, masks, detection and a tournament-sampling generator.

    ``SynthID(keys, ngram_len=5, context_history_size=1024, eos_token_id=None,
    compat="transformers")``: one int64 key per tournament layer (depth = ``len(keys)``);
    ``compat`` picks the hashing (see the module documentation). ``sampling_table_size`` and
    ``sampling_table_seed`` (transformers only) default to transformers' 65,536 and 0.
    """

    def __init__(
        self,
        keys: Sequence[int],
        *,
        ngram_len: int = 5,
        context_history_size: int = 1024,
        eos_token_id: int | None = None,
        compat: str = "transformers",
        sampling_table_size: int = 2**16,
        sampling_table_seed: int = 0,
    ) -> None:
        self.keys = _keys(keys)
        self.keys.setflags(write=False)
        self.depth = int(self.keys.shape[0])
        self.ngram_len = integer("ngram_len", ngram_len, lo=2)
        self.context_history_size = integer("context_history_size", context_history_size, lo=0)
        self.eos_token_id = None if eos_token_id is None else integer("eos_token_id", eos_token_id, lo=0, hi=2**63)
        self.compat = choice("compat", compat, COMPAT_MODES)
        self.weights = weights(self.depth)
        self.weights.setflags(write=False)
        if self.compat == "transformers":
            self.sampling_table_size = integer("sampling_table_size", sampling_table_size, lo=1, hi=2**24 + 1)
            self.sampling_table_seed = integer("sampling_table_seed", sampling_table_seed, lo=-(2**63), hi=2**64)
            self.table = torch_randint(self.sampling_table_seed, 0, 2, self.sampling_table_size).astype(np.uint8)
            self.table.setflags(write=False)
            self.hash_iv = 1
            self.p0 = float(np.count_nonzero(self.table)) / self.sampling_table_size
            if not 0.0 < self.p0 < 1.0:
                raise ValueError(
                    f"sampling_table_size: the sampling table is constant ({int(np.count_nonzero(self.table))} ones "
                    f"of {self.sampling_table_size}); g-values carry no signal"
                )
        else:
            if sampling_table_size != 2**16 or sampling_table_seed != 0:
                raise ValueError(
                    "sampling_table_size, sampling_table_seed: only used with compat='transformers' "
                    f"(got {sampling_table_size!r}, {sampling_table_seed!r} with compat='synthid-text')"
                )
            self.sampling_table_size = None
            self.sampling_table_seed = None
            self.table = None
            self.hash_iv = synthid_text_hash_iv(self.keys)
            self.p0 = 0.5
        self._config = {
            "mode": _MODE[self.compat],
            "iv": self.hash_iv % 2**64,
            "keys": self.keys,
            "ngram_len": self.ngram_len,
            "history": self.context_history_size,
            "eos": self.eos_token_id,
            "table": self.table,
        }
        self._meta = {
            "scheme": "synthid",
            "compat": self.compat,
            "depth": self.depth,
            "ngram_len": self.ngram_len,
            "context_history_size": self.context_history_size,
            "eos_token_id": self.eos_token_id,
            "p0": self.p0,
        }

    def __repr__(self) -> str:
        return (
            f"SynthID(depth={self.depth}, ngram_len={self.ngram_len}, context_history_size={self.context_history_size}, "
            f"eos_token_id={self.eos_token_id}, compat={self.compat!r})"
        )

    # -- per-n-gram values ------------------------------------------------------------------------

    def _rows(self, n: int) -> int:
        return max(0, n - self.ngram_len + 1)

    def g_values(self, ids: object) -> np.ndarray:
        """g-values (uint8, 0/1) of every n-gram of one text: shape [max(0, len - ngram_len + 1), depth]."""
        a = _check_ids("ids", ids)
        offs = np.array([0, a.shape[0]], dtype=np.int64)
        return _native.core().sid_g_values(a, offs, self._config, self._rows(a.shape[0]), 1)

    def g_values_batch(self, ids: object, offsets: object = None, *, num_threads: int | None = None):
        """g-values of every n-gram of many texts (concatenated ids + offsets, or a list of
        sequences), computed in parallel: ``(g, row_offsets)`` with ``g`` uint8 [rows, depth] in text
        order and the rows of text i in ``g[row_offsets[i]:row_offsets[i + 1]]``."""
        a, offs = _ragged(ids, offsets)
        rows = np.maximum(np.diff(offs) - self.ngram_len + 1, 0)
        row_offs = np.zeros(offs.shape[0], dtype=np.int64)
        np.cumsum(rows, out=row_offs[1:])
        g = _native.core().sid_g_values(a, offs, self._config, int(row_offs[-1]), resolve_num_threads(num_threads))
        return g, row_offs

    def _masks(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offs = np.array([0, a.shape[0]], dtype=np.int64)
        rep, eos = _native.core().sid_masks(a, offs, self._config, self._rows(a.shape[0]), 1)
        return rep.astype(bool), eos.astype(bool)

    def context_repetition_mask(self, ids: object) -> np.ndarray:
        """True where the n-gram's context is not among the previous ``context_history_size`` contexts."""
        return self._masks(_check_ids("ids", ids))[0]

    def eos_mask(self, ids: object) -> np.ndarray:
        """Per n-gram: True where its last token comes before the first EOS (all True without ``eos_token_id``)."""
        return self._masks(_check_ids("ids", ids))[1]

    def mask(self, ids: object) -> np.ndarray:
        """The references' combined mask per n-gram (context repetition and EOS), bool."""
        rep, eos = self._masks(_check_ids("ids", ids))
        return rep & eos

    # -- detection --------------------------------------------------------------------------------

    def detect(self, ids: object) -> SynthIDResult:
        """Score one text (1-D token ids). A text shorter than ``ngram_len`` scores nothing (NaN means)."""
        a = _check_ids("ids", ids)
        return self._run(a, np.array([0, a.shape[0]], dtype=np.int64), 1)[0]

    def detect_batch(self, ids: object, offsets: object = None, *, num_threads: int | None = None) -> SynthIDBatchResult:
        """Score many texts (concatenated ids + offsets, or a list of sequences), in parallel across texts."""
        a, offs = _ragged(ids, offsets)
        return self._run(a, offs, resolve_num_threads(num_threads))

    def _run(self, ids: np.ndarray, offs: np.ndarray, nthreads: int) -> SynthIDBatchResult:
        from ._stats import binom_upper, p_norm_sf

        r = _native.core().sid_detect(ids, offs, self._config, nthreads)
        counts, counts_d = r["counts"], r["counts_dedup"]
        n, trials = r["num_tokens_scored"], r["num_trials"]
        d = self.depth
        s = counts.sum(axis=1)
        ones = counts_d.sum(axis=1)
        nf = n.astype(np.float64)
        big_n = d * nf
        p0 = self.p0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s.astype(np.float64) / big_n
            wmean = _weighted(counts, self.weights) / big_n
            z = (s - p0 * big_n) / np.sqrt(big_n * p0 * (1 - p0))
        p = p_norm_sf(z)
        p[n == 0] = np.nan
        p_exact = binom_upper(ones, d * trials, p0)
        p_w = _chernoff_upper(_weighted(counts_d, self.weights), trials, self.weights, p0)
        data = {
            "mean_score": mean,
            "weighted_mean_score": wmean,
            "z_score": z,
            "p_value": p,
            "p_value_exact": p_exact,
            "p_value_weighted": p_w,
            "num_tokens_scored": n,
            "num_ngrams": r["num_ngrams"],
            "num_trials": trials,
            "num_g_ones": ones,
            "num_repeated": n - trials,
        }
        too_short = r["num_ngrams"] == 0
        return SynthIDBatchResult(data, too_short, offs, None, None, self._meta)

    # -- generation -------------------------------------------------------------------------------

    def vocab_g_values(self, context: object, vocab_size: int) -> np.ndarray:
        """g-values [vocab_size, depth] (uint8) of every next token after a context of ``ngram_len - 1`` ids."""
        c = _check_ids("context", context)
        if c.shape[0] != self.ngram_len - 1:
            raise ValueError(f"context: expected ngram_len - 1 = {self.ngram_len - 1} ids, got {c.shape[0]}")
        v = integer("vocab_size", vocab_size, lo=1)
        g, _ = _native.core().sid_vocab_g_values(c, self._config, v, 1)
        return g

    def processor(self, *, top_k: int | None = None, skip_first_ngram_calls: bool = False) -> SynthIDLogitsProcessor:
        """A stateful tournament-sampling processor (one text at a time; see :class:`SynthIDLogitsProcessor`)."""
        return SynthIDLogitsProcessor(self, top_k=top_k, skip_first_ngram_calls=skip_first_ngram_calls)


def tournament_log_probs(logits: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Non-distortionary tournament with two leaves per match, in closed form (float64):
    ``p <- p * (1 + g_d - sum(g_d * p))`` for each layer d from softmax(logits); log of the result
    (-inf where the probability is 0)."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - np.max(x)
    p = np.exp(x)
    p /= p.sum()
    gf = g.astype(np.float64)
    for d in range(g.shape[1]):
        gd = gf[:, d]
        p = p * (1.0 + gd - np.dot(gd, p))
    with np.errstate(divide="ignore"):
        return np.log(p)


class SynthIDLogitsProcessor:
    """Tournament sampling over NumPy logits, as the references' processors do it.

    ``proc(input_ids, logits)`` (1-D ids of the prompt and the tokens so far, 1-D logits over the
    vocabulary) returns float64 log-probabilities to sample from (e.g. with :func:`generate` at
    temperature 1). The processor is stateful, like the references': the first call uses a context
    of ``ngram_len - 1`` zeros (the prompt is ignored); each later call shifts in the last id of
    ``input_ids``. Where the context hash is among the last ``context_history_size`` contexts of
    this generation, the logits are returned unchanged (as float64 log-softmax). ``top_k=None``
    applies the tournament to the whole vocabulary (transformers); an integer restricts it to the
    ``top_k`` largest logits, the others getting -inf (synthid-text, which also applies its
    temperature before; pass scaled logits). ``skip_first_ngram_calls`` leaves the first
    ``ngram_len - 1`` calls unwatermarked. ``reset()`` starts a new text.
    """

    def __init__(self, synthid: SynthID, *, top_k: int | None = None, skip_first_ngram_calls: bool = False) -> None:
        if not isinstance(synthid, SynthID):
            raise TypeError(f"synthid: expected a SynthID instance, got {type(synthid).__name__}")
        self.synthid = synthid
        self.top_k = None if top_k is None else integer("top_k", top_k, lo=2)
        if not isinstance(skip_first_ngram_calls, (bool, np.bool_)):
            raise TypeError(f"skip_first_ngram_calls: expected a bool, got {type(skip_first_ngram_calls).__name__}")
        self.skip_first_ngram_calls = bool(skip_first_ngram_calls)
        self.reset()

    def reset(self) -> None:
        s = self.synthid
        self._context = np.zeros(s.ngram_len - 1, dtype=np.int64)
        # The references' history holds the last context_history_size context hashes and starts
        # as zeros: the recent hashes, plus zeros while fewer have been seen.
        self._recent: deque[int] = deque(maxlen=max(1, s.context_history_size))
        self._calls = 0

    def __call__(self, input_ids: object, logits: object) -> np.ndarray:
        s = self.synthid
        x = np.asarray(logits)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"logits: expected a floating-point array, got dtype {x.dtype}")
        if x.ndim != 1 or x.shape[0] < 1:
            raise ValueError(f"logits: expected a non-empty 1-D array [V], got shape {x.shape}")
        ids = _check_ids("input_ids", input_ids)
        if self._calls > 0:
            if ids.shape[0] < 1:
                raise ValueError("input_ids: expected at least the token sampled at the previous call, got none")
            self._context = np.concatenate([self._context[1:], ids[-1:]])
        self._calls += 1
        x = x.astype(np.float64)
        v = x.shape[0]
        if self.top_k is not None and self.top_k < v:
            keep = np.argpartition(-x, self.top_k - 1)[: self.top_k]
        else:
            keep = np.arange(v)
        base = np.full(v, -np.inf)
        xk = x[keep]
        xk = xk - np.max(xk)
        base[keep] = xk - np.log(np.sum(np.exp(xk)))
        if self.skip_first_ngram_calls and self._calls < s.ngram_len:
            return base
        g, ch = _native.core().sid_vocab_g_values(self._context, s._config, v, 1)
        hist = s.context_history_size
        repeated = hist > 0 and (ch in self._recent or (ch == 0 and len(self._recent) < hist))
        if hist > 0:
            self._recent.append(ch)
        if repeated:
            return base
        out = np.full(v, -np.inf)
        out[keep] = tournament_log_probs(x[keep], g[keep])
        return out
