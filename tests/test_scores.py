"""Per-sequence detector scores: Numba kernels against the float64 reference (tests/reference/scores.py)."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingerprint import scores as S
from fingerprint import token_divergences
from fingerprint.result import DivergenceResult
from reference import dense
from reference import scores as R

RTOL = 1e-12
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_scores(got, want, rtol=RTOL, scale=None):
    """Same shape and dtype, same NaN / inf pattern, finite values within rtol * (|want| + scale)."""
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    assert got.dtype == np.float64
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf])
    fin = np.isfinite(want)
    assert np.isfinite(got[fin]).all()
    bound = np.abs(want[fin]) if scale is None else np.abs(want[fin]) + np.asarray(scale)[fin]
    err = np.abs(got[fin] - want[fin])
    assert (err <= rtol * bound).all(), (got[fin], want[fin], err / np.maximum(bound, 1e-300))


def offsets_of(lengths):
    return np.concatenate(([0], np.cumsum(lengths, dtype=np.int64))).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# hypothesis: random ragged batches

finite_lp = st.floats(-40.0, 0.0, allow_nan=False)
lp_value = st.one_of(finite_lp, finite_lp, finite_lp, finite_lp, finite_lp, finite_lp, st.just(-math.inf))
lengths_st = st.lists(st.one_of(st.integers(0, 1), st.integers(0, 40)), min_size=0, max_size=12)
k_st = st.one_of(st.sampled_from([0.05, 0.1, 0.2, 0.3, 0.5, 0.6, 1.0]), st.floats(1e-3, 1.0))


@st.composite
def batch(draw, value=lp_value):
    lengths = draw(lengths_st)
    n = int(sum(lengths))
    lp = np.array(draw(st.lists(value, min_size=n, max_size=n)), dtype=np.float64)
    return lp, offsets_of(lengths)


@st.composite
def moments_batch(draw):
    """(lp, mu, var, offsets) with exact var == 0 cases, some with lp == mu, some -inf lp."""
    lp, offs = draw(batch())
    n = lp.shape[0]
    mu = np.array(draw(st.lists(st.floats(-12.0, 0.0), min_size=n, max_size=n)), dtype=np.float64)
    var = np.array(draw(st.lists(st.one_of(st.floats(1e-6, 30.0), st.just(0.0)), min_size=n, max_size=n)))
    same = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    lp = np.where(same & np.isfinite(lp), mu, lp)  # the observed token at the mean: z = 0
    return lp, mu, var, offs


@HYP
@given(batch())
def test_loss_perplexity_vs_reference(b):
    lp, offs = b
    assert_scores(S.loss(lp, offs), R.loss(lp, offs))
    assert_scores(S.perplexity(lp, offs), R.perplexity(lp, offs), rtol=1e-11)  # exp amplifies 1e-12 * loss


@HYP
@given(batch(), k_st)
def test_min_k_vs_reference(b, k):
    lp, offs = b
    assert_scores(S.min_k(lp, offs, k), R.min_k(lp, offs, k))


@HYP
@given(moments_batch(), k_st)
def test_min_k_plus_plus_vs_reference(b, k):
    lp, mu, var, offs = b
    z = R.zscores(lp, mu, var)
    want = R.min_k_plus_plus(lp, mu, var, offs, k)
    assert_scores(S.min_k_plus_plus(lp, mu, var, offs, k), want, scale=R.sequence_max_abs(z, offs))


@HYP
@given(moments_batch())
def test_fast_detectgpt_vs_reference(b):
    lp, mu, var, offs = b
    want = R.fast_detectgpt(lp, mu, var, offs)
    d = np.abs(lp - mu)
    with np.errstate(all="ignore"):
        scale = np.array([d[s:e].sum() / math.sqrt(var[s:e].sum()) if e > s else 0.0
                          for s, e in zip(offs[:-1], offs[1:])])  # fmt: skip
    scale = np.where(np.isnan(scale), 0.0, scale)  # 0 / 0: the numerator is exactly 0
    assert_scores(S.fast_detectgpt(lp, mu, var, offs), want, scale=scale)


@HYP
@given(batch(), st.data())
def test_two_model_scores_vs_reference(b, data):
    lp, offs = b
    n = lp.shape[0]
    other = np.array(data.draw(st.lists(lp_value, min_size=n, max_size=n)), dtype=np.float64)
    ce = np.array(data.draw(st.lists(st.one_of(st.floats(0.0, 30.0), st.just(0.0)), min_size=n, max_size=n)))
    assert_scores(S.reference_ratio(lp, other, offs), R.reference_ratio(lp, other, offs))
    la, lb = R.loss(lp, offs), R.loss(other, offs)
    assert_scores(S.reference_difference(lp, other, offs), R.reference_difference(lp, other, offs),
                  scale=np.abs(la) + np.abs(lb))  # fmt: skip
    assert_scores(S.binoculars(lp, ce, offs), R.binoculars(lp, ce, offs))


@HYP
@given(batch(), st.data())
def test_zlib_ratio_vs_reference(b, data):
    lp, offs = b
    texts = data.draw(
        st.lists(st.one_of(st.text(max_size=60), st.binary(max_size=60)), min_size=len(offs) - 1, max_size=len(offs) - 1)
    )
    assert_scores(S.zlib_ratio(lp, offs, texts), R.zlib_ratio(lp, offs, texts))


# ---------------------------------------------------------------------------------------------
# hand-made cases

LN2 = math.log(2.0)


def test_constant_logprobs():
    c = -1.7
    offs = [0, 5, 12]
    lp = np.full(12, c)
    np.testing.assert_allclose(S.loss(lp, offs), [-c, -c], rtol=1e-15)
    np.testing.assert_allclose(S.perplexity(lp, offs), [math.exp(-c)] * 2, rtol=1e-14)
    np.testing.assert_allclose(S.min_k(lp, offs, 0.3), [-c, -c], rtol=1e-15)
    np.testing.assert_allclose(S.reference_ratio(lp, 2 * lp, offs), [0.5, 0.5], rtol=1e-15)
    np.testing.assert_allclose(S.reference_difference(lp, 2 * lp, offs), [c, c], rtol=1e-14)
    np.testing.assert_allclose(S.binoculars(lp, np.full(12, 3.4), offs), [0.5, 0.5], rtol=1e-15)
    # the observed token always at the mean: every z-score and D is exactly 0
    np.testing.assert_array_equal(S.min_k_plus_plus(lp, lp, np.full(12, 2.0), offs), [0.0, 0.0])
    np.testing.assert_array_equal(S.fast_detectgpt(lp, lp, np.full(12, 2.0), offs), [0.0, 0.0])


def test_known_small_example():
    # probabilities 1/2, 1/4, 1/8, 1: NLLs ln2, 2 ln2, 3 ln2, 0
    lp = np.log([0.5, 0.25, 0.125, 1.0])
    offs = [0, 4]
    np.testing.assert_allclose(S.loss(lp, offs), [1.5 * LN2], rtol=1e-15)
    np.testing.assert_allclose(S.perplexity(lp, offs), [2.0**1.5], rtol=1e-15)
    np.testing.assert_allclose(S.min_k(lp, offs, 0.5), [2.5 * LN2], rtol=1e-15)  # lowest 2
    np.testing.assert_allclose(S.min_k(lp, offs, 0.2), [3 * LN2], rtol=1e-15)  # floor(0.8) = 0 -> 1
    np.testing.assert_allclose(S.min_k(lp, offs, 1.0), [1.5 * LN2], rtol=1e-15)
    np.testing.assert_allclose(S.min_k(lp, offs, 0.75), [2 * LN2], rtol=1e-15)  # lowest 3
    text = "the cat sat on the mat"
    np.testing.assert_allclose(
        S.zlib_ratio(lp, offs, [text]), [1.5 * LN2 / len(zlib.compress(text.encode()))], rtol=1e-15
    )
    # binoculars: (2 + 4) / 2 over (1 + 2) / 2
    np.testing.assert_allclose(S.binoculars([-2.0, -4.0], [1.0, 2.0], [0, 2]), [2.0], rtol=1e-15)


def test_min_k_plus_plus_small_example():
    lp = np.array([-1.0, -2.0, -1.0])
    mu = np.array([-1.0, -1.0, -1.0])
    var = np.array([1.0, 4.0, 0.0])  # z = 0, -1/2, 0 (var 0 with lp == mu)
    np.testing.assert_allclose(S.min_k_plus_plus(lp, mu, var, [0, 3], 1.0), [1 / 6], rtol=1e-15)
    np.testing.assert_allclose(S.min_k_plus_plus(lp, mu, var, [0, 3], 0.5), [0.5], rtol=1e-15)
    np.testing.assert_allclose(S.min_k_plus_plus(lp, mu, var, [0, 3], 0.7), [0.25], rtol=1e-15)
    # var 0 and the token below the (uniform-on-support) mean: probability 0, z = -inf
    assert S.min_k_plus_plus([-math.inf, -1.0], [-1.0, -1.0], [0.0, 1.0], [0, 2], 0.5)[0] == math.inf
    assert S.min_k_plus_plus([-3.0, -1.0], [-1.0, -1.0], [0.0, 1.0], [0, 2], 0.5)[0] == math.inf
    # above it (only from rounding): +inf, never among the lowest unless alone
    np.testing.assert_array_equal(
        S.min_k_plus_plus([-0.5, -1.0], [-1.0, -1.0], [0.0, 1.0], [0, 2], 0.5), [0.0]
    )
    assert S.min_k_plus_plus([-0.5], [-1.0], [0.0], [0, 1])[0] == -math.inf


def test_fast_detectgpt_small_examples():
    offs = [0, 2]
    np.testing.assert_allclose(S.fast_detectgpt([-1.0, -1.0], [-2.0, -2.0], [2.0, 2.0], offs), [1.0], rtol=1e-15)
    np.testing.assert_allclose(S.fast_detectgpt([-1.0, -2.0], [-1.5, -1.5], [1.0, 3.0], offs), [0.0], atol=0)
    np.testing.assert_allclose(S.fast_detectgpt([-3.0, -3.0], [-2.0, -2.0], [0.5, 0.5], offs), [-2.0], rtol=1e-15)
    # zero total variance: 0 if the numerator is 0, else +-inf
    np.testing.assert_array_equal(S.fast_detectgpt([-1.0, -1.0], [-1.0, -1.0], [0.0, 0.0], offs), [0.0])
    np.testing.assert_array_equal(S.fast_detectgpt([-1.0, -1.0], [-2.0, -1.0], [0.0, 0.0], offs), [math.inf])
    np.testing.assert_array_equal(S.fast_detectgpt([-3.0, -1.0], [-2.0, -1.0], [0.0, 0.0], offs), [-math.inf])
    # infinite moments (Q gives 0 to a token P samples): inf / inf is NaN
    assert math.isnan(S.fast_detectgpt([-1.0, -1.0], [-math.inf, -1.0], [math.inf, 1.0], offs)[0])
    # -inf log-prob with finite moments
    assert S.fast_detectgpt([-math.inf, -1.0], [-1.0, -1.0], [1.0, 1.0], offs)[0] == -math.inf


def test_neg_inf_logprobs():
    lp = np.array([-1.0, -math.inf, -2.0, -0.5])
    offs = [0, 2, 4]
    np.testing.assert_array_equal(S.loss(lp, offs), [math.inf, 1.25])
    np.testing.assert_array_equal(S.perplexity(lp, offs), [math.inf, math.exp(1.25)])
    assert S.min_k(lp, offs, 0.5)[0] == math.inf
    assert S.min_k(lp, offs, 0.5)[1] == 2.0
    ref = np.array([-1.0, -1.0, -math.inf, -1.0])
    np.testing.assert_array_equal(S.reference_difference(lp, ref, offs), [math.inf, -math.inf])
    np.testing.assert_array_equal(S.reference_ratio(lp, ref, offs), [math.inf, 0.0])
    both = S.reference_difference(lp, lp, offs)
    assert math.isnan(both[0]) and both[1] == 0.0
    assert S.binoculars(lp, np.ones(4), offs)[0] == math.inf
    assert S.binoculars([-1.0], [math.inf], [0, 1])[0] == 0.0
    assert math.isnan(S.binoculars([-1.0, -math.inf], [math.inf, 1.0], [0, 2])[0])


def test_zero_denominators():
    np.testing.assert_array_equal(S.reference_ratio([0.0, -1.0], [0.0, 0.0], [0, 1, 2]), [np.nan, math.inf])
    np.testing.assert_array_equal(S.binoculars([0.0, -1.0], [0.0, 0.0], [0, 1, 2]), [np.nan, math.inf])


def test_length_one_and_empty_sequences():
    lp = np.array([-0.3, -2.0, -5.0])
    offs = [0, 0, 1, 1, 3, 3]
    for k in (0.01, 0.2, 0.99, 1.0):
        got = S.min_k(lp, offs, k)
        assert np.isnan(got[[0, 2, 4]]).all()
        assert got[1] == 0.3
        assert got[3] == (5.0 if k < 1.0 else 3.5)
    mu, var = np.full(3, -1.0), np.full(3, 4.0)
    for fn, args in [
        (S.loss, (lp,)), (S.perplexity, (lp,)), (S.min_k, (lp,)), (S.min_k_plus_plus, (lp, mu, var)),
        (S.fast_detectgpt, (lp, mu, var)), (S.reference_ratio, (lp, lp)),
        (S.reference_difference, (lp, lp)), (S.binoculars, (lp, -lp)),
    ]:  # fmt: skip
        got = fn(*args, offs)
        assert got.shape == (5,) and got.dtype == np.float64
        assert np.isnan(got[[0, 2, 4]]).all() and np.isfinite(got[[1, 3]]).all()
    z = S.zlib_ratio(lp, offs, ["", "a", "", "bc", ""])
    assert np.isnan(z[[0, 2, 4]]).all() and np.isfinite(z[[1, 3]]).all()


def test_empty_batch():
    e = np.empty(0)
    for got in [
        S.loss(e, [0]), S.perplexity(e, [0]), S.min_k(e, [0]), S.min_k_plus_plus(e, e, e, [0]),
        S.fast_detectgpt(e, e, e, [0]), S.reference_ratio(e, e, [0]), S.reference_difference(e, e, [0]),
        S.binoculars(e, e, [0]), S.zlib_ratio(e, [0], []),
    ]:  # fmt: skip
        assert got.shape == (0,) and got.dtype == np.float64
    # B = 1 empty sequence
    assert np.isnan(S.loss(e, [0, 0])).all()


def test_min_k_count_matches_public_code():
    # m = int(n * k) in float64 (e.g. 0.29 * 100 = 28.999999999999996 -> 28), at least 1
    lp = -np.arange(1.0, 101.0)
    for k in (0.29, 0.3, 0.07, 0.57, 0.1):
        m = max(1, int(100 * k))
        want = np.mean(np.sort(lp)[:m])
        np.testing.assert_allclose(S.min_k(lp, [0, 100], k), [-want], rtol=1e-14)


def _sorted_sum_min_k(values, offsets, k):
    """-(sum of np.sort(x)[:m] added left to right) / m: the kernels' documented order, exactly."""
    out = []
    for s, e in zip(offsets[:-1], offsets[1:]):
        if e == s:
            out.append(math.nan)
            continue
        m = R.n_lowest(int(e - s), k)
        acc = 0.0
        for x in np.sort(values[s:e])[:m]:
            acc += float(x)
        out.append((0.0 - acc) / m)
    return np.array(out)


