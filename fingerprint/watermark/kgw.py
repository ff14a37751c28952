r"""KGW ("Maryland") green-list watermark, bit-compatible with transformers and lm-watermarking.

Scheme (Kirchenbauer et al. 2023). For each scored token, a pseudo-random function (PRF) of the
preceding tokens (and, for self-salted schemes, of the token itself) gives a seed; a CPU torch
generator seeded with it draws ``torch.randperm(vocab_size)``, and the first
``int(vocab_size * gamma)`` entries are the green list (the last ones with
``select_green_tokens=False``). Generation adds ``delta`` to green logits; detection counts green
tokens and tests against the fraction expected without the watermark. This module reproduces the
green lists of both public implementations bit for bit (torch's Mersenne Twister and ``randperm``
run natively, see :mod:`fingerprint.watermark._rng`), so counts, z-scores and p-values equal theirs
for the same token ids and vocabulary size.

Seeding schemes (``seeding``)
-----------------------------
``manual_seed`` receives ``PRF(window) mod (2**64 - 1)``; torch keeps its low 32 bits.
``hashint(x) = table[x mod 1000003] + 1`` where ``table = torch.randperm(1000003)`` from a CPU
generator seeded as noted below. Arithmetic on tensors wraps around in int64 (as torch does);
products with ``.item()`` values are exact (as Python does).

- ``"lefthash"`` (alias ``"simple_1"``): ``hash_key * previous token`` (additive PRF, h = 1).
- ``"selfhash"`` (alias ``"algorithm-3"``): anchored minhash, self-salted:
  ``min_i(hash_key * hashint(w_i) * hashint(w_last))`` over the window ending with the scored token
  itself (int64 wrap-around before the signed min, then ``mod 2**64 - 1``).
- ``"minhash"`` (lm-watermarking): ``min_i hashint(hash_key * w_i)`` over h = 4 previous tokens.
- ``"skipgram"`` (lm-watermarking): ``hashint(hash_key * w_0)``, the token h = 5 back.
- ``"ff-<prf>-<h>-<True|False>[-<key>]"`` (lm-watermarking's free form): PRF ``<prf>`` (one of
  :data:`PRF_NAMES`) over a window of h tokens, self-salted if ``True``, hash key ``<key>``
  (default 15485863).

Differences between ``compat="transformers"`` and ``compat="lm-watermarking"``
----------------------------------------------------------------------------
1. Schemes: transformers offers only ``lefthash`` and ``selfhash``; the others need
   ``compat="lm-watermarking"``.
2. Context width. transformers: ``context_width`` (default 1) is a free parameter. For lefthash
   the seed still comes from the last token only; the width sets the n-gram length
   (``context_width + 1``) used to count repeats, and the first ``context_width`` tokens are not
   scored. For selfhash the window of the anchored minhash is the last ``context_width`` tokens
   including the scored one (with the default width 1 the green test depends on the token alone:
   a fixed, context-free green set). lm-watermarking: the width h is part of the scheme (lefthash
   1, selfhash 4, minhash 4, skipgram 5, ff: given); the n-gram length is ``h + 1 - self_salt``.
   Here ``context_width`` must then be None or equal to h (use the ff form for another h).
3. selfhash's hashint table: transformers seeds its 1,000,003-entry table with ``hash_key``;
   lm-watermarking with 2971215073 whatever the key. Their selfhash green lists differ (lefthash
   ones are identical).
4. Hash key: transformers takes ``hashing_key`` as an argument; lm-watermarking fixes 15485863 in
   the named schemes and takes a key only in the ff form. Here a non-default ``hash_key`` with a
   named lm-watermarking scheme means that scheme's ff form with this key.
5. p-value: transformers ``0.5 * erfc(z / sqrt(2))`` (torch, float64); lm-watermarking
   ``scipy.stats.norm.sf(z)``. Both are normal approximations (``p_value``). Here transformers'
   formula is evaluated with SciPy's erfc, which differs from torch's by at most a few ulps
   (relative 1e-14); lm-watermarking's is reproduced bit for bit. ``p_value_exact`` is the same
   for both modes.
6. Repeated n-grams: transformers' detector counts them by default
   (``ignore_repeated_ngrams=False``), lm-watermarking's ignores them by default (True). This
   class defaults to True (valid p-values); pass False to reproduce transformers' default.
7. BOS: both remove one leading token equal to the BOS id (transformers: ``model_config``'s
   ``bos_token_id``, or ``decoder_start_token_id`` for encoder-decoders, and it raises a TypeError
   when that is None; lm-watermarking: only if a tokenizer is given, its ``bos_token_id``). Here:
   ``bos_token_id`` (None: nothing removed). transformers decides from the first row of a batch
   and requires all rows to agree; here each text is checked on its own (a ragged batch is a
   sequence of single texts).
8. Too short: both raise when ``len(ids) - context_width < 1`` (after BOS removal). ``detect``
   raises ValueError; ``detect_batch`` marks such texts ``too_short``. (transformers selfhash with
   width 1 could score a single token, but raises like the rest.)
9. ``select_green_tokens=False`` (green = tail of the permutation) exists only in
   lm-watermarking.
10. Generation with self-salted schemes (``processor``): both test the top candidates by logit,
   each against the green list seeded with itself appended, and bias those that pass:
   transformers the top 40, lm-watermarking the top 41 (its loop stops after index 40). Ties in
   the logits are ordered by token id here (torch's sort order for ties is unspecified). When
   the prefix is shorter than the context, transformers returns the logits unchanged,
   lm-watermarking raises; so does this processor. When none of the candidates passes,
   transformers 5.24 raises an IndexError (it indexes with an empty float tensor); this processor
   returns the logits unchanged.

Valid p-values
--------------
The z-test treats each scored token as an independent Bernoulli(gamma) trial. Two things break
that: repeated n-grams (the same context and token always give the same outcome, so a repeated
phrase counts one coin flip many times) and short texts (the normal approximation; at 20 tokens
and gamma 0.25, "p = 0.001" (z >= 3.09) happens with probability about 0.004 under H0).
``p_value_exact`` is the exact binomial tail over the distinct (seed, token) pairs, the units
that are actually independent (with ``ignore_repeated_ngrams=True``), with the exact green
probability ``int(vocab_size * gamma) / vocab_size``. With ``ignore_repeated_ngrams=False`` it is
computed over all positions, and a :class:`RepeatedNgramWarning` is raised whenever a
(seed, token) pair repeats, because neither p-value is then valid.
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict

import numpy as np

from .. import _native
from .._threads import resolve_num_threads
from .._validate import boolean, choice, index_vector, integer, offsets_vector, real_finite, real_open
from ._rng import RANDPERM_LIMIT, torch_randperm
from ._stats import binom_upper, p_erfc, p_norm_sf, z_green
from .result import WatermarkBatchResult, WatermarkResult


class RepeatedNgramWarning(UserWarning):
    """p-values computed over repeated n-grams (or tokens) are not valid.

    Each repetition of the same (context, token) pair gives the same green/red outcome: it is one
    Bernoulli trial counted several times, so the binomial and normal tails overstate the evidence
    (on repetitive text, arbitrarily). De-duplicate (``ignore_repeated_ngrams=True``, or
    ``unique_tokens=True`` for Unigram) to get valid p-values.
    """


#: PRF names of lm-watermarking's free-form seeding (``ff-<prf>-<h>-<True|False>[-<key>]``).
PRF_NAMES: tuple[str, ...] = (
    "additive_prf",
    "multiplicative_prf",
    "minfunc_prf",
    "simple_skip_prf",
    "skipgram_prf",
    "anchored_skipgram_prf",
    "minhash_prf",
    "anchored_minhash_prf",
    "minskipgram_prf",
    "noncomm_prf",
    "position_prf",
)
_PRF_CODE = {name: i for i, name in enumerate(PRF_NAMES)}
_PRF_NO_TABLE = {"additive_prf", "multiplicative_prf", "minfunc_prf", "position_prf"}

#: Named schemes: (prf, context width, self-salted).
NAMED_SCHEMES: dict[str, tuple[str, int, bool]] = {
    "lefthash": ("additive_prf", 1, False),
    "simple_1": ("additive_prf", 1, False),
    "selfhash": ("anchored_minhash_prf", 4, True),
    "algorithm-3": ("anchored_minhash_prf", 4, True),
    "minhash": ("minhash_prf", 4, False),
    "skipgram": ("skipgram_prf", 5, False),
}

DEFAULT_HASH_KEY = 15485863
LMW_TABLE_SEED = 2971215073  # lm-watermarking's hashint table seed (Fibonacci prime F47)
TABLE_SIZE = 1_000_003
COMPAT_MODES = ("transformers", "lm-watermarking")

_FF_RE = re.compile(r"^ff-([a-z_]+)-(\d+)-(True|False)(?:-(\d+))?$")
_VALID_FORMS = (
    "'lefthash' (alias 'simple_1'), 'selfhash' (alias 'algorithm-3'), 'minhash', 'skipgram', or "
    "'ff-<prf>-<context width>-<True|False>[-<hash key>]' with <prf> one of "
    + ", ".join(PRF_NAMES)
    + " (e.g. 'ff-anchored_minhash_prf-4-True-15485863')"
)

_tables: dict[int, np.ndarray] = {}


def _hash_table(seed: int) -> np.ndarray:
    """hashint's table: torch.randperm(1000003) after manual_seed(seed), as int32 (cached)."""
    seed32 = seed & 0xFFFFFFFF
    t = _tables.get(seed32)
    if t is None:
        t = torch_randperm(seed32, TABLE_SIZE).astype(np.int32)
        t.setflags(write=False)
        _tables[seed32] = t
    return t


