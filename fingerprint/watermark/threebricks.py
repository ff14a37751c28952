r"""three_bricks / radioactive-watermark schemes: Maryland (green list) and Aaronson (Gumbel trick).

Reproduces the detectors of facebookresearch/three_bricks (``wm/detector.py``: ``MarylandDetector``,
``OpenaiDetector``) and of facebookresearch/radioactive-watermark, which shares them, with CPU
seeding. Token ids are scored directly (no tokenizer).

Seeding
-------
For the scored token at position ``t``, the window is the ``ngram`` tokens before it,
``ids[t - ngram : t]`` (the generator's ``tokens[:, cur_pos - ngram : cur_pos]``), and a seed ``s``
of the window is passed to ``torch.Generator().manual_seed(s)`` (only the low 32 bits matter),
which then draws:

- Maryland: ``torch.randperm(V)``; the green list is its first ``int(gamma * V)`` entries;
  the score of the token is 1 if green, else 0.
- Aaronson: ``r = torch.rand(V)``; the score of the token is ``-log(1 - r[token])``.

``seeding="hash"`` (the default): ``s = seed; s = (s * salt_key + w) mod (2**64 - 1)`` for each
window token ``w`` in order (exact integers).

``seeding="min" | "additive" | "skip"`` go through the reference's hash table
``hashtable = torch.randperm(1000003)``, drawn from torch's *global* generator when the
generator (or detector) object is built, and ``hashint(x) = hashtable[x % 1000003]`` (floor
modulo, as torch's ``%``: always in [0, 1000003)). Products with ``salt_key`` are int64 tensor
products, which wrap around modulo 2**64 (``salt_key`` must be an int64):

- ``"min"``: ``s = min_i hashint(salt_key * w_i)`` over the window (the generator's own code).
- ``"additive"``: ``s = hashint(salt_key * sum_i w_i)``.
- ``"skip"``: ``s = hashint(salt_key * w_0)``, the oldest token of the window.

``seed`` plays no part in these three (the reference ignores it there). ``hashtable``: the table
itself (an int array of 1,000,003 entries, checked to be a permutation of ``range(1000003)``, or
the path of a ``.npy`` file holding it), or the global torch seed it was drawn under (the table
is then ``torch.randperm(1000003)`` right after ``torch.manual_seed(hashtable)``, reproduced
natively); default: ``seed``. Which one to pass: three_bricks' ``main_eval.py`` calls
``torch.manual_seed(args.seed)``, loads the tokenizer (no random draws) and builds the detector,
so its table is the default's. ``main_watermark.py`` calls ``torch.manual_seed(args.seed)`` but
loads the model before building the generator: whatever the model loading draws from torch's
global CPU generator comes first (read from the code, not run, since it needs the models: a PEFT
adapter, as for the guanaco models of its examples, creates its LoRA layers with random initial
weights before loading the saved ones), so the generator's table is in general *not* the one
after ``manual_seed(args.seed)``. Its detector, built after generation (Maryland's
sampling draws from the global generator), holds yet another table. Pass the table the text was
generated with (``generator.hashtable.numpy()``) when it is not known to follow the seed.

What the reference runs: with ``min`` its generator works (tensor window); ``additive`` and
``skip`` raise in the generator (``hashint`` receives a Python int: ``'int' object has no
attribute 'cpu'``, and its result, a 0-d tensor, would then be refused by ``manual_seed``), and its
detector passes Python lists to all three branches, which raise (``torch.sum`` of a list for
``additive``; ``int.cpu()`` for ``skip``; for ``min``, ``salt_key * list`` repeats the list
``salt_key`` times before ``list.cpu()`` raises). This module computes the three
seeds as the generator's code computes ``min`` and as it would compute ``additive`` and ``skip``
if given tensors (and an int to ``manual_seed``), and scores them with the reference detector's
rules. For ``|salt_key * x| < 2**63`` (always the case with the default 35317) the int64 product
equals the exact one.

Scored positions and ``scoring``
--------------------------------
Positions ``t = ngram + 1, ..., len - 1`` of each text are candidates (the reference starts one
token later than the first full window: position ``ngram`` is never scored). ``scoring``:

- ``"none"``: every candidate is scored. A repeated (seed, token) pair is the same trial counted
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
- ``p_value_exact``: over the trials (see Trials below; ``N`` and ``S`` of the trials, which are
  the scored tokens except with the table seedings): Maryland: the exact binomial tail
  ``P(Bin(N, p0) >= S)`` with the true green probability ``p0 = int(gamma V) / V`` (the
  reference uses ``gamma``, slightly conservative or anti-conservative depending on the
  rounding). Aaronson: ``gammaincc(N, S)`` unfloored; the
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
A trial is a distinct ``(seed mod 2**32, token)`` pair of a text: the score depends on nothing
else. ``num_repeated`` counts the scored positions whose pair occurred at an earlier scored
position of the same text. With ``v1``/``v2`` the reference de-duplicates by window, and
``p_value`` (its formula) counts every scored token; ``p_value_exact`` counts each trial once
(``num_trials``, ``num_green_trials`` / ``trial_score_sum``), which keeps it valid. With ``hash``
seeding the two coincide (distinct windows share a seed with probability about 2**-32). With the
table seedings distinct windows share a seed often (``min``: windows whose smallest hashed
token is the same; ``skip``: windows with the same oldest token; ``additive``: windows with
equal sums), and the reference's count is then anti-conservative on repetitive text: in
``tests/test_watermark_threebricks.py::test_h0_maryland_table_seedings``' natural-text corpus
(10,000 texts, V = 1,000, ngram 3, gamma 0.25, v2) the exact binomial tail over the reference's
tokens gives P(p <= 0.001) = 0.0030 with ``min`` (``p_value_exact``: 0.0003). With ``"none"``
``p_value_exact`` counts every position and a :class:`RepeatedNgramWarning` is raised when a
trial repeats.
"""

