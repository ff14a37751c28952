"""Numba kernels behind :mod:`fingerprint.scores` (imported on first use, never at package import).

Every kernel is monomorphic: per-position inputs are read-only, C-contiguous, aligned float64
1-D arrays and ``offsets`` a read-only int64 1-D array (``fingerprint.scores`` guarantees this, so
each kernel compiles exactly once and is cached on disk). The outer loop runs over sequences with
``prange``; each sequence is computed entirely by one thread, summing its positions left to right
(or in sorted order for the Min-K% scores), so results do not depend on the thread count.
Empty sequences give NaN. Negations are written 0.0 - x so that a zero sum gives +0.0, never -0.0
(a ratio over a zero loss is then +inf, not -inf).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def seq_loss(lp, offsets):
    """-(sum of lp over the sequence) / n per sequence."""
    b = offsets.shape[0] - 1
    out = np.empty(b, dtype=np.float64)
    for i in prange(b):
        s, e = offsets[i], offsets[i + 1]
        if e == s:
            out[i] = np.nan
            continue
        acc = 0.0
        for t in range(s, e):
            acc += lp[t]
        out[i] = (0.0 - acc) / (e - s)
    return out


@njit(cache=True, parallel=True)
def seq_loss_pair(a, b_, offsets):
    """The per-sequence losses -mean(a) and -mean(b_) in one pass."""
    b = offsets.shape[0] - 1
    la = np.empty(b, dtype=np.float64)
    lb = np.empty(b, dtype=np.float64)
    for i in prange(b):
        s, e = offsets[i], offsets[i + 1]
        if e == s:
            la[i] = np.nan
            lb[i] = np.nan
            continue
        sa = 0.0
        sb = 0.0
        for t in range(s, e):
            sa += a[t]
            sb += b_[t]
        la[i] = (0.0 - sa) / (e - s)
        lb[i] = (0.0 - sb) / (e - s)
    return la, lb


@njit(cache=True, parallel=True)
def seq_neg_sum_ratio(num, den, offsets):
    """(-sum num) / (sum den) per sequence (Binoculars: log-perplexity over cross-perplexity)."""
    b = offsets.shape[0] - 1
    out = np.empty(b, dtype=np.float64)
    for i in prange(b):
        s, e = offsets[i], offsets[i + 1]
        if e == s:
            out[i] = np.nan
            continue
        sn = 0.0
        sd = 0.0
        for t in range(s, e):
            sn += num[t]
            sd += den[t]
        out[i] = (0.0 - sn) / sd
    return out


# --- Min-K%: the m smallest values of a sequence, summed in ascending order -------------------
#
# Numba's np.sort is a generic quicksort; selecting the m smallest first (introselect, O(n)) and
# sorting only those (introsort) is 2-3x faster for k = 0.2 and gives the same ascending order.
# Inputs never hold NaN (validated in Python), so plain < and > are a total order.

_SMALL = 16  # ranges up to this size are insertion-sorted
_STACK = 128  # introsort stack: pending ranges (the larger side), < 2 log2(n) + 1 entries
_CHUNK = 64  # sequences per parallel task (one scratch buffer per task)


@njit(cache=True)
def _count_lowest(n, k):
    # int(n * k) as in the Min-K% reference code, but at least one token.
    m = np.int64(np.floor(n * k))
    if m < 1:
        m = 1
    if m > n:
        m = n
    return m


@njit(cache=True)
def _depth_limit(n):
    d = 0
    while n > 1:
        d += 2
        n >>= 1
    return d


@njit(cache=True)
def _insertion_sort(v, lo, hi):
    for i in range(lo + 1, hi + 1):
        x = v[i]
        j = i - 1
        while j >= lo and v[j] > x:
            v[j + 1] = v[j]
            j -= 1
        v[j + 1] = x


@njit(cache=True)
def _sift_down(v, lo, root, end):
    # max-heap on v[lo:lo + end]; the children of r are 2r + 1 and 2r + 2
    while True:
        child = 2 * root + 1
        if child >= end:
            return
        if child + 1 < end and v[lo + child] < v[lo + child + 1]:
            child += 1
        if v[lo + root] < v[lo + child]:
            t = v[lo + root]
            v[lo + root] = v[lo + child]
            v[lo + child] = t
            root = child
        else:
            return


@njit(cache=True)
def _heap_sort(v, lo, hi):
    n = hi - lo + 1
    for r in range(n // 2 - 1, -1, -1):
        _sift_down(v, lo, r, n)
    for end in range(n - 1, 0, -1):
        t = v[lo]
        v[lo] = v[lo + end]
        v[lo + end] = t
        _sift_down(v, lo, 0, end)


@njit(cache=True)
def _partition(v, lo, hi):
    """Hoare partition around the median of three; returns (i, j) with
    v[lo:j+1] <= pivot, v[j+1:i] == pivot, v[i:hi+1] >= pivot, lo <= j < i <= hi."""
    mid = (lo + hi) >> 1
    if v[mid] < v[lo]:
        t = v[mid]
        v[mid] = v[lo]
        v[lo] = t
    if v[hi] < v[mid]:
        t = v[hi]
        v[hi] = v[mid]
        v[mid] = t
        if v[mid] < v[lo]:
            t = v[mid]
            v[mid] = v[lo]
            v[lo] = t
    piv = v[mid]
    i = lo
    j = hi
    while i <= j:
        while v[i] < piv:
            i += 1
        while v[j] > piv:
            j -= 1
        if i <= j:
            t = v[i]
            v[i] = v[j]
            v[j] = t
            i += 1
            j -= 1
    return i, j


@njit(cache=True)
def _sort(v, hi0, stack):
    """Introsort of v[0:hi0 + 1] (quicksort, insertion sort for small ranges, heapsort past
    the depth limit); ``stack`` is int64 scratch of shape (_STACK, 3)."""
    if hi0 <= 0:
        return
    stack[0, 0] = 0
    stack[0, 1] = hi0
    stack[0, 2] = _depth_limit(hi0 + 1)
    top = 1
    while top > 0:
        top -= 1
        lo = stack[top, 0]
        hi = stack[top, 1]
        d = stack[top, 2]
        while hi - lo > _SMALL:
            if d == 0:
                _heap_sort(v, lo, hi)
                lo = hi
                break
            d -= 1
            i, j = _partition(v, lo, hi)
            if j - lo < hi - i:  # keep the larger side for later, go on with the smaller
                stack[top, 0] = i
                stack[top, 1] = hi
                stack[top, 2] = d
                hi = j
            else:
                stack[top, 0] = lo
                stack[top, 1] = j
                stack[top, 2] = d
                lo = i
            top += 1
        _insertion_sort(v, lo, hi)


@njit(cache=True)
def _lowest_sum(v, n, m, stack):
    """Sum of the m smallest of v[0:n], added in ascending order (v is scratch, reordered)."""
    if m < n:  # introselect: afterwards v[:m] holds the m smallest
        lo = 0
        hi = n - 1
        d = _depth_limit(n)
        # invariant: v[:lo] <= v[lo:hi+1] <= v[hi+1:n] and lo <= m - 1 <= hi
        while True:
            if hi - lo <= _SMALL:
                _insertion_sort(v, lo, hi)
                break
            if d == 0:
                _heap_sort(v, lo, hi)
                break
            d -= 1
            i, j = _partition(v, lo, hi)
            if m - 1 <= j:
                hi = j
            elif m - 1 >= i:
                lo = i
            else:
                break  # position m - 1 lies in the run equal to the pivot
    _sort(v, m - 1, stack)
    acc = 0.0
    for j in range(m):
        acc += v[j]
    return acc


@njit(cache=True, parallel=True)
def seq_min_k(lp, offsets, k):
    """-(mean of the lowest max(1, floor(n k)) values of lp) per sequence."""
    b = offsets.shape[0] - 1
    out = np.empty(b, dtype=np.float64)
    nchunks = (b + _CHUNK - 1) // _CHUNK
    for c in prange(nchunks):
        first = c * _CHUNK
        last = min(b, first + _CHUNK)
        longest = 0
        for i in range(first, last):
            longest = max(longest, offsets[i + 1] - offsets[i])
        v = np.empty(longest, dtype=np.float64)
        stack = np.empty((_STACK, 3), dtype=np.int64)
        for i in range(first, last):
            s = offsets[i]
            n = offsets[i + 1] - s
            if n == 0:
                out[i] = np.nan
                continue
            for t in range(n):
                v[t] = lp[s + t]
            m = _count_lowest(n, k)
            out[i] = (0.0 - _lowest_sum(v, n, m, stack)) / m
    return out


@njit(cache=True)
def _zscore(x, mu, var):
    # (x - mu) / sqrt(var), with the var == 0 limit: 0 when x == mu, else sign(x - mu) * inf.
    # NaN (from inf - inf) stays NaN.
    d = x - mu
    if var == 0.0 and d == d:
        if d == 0.0:
            return 0.0
        return np.inf if d > 0.0 else -np.inf
    return d / np.sqrt(var)


@njit(cache=True, parallel=True)
def seq_min_k_plus_plus(lp, mu, var, offsets, k):
    """-(mean of the lowest max(1, floor(n k)) z-scores (lp - mu) / sqrt(var)) per sequence."""
    b = offsets.shape[0] - 1
    out = np.empty(b, dtype=np.float64)
    nchunks = (b + _CHUNK - 1) // _CHUNK
    for c in prange(nchunks):
        first = c * _CHUNK
        last = min(b, first + _CHUNK)
        longest = 0
        for i in range(first, last):
            longest = max(longest, offsets[i + 1] - offsets[i])
        v = np.empty(longest, dtype=np.float64)
        stack = np.empty((_STACK, 3), dtype=np.int64)
        for i in range(first, last):
            s = offsets[i]
            n = offsets[i + 1] - s
            if n == 0:
                out[i] = np.nan
                continue
            for t in range(n):
                v[t] = _zscore(lp[s + t], mu[s + t], var[s + t])
            m = _count_lowest(n, k)
            out[i] = (0.0 - _lowest_sum(v, n, m, stack)) / m
    return out


@njit(cache=True, parallel=True)
def seq_fast_detectgpt(lp, mu, var, offsets):
    """sum(lp - mu) / sqrt(sum var) per sequence; 0 / 0 gives 0 (see fingerprint.scores)."""
    b = offsets.shape[0] - 1
    out = np.empty(b, dtype=np.float64)
    for i in prange(b):
        s, e = offsets[i], offsets[i + 1]
        if e == s:
            out[i] = np.nan
            continue
        num = 0.0
        den = 0.0
        for t in range(s, e):
            num += lp[t] - mu[t]
            den += var[t]
        out[i] = _zscore(num, 0.0, den)
    return out
