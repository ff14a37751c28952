"""Slow float64 / exact-integer oracles for fingerprint.zoo, model_fingerprint (test-only).

Written from the module docstrings: dictionaries of counts, Python loops, Python integers.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .minhash import GOLDEN, M64, mix64


def witten_bell(seqs: list[list[int]], vocab: int, order: int, context: list[int], prior=None, prior_weight=None) -> np.ndarray:
    """P_order(. | context) by the interpolated Witten-Bell recursion, float64 [V]."""
    counts = [Counter() for _ in range(order + 1)]  # counts[k][(ctx tuple, w)]
    for s in seqs:
        for i, w in enumerate(s):
            for k in range(1, order + 1):
                if i >= k - 1:
                    counts[k][(tuple(s[i - k + 1 : i]), w)] += 1
    n = sum(counts[1].values())
    types = len(counts[1])
    alpha = float(max(types, 1) if prior_weight is None else prior_weight)
    base = [1.0 / vocab] * vocab if prior is None else [float(x) / float(sum(prior)) for x in prior]
    if n + alpha == 0:
        p = list(base)
    else:
        p = [(counts[1].get(((), w), 0) + alpha * base[w]) / (n + alpha) for w in range(vocab)]
    for k in range(2, order + 1):
        if len(context) < k - 1:
            continue
        h = tuple(context[len(context) - (k - 1):])
        c_hw = {w: c for (ctx, w), c in counts[k].items() if ctx == h}
        c_h = sum(c_hw.values())
        t_h = len(c_hw)
        if c_h == 0:
            continue
        p = [(c_hw.get(w, 0) + t_h * p[w]) / (c_h + t_h) for w in range(vocab)]
    return np.array(p)


def logit_profile(logits: np.ndarray, anchors: list[int], floor: float = -30.0) -> np.ndarray:
    n = logits.shape[0]
    out = []
    for row in logits.astype(np.float64):
        m = max(row)
        lse = m + math.log(sum(math.exp(x - m) for x in row))
        lp = [max(row[a] - lse, floor) for a in anchors]
        mu = sum(lp) / len(lp)
        out.extend((x - mu) / math.sqrt(n * len(anchors)) for x in lp)
    return np.array(out)


def _bucket_sign(key: int, buckets: int) -> tuple[int, float]:
    return key % buckets, (-1.0 if key >> 63 else 1.0)


def topk_sketch(ids: np.ndarray, logprobs: np.ndarray, buckets: int, seed: int) -> np.ndarray:
    n = ids.shape[0]
    out = np.zeros((n, buckets))
    for i in range(n):
        pk = mix64((seed + (i + 1) * GOLDEN) & M64)
        for v, lp in zip(ids[i].tolist(), logprobs[i].tolist()):
            if v < 0:
                continue
            b, s = _bucket_sign(mix64((pk + v) & M64), buckets)
            out[i, b] += s * math.exp(min(lp, 0.0)) / math.sqrt(n)
    return out.ravel()


def text_fingerprint(seqs: list[list[int]], ngrams, dim: int, seed: int) -> np.ndarray:
    out = np.zeros(dim)
    for g in ngrams:
        grams = [s[i : i + g] for s in seqs for i in range(len(s) - g + 1)]
        for gram in grams:
            h = 0
            for x in gram:
                h = mix64((h + x + GOLDEN) & M64)
            h = mix64((h + mix64((seed + g * GOLDEN) & M64)) & M64)
            b, s = _bucket_sign(h, dim)
            out[b] += s / len(grams)
    return out
