"""p-values and z-scores of the green-list schemes, in float64, with SciPy's special functions."""

from __future__ import annotations

import numpy as np


def z_green(green: np.ndarray, total: np.ndarray, gamma: float) -> np.ndarray:
    """KGW's z, in the operation order of transformers and lm-watermarking (NaN when total is 0)."""
    g = np.asarray(green, dtype=np.float64)
    t = np.asarray(total, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (g - gamma * t) / np.sqrt(t * gamma * (1 - gamma))


def p_erfc(z: np.ndarray) -> np.ndarray:
    """transformers' p-value: 0.5 * erfc(z / sqrt(2))."""
    from scipy import special

    return 0.5 * special.erfc(np.asarray(z, dtype=np.float64) / np.sqrt(2))


def p_norm_sf(z: np.ndarray) -> np.ndarray:
    """lm-watermarking's p-value: scipy.stats.norm.sf(z)."""
    from scipy import stats

    return np.asarray(stats.norm.sf(np.asarray(z, dtype=np.float64)), dtype=np.float64)


def binom_upper(green: np.ndarray, trials: np.ndarray, p0: float) -> np.ndarray:
    """P(X >= green) for X ~ Binomial(trials, p0): exact (regularised incomplete beta); 1 if trials = 0."""
    from scipy import stats

    g = np.asarray(green, dtype=np.int64)
    t = np.asarray(trials, dtype=np.int64)
    out = np.asarray(stats.binom.sf(g - 1, t, p0), dtype=np.float64)
    return np.where(g <= 0, 1.0, out)


def hypergeom_upper(green: np.ndarray, drawn: np.ndarray, population: int, successes: int) -> np.ndarray:
    """P(X >= green) for X ~ Hypergeometric(population, successes, drawn); 1 if drawn = 0."""
    from scipy import stats

    g = np.asarray(green, dtype=np.int64)
    m = np.asarray(drawn, dtype=np.int64)
    out = np.asarray(stats.hypergeom.sf(g - 1, population, successes, m), dtype=np.float64)
    return np.where(g <= 0, 1.0, out)
