"""Float64 reference of the top-k divergence panel (fingerprint.topk), written for clarity.

Rows are handled one at a time with dicts keyed by id; every distribution a policy defines is
built explicitly as a list of aligned cells (the geometric tails over the whole vocabulary) and
the panel formulas are evaluated on it. Sums whose conditioning depends on their order (a row's
total mass, the shared masses) are accumulated in row order, as the kernel does.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

LN2 = math.log(2.0)
PAIR_FIELDS = ("cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp", "js", "tv",
               "var_logq_p", "var_logp_q")  # fmt: skip
NAN = float("nan")


def entries(ids_row, lp_row) -> list[tuple[int, float, float]]:
    """(id, log-prob, prob) of the valid entries of one row, in row order."""
    out = []
    for i, lp in zip(ids_row, lp_row):
        if int(i) != -1:
            out.append((int(i), float(lp), math.exp(float(lp))))
    return out


def row_mass(ent) -> float:
    total = 0.0
    for _, _, p in ent:
        total += p
    return total


def own_fields(w, lw) -> tuple[float, float]:
    """Entropy and variance of the log-probability for weights w with log-weights lw."""
    w, lw = np.asarray(w, dtype=np.float64), np.asarray(lw, dtype=np.float64)
    m = w > 0
    mu = float(np.sum(w[m] * lw[m]))
    var = float(np.sum(w[m] * (lw[m] - mu) ** 2))
    return -mu, var


def pair_fields(P, lP, Q, lQ) -> dict[str, float]:
    """The pairwise panel on aligned cells (0 log 0 = 0; mass where the other has 0 gives inf)."""
    P, lP, Q, lQ = (np.asarray(a, dtype=np.float64) for a in (P, lP, Q, lQ))
    mp, mq = P > 0, Q > 0
    res = {}
    res["kl_pq"] = float(np.sum(P[mp] * (lP[mp] - lQ[mp])))
    res["kl_qp"] = float(np.sum(Q[mq] * (lQ[mq] - lP[mq])))
    res["cross_entropy_pq"] = float(-np.sum(P[mp] * lQ[mp]))
    res["cross_entropy_qp"] = float(-np.sum(Q[mq] * lP[mq]))
    with np.errstate(divide="ignore"):
        lM = np.log(P + Q) - LN2  # log of the mixture (not log(0.5 * (P + Q)): subnormals)
    res["js"] = 0.5 * float(np.sum(P[mp] * (lP[mp] - lM[mp]))) + 0.5 * float(
        np.sum(Q[mq] * (lQ[mq] - lM[mq]))
    )
    res["tv"] = 0.5 * float(np.sum(np.abs(P - Q)))
    ce_pq, ce_qp = res["cross_entropy_pq"], res["cross_entropy_qp"]
    res["var_logq_p"] = math.inf if ce_pq == math.inf else float(np.sum(P[mp] * (lQ[mp] + ce_pq) ** 2))
    res["var_logp_q"] = math.inf if ce_qp == math.inf else float(np.sum(Q[mq] * (lP[mq] + ce_qp) ** 2))
    return res


def clamp(res: dict[str, float]) -> dict[str, float]:
    """The ranges the kernel clamps to (all policies except 'ignore')."""
    out = dict(res)
    for k in ("kl_pq", "kl_qp", "cross_entropy_pq", "cross_entropy_qp", "entropy_p", "entropy_q"):
        if k in out and out[k] < 0:
            out[k] = 0.0
    if "js" in out:
        out["js"] = min(max(out["js"], 0.0), LN2)
    if "tv" in out:
        out["tv"] = min(max(out["tv"], 0.0), 1.0)
    return out


# ---- geometric extrapolation ----------------------------------------------------------------


def solve_rate(rho: float, T: int) -> float:
    """x > 0 with sum_{j=1..T} exp(-x j) = rho (0 < rho < T), by Brent's method on explicit sums."""
    j = np.arange(1, T + 1, dtype=np.float64)

    def f(x):
        return math.log(float(np.sum(np.exp(-x * j)))) - math.log(rho)

    hi = 1.0
    while f(hi) > 0:
        hi *= 2.0
    return brentq(f, 0.0, hi, xtol=1e-300, rtol=8.9e-16, maxiter=500)