def _parse_seeding(seeding: object, compat: str, hash_key: int) -> tuple[str, int, bool, int, bool]:
    """(prf, width, self_salt, key, named) from a seeding string."""
    if not isinstance(seeding, str):
        raise TypeError(f"seeding: expected a string, one of {_VALID_FORMS}; got {type(seeding).__name__}")
    if compat == "transformers":
        if seeding not in ("lefthash", "selfhash"):
            raise ValueError(
                f"seeding: compat='transformers' supports 'lefthash' and 'selfhash'; got {seeding!r}"
                " (minhash, skipgram, aliases and ff-... forms need compat='lm-watermarking')"
            )
        prf, width, salt = NAMED_SCHEMES[seeding]
        return prf, width, salt, hash_key, True
    if seeding in NAMED_SCHEMES:
        prf, width, salt = NAMED_SCHEMES[seeding]
        return prf, width, salt, hash_key, True
    m = _FF_RE.match(seeding)
    if m is None:
        raise ValueError(f"seeding: expected {_VALID_FORMS}; got {seeding!r}")
    prf, width_s, salt_s, key_s = m.groups()
    if prf not in _PRF_CODE:
        raise ValueError(f"seeding: unknown PRF {prf!r} in {seeding!r}; valid PRFs: {', '.join(PRF_NAMES)}")
    width = int(width_s)
    if width < 1:
        raise ValueError(f"seeding: context width must be >= 1 in {seeding!r}")
    if prf == "minskipgram_prf" and width < 2:
        raise ValueError(f"seeding: minskipgram_prf needs a context width >= 2 in {seeding!r}")
    key = DEFAULT_HASH_KEY
    if key_s is not None:
        key = int(key_s)
        if key >= 2**63:
            raise ValueError(f"seeding: hash key must be < 2**63 in {seeding!r}")
        if hash_key != DEFAULT_HASH_KEY and hash_key != key:
            raise ValueError(
                f"hash_key={hash_key} conflicts with the key {key} in seeding {seeding!r}; give it once"
            )
    else:
        key = hash_key
    return prf, width, salt_s == "True", key, False