from __future__ import annotations

import numpy as np

from .. import _native
from .._threads import resolve_num_threads
from .._validate import boolean, choice, index_vector, integer, real_finite, real_open
from ._rng import RANDPERM_LIMIT
from .kgw import TABLE_SIZE, RepeatedNgramWarning, _hash_table, _ragged, _warn_repeated  # noqa: F401
from .result import RESULT_FIELDS, WatermarkBatchResult

SCORING_METHODS: tuple[str, ...] = ("none", "v1", "v2")
SEEDING_SCHEMES: tuple[str, ...] = ("hash", "min", "additive", "skip")
#: Seedings that go through the reference's 1,000,003-entry hash table.
TABLE_SEEDINGS: tuple[str, ...] = ("min", "additive", "skip")
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
    "trial_score_sum",
    "num_repeated",
)


# -- seeding through the hash table ----------------------------------------------------------------


def resolve_hashtable(hashtable: object, seed: int) -> tuple[np.ndarray, int | None]:
    """(table as read-only int32, its torch seed or None) from ``hashtable``: None (drawn under
    ``seed``), an int (the global torch seed it was drawn under), an int array of length 1,000,003
    holding a permutation of ``range(1000003)``, or the path of a ``.npy`` file holding one."""
    import os

    if hashtable is None:
        hashtable = seed
    if isinstance(hashtable, (int, np.integer)) and not isinstance(hashtable, (bool, np.bool_)):
        s = integer("hashtable", hashtable, lo=-(2**63), hi=2**64)  # torch.manual_seed's range
        return _hash_table(s), s
    if isinstance(hashtable, (str, os.PathLike)):
        path = os.fspath(hashtable)
        if not path.endswith(".npy"):
            raise ValueError(f"hashtable: expected the path of a .npy file, got {path!r}")
        try:
            hashtable = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise FileNotFoundError(f"hashtable: no such file {path!r}") from None
    a = np.asarray(hashtable)
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(
            f"hashtable: expected an int seed or an integer array (torch.randperm(1000003)), got dtype {a.dtype}"
        )
    if a.ndim != 1 or a.shape[0] != TABLE_SIZE:
        raise ValueError(f"hashtable: expected a 1-D array of {TABLE_SIZE} entries, got shape {a.shape}")
    bad = np.flatnonzero((a < 0) | (a >= TABLE_SIZE))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"hashtable: expected a permutation of range({TABLE_SIZE}); hashtable[{i}] = {int(a[i])} is out of range")
    counts = np.bincount(a.astype(np.int64), minlength=TABLE_SIZE)
    dup = np.flatnonzero(counts > 1)
    if dup.size:
        raise ValueError(
            f"hashtable: expected a permutation of range({TABLE_SIZE}); {int(dup[0])} occurs {int(counts[dup[0]])} times"
            f" ({dup.size} repeated value(s))"
        )
    t = np.array(a, dtype=np.int32)
    t.setflags(write=False)
    return t, None


