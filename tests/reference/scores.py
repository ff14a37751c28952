"""Float64 reference of the per-sequence detector scores: plain loops over sequences, np.sort, zlib.

Written straight from the papers' formulas for clarity, not speed. Sums use math.fsum (correctly
rounded), so the kernels' left-to-right sums are compared against the exact value. Every
function returns a float64 array of length B; an empty sequence gives NaN.
"""

from __future__ import annotations

import math
import zlib

import numpy as np


def _segments(offsets):
    offsets = [int(o) for o in offsets]
    return list(zip(offsets[:-1], offsets[1:]))


def _sum(values) -> float:
    values = [float(v) for v in values]
    if any(math.isinf(v) for v in values):  # fsum raises on inf - inf; plain sum gives nan/inf
        return sum(values)
    return math.fsum(values)


def _mean(values) -> float:
    values = list(values)
    return _sum(values) / len(values) if values else math.nan


def _div(a: float, b: float) -> float:
    a, b = float(a), float(b)
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a)
    return a / b


def loss(logprobs, offsets):
    lp = np.asarray(logprobs, dtype=np.float64)
    return np.array([0.0 - _mean(lp[s:e]) for s, e in _segments(offsets)], dtype=np.float64)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def perplexity(logprobs, offsets):
    return np.array([_exp(x) for x in loss(logprobs, offsets)], dtype=np.float64)


def zlib_ratio(logprobs, offsets, texts):
    out = []
    for x, t in zip(loss(logprobs, offsets), texts):
        data = t.encode("utf-8") if isinstance(t, str) else bytes(t)
        out.append(x / len(zlib.compress(data, 6)))
    return np.array(out, dtype=np.float64)


def n_lowest(n: int, k: float) -> int:
    """Min-K%'s number of tokens: int(n * k) as in the public code, but at least 1."""
    return max(1, int(n * k))


def min_k(logprobs, offsets, k=0.2):
    lp = np.asarray(logprobs, dtype=np.float64)
    out = []
    for s, e in _segments(offsets):
        if e == s:
            out.append(math.nan)
            continue
        lowest = np.sort(lp[s:e])[: n_lowest(e - s, k)]
        out.append(-_mean(lowest))
    return np.array(out, dtype=np.float64)


def zscores(logprobs, mean, var):
    """(lp - mu) / sqrt(var); where var == 0: 0 if lp == mu else sign(lp - mu) * inf."""
    out = []
    for x, mu, v in zip(logprobs, mean, var):
        d = float(x) - float(mu)
        if v == 0.0 and not math.isnan(d):
            out.append(0.0 if d == 0.0 else math.copysign(math.inf, d))
        else:
            out.append(d / math.sqrt(v))
    return np.array(out, dtype=np.float64)


def min_k_plus_plus(logprobs, mean, var, offsets, k=0.2):
    z = zscores(np.asarray(logprobs, np.float64), np.asarray(mean, np.float64), np.asarray(var, np.float64))
    return min_k(z, offsets, k)


def reference_ratio(target_logprobs, reference_logprobs, offsets):
    return np.array(
        [_div(a, b) for a, b in zip(loss(target_logprobs, offsets), loss(reference_logprobs, offsets))],
        dtype=np.float64,
    )


def reference_difference(target_logprobs, reference_logprobs, offsets):
    with np.errstate(invalid="ignore"):
        return loss(target_logprobs, offsets) - loss(reference_logprobs, offsets)


def binoculars(ppl_logprobs, cross_entropy, offsets):
    ppl = loss(ppl_logprobs, offsets)
    ce = np.asarray(cross_entropy, dtype=np.float64)
    x_ppl = [_mean(ce[s:e]) for s, e in _segments(offsets)]
    return np.array([_div(a, b) for a, b in zip(ppl, x_ppl)], dtype=np.float64)


def fast_detectgpt(logprobs, mean, var, offsets):
    lp = np.asarray(logprobs, dtype=np.float64)
    mu = np.asarray(mean, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    out = []
    for s, e in _segments(offsets):
        if e == s:
            out.append(math.nan)
            continue
        diffs = [float(a) - float(b) for a, b in zip(lp[s:e], mu[s:e])]
        num = _sum(diffs)
        den = _sum(v[s:e])
        out.append(zscores([num], [0.0], [den])[0])
    return np.array(out, dtype=np.float64)


def sequence_max_abs(values, offsets):
    """Per-sequence max |value| (0 for an empty sequence): the scale of the rounding error of a
    left-to-right mean of signed terms, which may cancel."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    return np.array([float(np.max(a[s:e])) if e > s else 0.0 for s, e in _segments(offsets)])