@pytest.mark.parametrize("kind", ["random", "few_distinct", "sorted", "reversed", "neg_inf", "constant"])
def test_min_k_selection_long_sequences(kind):
    """Long sequences exercise the selection/introsort paths; the result is bit-identical to
    summing np.sort(x)[:m] in ascending order."""
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    offs = offsets_of([0, 1, 2, 17, 18, 33, 100, 1000, 4097, 250])
    n = int(offs[-1])
    lp = {
        "random": np.log(rng.random(n)),
        "few_distinct": -rng.integers(0, 4, n).astype(np.float64),
        "sorted": -np.linspace(10.0, 0.0, n),
        "reversed": -np.linspace(0.0, 10.0, n),
        "neg_inf": np.where(rng.random(n) < 0.3, -np.inf, np.log(rng.random(n))),
        "constant": np.full(n, -2.5),
    }[kind]
    mu, var = -rng.random(n) * 4, rng.random(n) * 9
    var[::7] = 0.0
    z = R.zscores(lp, mu, var)
    for k in (0.001, 0.05, 0.2, 0.5, 0.999, 1.0):
        assert S.min_k(lp, offs, k).tobytes() == _sorted_sum_min_k(lp, offs, k).tobytes(), k
        got = S.min_k_plus_plus(lp, mu, var, offs, k)
        assert got.tobytes() == _sorted_sum_min_k(z, offs, k).tobytes(), k