def tail_logprobs(ent, vocab: int) -> np.ndarray:
    """Log-probs of ranks K+1..vocab of the extrapolated distribution (explicit, length vocab-K)."""
    K = len(ent)
    T = vocab - K
    rest = 1.0 - row_mass(ent)
    if not rest > 0:
        return np.full(T, -np.inf)
    lmin = min(lp for _, lp, _ in ent)
    pk = math.exp(lmin)
    if pk * T <= rest:
        return np.full(T, math.log(rest / T))
    x = solve_rate(rest / pk, T)
    return lmin - x * np.arange(1, T + 1, dtype=np.float64)


def unmatched_order(ent, other_ids) -> list[int]:
    """Indices of entries absent from the other row, by log-prob descending, ties in row order."""
    idx = [k for k, (i, _, _) in enumerate(ent) if i not in other_ids]
    return sorted(idx, key=lambda k: -ent[k][1])  # sorted() is stable


# ---- the panel --------------------------------------------------------------------------------


def panel(p_ids, p_lp, q_ids, q_lp, tail="bucket", targets=None, p_tlp=None, q_tlp=None, vocab=None):
    """All fields (target fields when targets is given) for every row, as float64 arrays."""
    n = len(p_ids)
    names = [
        "entropy_p", "entropy_q", "cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp",
        "js", "tv", "top1_agree", "var_logp_p", "var_logq_p", "var_logq_q", "var_logp_q",
    ]  # fmt: skip
    if targets is not None:
        names = ["logprob_p", "logprob_q", "rank_p", "rank_q"] + names
    out = {k: np.full(n, np.nan) for k in names}
    for r in range(n):
        t = None if targets is None else int(targets[r])
        gp = None if p_tlp is None else float(p_tlp[r])
        gq = None if q_tlp is None else float(q_tlp[r])
        row = row_panel(entries(p_ids[r], p_lp[r]), entries(q_ids[r], q_lp[r]), tail, t, gp, gq, vocab)
        for k in names:
            out[k][r] = row[k]
    return out


