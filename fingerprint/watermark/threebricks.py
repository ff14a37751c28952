r"""three_bricks / radioactive-watermark schemes: Maryland (green list) and Aaronson (Gumbel trick).

Reproduces the detectors of facebookresearch/three_bricks (``wm/detector.py``: ``MarylandDetector``,
``OpenaiDetector``) and of facebookresearch/radioactive-watermark, which shares them, with CPU
seeding. Token ids are scored directly (no tokenizer).

Seeding (``seeding="hash"``, the only scheme whose detector runs in the reference code)
-------------------------------------------------------------------------------------
For the scored token at position ``t``, the window is the ``ngram`` tokens before it,
``ids[t - ngram : t]``, and the seed is ``s = seed; s = (s * salt_key + w) mod (2**64 - 1)`` for
each window token ``w`` in order (exact integers). ``torch.Generator().manual_seed(s)`` (only the
low 32 bits matter) then draws:

- Maryland: ``torch.randperm(V)``; the green list is its first ``int(gamma * V)`` entries;
  the score of the token is 1 if green, else 0.
- Aaronson: ``r = torch.rand(V)``; the score of the token is ``-log(1 - r[token])``.

The reference detectors also name ``additive``, ``skip`` and ``min`` seedings (with a
1,000,003-entry hash table from the global torch generator), but their detector passes Python
lists to those branches, which then fail (``torch.sum`` of a list, ``list.cpu()``) or silently
compute on repeated lists (``salt_key * list``); only ``hash`` is reproduced.

Scored positions and ``scoring``
--------------------------------
Positions ``t = ngram + 1, ..., len - 1`` of each text are candidates (the reference starts one
token later than the first full window: position ``ngram`` is never scored). ``scoring``:

- ``"none"``: every candidate is scored. A repeated (window, token) pair is the same trial counted
  again: the p-values are then not valid and a :class:`RepeatedNgramWarning` is raised.
- ``"v1"``: a candidate is skipped when its window occurred at an earlier scored position of the
  same text.
- ``"v2"``: a candidate is skipped when its (window, token) pair occurred at an earlier scored
  position of the same text.

Statistics (``S`` = sum of scores, ``N`` = number of scored tokens)
---------------------------------------------------------------
- ``p_value``: as the reference reports it: Maryland ``betainc(S, N - S + 1, gamma)``, Aaronson
  ``gammaincc(N, S)``, floored at 1e-200. Computed in float64 here: under NumPy 2 the reference
  evaluates them in float32 (its ``S`` is a float32 sum), so its values underflow to 0 below about
  1e-38 (then floored to 1e-200) and lose digits before that.
- ``p_value_exact``: Maryland: the exact binomial tail ``P(Bin(N, p0) >= S)`` with the true green
  probability ``p0 = int(gamma V) / V`` (the reference uses ``gamma``, slightly conservative or
  anti-conservative depending on the rounding). Aaronson: ``gammaincc(N, S)`` unfloored; the
  reference's ``r`` takes only the values ``k / 2**24``, so each score is stochastically smaller
  than an Exp(1) variable and the Gamma(N, 1) tail is exact for continuous uniforms and
  conservative for torch's discrete ones.
- ``z_score``: Maryland ``(S - gamma N) / sqrt(gamma (1 - gamma) N)`` (``MarylandDetectorZ``);
  Aaronson ``(S / N - 1) / (pi / sqrt(6) / sqrt(N))`` (``OpenaiDetectorZ``; note that it uses the
  standard deviation of a Gumbel variable, pi/sqrt(6), whereas each score is Exp(1) with standard
  deviation 1 under H0; reported for compatibility only).
- Aaronson scores are summed in float64 from the exact ``r``; the reference sums float32
  ``-log(1 - r)`` values (relative differences around 1e-6).

Multi-bit payloads (``payload_max``)
------------------------------------
The reference encodes a message ``m`` in ``[0, payload_max]`` by shifting: the generator for
payload ``m`` treats token ``j`` as it treats token ``(j + m) mod V`` without payload. Detection
scores every ``m`` (token ``t`` is scored as token ``(t + m) mod V``), decodes the payload with the
smallest p-value (``payload``; ties: the smallest ``m``), and adjusts its p-value for the
``M = payload_max + 1`` tests as the reference's ``main_eval.py`` does:
``1 - (1 - p)**M`` if ``p > min(1 / M, 1e-5)``, else ``M * p`` (``p_value``). ``p_value_exact`` is
the Bonferroni bound ``min(1, M * p_exact)`` of the decoded payload (valid whatever the
dependence between the shifted tests). ``num_green_tokens`` / ``score_sum`` and ``z_score`` are
those of the decoded payload.

Trials
------
``num_trials`` counts scored positions and ``num_repeated`` the scored positions whose
(window, token) pair occurred at an earlier scored position of the same text (0 with ``v2``).
Two distinct windows share a trial only if their seeds agree mod 2**32 (probability about
2**-32 per pair), which is ignored.
"""