class KGW:
    r"""KGW watermark detector and generator, bit-compatible with transformers or lm-watermarking.

    Parameters
    ----------
    vocab_size : the vocabulary size V the green lists are drawn over (transformers:
        ``model_config.vocab_size``; lm-watermarking: ``len(vocab)``), 2 <= V < 214,748,364.
    gamma : green fraction; the green list has ``int(V * gamma)`` tokens (>= 1).
    seeding : seeding scheme (see the module documentation).
    hash_key : hash key, 0 <= key < 2**63.
    context_width : transformers: the context width (default 1). lm-watermarking: None or the
        scheme's own width.
    ignore_repeated_ngrams : count each distinct n-gram once (valid p-values). transformers'
        detector defaults to False, lm-watermarking's to True.
    compat : ``"transformers"`` or ``"lm-watermarking"``: which library's behaviour is reproduced
        (see the module documentation for every difference).
    bos_token_id : one leading token equal to this id is removed before scoring (None: never).
    select_green_tokens : green = head of the permutation (True) or its tail (False,
        lm-watermarking's legacy mode).

    ``detect(ids)`` scores one text, ``detect_batch(ids, offsets)`` many (in parallel, natively,
    computing each distinct (seed, token) pair of the batch once), ``processor(delta)`` returns a
    logits processor for generation.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        gamma: float = 0.25,
        seeding: str = "lefthash",
        hash_key: int = DEFAULT_HASH_KEY,
        context_width: int | None = None,
        ignore_repeated_ngrams: bool = True,
        compat: str = "transformers",
        bos_token_id: int | None = None,
        select_green_tokens: bool = True,
    ) -> None:
        self.vocab_size = integer("vocab_size", vocab_size, lo=2, hi=RANDPERM_LIMIT)
        self.gamma = real_open("gamma", gamma, 0.0, 1.0)
        self.green_size = int(self.vocab_size * self.gamma)
        if self.green_size < 1:
            raise ValueError(
                f"gamma: int(vocab_size * gamma) = int({self.vocab_size} * {self.gamma}) = 0 gives an empty green list"
            )
        self.compat = choice("compat", compat, COMPAT_MODES)
        key = integer("hash_key", hash_key, lo=0, hi=2**63)
        self.ignore_repeated_ngrams = boolean("ignore_repeated_ngrams", ignore_repeated_ngrams)
        self.select_green_tokens = boolean("select_green_tokens", select_green_tokens)
        if self.compat == "transformers" and not self.select_green_tokens:
            raise ValueError(
                "select_green_tokens=False (green list = tail of the permutation) exists only in "
                "lm-watermarking; pass compat='lm-watermarking'"
            )
        self.bos_token_id = None if bos_token_id is None else integer("bos_token_id", bos_token_id, lo=0)
        prf, width, salt, key, named = _parse_seeding(seeding, self.compat, key)
        self.seeding = seeding
        self.prf = prf
        self.self_salt = salt
        self.hash_key = key
        if self.compat == "transformers":
            cw = 1 if context_width is None else integer("context_width", context_width, lo=1)
            self.context_width = cw
            if seeding == "lefthash":
                prf_width, ngram_len = 1, cw + 1
            else:
                prf_width, ngram_len = cw, cw
            table_seed = key if seeding == "selfhash" else None
        else:
            if context_width is not None and integer("context_width", context_width, lo=1) != width:
                raise ValueError(
                    f"context_width: lm-watermarking's {seeding!r} has context width {width}, got "
                    f"{context_width}; for another width use the free form, e.g. "
                    f"'ff-{prf}-{context_width}-{salt}'"
                )
            self.context_width = width
            prf_width, ngram_len = width, width + 1 - int(salt)
            table_seed = None if prf in _PRF_NO_TABLE else LMW_TABLE_SEED
        self.ngram_len = ngram_len
        self.min_length = self.context_width + 1
        self._prf_width = prf_width
        self._table_seed = table_seed
        self._table = None if table_seed is None else _hash_table(table_seed)
        self._config = {
            "prf": _PRF_CODE[prf],
            "prf_width": prf_width,
            "ngram_len": ngram_len,
            "min_len": self.min_length,
            "self_salt": salt,
            "key": key,
            "vocab": self.vocab_size,
            "green_size": self.green_size,
            "select_head": self.select_green_tokens,
            "table": self._table,
            "ignore_repeated": self.ignore_repeated_ngrams,
            "bos": -1 if self.bos_token_id is None else self.bos_token_id,
        }
        self._meta = {
            "scheme": "kgw",
            "compat": self.compat,
            "seeding": seeding,
            "prf": prf,
            "context_width": self.context_width,
            "self_salt": salt,
            "hash_key": key,
            "vocab_size": self.vocab_size,
            "gamma": self.gamma,
            "green_size": self.green_size,
            "ignore_repeated_ngrams": self.ignore_repeated_ngrams,
            "select_green_tokens": self.select_green_tokens,
            "bos_token_id": self.bos_token_id,
        }

    def __repr__(self) -> str:
        return (
            f"KGW(vocab_size={self.vocab_size}, gamma={self.gamma}, seeding={self.seeding!r}, "
            f"hash_key={self.hash_key}, context_width={self.context_width}, compat={self.compat!r}, "
            f"ignore_repeated_ngrams={self.ignore_repeated_ngrams}, bos_token_id={self.bos_token_id})"
        )

    # -- detection ---------------------------------------------------------------------------

    def detect(self, ids: object, *, return_mask: bool = False, num_threads: int | None = None) -> WatermarkResult:
        """Score one text (1-D token ids). Raises ValueError if it is shorter than the scheme needs.
        The green tests of a long text run in parallel (identical results for any ``num_threads``)."""
        a = index_vector("ids", ids, upper=self.vocab_size)
        return_mask = boolean("return_mask", return_mask)
        nthreads = resolve_num_threads(num_threads)
        batch = self._run(a, np.array([0, a.shape[0]], dtype=np.int64), return_mask, nthreads, stacklevel=3)
        if batch.too_short[0]:
            stripped = int(self.bos_token_id is not None and a.size > 0 and a[0] == self.bos_token_id)
            raise ValueError(
                f"ids: too short to score: {self._describe_scheme()} needs at least {self.min_length} "
                f"tokens{' after removing the leading BOS' if stripped else ''}; got {a.shape[0] - stripped}"
            )
        return batch[0]

    def detect_batch(
        self,
        ids: object,
        offsets: object = None,
        *,
        return_mask: bool = False,
        num_threads: int | None = None,
    ) -> WatermarkBatchResult:
        """Score many texts: ``ids`` concatenated (1-D) with ``offsets`` (length B+1), or a list of 1-D
        sequences with ``offsets=None``. Parallel across texts; identical for any ``num_threads``.
        Texts too short to score are marked ``too_short`` (NaN z and p_value, p_value_exact 1)."""
        a, offs = _ragged(ids, offsets, self.vocab_size)
        return self._run(a, offs, boolean("return_mask", return_mask), resolve_num_threads(num_threads), stacklevel=3)

    def _describe_scheme(self) -> str:
        return f"seeding {self.seeding!r} (compat={self.compat!r}, context width {self.context_width})"

    def _run(self, ids, offsets, return_mask, nthreads, stacklevel):
        core = _native.core()
        r = core.wm_kgw_detect_batch(ids, offsets, self._config, return_mask, nthreads)
        too_short = r["too_short"].astype(bool)
        T, G = r["num_tokens_scored"], r["num_green_tokens"]
        z = z_green(G, T, self.gamma)
        z[too_short] = np.nan
        p = p_erfc(z) if self.compat == "transformers" else p_norm_sf(z)
        p_exact = binom_upper(r["num_green_trials"], r["num_trials"], self.green_size / self.vocab_size)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = G / T
        data = {
            "z_score": z,
            "p_value": p,
            "p_value_exact": p_exact,
            "num_tokens_scored": T,
            "num_green_tokens": G,
            "green_fraction": frac,
            "num_trials": r["num_trials"],
            "num_green_trials": r["num_green_trials"],
            "num_repeated": r["num_repeated"],
        }
        if not self.ignore_repeated_ngrams:
            bad = np.flatnonzero(r["num_repeated"] > 0)
            if bad.size:
                _warn_repeated(bad, r["num_repeated"], len(too_short), "(context, token) pairs", stacklevel + 1)
        gm = sm = None
        if return_mask:
            gm, sm = r["green_mask"].astype(bool), r["counted_mask"].astype(bool)
        return WatermarkBatchResult(data, too_short, offsets, gm, sm, self._meta)

    # -- green lists and generation ----------------------------------------------------------

    def seed_of(self, window: object) -> int:
        """The ``manual_seed`` argument (PRF mod 2**64 - 1) for a window of exactly the PRF width
        (for self-salted schemes the window ends with the scored token itself)."""
        w = index_vector("window", window, length=self._prf_width, upper=self.vocab_size)
        return int(_native.core().wm_kgw_window_seeds(w.reshape(1, -1), self._config)[0])

    def green_list(self, seed: int) -> np.ndarray:
        """The green token ids of a seed, in permutation order (int64, ``green_size`` entries)."""
        s = integer("seed", seed, lo=0, hi=2**64)
        return _native.core().wm_green_list(s, self.vocab_size, self.green_size, self.select_green_tokens)

    def processor(self, delta: float = 2.0, *, cache_size: int = 4096) -> KGWLogitsProcessor:
        """A logits processor adding ``delta`` to green logits (see :class:`KGWLogitsProcessor`)."""
        return KGWLogitsProcessor(self, delta, cache_size=cache_size)


class KGWLogitsProcessor:
    """Adds ``delta`` to the logits of the green tokens for the next position, as the compat library.

    ``proc(prefix_ids, logits)``: ``prefix_ids`` 1-D (or 2-D [B, L]), ``logits`` 1-D (or [B, V'])
    float NumPy array with V' >= vocab_size (ids >= vocab_size are never green); returns a new array.
    Non-self-salted schemes bias the green list seeded by the prefix (cached per seed, LRU of
    ``cache_size`` lists); self-salted ones test the top 40 (transformers) or 41 (lm-watermarking)
    candidates against their own green lists and bias those that pass. A prefix shorter than the
    seeding context: transformers leaves the logits unchanged, lm-watermarking raises ValueError.
    """

    def __init__(self, kgw: KGW, delta: float = 2.0, *, cache_size: int = 4096) -> None:
        if not isinstance(kgw, KGW):
            raise TypeError(f"kgw: expected a KGW instance, got {type(kgw).__name__}")
        self.kgw = kgw
        self.delta = real_finite("delta", delta)
        self.cache_size = integer("cache_size", cache_size, lo=0)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.num_candidates = 40 if kgw.compat == "transformers" else 41

    def green_ids(self, prefix: object) -> np.ndarray:
        """Token ids biased after this prefix (int64, sorted)."""
        k = self.kgw
        p = index_vector("prefix_ids", prefix, upper=k.vocab_size)
        if k.self_salt:
            raise ValueError(
                "green_ids: a self-salted scheme has no single green list per prefix; call the processor with logits"
            )
        need = k._prf_width if k.compat == "lm-watermarking" else max(k.context_width, 1)
        if p.shape[0] < need:
            return self._short(p.shape[0], need)
        seed = int(_native.core().wm_kgw_window_seeds(np.ascontiguousarray(p[-k._prf_width :]).reshape(1, -1), k._config)[0])
        return np.sort(self._green_list(seed))

    def _short(self, n: int, need: int) -> np.ndarray:
        if self.kgw.compat == "lm-watermarking":
            raise ValueError(
                f"prefix_ids: seeding {self.kgw.seeding!r} needs at least {need} token(s) of prefix to seed "
                f"the generator; got {n}"
            )
        return np.zeros(0, dtype=np.int64)  # transformers: skip the watermark for this step

    def _green_list(self, seed: int) -> np.ndarray:
        s32 = seed & 0xFFFFFFFF
        hit = self._cache.get(s32)
        if hit is not None:
            self._cache.move_to_end(s32)
            return hit
        g = self.kgw.green_list(s32)
        if self.cache_size:
            self._cache[s32] = g
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return g

    def _self_salted_ids(self, p: np.ndarray, row: np.ndarray) -> np.ndarray:
        k = self.kgw
        # transformers skips the step when the prefix is shorter than context_width; lm-watermarking
        # needs prefix + candidate to fill the window
        if k.compat == "transformers":
            if p.shape[0] < k.context_width:
                return self._short(p.shape[0], k.context_width)
        elif p.shape[0] + 1 < k._prf_width:
            return self._short(p.shape[0], k._prf_width - 1)
        m = min(self.num_candidates, k.vocab_size)
        scores = row[: k.vocab_size]
        cand = np.argsort(-scores, kind="stable")[:m].astype(np.int64)
        w = k._prf_width
        ctx = p[-(w - 1) :] if w > 1 else p[:0]
        windows = np.empty((m, w), dtype=np.int64)
        windows[:, : w - 1] = ctx
        windows[:, w - 1] = cand
        core = _native.core()
        seeds = core.wm_kgw_window_seeds(windows, k._config)
        seeds32 = (seeds & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        ok = core.wm_green_membership(seeds32, cand, k.vocab_size, k.green_size, k.select_green_tokens, 1)
        return cand[ok.astype(bool)]

    def __call__(self, input_ids: object, logits: object) -> np.ndarray:
        x = np.asarray(logits)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"logits: expected a floating-point array, got dtype {x.dtype}")
        ids = np.asarray(input_ids)
        if x.ndim == 1:
            if ids.ndim != 1:
                raise ValueError(f"input_ids: expected a 1-D prefix for 1-D logits, got shape {ids.shape}")
            rows_ids, rows_x, squeeze = [ids], x[None, :], True
        elif x.ndim == 2:
            if ids.ndim != 2 or ids.shape[0] != x.shape[0]:
                raise ValueError(
                    f"input_ids: expected shape [{x.shape[0]}, L] for logits of shape {x.shape}, got {ids.shape}"
                )
            rows_ids, rows_x, squeeze = list(ids), x, False
        else:
            raise ValueError(f"logits: expected 1-D [V] or 2-D [B, V], got shape {x.shape}")
        if rows_x.shape[1] < self.kgw.vocab_size:
            raise ValueError(
                f"logits: last axis has {rows_x.shape[1]} entries, fewer than vocab_size {self.kgw.vocab_size}"
            )
        out = np.array(rows_x, copy=True)
        for b, (p_raw, row) in enumerate(zip(rows_ids, rows_x)):
            p = index_vector("input_ids", p_raw, upper=self.kgw.vocab_size)
            if self.kgw.self_salt:
                green = self._self_salted_ids(p, row)
            else:
                green = self.green_ids(p)
            out[b, green] += out.dtype.type(self.delta)
        return out[0] if squeeze else out


def _warn_repeated(bad: np.ndarray, counts: np.ndarray, n_texts: int, unit: str, stacklevel: int) -> None:
    i = int(bad[0])
    warnings.warn(
        f"p-values are not valid for {bad.size} of {n_texts} text(s): repeated {unit} are counted as "
        f"independent trials (text {i}: {int(counts[i])} repeated position(s)). Repeats of the same "
        "context and token always give the same outcome, so the binomial and normal tails overstate "
        "the evidence; de-duplicate to get valid p-values.",
        RepeatedNgramWarning,
        stacklevel=stacklevel,
    )


def _ragged(ids: object, offsets: object, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ids and offsets from (ids, offsets) or a list of sequences."""
    if offsets is None:
        if not isinstance(ids, (list, tuple)):
            raise TypeError(
                "offsets: required when ids is an array (concatenated texts); or pass ids as a list of 1-D sequences"
            )
        parts = [index_vector(f"ids[{i}]", s, upper=vocab_size) for i, s in enumerate(ids)]
        lengths = np.array([p.shape[0] for p in parts], dtype=np.int64)
        offs = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offs[1:])
        a = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return np.ascontiguousarray(a, dtype=np.int64), offs
    a = index_vector("ids", ids, upper=vocab_size)
    return a, offsets_vector("offsets", offsets, a.shape[0])