# ---------------------------------------------------------------------------------------------
# end to end with token_divergences


def _logits(rng, n, v, *, mask=0.0):
    x = rng.normal(0.0, 2.0, size=(n, v)).astype(np.float32)
    if mask:
        m = rng.random((n, v)) < mask
        m[:, 0] = False  # keep at least one token
        x[m] = -np.inf
    return x


def _ragged(rng, b, max_len=25):
    lengths = rng.integers(0, max_len, size=b)
    lengths[0] = 1
    return offsets_of(lengths)


def _direct_scores(p, q, t, offs, k):
    """Scores computed from float64 log-softmaxes (tests/reference/dense.py), model Q scored."""
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), t)
    lq, lp_ = ref["logprob_q"], ref["logprob_p"]
    return ref, {
        "loss": R.loss(lq, offs),
        "perplexity": R.perplexity(lq, offs),
        "min_k": R.min_k(lq, offs, k),
        "min_k_plus_plus": R.min_k_plus_plus(lq, -ref["entropy_q"], ref["var_logq_q"], offs, k),
        "fast_detectgpt": R.fast_detectgpt(lq, -ref["cross_entropy_pq"], ref["var_logq_p"], offs),
        "fast_detectgpt_self": R.fast_detectgpt(lq, -ref["entropy_q"], ref["var_logq_q"], offs),
        "reference_ratio": R.reference_ratio(lq, lp_, offs),
        "reference_difference": R.reference_difference(lq, lp_, offs),
        "binoculars": R.binoculars(lq, ref["cross_entropy_pq"], offs),
        "binoculars_observer": R.binoculars(lp_, ref["cross_entropy_pq"], offs),
    }