def row_panel(pe, qe, tail, target=None, p_given=None, q_given=None, vocab=None) -> dict[str, float]:
    res: dict[str, float] = {}
    pd = {i: (lp, p) for i, lp, p in pe}
    qd = {i: (lp, p) for i, lp, p in qe}
    geo = tail == "geometric"
    ptail = tail_logprobs(pe, vocab) if geo and pe else None
    qtail = tail_logprobs(qe, vocab) if geo and qe else None

    # per-model fields
    for m, ent, tl in (("p", pe, ptail), ("q", qe, qtail)):
        h = var = NAN
        if ent:
            w = [p for _, _, p in ent]
            lw = [lp for _, lp, _ in ent]
            mass = row_mass(ent)
            ok = True
            if tail == "bucket":
                rest = max(0.0, 1.0 - mass)
                if rest > 0:
                    w, lw = w + [rest], lw + [math.log(rest)]
            elif tail == "renormalize":
                if mass > 0:
                    w, lw = [x / mass for x in w], [x - math.log(mass) for x in lw]
                else:
                    ok = False
            elif geo:
                w, lw = w + list(np.exp(tl)), lw + list(tl)
            if ok:
                h, var = own_fields(w, lw)
        res[f"entropy_{m}"] = h
        res[f"var_log{m}_{m}"] = var

    # top-1 agreement
    if pe and qe:
        bp = max(range(len(pe)), key=lambda k: (pe[k][1], -k))
        bq = max(range(len(qe)), key=lambda k: (qe[k][1], -k))
        res["top1_agree"] = 1.0 if pe[bp][0] == qe[bq][0] else 0.0
    else:
        res["top1_agree"] = NAN

    # pairwise fields
    pair = None
    if pe and qe:
        shared_p = [(i, lp, p) for i, lp, p in pe if i in qd]  # P's row order
        mass_sp = 0.0
        for _, _, p in shared_p:
            mass_sp += p
        mass_sq = 0.0
        for i, _, q in qe:
            if i in pd:
                mass_sq += q
        cells = [(p, lp, qd[i][1], qd[i][0]) for i, lp, p in shared_p]
        if tail == "bucket":
            rp, rq = max(0.0, 1.0 - mass_sp), max(0.0, 1.0 - mass_sq)
            if rp > 0 or rq > 0:
                lr = lambda x: math.log(x) if x > 0 else -math.inf  # noqa: E731
                cells.append((rp, lr(rp), rq, lr(rq)))
            pair = pair_fields(*zip(*cells))
        elif tail == "ignore":
            pair = pair_fields(*zip(*cells)) if cells else {k: 0.0 for k in PAIR_FIELDS}
        elif tail == "renormalize":
            if cells and mass_sp > 0 and mass_sq > 0:
                lzp, lzq = math.log(mass_sp), math.log(mass_sq)
                cells = [(P / mass_sp, lP - lzp, Q / mass_sq, lQ - lzq) for P, lP, Q, lQ in cells]
                pair = pair_fields(*zip(*cells))
        else:
            pair = pair_fields(*geometric_cells(pe, qe, pd, qd, ptail, qtail, vocab))
    for k in PAIR_FIELDS:
        res[k] = NAN if pair is None else pair[k]

    # target fields
    if target is not None:
        for m, ent, d, given, other, mytail in (
            ("p", pe, pd, p_given, qe, ptail),
            ("q", qe, qd, q_given, pe, qtail),
        ):
            if target in d:
                lp = d[target][0]
            elif given is not None and not math.isnan(given):
                lp = given
            elif geo and ent and target in {i for i, _, _ in other}:
                order = unmatched_order(other, d)
                rank_in_tail = 1 + [other[k][0] for k in order].index(target)
                lp = float(mytail[rank_in_tail - 1])
            else:
                lp = NAN
            res[f"logprob_{m}"] = lp
            if ent and not math.isnan(lp):
                res[f"rank_{m}"] = 1.0 + sum(1 for _, l, _ in ent if l > lp)
            else:
                res[f"rank_{m}"] = NAN
    if tail != "ignore":
        res = clamp(res)
    return res


def geometric_cells(pe, qe, pd, qd, ptail, qtail, vocab):
    """Aligned (P, lP, Q, lQ) over the whole vocabulary: the union, then the paired tails."""
    P, lP, Q, lQ = [], [], [], []
    p_only = unmatched_order(pe, qd)  # take Q's tail ranks 1, 2, ... in this order
    q_only = unmatched_order(qe, pd)  # take P's tail ranks
    q_rank = {pe[k][0]: r for r, k in enumerate(p_only)}
    p_rank = {qe[k][0]: r for r, k in enumerate(q_only)}
    for i, lp, p in pe:
        lq = qd[i][0] if i in qd else float(qtail[q_rank[i]])
        P.append(p), lP.append(lp), Q.append(math.exp(lq)), lQ.append(lq)
    for i, lq, q in qe:
        if i in pd:
            continue
        lp = float(ptail[p_rank[i]])
        P.append(math.exp(lp)), lP.append(lp), Q.append(q), lQ.append(lq)
    rem_p = ptail[len(q_only):]
    rem_q = qtail[len(p_only):]
    assert len(rem_p) == len(rem_q) == vocab - len(P)
    lP = np.concatenate([lP, rem_p])
    lQ = np.concatenate([lQ, rem_q])
    P = np.concatenate([P, np.exp(rem_p)])
    Q = np.concatenate([Q, np.exp(rem_q)])
    return P, lP, Q, lQ


def full_panel(p_full, q_full) -> dict[str, float]:
    """KL, JS, TV, cross-entropies and entropies of two full distributions (1-D prob vectors)."""
    P, Q = np.asarray(p_full, dtype=np.float64), np.asarray(q_full, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lP, lQ = np.log(P), np.log(Q)
    res = pair_fields(P, lP, Q, lQ)
    res["entropy_p"] = own_fields(P, lP)[0]
    res["entropy_q"] = own_fields(Q, lQ)[0]
    return res
