"""The audit's rank tests and multiplicity adjustment against brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fingerprint.audit.stats import model_rank_pvalue, rank_sum_pvalue, strength


def brute_rank_sum_p(suspect, panel):
    """P(sum of ranks <= observed) by enumerating every rank combination (small cases)."""
    ranks, sizes = [], []
    for j in range(len(suspect)):
        col = panel[:, j][~np.isnan(panel[:, j])]
        if col.size == 0:
            continue
        ranks.append(1 + int(np.sum(col <= suspect[j])))
        sizes.append(col.size + 1)
    obs = sum(ranks)
    total = 0
    hits = 0
    for combo in itertools.product(*[range(1, n + 1) for n in sizes]):
        total += 1
        hits += sum(combo) <= obs
    return hits / total, obs


@pytest.mark.parametrize("seed", range(8))
def test_rank_sum_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    J, n = rng.integers(1, 5), rng.integers(1, 5)
    s = rng.random(J)
    m = rng.random((n, J))
    m[rng.random((n, J)) < 0.2] = np.nan
    p_ref, obs = brute_rank_sum_p(s, m)
    got = rank_sum_pvalue(s, m)
    if all(np.isnan(m[:, j]).all() for j in range(J)):
        assert got["p_value"] == 1.0 and got["prompts"] == 0
    else:
        assert got["rank_sum"] == obs
        assert got["p_value"] == pytest.approx(p_ref, rel=1e-12, abs=1e-15)


def test_rank_sum_ties_count_against_the_suspect():
    s = np.array([0.5, 0.5])
    m = np.array([[0.5, 0.5]])
    assert rank_sum_pvalue(s, m)["rank_sum"] == 4  # worst rank on each prompt
    assert rank_sum_pvalue(s, m)["p_value"] == 1.0


def test_rank_sum_is_valid_under_exchangeability():
    rng = np.random.default_rng(7)
    ps = []
    for _ in range(4000):
        x = rng.random((6, 12))  # row 0 = the suspect, exchangeable with the 5 panel models
        ps.append(rank_sum_pvalue(x[0], x[1:])["p_value"])
    ps = np.array(ps)
    for a in (0.1, 0.01):
        # P(p <= a) <= a within binomial noise (4 standard deviations)
        assert np.mean(ps <= a) <= a + 4 * np.sqrt(a * (1 - a) / ps.size)


def test_rank_sum_smallest_value():
    s = np.zeros(10)
    m = np.ones((4, 10))
    assert rank_sum_pvalue(s, m)["p_value"] == pytest.approx(0.2 ** 10, rel=1e-12)


def test_model_rank_pvalue():
    assert model_rank_pvalue(0.1, [0.2, 0.3, 0.4]) == (1, 0.25)
    assert model_rank_pvalue(0.35, [0.2, 0.3, 0.4]) == (3, 0.75)
    assert model_rank_pvalue(0.3, [0.2, 0.3, 0.4]) == (2, 0.75)  # a tie counts against


def test_strength_levels():
    assert [strength(p) for p in (1e-6, 1e-4, 0.01, 0.2)] == ["strong", "moderate", "weak", "none"]


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="panel: expected a float array of shape"):
        rank_sum_pvalue([0.1, 0.2], [[0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match="suspect"):
        model_rank_pvalue(float("nan"), [0.1])