def test_detector_scores_end_to_end():
    rng = np.random.default_rng(7)
    offs = _ragged(rng, 9)
    n, v = int(offs[-1]), 50
    p, q = _logits(rng, n, v), _logits(rng, n, v)
    t = rng.integers(0, v, size=n)
    texts = [f"sequence {i} " * i for i in range(9)]
    res = token_divergences(p, q, targets=t, offsets=offs)
    got = S.detector_scores(res, texts=texts, k=0.3)
    assert list(got) == list(S.SCORE_NAMES)
    ref, want = _direct_scores(p, q, t, offs, 0.3)
    want["zlib_ratio"] = R.zlib_ratio(ref["logprob_q"], offs, texts)
    for name in S.SCORE_NAMES:
        g, w = got[name], want[name]
        assert g.shape == (9,) and g.dtype == np.float64
        assert np.isnan(g[offs[1:] == offs[:-1]]).all()
        ok = ~np.isnan(w)
        np.testing.assert_allclose(g[ok], w[ok], rtol=2e-5, atol=2e-5, err_msg=name)
    # each entry is exactly the individual function on the panel's fields
    assert_equal = np.testing.assert_array_equal
    assert_equal(got["loss"], S.loss(res.logprob_q, offs))
    assert_equal(got["zlib_ratio"], S.zlib_ratio(res.logprob_q, offs, texts))
    assert_equal(got["min_k"], S.min_k(res.logprob_q, offs, 0.3))
    assert_equal(got["min_k_plus_plus"], S.min_k_plus_plus(res.logprob_q, -res.entropy_q, res.var_logq_q, offs, 0.3))
    assert_equal(got["fast_detectgpt"], S.fast_detectgpt(res.logprob_q, -res.cross_entropy_pq, res.var_logq_p, offs))
    assert_equal(got["reference_ratio"], S.reference_ratio(res.logprob_q, res.logprob_p, offs))
    assert_equal(got["binoculars"], S.binoculars(res.logprob_q, res.cross_entropy_pq, offs))
    assert_equal(got["binoculars_observer"], S.binoculars(res.logprob_p, res.cross_entropy_pq, offs))


