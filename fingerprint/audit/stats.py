"""The audit's tests of closeness to the teacher against a panel of reference models.

Two rank-based tests compare the suspect's divergence from the teacher with the divergences of
panel models known to be independent of it (smaller divergence = closer):

* model-level rank test: ``p = (1 + #{panel models at least as close as the suspect}) / (n + 1)``.
  Valid if, under H0, the suspect is exchangeable with the panel models (one more independent
  model); its smallest value is ``1 / (n + 1)``, so a panel of n models can give at most that much
  evidence.
* per-prompt rank-sum test: on each prompt j the suspect's rank ``r_j`` among the ``n_j + 1``
  divergences (1 = closest; ties take the average rank, conservatively the upper one here) is,
  under per-prompt exchangeability and independence across prompts, uniform on ``1..n_j+1``; the
  sum of ranks has an exact null distribution (convolution of discrete uniforms), and
  ``p = P(sum <= observed)``. Stronger (its smallest value is ``prod 1/(n_j+1)``) and stronger in
  its assumption: prompts must be exchangeable units, which holds when the prompts are drawn
  independently of the models.
"""

from __future__ import annotations

import numpy as np

from .._validate import float_vector


def model_rank_pvalue(suspect: float, panel: object) -> tuple[int, float]:
    """(rank, p) of ``suspect`` among ``panel`` divergences: rank 1 = closer than every panel model."""
    d = float_vector("panel", panel, allow_nan=False)
    s = float(suspect)
    if np.isnan(s):
        raise ValueError("suspect: expected a number, got NaN")
    at_least_as_close = int(np.count_nonzero(d <= s))
    return 1 + int(np.count_nonzero(d < s)), (1 + at_least_as_close) / (d.size + 1)


def rank_sum_pvalue(suspect: object, panel: object) -> dict:
    """Exact per-prompt rank-sum test.

    ``suspect``: float [J] divergence of the suspect on each prompt; ``panel``: float [n, J] the
    panel models' divergences on the same prompts (NaN where a panel model has no value for a
    prompt; such entries are left out of that prompt's ranking). A tie counts against the suspect
    (the suspect takes the worst rank among the tied values), which keeps the test conservative.
    Returns ``{"rank_sum", "expected", "p_value", "prompts"}``.
    """
    s = float_vector("suspect", suspect, allow_nan=False)
    m = np.asarray(panel, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != s.size:
        raise ValueError(f"panel: expected a float array of shape [n, {s.size}], got shape {m.shape}")
    dist = np.ones(1)
    total = 0
    expected = 0.0
    used = 0
    for j in range(s.size):
        col = m[:, j]
        col = col[~np.isnan(col)]
        n = col.size
        if n == 0:
            continue
        r = 1 + int(np.count_nonzero(col <= s[j]))  # worst rank among ties
        total += r
        expected += (n + 2) / 2.0
        used += 1
        step = np.full(n + 1, 1.0 / (n + 1))  # ranks 1..n+1, index 0 = rank 1
        dist = np.convolve(dist, step)
    # dist[k] = P(sum of ranks == used + k)
    k = total - used
    p = float(np.clip(dist[: k + 1].sum(), 0.0, 1.0)) if used else 1.0
    return {"rank_sum": int(total), "expected": expected, "p_value": p, "prompts": used}


STRENGTHS = ((1e-5, "strong"), (1e-3, "moderate"), (0.05, "weak"))


def strength(p: float) -> str:
    """Plain-language strength of one p-value: strong < 1e-5 <= moderate < 1e-3 <= weak < 0.05."""
    for cut, name in STRENGTHS:
        if p < cut:
            return name
    return "none"