from __future__ import annotations

import numpy as np

from .. import _native
from .._threads import resolve_num_threads
from .._validate import boolean, choice, index_vector, integer, real_finite, real_open
from ._rng import RANDPERM_LIMIT
from .kgw import RepeatedNgramWarning, _ragged, _warn_repeated  # noqa: F401  (re-exported warning)
from .result import RESULT_FIELDS, WatermarkBatchResult

SCORING_METHODS: tuple[str, ...] = ("none", "v1", "v2")
SEEDING_SCHEMES: tuple[str, ...] = ("hash",)
#: The reference floors p-values at this value.
P_FLOOR = 1e-200
_MOD = 2**64 - 1

MARYLAND_FIELDS: tuple[str, ...] = RESULT_FIELDS  # a green-list scheme: the KGW fields
AARONSON_FIELDS: tuple[str, ...] = (
    "z_score",
    "p_value",
    "p_value_exact",
    "num_tokens_scored",
    "score_sum",
    "num_trials",
    "num_repeated",
)


# -- candidate positions and de-duplication --------------------------------------------------------


def _candidates(offs: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Global positions t (ngram + 1 <= t - start < len) and their text index, in corpus order."""
    starts, ends = offs[:-1], offs[1:]
    first = starts + ngram + 1
    counts = np.maximum(ends - first, 0)
    total = int(counts.sum())
    text = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    if total == 0:
        return np.zeros(0, dtype=np.int64), text
    cum = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=cum[1:])
    pos = np.arange(total, dtype=np.int64) - cum[text] + first[text]
    return pos, text


def _windows(ids: np.ndarray, pos: np.ndarray, ngram: int) -> np.ndarray:
    """[m, ngram] windows ids[t - ngram : t] (C-contiguous int64)."""
    if pos.size == 0:
        return np.zeros((0, ngram), dtype=np.int64)
    return np.ascontiguousarray(ids[pos[:, None] - ngram + np.arange(ngram, dtype=np.int64)[None, :]])


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """Bool mask of the rows of a 2-D int64 matrix that did not occur in an earlier row."""
    n = keys.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    _, idx = np.unique(keys, axis=0, return_index=True)  # stable sort: first occurrences
    mask[idx] = True
    return mask


def _per_text_keys(text: np.ndarray, *cols: np.ndarray) -> np.ndarray:
    parts = [text[:, None]] + [c if c.ndim == 2 else c[:, None] for c in cols]
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.int64)


# -- p-values ---------------------------------------------------------------------------------------


def maryland_p_values(green: np.ndarray, n: np.ndarray, gamma: float, green_size: int, vocab_size: int):
    """(reported p, exact p, z) for green counts and scored counts (float64)."""
    from scipy import special, stats

    S = np.asarray(green, dtype=np.float64)
    N = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.maximum(special.betainc(S, N - S + 1, gamma), P_FLOOR)
        z = (S - gamma * N) / np.sqrt(gamma * (1 - gamma) * N)
    g = np.asarray(green, dtype=np.int64)
    exact = np.asarray(stats.binom.sf(g - 1, np.asarray(n, dtype=np.int64), green_size / vocab_size), dtype=np.float64)
    exact = np.where(g <= 0, 1.0, exact)
    empty = N == 0
    p = np.where(empty, np.nan, p)
    z = np.where(empty, np.nan, z)
    return p, exact, z


def aaronson_p_values(score: np.ndarray, n: np.ndarray):
    """(reported p, exact p, z) for score sums and scored counts (float64)."""
    from scipy import special

    S = np.asarray(score, dtype=np.float64)
    N = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = special.gammaincc(N, S)
        p = np.maximum(exact, P_FLOOR)
        z = (S / N - 1.0) / ((np.pi / np.sqrt(6)) / np.sqrt(N))
    empty = N == 0
    return np.where(empty, np.nan, p), np.where(empty, 1.0, exact), np.where(empty, np.nan, z)


def payload_adjust(p: np.ndarray, m: int) -> np.ndarray:
    """The reference's adjustment of the decoded payload's p-value for m payloads."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(p > min(1.0 / m, 1e-5), 1.0 - (1.0 - p) ** m, m * p)


# -- detectors --------------------------------------------------------------------------------------


class _ThreeBricks:
    scheme = ""

    def _init_common(self, vocab_size, ngram, seed, seeding, salt_key) -> None:
        self.vocab_size = integer("vocab_size", vocab_size, lo=2, hi=RANDPERM_LIMIT)
        self.ngram = integer("ngram", ngram, lo=1, hi=2**20)
        self.seed = integer("seed", seed)
        self.seeding = choice("seeding", seeding, SEEDING_SCHEMES)
        self.salt_key = integer("salt_key", salt_key)
        self._seed_mod = self.seed % _MOD
        self._salt_mod = self.salt_key % _MOD

    # scores of (window, token) pairs: [m, P] float64 -----------------------------------------------
    def window_seeds(self, windows: object, num_threads: int | None = None) -> np.ndarray:
        """The seed (mod 2**64 - 1, uint64) passed to ``manual_seed`` for each row of a
        ``[m, ngram]`` window matrix."""
        w = np.asarray(windows)
        if w.ndim != 2 or w.shape[1] != self.ngram:
            raise ValueError(f"windows: expected shape [m, {self.ngram}], got {w.shape}")
        w = index_vector("windows", w.reshape(-1), upper=self.vocab_size).reshape(w.shape)
        return self._seeds(np.ascontiguousarray(w), resolve_num_threads(num_threads))

    def _seeds(self, windows: np.ndarray, nthreads: int) -> np.ndarray:
        return _native.core().tb_hash_seeds(windows, self._seed_mod, self._salt_mod, nthreads)

    def pair_scores(self, windows: object, tokens: object, *, num_threads: int | None = None) -> np.ndarray:
        """Score of each (window, token) pair (float64): 0/1 (Maryland) or ``-log(1 - r)`` (Aaronson)."""
        w = np.asarray(windows)
        if w.ndim != 2 or w.shape[1] != self.ngram:
            raise ValueError(f"windows: expected shape [m, {self.ngram}], got {w.shape}")
        w = index_vector("windows", w.reshape(-1), upper=self.vocab_size).reshape(w.shape)
        t = index_vector("tokens", tokens, length=w.shape[0], upper=self.vocab_size)
        return self._pair_scores(np.ascontiguousarray(w), t, 1, resolve_num_threads(num_threads))[:, 0]

    def _pair_scores(self, windows, tokens, n_payloads, nthreads) -> np.ndarray:
        raise NotImplementedError

    # detection ---------------------------------------------------------------------------------
    def detect(self, ids: object, *, scoring: str = "none", payload_max: int = 0, return_mask: bool = False,
               num_threads: int | None = None):
        """Score one text (1-D token ids). Raises ValueError for a text with nothing to score
        (``len(ids) <= ngram + 1``)."""
        a = index_vector("ids", ids, upper=self.vocab_size)
        if a.shape[0] <= self.ngram + 1:
            raise ValueError(
                f"ids: a text needs more than ngram + 1 = {self.ngram + 1} tokens to have a scored position, got {a.shape[0]}"
            )
        offs = np.array([0, a.shape[0]], dtype=np.int64)
        return self._run(a, offs, scoring, payload_max, return_mask, num_threads, 4)[0]

    def detect_batch(self, ids: object, offsets: object = None, *, scoring: str = "none", payload_max: int = 0,
                     return_mask: bool = False, num_threads: int | None = None) -> WatermarkBatchResult:
        """Score many texts (concatenated ids + offsets, or a list of sequences), parallel in C++.
        Texts with nothing to score are marked ``too_short`` (NaN p_value and z, p_value_exact 1)."""
        a, offs = _ragged(ids, offsets, self.vocab_size)
        return self._run(a, offs, scoring, payload_max, return_mask, num_threads, 4)

    def _run(self, ids, offs, scoring, payload_max, return_mask, num_threads, stacklevel):
        scoring = choice("scoring", scoring, SCORING_METHODS)
        pmax = integer("payload_max", payload_max, lo=0, hi=self.vocab_size)
        return_mask = boolean("return_mask", return_mask)
        nthreads = resolve_num_threads(num_threads)
        P = pmax + 1
        B = len(offs) - 1
        pos, text = _candidates(offs, self.ngram)
        win = _windows(ids, pos, self.ngram)
        tok = ids[pos]
        pair_first = first_occurrence(_per_text_keys(text, win, tok))
        if scoring == "none":
            keep = np.ones(pos.shape[0], dtype=bool)
        elif scoring == "v1":
            keep = first_occurrence(_per_text_keys(text, win))
        else:
            keep = pair_first
        pos, text, win, tok = pos[keep], text[keep], np.ascontiguousarray(win[keep]), tok[keep]
        repeated_pos = ~pair_first[keep]
        sc = self._pair_scores(win, tok, P, nthreads)  # [m, P]
        n = np.bincount(text, minlength=B).astype(np.int64)
        repeated = np.bincount(text, weights=repeated_pos, minlength=B).astype(np.int64)
        sums = np.zeros((B, P), dtype=np.float64)
        for j in range(P):  # in corpus order, per text: the same sums for any thread count
            sums[:, j] = np.bincount(text, weights=sc[:, j], minlength=B)
        data, best = self._stats(sums, n, P)
        data["num_repeated"] = repeated
        too_short = n == 0
        if scoring == "none":
            bad = np.flatnonzero(repeated > 0)
            if bad.size:
                _warn_repeated(bad, repeated, B, "(window, token) pairs", stacklevel + 1)
        gm = sm = None
        if return_mask:
            sm = np.zeros(ids.shape[0], dtype=bool)
            sm[pos] = True
            gm = np.zeros(ids.shape[0], dtype=np.float64 if self.scheme == "aaronson" else bool)
            col = sc[np.arange(sc.shape[0]), best[text]] if sc.shape[0] else sc[:, 0]
            gm[pos] = col if self.scheme == "aaronson" else col > 0.5
        meta = dict(self._meta, scoring=scoring, payload_max=pmax)
        res = WatermarkBatchResult(data, too_short, offs, gm, sm, meta)
        return res

    def _decode(self, p_all: np.ndarray, P: int) -> np.ndarray:
        if P == 1:
            return np.zeros(p_all.shape[0], dtype=np.int64)
        filled = np.where(np.isnan(p_all), np.inf, p_all)
        return np.argmin(filled, axis=1).astype(np.int64)


class Maryland(_ThreeBricks):
    """three_bricks' Maryland (green-list) watermark: detector and generator (see the module docs).

    ``Maryland(vocab_size, gamma=0.25, ngram=4, seed=0, seeding="hash", salt_key=35317)``;
    ``vocab_size`` is the tokenizer's ``vocab_size`` the reference detector uses. With
    ``return_mask=True``, ``green_token_mask`` marks green scored tokens (for the decoded payload).
    """

    scheme = "maryland"

    def __init__(self, vocab_size: int, *, gamma: float = 0.25, ngram: int = 4, seed: int = 0, seeding: str = "hash",
                 salt_key: int = 35317) -> None:
        self._init_common(vocab_size, ngram, seed, seeding, salt_key)
        self.gamma = real_open("gamma", gamma, 0.0, 1.0)
        self.green_size = int(self.gamma * self.vocab_size)
        if not 1 <= self.green_size < self.vocab_size:
            raise ValueError(
                f"gamma: int(gamma * vocab_size) = int({self.gamma} * {self.vocab_size}) = {self.green_size} "
                "must lie in [1, vocab_size)"
            )
        self._meta = {
            "scheme": "three_bricks-maryland",
            "vocab_size": self.vocab_size,
            "gamma": self.gamma,
            "green_size": self.green_size,
            "ngram": self.ngram,
            "seed": self.seed,
            "seeding": self.seeding,
            "salt_key": self.salt_key,
        }

    def __repr__(self) -> str:
        return (f"Maryland(vocab_size={self.vocab_size}, gamma={self.gamma}, ngram={self.ngram}, seed={self.seed}, "
                f"seeding={self.seeding!r}, salt_key={self.salt_key})")

    @property
    def null_probability(self) -> float:
        """Probability that a token is green under H0: int(gamma V) / V."""
        return self.green_size / self.vocab_size

    def _pair_scores(self, windows, tokens, n_payloads, nthreads):
        core = _native.core()
        seeds = self._seeds(windows, nthreads)
        flags = core.tb_maryland_flags(seeds, tokens, self.vocab_size, self.green_size, n_payloads, nthreads)
        return flags.astype(np.float64)

    def _stats(self, sums, n, P):
        green_all = np.rint(sums).astype(np.int64)
        p_all, exact_all, z_all = maryland_p_values(green_all, n[:, None], self.gamma, self.green_size, self.vocab_size)
        best = self._decode(p_all, P)
        r = np.arange(len(n))
        green = green_all[r, best]
        p, exact, z = p_all[r, best], exact_all[r, best], z_all[r, best]
        if P > 1:
            p = payload_adjust(p, P)
            exact = np.minimum(1.0, P * exact)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = green / n.astype(np.float64)
        data = {
            "z_score": z,
            "p_value": p,
            "p_value_exact": exact,
            "num_tokens_scored": n,
            "num_green_tokens": green,
            "green_fraction": frac,
            "num_trials": n.copy(),
            "num_green_trials": green.copy(),
        }
        if P > 1:
            data["payload"] = best
        return data, best

    def green_list(self, window: object) -> np.ndarray:
        """The green list (permutation order, int64) for one window of ``ngram`` token ids."""
        w = index_vector("window", window, length=self.ngram, upper=self.vocab_size)
        seed = int(self._seeds(w.reshape(1, -1), 1)[0])
        return _native.core().wm_green_list(seed, self.vocab_size, self.green_size, True)

    def processor(self, delta: float = 1.0, *, payload: int = 0) -> MarylandLogitsProcessor:
        return MarylandLogitsProcessor(self, delta, payload=payload)


class Aaronson(_ThreeBricks):
    """three_bricks' Aaronson / "OpenAI" (Gumbel-trick) watermark: detector and generator.

    ``Aaronson(vocab_size, ngram=4, seed=0, seeding="hash", salt_key=35317)``. Results carry
    ``score_sum`` (no green counts). With ``return_mask=True`` the result's ``green_token_mask``
    holds each scored token's score ``-log(1 - r)`` (float64, 0 where nothing is scored; for the
    decoded payload) and ``scored_token_mask`` the scored positions.
    """

    scheme = "aaronson"

    def __init__(self, vocab_size: int, *, ngram: int = 4, seed: int = 0, seeding: str = "hash",
                 salt_key: int = 35317) -> None:
        self._init_common(vocab_size, ngram, seed, seeding, salt_key)
        self._meta = {
            "scheme": "three_bricks-aaronson",
            "vocab_size": self.vocab_size,
            "ngram": self.ngram,
            "seed": self.seed,
            "seeding": self.seeding,
            "salt_key": self.salt_key,
        }

    def __repr__(self) -> str:
        return (f"Aaronson(vocab_size={self.vocab_size}, ngram={self.ngram}, seed={self.seed}, "
                f"seeding={self.seeding!r}, salt_key={self.salt_key})")

    def uniforms(self, windows: object, tokens: object, *, num_threads: int | None = None) -> np.ndarray:
        """``torch.rand(V)[token]`` (exact, float64) for each (window, token) pair."""
        w = np.asarray(windows)
        if w.ndim != 2 or w.shape[1] != self.ngram:
            raise ValueError(f"windows: expected shape [m, {self.ngram}], got {w.shape}")
        w = index_vector("windows", w.reshape(-1), upper=self.vocab_size).reshape(w.shape)
        t = index_vector("tokens", tokens, length=w.shape[0], upper=self.vocab_size)
        nthreads = resolve_num_threads(num_threads)
        seeds = self._seeds(np.ascontiguousarray(w), nthreads)
        return _native.core().tb_aaronson_uniforms(seeds, t, self.vocab_size, 1, nthreads)[:, 0]

    def _pair_scores(self, windows, tokens, n_payloads, nthreads):
        core = _native.core()
        seeds = self._seeds(windows, nthreads)
        r = core.tb_aaronson_uniforms(seeds, tokens, self.vocab_size, n_payloads, nthreads)
        return -np.log1p(-r)

    def _stats(self, sums, n, P):
        p_all, exact_all, z_all = aaronson_p_values(sums, n[:, None])
        best = self._decode(p_all, P)
        r = np.arange(len(n))
        s = sums[r, best]
        p, exact, z = p_all[r, best], exact_all[r, best], z_all[r, best]
        if P > 1:
            p = payload_adjust(p, P)
            exact = np.minimum(1.0, P * exact)
        data = {
            "z_score": z,
            "p_value": p,
            "p_value_exact": exact,
            "num_tokens_scored": n,
            "score_sum": s,
            "num_trials": n.copy(),
        }
        if P > 1:
            data["payload"] = best
        return data, best

    def processor(self, temperature: float = 0.8, top_p: float = 0.95, *, payload: int = 0) -> AaronsonSampler:
        return AaronsonSampler(self, temperature, top_p, payload=payload)


# -- generators -------------------------------------------------------------------------------------


def _check_logits(x: np.ndarray, v: int) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"logits: expected a floating-point array, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"logits: expected a 1-D array [V], got shape {x.shape}")
    if x.shape[0] != v:
        raise ValueError(f"logits: expected {v} entries (vocab_size), got {x.shape[0]}")
    return x


class MarylandLogitsProcessor:
    """Adds ``delta`` to the green logits of the window formed by the last ``ngram`` ids, shifted by
    ``payload`` (as the reference's ``MarylandGenerator.logits_processor``).
    ``proc(prefix_ids, logits)`` returns a new 1-D array; the prefix must hold >= ngram ids."""

    def __init__(self, maryland: Maryland, delta: float = 1.0, *, payload: int = 0) -> None:
        if not isinstance(maryland, Maryland):
            raise TypeError(f"maryland: expected a Maryland instance, got {type(maryland).__name__}")
        self.maryland = maryland
        self.delta = real_finite("delta", delta)
        self.payload = integer("payload", payload, lo=0, hi=maryland.vocab_size)

    def __call__(self, input_ids: object, logits: object) -> np.ndarray:
        m = self.maryland
        ids = index_vector("input_ids", input_ids, upper=m.vocab_size)
        if ids.shape[0] < m.ngram:
            raise ValueError(f"input_ids: need at least ngram = {m.ngram} ids to seed, got {ids.shape[0]}")
        x = _check_logits(logits, m.vocab_size)
        green = m.green_list(ids[-m.ngram:])
        out = np.array(x, copy=True)
        # payload shift: token j is treated as token (j + payload) mod V
        out[(green - self.payload) % m.vocab_size] += out.dtype.type(self.delta)
        return out


class AaronsonSampler:
    """The reference's Aaronson sampling as a processor for :func:`generate`: among the tokens kept by
    temperature and top-p (``softmax(logits / temperature)``, smallest set of mass > top_p), picks
    ``argmax r_j ** (1 / p_j)`` with ``r = torch.rand(V)`` for the window seed (shifted by
    ``payload``), and returns logits that are ``-inf`` except at that token (so sampling picks it)."""

    def __init__(self, aaronson: Aaronson, temperature: float = 0.8, top_p: float = 0.95, *, payload: int = 0) -> None:
        if not isinstance(aaronson, Aaronson):
            raise TypeError(f"aaronson: expected an Aaronson instance, got {type(aaronson).__name__}")
        self.aaronson = aaronson
        self.temperature = real_open("temperature", temperature, 0.0, float("inf"))
        self.top_p = real_open("top_p", top_p, 0.0, 1.0 + 1e-12)
        self.payload = integer("payload", payload, lo=0, hi=aaronson.vocab_size)

    def __call__(self, input_ids: object, logits: object) -> np.ndarray:
        a = self.aaronson
        ids = index_vector("input_ids", input_ids, upper=a.vocab_size)
        if ids.shape[0] < a.ngram:
            raise ValueError(f"input_ids: need at least ngram = {a.ngram} ids to seed, got {ids.shape[0]}")
        x = _check_logits(logits, a.vocab_size).astype(np.float64) / self.temperature
        x -= x.max()
        p = np.exp(x)
        p /= p.sum()
        order = np.argsort(-p, kind="stable")
        ps = p[order]
        keep = (np.cumsum(ps) - ps) <= self.top_p
        ps = np.where(keep, ps, 0.0)
        ps /= ps.sum()
        seed = int(a._seeds(ids[-a.ngram:].reshape(1, -1), 1)[0])
        r = _native.core().torch_rand(seed, a.vocab_size).astype(np.float64)
        r = np.roll(r, -self.payload)[order]
        with np.errstate(divide="ignore"):
            val = np.where(ps > 0, np.log(np.maximum(r, 1e-300)) / np.where(ps > 0, ps, 1.0), -np.inf)
        tok = int(order[int(np.argmax(val))])
        out = np.full(a.vocab_size, -np.inf, dtype=np.float64)
        out[tok] = 0.0
        return out
