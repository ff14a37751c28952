"""Float64 reference of the dense divergence panel, written for clarity, not speed."""

from __future__ import annotations

import numpy as np


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        s = np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))
    return x - m - s


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x * y with 0 where x == 0 (so 0 * -inf = 0)."""
    out = np.zeros(np.broadcast(x, y).shape)
    nz = x != 0
    with np.errstate(invalid="ignore"):  # 0 * inf where x == 0 is discarded below
        out[nz] = (x * y)[nz]
    return out


def panel(p, q, targets=None):
    """All fields for float64 copies of logits p, q [N, V]."""
    lp, lq = _log_softmax(p), _log_softmax(q)
    P, Q = np.exp(lp), np.exp(lq)
    res = {}
    res["entropy_p"] = -_xlogy(P, lp).sum(1)
    res["entropy_q"] = -_xlogy(Q, lq).sum(1)
    res["cross_entropy_pq"] = -_xlogy(P, lq).sum(1)
    res["cross_entropy_qp"] = -_xlogy(Q, lp).sum(1)
    with np.errstate(invalid="ignore"):
        res["kl_pq"] = _xlogy(P, lp - lq).sum(1)
        res["kl_qp"] = _xlogy(Q, lq - lp).sum(1)
    # Support by logits: a finite logit is a positive probability however small (its float64
    # exponential may underflow), so P-mass where Q is -inf makes KL(P||Q) and H(P, Q) infinite.
    only_p = (np.isfinite(p) & np.isneginf(q)).any(1)
    only_q = (np.isfinite(q) & np.isneginf(p)).any(1)
    for name, rows in (("kl_pq", only_p), ("cross_entropy_pq", only_p), ("kl_qp", only_q), ("cross_entropy_qp", only_q)):
        res[name][rows] = np.inf
    with np.errstate(invalid="ignore"):
        lm = np.logaddexp(lp, lq) - np.log(2.0)  # log of the mixture, without underflow
    with np.errstate(invalid="ignore"):
        res["js"] = 0.5 * _xlogy(P, lp - lm).sum(1) + 0.5 * _xlogy(Q, lq - lm).sum(1)
    res["tv"] = 0.5 * np.abs(P - Q).sum(1)
    res["top1_agree"] = (np.argmax(p, 1) == np.argmax(q, 1)).astype(np.float64)

    def var(w, l):
        # Var_w[l]; infinite when l = -inf has positive probability under w (documented convention)
        mu = _xlogy(w, l).sum(1, keepdims=True)
        with np.errstate(invalid="ignore"):
            v = _xlogy(w, (l - mu) ** 2).sum(1)
        v[np.isneginf(mu[:, 0])] = np.inf
        return v

    res["var_logp_p"] = var(P, lp)
    res["var_logq_p"] = var(P, lq)
    res["var_logq_q"] = var(Q, lq)
    res["var_logp_q"] = var(Q, lp)
    res["var_logq_p"][only_p] = np.inf
    res["var_logp_q"][only_q] = np.inf
    if targets is not None:
        idx = np.arange(p.shape[0])
        res["logprob_p"] = lp[idx, targets]
        res["logprob_q"] = lq[idx, targets]
        pt = p[idx, targets][:, None]
        qt = q[idx, targets][:, None]
        res["rank_p"] = 1.0 + (p > pt).sum(1)
        res["rank_q"] = 1.0 + (q > qt).sum(1)
    return res