def table_seeds(windows: np.ndarray, seeding: str, salt_key: int, table: np.ndarray) -> np.ndarray:
    """Seeds (uint64, in [0, 1000003)) of the rows of a [m, ngram] int64 window matrix for the
    table seedings: ``hashint(x) = table[x mod 1000003]`` (floor modulo) of int64 products with
    ``salt_key`` (wrapping around as torch's int64 tensors do); min: ``min_i hashint(salt * w_i)``,
    additive: ``hashint(salt * sum_i w_i)``, skip: ``hashint(salt * w_0)``."""
    w = np.asarray(windows, dtype=np.int64)
    salt = np.int64(salt_key)
    with np.errstate(over="ignore"):
        if seeding == "min":
            idx = np.mod(w * salt, TABLE_SIZE)
            out = table[idx].min(axis=1) if w.shape[0] else np.zeros(0, dtype=table.dtype)
        elif seeding == "additive":
            out = table[np.mod(w.sum(axis=1, dtype=np.int64) * salt, TABLE_SIZE)]
        elif seeding == "skip":
            out = table[np.mod(w[:, 0] * salt, TABLE_SIZE)]
        else:  # pragma: no cover - validated by the constructors
            raise ValueError(f"seeding: {seeding!r} does not use the hash table")
    return np.ascontiguousarray(out, dtype=np.uint64)


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


def _row_codes(keys: np.ndarray) -> np.ndarray:
    """One int64 per row of a 2-D int64 matrix, equal for two rows iff the rows are equal: columns
    are packed in mixed radix (offset by their minimum), and the packed prefix is replaced by its
    rank whenever the next column would overflow 63 bits."""
    n, k = keys.shape
    limit = 2**62

    def rank(x):
        _, inv = np.unique(x, return_inverse=True)
        inv = inv.reshape(-1).astype(np.int64)
        return inv, int(inv.max()) + 1

    acc, acc_span = np.zeros(n, dtype=np.int64), 1
    for j in range(k):
        col = keys[:, j]
        lo, hi = int(col.min()), int(col.max())
        span = hi - lo + 1
        if span > limit:
            col, span = rank(col)
        else:
            col = (col - np.int64(lo)).astype(np.int64) if lo else col.astype(np.int64, copy=False)
        if acc_span * span > limit:
            acc, acc_span = rank(acc)
            if acc_span * span > limit:
                col, span = rank(col)
        acc = acc * np.int64(span) + col
        acc_span *= span
    return acc


