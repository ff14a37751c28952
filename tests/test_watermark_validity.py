"""Statistical validity of the watermark p-values under H0 (text independent of the key).

For each alpha in {0.1, 0.01, 0.001}, over >= 10,000 texts of mixed lengths, the number of texts
with p_value_exact <= alpha must not exceed alpha * N beyond binomial noise: a one-sided binomial
test of "rate <= alpha" must not reject at the 1% level. The z-based p-value of KGW is shown to be
anti-conservative on 20-token texts.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fingerprint.watermark import KGW, Unigram

ALPHAS = (0.1, 0.01, 0.001)
N_TEXTS = 10_000


def _assert_valid(p: np.ndarray, label: str) -> None:
    n = p.shape[0]
    assert n >= N_TEXTS
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    for a in ALPHAS:
        count = int((p <= a).sum())
        # P(Binomial(n, a) >= count): small means "more rejections than a valid test allows"
        tail = stats.binom.sf(count - 1, n, a)
        assert tail >= 0.01, f"{label}: P(p <= {a}) = {count / n:.5f} over {n} texts (binomial tail {tail:.2e})"


def _uniform_texts(rng, v, n, lo, hi):
    lengths = rng.integers(lo, hi + 1, n)
    return rng.integers(0, v, int(lengths.sum())), np.concatenate([[0], np.cumsum(lengths)])


def _natural_texts(rng, v, n, lo=10, hi=300):
    """Zipf-distributed tokens with repeated phrases: each text reuses phrases from its own bank."""
    cdf = np.cumsum(1.0 / np.arange(1, v + 1) ** 1.1)
    cdf /= cdf[-1]
    perm = rng.permutation(v)
    pool = perm[np.minimum(np.searchsorted(cdf, rng.random(40 * hi * n // 10)), v - 1)]
    at = 0

    def zipf(k):
        nonlocal at
        if at + k > pool.shape[0]:
            at = 0
        out = pool[at : at + k]
        at += k
        return out

    parts, lengths = [], []
    for _ in range(n):
        target = int(rng.integers(lo, hi + 1))
        bank = [zipf(int(rng.integers(3, 9))) for _ in range(int(rng.integers(3, 12)))]
        pieces, size = [], 0
        while size < target:
            piece = bank[int(rng.integers(0, len(bank)))] if rng.random() < 0.6 else zipf(int(rng.integers(1, 6)))
            pieces.append(piece)
            size += piece.shape[0]
        parts.append(np.concatenate(pieces)[:target])
        lengths.append(target)
    return np.concatenate(parts).astype(np.int64), np.concatenate([[0], np.cumsum(lengths)])


@pytest.mark.parametrize(
    "seeding,compat",
    [("lefthash", "transformers"), ("selfhash", "lm-watermarking"), ("minhash", "lm-watermarking")],
)
def test_h0_uniform_tokens(seeding, compat):
    rng = np.random.default_rng(100 + len(seeding))
    v = 1000
    ids, offs = _uniform_texts(rng, v, N_TEXTS, 5, 200)
    k = KGW(v, gamma=0.25, seeding=seeding, compat=compat)
    res = k.detect_batch(ids, offs)
    assert not res.too_short.any()
    _assert_valid(res.p_value_exact, f"{seeding} uniform")


@pytest.mark.parametrize("seeding,compat", [("lefthash", "transformers"), ("selfhash", "lm-watermarking")])
def test_h0_repetitive_text_with_deduplication(seeding, compat):
    rng = np.random.default_rng(7 + len(seeding))
    v = 8000
    ids, offs = _natural_texts(rng, v, N_TEXTS)
    k = KGW(v, gamma=0.25, seeding=seeding, compat=compat, ignore_repeated_ngrams=True)
    res = k.detect_batch(ids, offs)
    # the texts are repetitive: without de-duplication many positions would repeat a trial
    assert res.num_repeated.sum() > 0.2 * (offs[-1] - len(offs))
    _assert_valid(res.p_value_exact, f"{seeding} repetitive")


def test_h0_unigram_repetitive_text():
    rng = np.random.default_rng(5)
    v = 8000
    ids, offs = _natural_texts(rng, v, N_TEXTS)
    res = Unigram(v, gamma=0.25, key=123).detect_batch(ids, offs)
    assert res.num_repeated.sum() > 0
    _assert_valid(res.p_value_exact, "unigram repetitive")


def test_z_p_value_is_anticonservative_on_short_texts():
    gamma, t = 0.25, 20
    # exactly: z >= 3.09 ("p = 0.001") needs G >= 11 of 20, which has probability ~0.0039
    g_min = int(np.ceil(gamma * t + 3.09 * np.sqrt(t * gamma * (1 - gamma))))
    exact = stats.binom.sf(g_min - 1, t, gamma)
    assert g_min == 11 and 3.5e-3 < exact < 4.5e-3
    # and in simulation: 21-token texts (20 scored bigrams), uniform tokens
    rng = np.random.default_rng(1)
    v, n = 1000, 30_000
    ids, offs = _uniform_texts(rng, v, n, t + 1, t + 1)
    res = KGW(v, gamma=gamma).detect_batch(ids, offs)
    keep = res.num_trials == t
    z_rate = int((res.p_value[keep] <= 1e-3).sum())
    m = int(keep.sum())
    # the z-based p-value rejects far more often than 0.1%: "rate <= 0.001" is rejected
    assert stats.binom.sf(z_rate - 1, m, 1e-3) < 1e-6, z_rate / m
    assert 2.5e-3 < z_rate / m < 6e-3
    # the exact p-value does not
    exact_rate = int((res.p_value_exact[keep] <= 1e-3).sum())
    assert stats.binom.sf(exact_rate - 1, m, 1e-3) >= 0.01, exact_rate / m