def test_detector_scores_model_p_swaps_roles():
    rng = np.random.default_rng(11)
    offs = _ragged(rng, 6)
    n, v = int(offs[-1]), 40
    p, q = _logits(rng, n, v), _logits(rng, n, v)
    t = rng.integers(0, v, size=n)
    as_p = S.detector_scores(token_divergences(p, q, targets=t, offsets=offs), model="p")
    as_q = S.detector_scores(token_divergences(q, p, targets=t, offsets=offs), model="q")
    assert list(as_p) == list(as_q)
    for name in as_p:
        np.testing.assert_allclose(as_p[name], as_q[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_binoculars_direct_formula():
    """Binoculars straight from the paper/public code: observer P, performer Q."""
    rng = np.random.default_rng(3)
    offs = np.array([0, 12, 30])
    n, v = 30, 64
    obs, perf = _logits(rng, n, v), _logits(rng, n, v)
    t = rng.integers(0, v, size=n)
    lo = dense._log_softmax(obs)
    lpf = dense._log_softmax(perf)
    got = S.detector_scores(token_divergences(obs, perf, targets=t, offsets=offs))
    for i, (s, e) in enumerate(zip(offs[:-1], offs[1:])):
        x_ppl = np.mean(-(np.exp(lo[s:e]) * lpf[s:e]).sum(1))
        ppl_perf = np.mean(-lpf[np.arange(s, e), t[s:e]])
        ppl_obs = np.mean(-lo[np.arange(s, e), t[s:e]])
        np.testing.assert_allclose(got["binoculars"][i], ppl_perf / x_ppl, rtol=1e-5)
        np.testing.assert_allclose(got["binoculars_observer"][i], ppl_obs / x_ppl, rtol=1e-5)


def test_fast_detectgpt_same_model_is_white_box():
    """Sampling == scoring model: the cross form equals the white-box formula."""
    rng = np.random.default_rng(5)
    offs = _ragged(rng, 7, max_len=40)
    n, v = int(offs[-1]), 80
    q = _logits(rng, n, v)
    t = rng.integers(0, v, size=n)
    res = token_divergences(q, q, targets=t, offsets=offs)
    got = S.detector_scores(res, scores=["fast_detectgpt", "fast_detectgpt_self"])
    lq = dense._log_softmax(q)
    pq = np.exp(lq)
    for i, (s, e) in enumerate(zip(offs[:-1], offs[1:])):
        if e == s:
            assert np.isnan(got["fast_detectgpt"][i]) and np.isnan(got["fast_detectgpt_self"][i])
            continue
        ll = lq[np.arange(s, e), t[s:e]]
        mean = (pq[s:e] * lq[s:e]).sum(1)
        var = (pq[s:e] * lq[s:e] ** 2).sum(1) - mean**2  # the public code's form
        want = (ll.sum() - mean.sum()) / np.sqrt(var.sum())
        scale = np.abs(ll - mean).sum() / np.sqrt(var.sum())
        for name in ("fast_detectgpt", "fast_detectgpt_self"):
            assert abs(got[name][i] - want) <= 1e-5 * (abs(want) + scale), (name, got[name][i], want)


def test_min_k_plus_plus_direct_formula():
    rng = np.random.default_rng(9)
    offs = np.array([0, 20, 21, 45])
    n, v = 45, 30
    q = _logits(rng, n, v)
    t = rng.integers(0, v, size=n)
    got = S.detector_scores(token_divergences(q, q, targets=t, offsets=offs), k=0.25)["min_k_plus_plus"]
    lq = dense._log_softmax(q)
    pq = np.exp(lq)
    for i, (s, e) in enumerate(zip(offs[:-1], offs[1:])):
        mu = (pq[s:e] * lq[s:e]).sum(1)
        sigma = np.sqrt((pq[s:e] * lq[s:e] ** 2).sum(1) - mu**2)
        z = (lq[np.arange(s, e), t[s:e]] - mu) / sigma
        m = max(1, int((e - s) * 0.25))
        np.testing.assert_allclose(got[i], -np.mean(np.sort(z)[:m]), rtol=1e-5, atol=1e-6)


def test_panel_with_masked_vocabulary():
    """-inf logits: Q gives probability 0 to tokens P supports (infinite cross-entropy)."""
    rng = np.random.default_rng(13)
    offs = np.array([0, 6, 10])
    n, v = 10, 20
    p = _logits(rng, n, v)
    q = _logits(rng, n, v, mask=0.3)
    t = np.zeros(n, dtype=np.int64)  # column 0 is never masked
    res = token_divergences(p, q, targets=t, offsets=offs)
    assert np.isinf(res.cross_entropy_pq).any()
    got = S.detector_scores(res)
    assert np.isnan(got["fast_detectgpt"]).all()  # inf / inf: undefined from these moments
    assert (got["binoculars"] == 0.0).all()  # finite PPL over infinite cross-perplexity
    assert np.isfinite(got["min_k_plus_plus"]).all()
    # the observed token masked: -inf log-prob
    t2 = t.copy()
    q2 = q.copy()
    q2[0, 1] = -np.inf
    t2[0] = 1
    res2 = token_divergences(p, q2, targets=t2, offsets=offs)
    got2 = S.detector_scores(res2)
    assert got2["loss"][0] == math.inf and got2["min_k"][0] == math.inf
    assert got2["min_k_plus_plus"][0] == math.inf
    assert np.isfinite(got2["loss"][1])


# ---------------------------------------------------------------------------------------------
# threads, layouts, dtypes


def _big_batch(seed=0, b=3000):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 120, size=b)
    offs = offsets_of(lengths)
    n = int(offs[-1])
    lp = np.log(rng.random(n))
    mu = -rng.random(n) * 5
    var = rng.random(n) * 10
    var[rng.random(n) < 0.01] = 0.0
    return lp, mu, var, offs


def test_thread_invariance(monkeypatch):
    import numba

    monkeypatch.setattr(S, "_MIN_POSITIONS_PER_THREAD", 1)  # use every thread even on small inputs
    lp, mu, var, offs = _big_batch()
    other = lp[::-1].copy()
    before = numba.get_num_threads()
    for fn, args in [
        (S.loss, (lp,)), (S.min_k, (lp,)), (S.min_k_plus_plus, (lp, mu, var)),
        (S.fast_detectgpt, (lp, mu, var)), (S.reference_ratio, (lp, other)),
        (S.reference_difference, (lp, other)), (S.binoculars, (lp, var)),
    ]:  # fmt: skip
        one = fn(*args, offs, num_threads=1)
        two = fn(*args, offs, num_threads=2)
        many = fn(*args, offs, num_threads=64)  # capped at Numba's pool size
        assert one.tobytes() == two.tobytes() == many.tobytes(), fn.__name__
        assert numba.get_num_threads() == before
    res = DivergenceResult({"logprob_q": lp, "logprob_p": other, "entropy_q": -mu, "var_logq_q": var}, offs)
    a = S.detector_scores(res, num_threads=1)
    b = S.detector_scores(res, num_threads=2)
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_thread_invariance_large_batch():
    """Above 2^18 positions per thread the default path really runs in parallel."""
    lp, mu, var, offs = _big_batch(3, b=12000)
    assert offs[-1] > 2 * S._MIN_POSITIONS_PER_THREAD
    for fn, args in [(S.min_k_plus_plus, (lp, mu, var)), (S.fast_detectgpt, (lp, mu, var)), (S.loss, (lp,))]:
        assert fn(*args, offs, num_threads=1).tobytes() == fn(*args, offs, num_threads=2).tobytes()


def test_readonly_strided_and_float32_inputs():
    lp, mu, var, offs = _big_batch(1, b=200)
    n = lp.shape[0]
    want = {
        "loss": S.loss(lp, offs),
        "mkpp": S.min_k_plus_plus(lp, mu, var, offs, 0.3),
        "fd": S.fast_detectgpt(lp, mu, var, offs),
    }
    # strided views into a wider array, read-only
    lp_s = np.repeat(lp, 2)[::2]
    mu_s = np.stack([mu, mu], 1)[:, 0]
    var_s = var[::-1].copy()[::-1]  # negative stride
    assert not (lp_s.flags.c_contiguous or mu_s.flags.c_contiguous or var_s.flags.c_contiguous)
    assert lp_s.shape == (n,)
    for a in (lp_s, mu_s, var_s):
        a.flags.writeable = False
    offs_ro = offs.copy()
    offs_ro.flags.writeable = False
    np.testing.assert_array_equal(S.loss(lp_s, offs_ro), want["loss"])
    np.testing.assert_array_equal(S.min_k_plus_plus(lp_s, mu_s, var_s, offs_ro, 0.3), want["mkpp"])
    np.testing.assert_array_equal(S.fast_detectgpt(lp_s, mu_s, var_s, offs_ro), want["fd"])
    # inputs untouched; offsets as a list or int32 also fine
    np.testing.assert_array_equal(lp_s, lp)
    np.testing.assert_array_equal(S.loss(list(lp), list(offs)), want["loss"])
    np.testing.assert_array_equal(S.loss(lp, offs.astype(np.int32)), want["loss"])
    # big-endian float64
    np.testing.assert_array_equal(S.loss(lp.astype(">f8"), offs), want["loss"])
    # float32 / float16 widened exactly: same as passing the widened float64 arrays
    for dt in (np.float32, np.float16):
        lpf, muf, varf = lp.astype(dt), mu.astype(dt), var.astype(dt)
        w = (lpf.astype(np.float64), muf.astype(np.float64), varf.astype(np.float64))
        np.testing.assert_array_equal(S.min_k_plus_plus(lpf, muf, varf, offs), S.min_k_plus_plus(*w, offs))
        np.testing.assert_array_equal(S.fast_detectgpt(lpf, muf, varf, offs), S.fast_detectgpt(*w, offs))
        np.testing.assert_array_equal(S.min_k(lpf, offs), S.min_k(w[0], offs))
        np.testing.assert_array_equal(S.binoculars(lpf, varf, offs), S.binoculars(w[0], w[2], offs))


def test_misaligned_input():
    lp = np.log(np.random.default_rng(0).random(50))
    buf = np.zeros(50 * 8 + 1, dtype=np.uint8)
    mis = np.ndarray(50, dtype=np.float64, buffer=buf, offset=1)
    assert not mis.flags.aligned
    mis[:] = lp
    np.testing.assert_array_equal(S.loss(mis, [0, 20, 50]), S.loss(lp, [0, 20, 50]))


def test_import_does_not_load_numba():
    import subprocess
    import sys

    code = "import sys, fingerprint, fingerprint.scores; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# validation errors

LP = np.array([-1.0, -2.0, -0.5, -3.0, -1.5])
OFFS = [0, 2, 5]
ONES = np.ones(5)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: S.loss(np.array([-1.0, -2.0, -0.5, np.nan, -1.5]), OFFS), ValueError,
         r"logprobs: contains NaN at index 3 \(sequence 1, position 1\)"),
        (lambda: S.loss(np.array([-1.0, np.inf, -0.5, -3.0, -1.5]), OFFS), ValueError,
         r"logprobs: \+inf at index 1 \(sequence 0, position 1\)"),
        (lambda: S.loss(LP.reshape(5, 1), OFFS), ValueError, r"logprobs: expected a 1-D array, got shape \(5, 1\)"),
        (lambda: S.loss(np.arange(5), OFFS), TypeError, r"logprobs: expected a floating-point array, got dtype int64"),
        (lambda: S.loss("abc", OFFS), TypeError, r"logprobs: expected a NumPy array, got str"),
        (lambda: S.loss(LP, [0, 2, 4]), ValueError, r"offsets: must end at the number of positions 5, got offsets\[-1\] = 4"),
        (lambda: S.loss(LP, [1, 2, 5]), ValueError, r"offsets: must start at 0"),
        (lambda: S.loss(LP, [0, 3, 2, 5]), ValueError, r"offsets: must be non-decreasing; offsets\[1\] = 3 > offsets\[2\] = 2"),
        (lambda: S.loss(LP, [0.0, 2.0, 5.0]), TypeError, r"offsets: expected an integer array, got dtype float64"),
        (lambda: S.loss(LP, []), ValueError, r"offsets: expected a 1-D array of length B\+1 >= 1"),
        (lambda: S.min_k_plus_plus(LP, ONES[:4], ONES, OFFS), ValueError,
         r"mean: expected length 5 \(the length of logprobs\), got 4"),
        (lambda: S.min_k_plus_plus(LP, -ONES, ONES[:3], OFFS), ValueError,
         r"var: expected length 5 \(the length of logprobs\), got 3"),
        (lambda: S.min_k_plus_plus(LP, -ONES, np.array([1, 1, -0.1, 1, 1.0]), OFFS), ValueError,
         r"var: expected values >= 0, got var\[2\] = -0.1 \(sequence 1, position 0\)"),
        (lambda: S.min_k_plus_plus(LP, np.array([-1, -np.inf, -1, -1, -1.0]), ONES, OFFS), ValueError,
         r"mean: -inf at index 1 .*always finite"),
        (lambda: S.min_k_plus_plus(LP, -ONES, np.array([1, 1, 1, 1, np.inf]), OFFS), ValueError, r"var: \+inf at index 4"),
        (lambda: S.min_k_plus_plus(LP, -ONES, np.array([1, np.nan, 1, 1, 1]), OFFS), ValueError, r"var: contains NaN at index 1"),
        (lambda: S.fast_detectgpt(LP, np.array([-1, 1, np.inf, 1, 1.0]), ONES, OFFS), ValueError, r"mean: \+inf at index 2"),
        (lambda: S.fast_detectgpt(LP, -ONES, -ONES, OFFS), ValueError, r"var: expected values >= 0, got var\[0\] = -1.0"),
        (lambda: S.binoculars(LP, np.array([1, 1, 1, -1e-3, 1]), OFFS), ValueError, r"cross_entropy: expected values >= 0"),
        (lambda: S.binoculars(LP, np.array([1, 1, 1, -np.inf, 1]), OFFS), ValueError, r"cross_entropy: -inf at index 3"),
        (lambda: S.binoculars(LP, ONES[:2], OFFS), ValueError, r"cross_entropy: expected length 5 \(the length of ppl_logprobs\)"),
        (lambda: S.reference_ratio(LP, LP[:4], OFFS), ValueError,
         r"reference_logprobs: expected length 5 \(the length of target_logprobs\), got 4"),
        (lambda: S.reference_difference(LP, np.array([np.nan] * 5), OFFS), ValueError,
         r"reference_logprobs: contains NaN at index 0 \(sequence 0, position 0\) \(5 NaN value\(s\)\)"),
        (lambda: S.min_k(LP, OFFS, 0), ValueError, r"k: expected a fraction in \(0, 1\], got 0"),
        (lambda: S.min_k(LP, OFFS, 1.5), ValueError, r"k: expected a fraction in \(0, 1\], got 1.5"),
        (lambda: S.min_k(LP, OFFS, -0.2), ValueError, r"k: expected a fraction in \(0, 1\]"),
        (lambda: S.min_k(LP, OFFS, float("nan")), ValueError, r"k: expected a fraction in \(0, 1\], got nan"),
        (lambda: S.min_k(LP, OFFS, "0.2"), TypeError, r"k: expected a number in \(0, 1\], got str"),
        (lambda: S.min_k(LP, OFFS, True), TypeError, r"k: expected a number in \(0, 1\], got bool"),
        (lambda: S.min_k_plus_plus(LP, -ONES, ONES, OFFS, k=2), ValueError, r"k: expected a fraction in \(0, 1\], got 2"),
        (lambda: S.zlib_ratio(LP, OFFS, ["a"]), ValueError, r"texts: expected 2 texts \(one per sequence, len\(offsets\) - 1\), got 1"),
        (lambda: S.zlib_ratio(LP, OFFS, "ab"), TypeError, r"texts: expected a list of 2 texts \(str or bytes\), got str"),
        (lambda: S.zlib_ratio(LP, OFFS, None), TypeError, r"texts: expected a list of 2 texts \(str or bytes\), got NoneType"),
        (lambda: S.zlib_ratio(LP, OFFS, ["a", 3]), TypeError, r"texts\[1\]: expected str or bytes, got int"),
        (lambda: S.zlib_ratio(LP, OFFS, ["a", "\ud800"]), ValueError, r"texts\[1\]: cannot be encoded as UTF-8"),
        (lambda: S.loss(LP, OFFS, num_threads=0), ValueError, r"num_threads must be >= 1, got 0"),
        (lambda: S.loss(LP, OFFS, num_threads="2"), TypeError, r"num_threads must be an int or None, got str"),
    ],
)  # fmt: skip
def test_validation_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def _panel(with_targets=True, offsets=True):
    rng = np.random.default_rng(2)
    p, q = _logits(rng, 8, 10), _logits(rng, 8, 10)
    t = rng.integers(0, 10, size=8) if with_targets else None
    return token_divergences(p, q, targets=t, offsets=np.array([0, 3, 8]) if offsets else None)