def first_occurrence(keys: np.ndarray) -> np.ndarray:
    """Bool mask of the rows of a 2-D int64 matrix that did not occur in an earlier row."""
    n = keys.shape[0]
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    if keys.shape[1] == 0:
        mask[0] = True
        return mask
    _, idx = np.unique(_row_codes(keys), return_index=True)  # stable sort: first occurrences
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

    def _init_common(self, vocab_size, ngram, seed, seeding, salt_key, hashtable) -> None:
        self.vocab_size = integer("vocab_size", vocab_size, lo=2, hi=RANDPERM_LIMIT)
        self.ngram = integer("ngram", ngram, lo=1, hi=2**20)
        self.seed = integer("seed", seed)
        self.seeding = choice("seeding", seeding, SEEDING_SCHEMES)
        self._table = None
        self.hashtable_seed = None
        if self.seeding == "hash":
            self.salt_key = integer("salt_key", salt_key)
            if hashtable is not None:
                raise ValueError(
                    "hashtable: only used by the seedings 'min', 'additive' and 'skip'; got a hash table with seeding='hash'"
                )
        else:
            # the reference multiplies an int64 tensor by salt_key: it must be an int64
            self.salt_key = integer("salt_key", salt_key, lo=-(2**63), hi=2**63)
            self._table, self.hashtable_seed = resolve_hashtable(hashtable, self.seed)
        self._seed_mod = self.seed % _MOD
        self._salt_mod = self.salt_key % _MOD

    @property
    def hashtable(self) -> np.ndarray | None:
        """The reference's ``hashtable`` (int32, read-only; None with ``seeding="hash"``)."""
        return self._table

    def _meta_common(self) -> dict:
        m = {"ngram": self.ngram, "seed": self.seed, "seeding": self.seeding, "salt_key": self.salt_key}
        if self.seeding != "hash":
            m["hashtable_seed"] = self.hashtable_seed  # None: a table given as an array
        return m

    def _repr_seeding(self) -> str:
        out = f"seeding={self.seeding!r}, salt_key={self.salt_key}"
        if self.seeding != "hash":
            out += f", hashtable={self.hashtable_seed if self.hashtable_seed is not None else '<array>'}"
        return out

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
        if self._table is None:
            return _native.core().tb_hash_seeds(windows, self._seed_mod, self._salt_mod, nthreads)
        return table_seeds(windows, self.seeding, self.salt_key, self._table)

    def pair_scores(self, windows: object, tokens: object, *, num_threads: int | None = None) -> np.ndarray:
        """Score of each (window, token) pair (float64): 0/1 (Maryland) or ``-log(1 - r)`` (Aaronson)."""
        w = np.asarray(windows)
        if w.ndim != 2 or w.shape[1] != self.ngram:
            raise ValueError(f"windows: expected shape [m, {self.ngram}], got {w.shape}")
        w = index_vector("windows", w.reshape(-1), upper=self.vocab_size).reshape(w.shape)
        t = index_vector("tokens", tokens, length=w.shape[0], upper=self.vocab_size)
        return self._pair_scores(np.ascontiguousarray(w), t, 1, resolve_num_threads(num_threads))[:, 0]

    def _pair_scores(self, windows, tokens, n_payloads, nthreads) -> np.ndarray:
        return self._seed_scores(self._seeds(windows, nthreads), tokens, n_payloads, nthreads)

    def _seed_scores(self, seeds, tokens, n_payloads, nthreads) -> np.ndarray:
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
        # the reference de-duplicates by window (v1) or (window, token) (v2), in text order
        if scoring == "none":
            keep = np.ones(pos.shape[0], dtype=bool)
        elif scoring == "v1":
            keep = first_occurrence(_per_text_keys(text, win))
        else:
            keep = first_occurrence(_per_text_keys(text, win, tok))
        pos, text, win, tok = pos[keep], text[keep], np.ascontiguousarray(win[keep]), tok[keep]
        seeds = self._seeds(win, nthreads)
        # a trial is a distinct (seed mod 2**32, token) pair: what the score depends on
        seed32 = (seeds & np.uint64(0xFFFFFFFF)).astype(np.int64)
        trial = first_occurrence(_per_text_keys(text, seed32, tok))
        sc = self._seed_scores(seeds, tok, P, nthreads)  # [m, P]
        n = np.bincount(text, minlength=B).astype(np.int64)
        repeated = np.bincount(text, weights=~trial, minlength=B).astype(np.int64)
        if scoring == "none":  # p_value_exact over every position (not valid when trials repeat)
            trial = np.ones(pos.shape[0], dtype=bool)
        t_text = text[trial]
        n_trials = np.bincount(t_text, minlength=B).astype(np.int64)
        sums = np.zeros((B, P), dtype=np.float64)
        t_sums = np.zeros((B, P), dtype=np.float64)
        for j in range(P):  # in corpus order, per text: the same sums for any thread count
            sums[:, j] = np.bincount(text, weights=sc[:, j], minlength=B)
            t_sums[:, j] = np.bincount(t_text, weights=sc[trial, j], minlength=B)
        data, best = self._stats(sums, n, t_sums, n_trials, P)
        data["num_repeated"] = repeated
        too_short = n == 0
        if scoring == "none":
            bad = np.flatnonzero(repeated > 0)
            if bad.size:
                _warn_repeated(bad, repeated, B, "(seed, token) pairs", stacklevel + 1)
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

    ``Maryland(vocab_size, gamma=0.25, ngram=4, seed=0, seeding="hash", salt_key=35317,
    hashtable=None)``; ``vocab_size`` is the tokenizer's ``vocab_size`` the reference detector
    uses; ``hashtable`` (seedings min / additive / skip only): the table or its torch seed. With
    ``return_mask=True``, ``green_token_mask`` marks green scored tokens (for the decoded payload).
    """

    scheme = "maryland"

    def __init__(self, vocab_size: int, *, gamma: float = 0.25, ngram: int = 4, seed: int = 0, seeding: str = "hash",
                 salt_key: int = 35317, hashtable: object = None) -> None:
        self._init_common(vocab_size, ngram, seed, seeding, salt_key, hashtable)
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
            **self._meta_common(),
        }

    def __repr__(self) -> str:
        return (f"Maryland(vocab_size={self.vocab_size}, gamma={self.gamma}, ngram={self.ngram}, seed={self.seed}, "
                f"{self._repr_seeding()})")

    @property
    def null_probability(self) -> float:
        """Probability that a token is green under H0: int(gamma V) / V."""
        return self.green_size / self.vocab_size

    def _seed_scores(self, seeds, tokens, n_payloads, nthreads):
        core = _native.core()
        flags = core.tb_maryland_flags(seeds, tokens, self.vocab_size, self.green_size, n_payloads, nthreads)
        return flags.astype(np.float64)

    def _stats(self, sums, n, t_sums, n_trials, P):
        green_all = np.rint(sums).astype(np.int64)
        p_all, _, z_all = maryland_p_values(green_all, n[:, None], self.gamma, self.green_size, self.vocab_size)
        t_green_all = np.rint(t_sums).astype(np.int64)
        _, exact_all, _ = maryland_p_values(t_green_all, n_trials[:, None], self.gamma, self.green_size, self.vocab_size)
        best = self._decode(p_all, P)
        r = np.arange(len(n))
        green, t_green = green_all[r, best], t_green_all[r, best]
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
            "num_trials": n_trials,
            "num_green_trials": t_green,
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

    ``Aaronson(vocab_size, ngram=4, seed=0, seeding="hash", salt_key=35317, hashtable=None)``.
    Results carry ``score_sum`` and ``trial_score_sum`` (no green counts). With
    ``return_mask=True`` the result's ``green_token_mask`` holds each scored token's score
    ``-log(1 - r)`` (float64, 0 where nothing is scored; for the decoded payload) and
    ``scored_token_mask`` the scored positions.
    """

    scheme = "aaronson"

    def __init__(self, vocab_size: int, *, ngram: int = 4, seed: int = 0, seeding: str = "hash",
                 salt_key: int = 35317, hashtable: object = None) -> None:
        self._init_common(vocab_size, ngram, seed, seeding, salt_key, hashtable)
        self._meta = {
            "scheme": "three_bricks-aaronson",
            "vocab_size": self.vocab_size,
            **self._meta_common(),
        }

    def __repr__(self) -> str:
        return (f"Aaronson(vocab_size={self.vocab_size}, ngram={self.ngram}, seed={self.seed}, "
                f"{self._repr_seeding()})")

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

    def _seed_scores(self, seeds, tokens, n_payloads, nthreads):
        core = _native.core()
        r = core.tb_aaronson_uniforms(seeds, tokens, self.vocab_size, n_payloads, nthreads)
        return -np.log1p(-r)

    def _stats(self, sums, n, t_sums, n_trials, P):
        p_all, _, z_all = aaronson_p_values(sums, n[:, None])
        _, exact_all, _ = aaronson_p_values(t_sums, n_trials[:, None])
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
            "num_trials": n_trials,
            "trial_score_sum": t_sums[r, best],
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
