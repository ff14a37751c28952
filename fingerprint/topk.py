"""Divergence panel between two models known only through their top-k log-probabilities."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from . import _native
from ._threads import resolve_num_threads
from ._validate import (
    choice,
    panel_fields,
    index_vector,
    logprob_vector,
    offsets_vector,
    positive_int,
    topk_ids,
    topk_logprobs,
    where_position,
)
from .result import ALL_FIELDS, TARGET_FIELDS, DivergenceResult

#: The tail policies of :func:`topk_divergences`, default first.
TAILS: tuple[str, ...] = ("bucket", "ignore", "renormalize", "geometric")

# Tolerances, the same as the kernel's (csrc/topk.hpp; checked by the tests).
POSITIVE_TOL = 1e-6  # largest accepted log-prob (rounding above 0)
MASS_TOL = 1e-4  # a row's probabilities may sum to at most 1 + MASS_TOL
TARGET_TOL = 1e-6  # |given target log-prob - its top-k log-prob| allowed


def topk_divergences(
    p_ids: np.ndarray,
    p_logprobs: np.ndarray,
    q_ids: np.ndarray,
    q_logprobs: np.ndarray,
    *,
    tail: str = "bucket",
    targets: np.ndarray | None = None,
    p_target_logprobs: np.ndarray | None = None,
    q_target_logprobs: np.ndarray | None = None,
    vocab_size: int | None = None,
    offsets: np.ndarray | None = None,
    fields: Iterable[str] | str | None = None,
    num_threads: int | None = None,
) -> DivergenceResult:
    r"""Per-position divergence panel from top-k log-probabilities, as LLM APIs return them.

    ``p_ids`` ``[N, kp]`` (integers; int32/int64 used as they are, other integer dtypes widened)
    and ``p_logprobs`` ``[N, kp]`` (float32 or float64; float16/bfloat16 widened exactly) are
    model P's top-k token ids and natural-log probabilities per position; ``q_ids``,
    ``q_logprobs`` ``[N, kq]`` are Q's (``kq`` may differ from ``kp``). Id ``-1`` pads a row
    (anywhere in it; its log-prob is ignored; a row may be all padding). Within a row ids are
    unique; log-probs are not NaN and ``<= 0`` (up to 1e-6 of rounding), ``-inf`` meaning
    probability 0; a row's probabilities sum to at most ``1 + 1e-4``. Its *rest mass* is
    :math:`\max(0, 1 - \sum_i p_i)`. All computation is in float64.

    ``targets`` ``[N]`` are the observed tokens; ``p_target_logprobs`` / ``q_target_logprobs``
    ``[N]`` their log-probs under each model where known (they may lie outside the top-k; NaN =
    unknown); where the target is in the top-k the two must agree to 1e-6. ``vocab_size`` bounds
    the ids (and is required by ``tail="geometric"``). ``offsets`` (length B+1) marks sequences.

    Fields (float64, nats) have the meanings of :func:`fingerprint.token_divergences`, evaluated
    on distributions built from the lists according to ``tail``. Supports are aligned by id;
    :math:`S` is the set of ids in both rows.

    ``tail="bucket"`` (default): pairwise fields (``kl_*``, ``js``, ``tv``, ``cross_entropy_*``,
    ``var_logq_p``, ``var_logp_q``) use both distributions coarse-grained onto :math:`S` plus one
    rest bucket, :math:`P(\text{rest}) = \max(0, 1 - \sum_{S} p)` (likewise Q). Per-model
    fields (``entropy_p``, ``var_logp_p``; likewise q) use the model's own list plus its rest
    bucket. A bucket of mass 0 contributes nothing; mass under P where Q has 0 gives ``kl_pq =
    inf``. By the data-processing inequality KL, JS, TV, cross-entropy and entropy are then
    **lower bounds** of their full-vocabulary values (when the lists are exact restrictions of
    the full distributions).

    ``tail="ignore"``: the sums of the panel formulas over :math:`S` only (pairwise) or the own
    list only (per-model), with no rest and no renormalisation. The weights do not sum to 1, so
    ``kl_*`` may be negative and is **not a divergence**; an empty :math:`S` gives 0. Nothing is
    clamped.

    ``tail="renormalize"``: pairwise fields compare P and Q conditioned on the token being in
    :math:`S` (:math:`p_s / \sum_S p`, likewise q); per-model fields use the own list
    renormalised. NaN where the shared (or own) mass is 0, e.g. :math:`S` empty.

    ``tail="geometric"`` (an estimate, not a bound; after Glimpse, Bao et al. 2024): each
    model's sorted list :math:`p_1 \ge \dots \ge p_K` is extended to ``M = vocab_size`` ranks
    by :math:`p_{K+j} = p_K \lambda^j`, :math:`j = 1..M-K`, with :math:`\lambda \in (0, 1)`
    solved in float64 so the tail sums to the rest mass; when :math:`p_K (M-K) \le` rest no
    such :math:`\lambda` exists and the tail is uniform, rest/(M-K) (also when :math:`p_K =
    0`); a rest mass of 0 gives a zero tail. Per-model fields use the full extrapolated
    distribution (closed forms for the tail). Pairwise: an id of the union of both lists that
    is missing from one model's list takes that model's next unused tail rank, in the order of
    the other model's log-probabilities (ties in row order); the remaining tail ranks of P and
    Q are paired rank by rank (a *co-monotone tails* assumption). KL and cross-entropies use
    closed forms; JS and TV sum the paired tails explicitly until both remaining tail masses are
    below 1e-15, which costs O(M) per row in the worst case (nearly uniform tails of different
    shapes); tails with equal ratios are summed in closed form. ``vocab_size`` must exceed the
    number of ids in every row.

    Target fields: ``logprob_p`` is the target's log-prob in P's list, else
    ``p_target_logprobs`` (if not NaN), else, for ``geometric``, the log-prob of the tail rank
    the target takes because it is in Q's list, else NaN. It is P's reported log-prob under
    every policy (not renormalised). ``rank_p`` = 1 + the number of P's entries with a log-prob
    strictly greater than ``logprob_p``: exact in the list, a **lower bound** outside it; NaN
    when ``logprob_p`` is NaN. ``top1_agree`` compares the ids of the highest log-probs (first in
    row order on ties).

    Rows without valid entries: that model's per-model fields, ``rank``, ``top1_agree`` and all
    pairwise fields are NaN (its ``logprob`` can still come from the given target log-probs).
    Except under ``ignore``, KL, cross-entropy and entropy are clamped to >= 0, JS to
    [0, ln 2] and TV to [0, 1] (rows summing to slightly more than 1 may exceed them by rounding).
    ``fields`` computes a subset. exp and log are evaluated in float64 by polynomials accurate to
    about one ulp (results match a float64 reference to about 1e-12 relative); they are
    identical for every ``num_threads`` (the generic, AVX2 and AVX-512 kernel sets, see
    :func:`fingerprint.set_simd`, may differ in the last bits).
    """
    tail = choice("tail", tail, TAILS)
    pi, pl = topk_ids("p_ids", p_ids), topk_logprobs("p_logprobs", p_logprobs)
    qi, ql = topk_ids("q_ids", q_ids), topk_logprobs("q_logprobs", q_logprobs)
    for m, ids, lps in (("p", pi, pl), ("q", qi, ql)):
        if ids.shape != lps.shape:
            raise ValueError(
                f"{m}_ids and {m}_logprobs must have the same shape [positions, k]; "
                f"got {m}_ids {ids.shape} and {m}_logprobs {lps.shape}"
            )
    if pi.shape[0] != qi.shape[0]:
        raise ValueError(
            f"p and q must have the same number of positions; got {pi.shape[0]} rows in p_ids "
            f"and {qi.shape[0]} in q_ids"
        )
    n = pi.shape[0]
    vocab = None if vocab_size is None else positive_int("vocab_size", vocab_size)
    if tail == "geometric" and vocab is None:
        raise ValueError(
            "vocab_size: tail='geometric' extrapolates each list over the whole vocabulary and "
            "needs vocab_size= (the number of token ids)"
        )
    tgt = None if targets is None else index_vector("targets", targets, length=n, upper=vocab)
    if tgt is not None and vocab is None and tgt.size and tgt.min() < 0:
        i = int(np.flatnonzero(tgt < 0)[0])
        raise ValueError(f"targets: token ids must be >= 0; targets[{i}] = {int(tgt[i])}")
    tlp = {}
    for m, given in (("p", p_target_logprobs), ("q", q_target_logprobs)):
        name = f"{m}_target_logprobs"
        if given is None:
            tlp[m] = None
            continue
        if tgt is None:
            raise ValueError(f"{name} are the observed tokens' log-probs and need targets= (length {n})")
        tlp[m] = logprob_vector(name, given, length=n, tol=POSITIVE_TOL)
    offs = None if offsets is None else offsets_vector("offsets", offsets, n)
    names = panel_fields(fields, ALL_FIELDS, TARGET_FIELDS, tgt is not None, n)
    nthreads = resolve_num_threads(num_threads)

    core = _native.core()
    index = {name: i for i, name in enumerate(core.TOPK_FIELDS)}
    outs = {name: np.empty(n, dtype=np.float64) for name in names}
    errors = np.zeros(n, dtype=np.int32)
    if n:
        core.topk_panel(
            pi, pl, qi, ql, core.TOPK_TAILS.index(tail), 0 if vocab is None else vocab,
            tgt, tlp["p"], tlp["q"], [(index[k], v) for k, v in outs.items()], errors, nthreads,
        )  # fmt: skip
        if errors.any():
            _raise_row_error(core, errors, (pi, pl, tlp["p"]), (qi, ql, tlp["q"]), tgt, vocab, offs)
    meta = {"kind": "topk", "tail": tail, "vocab": vocab, "kp": pi.shape[1], "kq": qi.shape[1]}
    return DivergenceResult(outs, offs, meta)


def _raise_row_error(core, errors, p, q, tgt, vocab, offs) -> None:
    """A ValueError for the first row the kernel rejected, naming array, row, column and value."""
    i = int(np.flatnonzero(errors)[0])
    e = int(errors[i])
    where = where_position(offs, i)
    at = f"row {i}{where}"
    if e & core.TK_ERR_TARGET_RANGE:
        raise ValueError(f"targets: targets[{i}] = {int(tgt[i])} is outside [0, {vocab}) ({at})")
    rows = {}
    for m, (ids, lps, tl) in (("p", p), ("q", q)):
        row_ids = np.asarray(ids[i], dtype=np.int64)
        row_lp = np.asarray(lps[i], dtype=np.float64)
        rows[m] = (row_ids, row_lp, np.flatnonzero(row_ids != -1), tl)

    def bit(base: int, m: str) -> bool:
        return bool(e & (base << (0 if m == "p" else 1)))

    for m, (row_ids, row_lp, cols, _) in rows.items():
        if bit(core.TK_ERR_ID_P, m):
            c = next(int(c) for c in cols if row_ids[c] < -1 or (vocab is not None and row_ids[c] >= vocab))
            v = int(row_ids[c])
            if v < -1:
                raise ValueError(f"{m}_ids: {at}, column {c}: id {v} is negative; only -1 marks padding")
            raise ValueError(f"{m}_ids: {at}, column {c}: id {v} is outside [0, vocab_size={vocab})")
    for m, (row_ids, row_lp, cols, _) in rows.items():
        if bit(core.TK_ERR_NAN_P, m):
            c = next(int(c) for c in cols if np.isnan(row_lp[c]))
            raise ValueError(
                f"{m}_logprobs: {at}, column {c} (id {int(row_ids[c])}) is NaN; use -inf for "
                f"probability 0, or id -1 to pad the entry"
            )
    for m, (row_ids, row_lp, cols, _) in rows.items():
        if bit(core.TK_ERR_POSITIVE_P, m):
            c = next(int(c) for c in cols if row_lp[c] > POSITIVE_TOL)
            raise ValueError(
                f"{m}_logprobs: {at}, column {c} (id {int(row_ids[c])}) is {float(row_lp[c])!r} > 0; "
                f"log-probabilities must be <= 0 (rounding up to {POSITIVE_TOL:g} is accepted)"
            )
    for m, (row_ids, row_lp, cols, _) in rows.items():
        if bit(core.TK_ERR_DUP_P, m):
            first: dict[int, int] = {}
            for c in cols:
                v = int(row_ids[c])
                if v in first:
                    raise ValueError(
                        f"{m}_ids: {at} contains id {v} twice (columns {first[v]} and {int(c)}); "
                        f"ids within a row must be unique"
                    )
                first[v] = int(c)
    for m, (row_ids, row_lp, cols, _) in rows.items():
        if bit(core.TK_ERR_MASS_P, m):
            total = 0.0
            for c in cols:
                total += math.exp(row_lp[c])
            raise ValueError(
                f"{m}_logprobs: {at}: the probabilities of its {cols.size} entries sum to "
                f"{total:.9g} > 1 + {MASS_TOL:g}; top-k entries of one distribution cannot sum to more than 1"
            )
    for m, (row_ids, row_lp, cols, _) in rows.items():
        if bit(core.TK_ERR_VOCAB_P, m):
            raise ValueError(
                f"vocab_size: {at} of {m}_ids has {cols.size} distinct ids; tail='geometric' needs "
                f"vocab_size > {cols.size} to leave a tail, got {vocab}"
            )
    for m, (row_ids, row_lp, cols, tl) in rows.items():
        if bit(core.TK_ERR_TARGET_P, m):
            t = int(tgt[i])
            c = next(int(c) for c in cols if row_ids[c] == t)
            raise ValueError(
                f"{m}_target_logprobs: {at}: target id {t} is in {m}'s top-k (column {c}) with "
                f"log-prob {float(row_lp[c])!r} but {m}_target_logprobs[{i}] = {float(tl[i])!r}; they must agree "
                f"to {TARGET_TOL:g}"
            )
    raise ValueError(f"{at}: the top-k kernel rejected this row (error bits {e:#x})")