def test_detector_scores_errors():
    res = _panel()
    with pytest.raises(TypeError, match=r"panel: expected a DivergenceResult .* got ndarray"):
        S.detector_scores(np.zeros(3))
    with pytest.raises(ValueError, match=r"model: expected 'p' or 'q' .* got 'r'"):
        S.detector_scores(res, model="r")
    with pytest.raises(ValueError, match=r"scores: unknown score 'mink'; valid scores are: loss, perplexity"):
        S.detector_scores(res, scores=["mink"])
    with pytest.raises(TypeError, match=r"scores: expected score names \(str\), got int"):
        S.detector_scores(res, scores=[1])
    with pytest.raises(ValueError, match=r"scores: empty"):
        S.detector_scores(res, scores=[])
    with pytest.raises(ValueError, match=r"scores: 'zlib_ratio' needs texts="):
        S.detector_scores(res, scores="zlib_ratio")
    with pytest.raises(ValueError, match=r"texts: expected 2 texts"):
        S.detector_scores(res, texts=["a"])
    with pytest.raises(ValueError, match=r"k: expected a fraction in \(0, 1\], got 0.0"):
        S.detector_scores(res, k=0.0)
    no_t = _panel(with_targets=False)
    with pytest.raises(ValueError, match=r"panel: no detector score can be computed .* needs 'logprob_q': call token_divergences\(p, q, targets="):
        S.detector_scores(no_t)
    with pytest.raises(ValueError, match=r"'binoculars' with model='q' needs panel field\(s\) \['logprob_q'\].*targets="):
        S.detector_scores(no_t, scores=["binoculars"])
    few = DivergenceResult({"logprob_q": res.logprob_q}, res.offsets)
    with pytest.raises(ValueError, match=r"'fast_detectgpt' with model='q' needs panel field\(s\) \['cross_entropy_pq', 'var_logq_p'\]"):
        S.detector_scores(few, scores=["loss", "fast_detectgpt"])
    assert list(S.detector_scores(few)) == ["loss", "perplexity", "min_k"]
    assert list(S.detector_scores(few, texts=["a", "b"])) == ["loss", "perplexity", "zlib_ratio", "min_k"]
    with pytest.raises(ValueError, match=r"offsets: the panel has no offsets; pass offsets="):
        S.detector_scores(_panel(offsets=False))
    np.testing.assert_array_equal(
        S.detector_scores(_panel(offsets=False), [0, 3, 8])["loss"], S.detector_scores(res)["loss"]
    )
    with pytest.raises(ValueError, match=r"offsets: must end at the number of positions 8"):
        S.detector_scores(res, [0, 3, 7])
    bad = DivergenceResult({"logprob_q": np.array([-1.0, np.nan, -2.0])}, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"panel.logprob_q: contains NaN at index 1 \(sequence 0, position 1\)"):
        S.detector_scores(bad)
    mapping = {"logprob_q": np.array([-1.0, -2.0]), "logprob_p": np.array([-1.0])}
    with pytest.raises(ValueError, match=r"panel\['logprob_p'\]: expected length 2 \(the length of panel\['logprob_q'\]\)"):
        S.detector_scores(mapping, [0, 2])
    with pytest.raises(ValueError, match=r"panel.entropy_q: -inf at index 0"):
        S.detector_scores(DivergenceResult({"logprob_q": np.array([-1.0]), "entropy_q": np.array([-np.inf]),
                                            "var_logq_q": np.array([1.0])}, np.array([0, 1])))  # fmt: skip


def test_detector_scores_subset_and_mapping():
    res = _panel()
    sub = S.detector_scores(res, scores=["binoculars_observer", "loss"])
    assert list(sub) == ["loss", "binoculars_observer"]
    full = S.detector_scores(res)
    np.testing.assert_array_equal(sub["binoculars_observer"], full["binoculars_observer"])
    as_map = S.detector_scores(res.to_dict(), res.offsets)
    assert list(as_map) == list(full)
    for k in full:
        np.testing.assert_array_equal(as_map[k], full[k])
