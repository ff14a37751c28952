"""Brute-force float64 references for detector benchmarking metrics (pairwise / every threshold)."""

import numpy as np


def auroc(pos, neg) -> float:
    """P(S+ > S-) + 0.5 P(S+ = S-) over every (positive, negative) pair."""
    total = 0.0
    for a in np.asarray(pos, dtype=np.float64):
        for b in np.asarray(neg, dtype=np.float64):
            total += 1.0 if a > b else (0.5 if a == b else 0.0)
    return total / (len(pos) * len(neg))


def tpr_at_fpr(pos, neg, fpr):
    """(threshold, tpr): over every candidate threshold t in the negatives' values, sorted
    ascending, the first with #(neg > t) / n <= fpr; TPR = #(pos > t) / n_pos. None if fpr * n < 1."""
    pos = [float(x) for x in pos]
    neg = [float(x) for x in neg]
    if fpr * len(neg) < 1:
        return None
    for t in sorted(set(neg)):
        if sum(1 for b in neg if b > t) <= fpr * len(neg) + 1e-12:
            return t, sum(1 for a in pos if a > t) / len(pos)
    raise AssertionError("unreachable: the largest negative has FPR 0")
