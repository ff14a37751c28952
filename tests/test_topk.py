"""fingerprint.topk.topk_divergences against the float64 reference (tests/reference/topk.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference.topk import full_panel
from reference.topk import panel as ref_panel

from fingerprint import _native
from fingerprint.result import ALL_FIELDS, TARGET_FIELDS
from fingerprint.topk import MASS_TOL, POSITIVE_TOL, TAILS, TARGET_TOL, topk_divergences

RTOL, ATOL = 1e-9, 1e-12
NON_TARGET = [f for f in ALL_FIELDS if f not in TARGET_FIELDS]
PAIR = ["cross_entropy_pq", "cross_entropy_qp", "kl_pq", "kl_qp", "js", "tv", "var_logq_p", "var_logp_q"]


def compare(res, ref, fields=None):
    for f in fields or ref:
        np.testing.assert_allclose(res[f], ref[f], rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=f)


def run_both(p_ids, p_lp, q_ids, q_lp, tail="bucket", targets=None, p_tlp=None, q_tlp=None, vocab=None):
    res = topk_divergences(
        p_ids, p_lp, q_ids, q_lp, tail=tail, targets=targets, p_target_logprobs=p_tlp,
        q_target_logprobs=q_tlp, vocab_size=vocab,
    )  # fmt: skip
    ref = ref_panel(p_ids, p_lp, q_ids, q_lp, tail, targets, p_tlp, q_tlp, vocab)
    assert set(res.fields) == set(ref)
    compare(res, ref)
    return res, ref


# ---- random top-k rows --------------------------------------------------------------------------


def random_side(rng, n, k, vocab, *, lp_dtype=np.float64, max_valid=None):
    """[n, k] ids and log-probs: random support sizes, padding anywhere, -inf / very negative
    entries, one-hot rows, total masses in [0.05, 0.999] (never within rounding of 1 unless
    exactly 1), so the rest masses are well conditioned."""
    ids = np.full((n, k), -1, dtype=np.int64)
    lps = np.full((n, k), np.nan)  # padding log-probs are ignored, whatever they are
    for r in range(n):
        c = int(rng.integers(0, min(k, vocab if max_valid is None else max_valid) + 1))
        cols = rng.choice(k, size=c, replace=False)
        row_ids = rng.choice(vocab, size=c, replace=False)
        kind = rng.random()
        if c and kind < 0.1:  # one-hot: log-prob 0, the others -inf
            lp = np.full(c, -np.inf)
            lp[rng.integers(c)] = 0.0
        else:
            mass = rng.uniform(0.05, 0.999)
            p = rng.dirichlet(np.full(c, rng.choice([0.3, 1.0, 5.0]))) * mass if c else np.zeros(0)
            with np.errstate(divide="ignore"):
                lp = np.log(p)
            special = rng.random(c)
            lp[special < 0.1] = -np.inf
            lp[(special >= 0.1) & (special < 0.15)] = -800.0  # exp underflows to 0
        ids[r, cols] = row_ids
        lps[r, cols] = lp
        if rng.random() < 0.5:
            lps[r, ids[r] == -1] = rng.normal(size=int(np.sum(ids[r] == -1)))  # junk under padding
    return ids, lps.astype(lp_dtype)


def random_targets(rng, n, vocab, ids, lps):
    t = rng.integers(0, vocab, size=n)
    given = np.full(n, np.nan)
    for r in range(n):
        hit = np.flatnonzero(ids[r] == t[r])
        u = rng.random()
        if hit.size:
            if u < 0.5:
                given[r] = float(lps[r, hit[0]]) + (0.0 if u < 0.3 else 5e-7 * (lps[r, hit[0]] > -np.inf))
        elif u < 0.5:
            given[r] = -rng.uniform(0.5, 30.0)
        elif u < 0.6:
            given[r] = -np.inf
    return t, given


case = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n": st.integers(1, 6),
        "kp": st.integers(0, 8),
        "kq": st.integers(0, 8),
        "vocab": st.integers(1, 24),
        "tail": st.sampled_from(TAILS),
        "lp_dtype": st.sampled_from([np.float32, np.float64]),
        "id_dtype": st.sampled_from([np.int32, np.int64]),
        "targets": st.booleans(),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case)
def test_matches_reference(c):
    rng = np.random.default_rng(c["seed"])
    vocab = c["vocab"]
    max_valid = vocab - 1 if c["tail"] == "geometric" else None  # geometric needs a tail
    if c["tail"] == "geometric" and vocab < 2:
        vocab = 2
    p_ids, p_lp = random_side(rng, c["n"], c["kp"], vocab, lp_dtype=c["lp_dtype"], max_valid=max_valid)
    q_ids, q_lp = random_side(rng, c["n"], c["kq"], vocab, lp_dtype=c["lp_dtype"], max_valid=max_valid)
    p_ids, q_ids = p_ids.astype(c["id_dtype"]), q_ids.astype(c["id_dtype"])
    targets = p_tlp = q_tlp = None
    if c["targets"]:
        targets, p_tlp = random_targets(rng, c["n"], vocab, p_ids, p_lp)
        _, q_tlp = random_targets(rng, c["n"], vocab, q_ids, q_lp)
        q_tlp[[r for r in range(c["n"]) if targets[r] in q_ids[r]]] = np.nan
    vocab_arg = vocab if c["tail"] == "geometric" or rng.random() < 0.5 else None
    run_both(p_ids, p_lp, q_ids, q_lp, c["tail"], targets, p_tlp, q_tlp, vocab_arg)


# ---- the data-processing inequality ------------------------------------------------------------


def truncate(probs, k):
    """Top-k ids and log-probs of a full distribution (own ranking), shuffled within the row."""
    order = np.argsort(-probs, kind="stable")[:k]
    order = order[np.random.default_rng(len(probs) + k).permutation(k)]
    return order.astype(np.int64), np.log(probs[order])


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    vocab=st.integers(2, 300),
    kp=st.integers(1, 20),
    kq=st.integers(1, 20),
    scale=st.floats(0.1, 4.0),
    related=st.floats(0.0, 1.0),
)
def test_bucket_is_a_lower_bound(seed, vocab, kp, kq, scale, related):
    """Coarse-graining onto the shared ids plus one rest bucket can only lower KL, JS, TV,
    cross-entropy and entropy (data-processing inequality)."""
    rng = np.random.default_rng(seed)
    kp, kq = min(kp, vocab - 1), min(kq, vocab - 1)
    if kp < 1 or kq < 1:
        return
    zp = rng.normal(size=vocab) * scale
    zq = related * zp + (1.0 - related) * rng.normal(size=vocab) * scale
    P = np.exp(zp - zp.max())
    P /= P.sum()
    Q = np.exp(zq - zq.max())
    Q /= Q.sum()
    full = full_panel(P, Q)
    pi, pl = truncate(P, kp)
    qi, ql = truncate(Q, kq)
    res = topk_divergences(pi[None], pl[None], qi[None], ql[None])
    for f in ("kl_pq", "kl_qp", "js", "tv", "cross_entropy_pq", "cross_entropy_qp", "entropy_p", "entropy_q"):
        assert res[f][0] <= full[f] + ATOL + RTOL * abs(full[f]), (f, res[f][0], full[f])
    # and the bucket panel is the reference's
    compare(res, ref_panel(pi[None], pl[None], qi[None], ql[None], "bucket"))


def test_lower_bound_tight_when_lists_cover_the_support():
    """With both lists covering every token of positive probability, bucket == full panel."""
    P = np.array([0.5, 0.25, 0.125, 0.125, 0.0])
    Q = np.array([0.1, 0.2, 0.3, 0.4, 0.0])
    full = full_panel(P, Q)
    ids = np.array([[3, 0, 2, 1]])
    with np.errstate(divide="ignore"):
        res = topk_divergences(ids, np.log(P[ids]), ids[:, ::-1], np.log(Q[ids[:, ::-1]]))
    for f in ("kl_pq", "kl_qp", "js", "tv", "cross_entropy_pq", "cross_entropy_qp", "entropy_p", "entropy_q"):
        assert res[f][0] == pytest.approx(full[f], rel=1e-12, abs=1e-15), f


# ---- hand-made cases --------------------------------------------------------------------------


def rows(*rs):
    """Build [N, k] arrays from rows of (id, prob) pairs, padded with -1."""
    k = max((len(r) for r in rs), default=0)
    ids = np.full((len(rs), k), -1, dtype=np.int64)
    lps = np.zeros((len(rs), k))
    for i, r in enumerate(rs):
        for j, (tok, p) in enumerate(r):
            ids[i, j] = tok
            lps[i, j] = math.log(p) if p > 0 else -math.inf
    return ids, lps


@pytest.mark.parametrize("tail", TAILS)
def test_identical_distributions_give_zero(tail):
    pi, pl = rows([(4, 0.5), (1, 0.2), (9, 0.1)], [(2, 1.0)], [(0, 0.3), (5, 0.3)])
    res, _ = run_both(pi, pl, pi, pl, tail, vocab=50)
    for f in ("kl_pq", "kl_qp", "js", "tv"):
        assert np.all(res[f] == 0.0), (f, res[f])
    assert np.all(res.top1_agree == 1.0)
    np.testing.assert_allclose(res.cross_entropy_pq, res.entropy_p, rtol=1e-12)  # CE = H + 0


@pytest.mark.parametrize("tail", TAILS)
def test_one_hot(tail):
    # disjoint one-hot lists; then lists that name each other's token with probability 0
    pi, pl = rows([(3, 1.0)], [(3, 1.0), (4, 0.0)], [(3, 1.0)])
    qi, ql = rows([(4, 1.0)], [(4, 1.0), (3, 0.0)], [(3, 1.0)])
    res, _ = run_both(pi, pl, qi, ql, tail, vocab=10)
    assert np.all(res.entropy_p == 0.0) and np.all(res.entropy_q == 0.0)
    assert list(res.top1_agree) == [0.0, 0.0, 1.0]
    if tail == "bucket":
        assert res.kl_pq[0] == 0.0 and res.tv[0] == 0.0  # no shared id: a trivial bound
        assert res.kl_pq[1] == math.inf and res.kl_qp[1] == math.inf
        assert res.tv[1] == 1.0 and res.js[1] == pytest.approx(math.log(2), rel=1e-15)
    if tail == "renormalize":
        assert math.isnan(res.kl_pq[0])  # nothing shared
        assert res.kl_pq[1] == math.inf and res.tv[1] == 1.0
    assert res.kl_pq[2] == 0.0 and res.js[2] == 0.0


@pytest.mark.parametrize("tail", TAILS)
def test_all_mass_outside_the_top_k(tail):
    pi, pl = rows([(1, 0.0), (2, 0.0)], [(1, 0.0), (2, 0.0)])
    pl[1] = -1000.0  # finite but exp underflows to 0
    qi, ql = rows([(1, 0.6), (7, 0.3)], [(2, 0.5), (5, 0.5)])
    res, _ = run_both(pi, pl, qi, ql, tail, targets=np.array([1, 5]), vocab=20)
    if tail == "bucket":
        assert np.all(res.entropy_p == 0.0)
        assert res.kl_qp[0] == math.inf  # Q has mass on id 1 where P has none
        assert np.isfinite(res.kl_pq[0])
    if tail == "renormalize":
        assert np.all(np.isnan(res.entropy_p)) and np.all(np.isnan(res.kl_pq))
    if tail == "geometric":  # uniform tail over the 18 unnamed ids
        assert res.entropy_p[0] == pytest.approx(math.log(18), rel=1e-12)


@pytest.mark.parametrize("tail", TAILS)
def test_disjoint_supports(tail):
    pi, pl = rows([(1, 0.5), (2, 0.3)])
    qi, ql = rows([(3, 0.6), (4, 0.2), (5, 0.1)])
    res, _ = run_both(pi, pl, qi, ql, tail, vocab=30)
    if tail == "bucket":
        assert res.kl_pq[0] == 0.0 and res.tv[0] == 0.0 and res.js[0] == 0.0
    elif tail == "ignore":
        assert res.kl_pq[0] == 0.0 and res.cross_entropy_pq[0] == 0.0
    elif tail == "renormalize":
        assert all(math.isnan(res[f][0]) for f in PAIR)
    else:
        assert all(np.isfinite(res[f][0]) and res[f][0] > 0 for f in ("kl_pq", "kl_qp", "js", "tv"))


@pytest.mark.parametrize("tail", TAILS)
def test_empty_rows(tail):
    pi, pl = rows([], [(1, 0.5)], [])
    qi, ql = rows([(1, 0.5)], [], [])
    p_tlp = np.array([-2.0, np.nan, np.nan])
    res, _ = run_both(pi, pl, qi, ql, tail, targets=np.array([1, 1, 3]), p_tlp=p_tlp, vocab=10)
    for f in PAIR + ["top1_agree"]:
        assert np.all(np.isnan(res[f])), f
    assert np.isnan(res.entropy_p[0]) and np.isnan(res.entropy_q[1]) and np.isnan(res.entropy_p[2])
    assert np.isfinite(res.entropy_q[0]) and np.isfinite(res.entropy_p[1])
    assert res.logprob_p[0] == -2.0 and math.isnan(res.rank_p[0])  # given, but no list to rank in
    assert res.logprob_q[0] == pytest.approx(math.log(0.5)) and res.rank_q[0] == 1.0
    assert np.isnan(res.logprob_p[2]) and np.isnan(res.logprob_q[2])


def test_all_padding_k_zero_and_n_zero():
    res = topk_divergences(np.zeros((3, 0), np.int64), np.zeros((3, 0)), np.zeros((3, 2), np.int64) - 1,
                           np.zeros((3, 2)))  # fmt: skip
    assert all(np.all(np.isnan(res[f])) for f in res)
    res = topk_divergences(np.zeros((0, 5), np.int32), np.zeros((0, 5)), np.zeros((0, 3), np.int64),
                           np.zeros((0, 3), np.float32), targets=np.zeros(0, np.int64), tail="geometric",
                           vocab_size=10)  # fmt: skip
    assert len(res) == 0 and set(res.fields) == set(ALL_FIELDS)
    assert res.meta == {"kind": "topk", "tail": "geometric", "vocab": 10, "kp": 5, "kq": 3}


def test_single_row_values():
    """N = 1, checked by hand: P = (.5, .2, .1 | rest .2), Q = (.3, .4, .2 | rest .1)."""
    pi, pl = rows([(1, 0.5), (2, 0.2), (3, 0.1)])
    qi, ql = rows([(2, 0.4), (1, 0.3), (7, 0.2)])
    res = topk_divergences(pi, pl, qi, ql, targets=np.array([7]))
    # shared {1, 2}: P' = (.5, .2, .3), Q' = (.3, .4, .3)
    kl = 0.5 * math.log(0.5 / 0.3) + 0.2 * math.log(0.2 / 0.4)
    assert res.kl_pq[0] == pytest.approx(kl, rel=1e-14)
    assert res.tv[0] == pytest.approx(0.2, rel=1e-14)
    h = -(0.5 * math.log(0.5) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1) + 0.2 * math.log(0.2))
    assert res.entropy_p[0] == pytest.approx(h, rel=1e-14)
    assert math.isnan(res.logprob_p[0]) and math.isnan(res.rank_p[0])
    assert res.logprob_q[0] == pytest.approx(math.log(0.2)) and res.rank_q[0] == 3.0
    assert res.top1_agree[0] == 0.0


def test_ranks_and_target_logprobs():
    pi, pl = rows([(1, 0.5), (2, 0.2), (3, 0.2)])
    qi, ql = rows([(2, 0.4), (1, 0.3)])
    t = np.array([3])
    res = topk_divergences(pi, pl, qi, ql, targets=t, q_target_logprobs=np.array([math.log(0.35)]))
    assert res.rank_p[0] == 2.0  # ties do not count
    assert res.logprob_q[0] == pytest.approx(math.log(0.35))
    assert res.rank_q[0] == 2.0  # a lower bound: 0.4 > 0.35 > 0.3 among Q's entries
    res = topk_divergences(pi, pl, qi, ql, targets=t, q_target_logprobs=np.array([-np.inf]))
    assert res.logprob_q[0] == -np.inf and res.rank_q[0] == 3.0


def test_geometric_large_vocabulary_closed_forms():
    """Closed-form tails against explicit sums over the vocabulary, in both numerical regimes
    (nearly uniform tails, x * L < 0.1, and steep ones), with the JS/TV loop over unequal tails."""
    pi, pl = rows(
        [(5, 1.01e-5)],  # rest ~1 over 99999 ranks: barely geometric (series branch)
        [(5, 0.3), (6, 0.2), (9, 0.1)],  # steep tail
        [(1, 0.4), (2, 1e-6)],  # p_K (M-K) < rest: uniform tail
        [(3, 0.5), (4, 0.5)],  # no rest: zero tail
    )
    qi, ql = rows(
        [(5, 0.2), (6, 0.1), (7, 1e-5)],
        [(9, 0.25), (5, 0.25), (11, 0.05), (12, 0.05)],
        [(2, 0.3), (1, 0.3), (8, 0.2)],
        [(4, 0.6), (3, 0.2)],
    )
    vocab = 100_000
    run_both(pi, pl, qi, ql, "geometric", targets=np.array([7, 12, 8, 3]), vocab=vocab)


def test_geometric_small_vocabulary_tail_of_one():
    pi, pl = rows([(0, 0.5), (1, 0.3)], [(0, 0.9)])
    qi, ql = rows([(1, 0.6), (2, 0.2)], [(2, 0.5), (1, 0.4)])
    run_both(pi, pl, qi, ql, "geometric", targets=np.array([2, 0]), vocab=3)


def test_near_identical_js_is_accurate():
    """JS of nearly equal cells uses a series (no cancellation): relative accuracy on tiny JS."""
    pi, pl = rows([(1, 0.4), (2, 0.3), (3, 0.2)])
    eps = 1e-6
    ql = pl + np.array([[eps, -eps, 0.0]])
    res = topk_divergences(pi, pl, pi, ql, fields="js")
    P = np.array([0.4, 0.3, 0.2, 0.1])
    Q = np.exp(ql[0])
    Q = np.append(Q, 1 - Q.sum())
    # second-order expansion: JS ~ 1/8 sum (P - Q)^2 / m, accurate to O(eps^3)
    approx = 0.125 * np.sum((P - Q) ** 2 / (0.5 * (P + Q)))
    assert res.js[0] == pytest.approx(approx, rel=1e-5)


# ---- full rows (the vector kernels' fast path) and every SIMD level ------------------------------

SIMD_LEVELS = _native.simd_info()["supported"]


@pytest.fixture(params=SIMD_LEVELS)
def simd(request):
    """Runs a test under each kernel set this CPU supports, restoring the default after."""
    before = _native.simd_info()["active"]
    _native.set_simd(request.param)
    yield request.param
    _native.set_simd(before)


def full_rows(rng, n, k, vocab, special=0.0):
    """[n, k] rows without padding (ids unique per row), masses in [0.05, 0.999]; with
    `special`, that share of entries is -inf, -710 (a subnormal probability, still precise to
    about 1e-15) or -1000 (exp underflows to 0)."""
    ids = np.stack([rng.choice(vocab, size=k, replace=False) for _ in range(n)]).astype(np.int64)
    p = rng.dirichlet(np.ones(k), size=n) * rng.uniform(0.05, 0.999, size=(n, 1))
    lp = np.log(p)
    u = rng.random((n, k))
    lp[u < special / 3] = -np.inf
    lp[(u >= special / 3) & (u < 2 * special / 3)] = -710.0
    lp[(u >= 2 * special / 3) & (u < special)] = -1000.0
    return ids, lp


@pytest.mark.parametrize("k", [4, 8, 20, 7, 32, 36])
@pytest.mark.parametrize("special", [0.0, 0.2])
def test_full_rows_every_simd_level(simd, k, special):
    rng = np.random.default_rng(k + int(10 * special))
    n, vocab = 60, 3 * k
    pi, pl = full_rows(rng, n, k, vocab, special)
    qi, ql = full_rows(rng, n, k, vocab, special)
    qi[::3] = pi[::3]  # same ids in some rows (other log-probs)
    ql[::5] = pl[::5]  # and identical rows
    t = rng.integers(0, vocab, size=n)
    for tail in TAILS:
        run_both(pi, pl, qi, ql, tail, targets=t, vocab=vocab)


@pytest.mark.parametrize(("kp", "kq"), [(20, 12), (12, 28), (32, 16), (40, 20)])
def test_full_rows_of_different_lengths(simd, kp, kq):
    """P and Q lists of different lengths (the AVX-512 kernels hold each in 1 to 8 registers)."""
    rng = np.random.default_rng(kp * 100 + kq)
    n, vocab = 50, 60
    pi, pl = full_rows(rng, n, kp, vocab, 0.1)
    qi, ql = full_rows(rng, n, kq, vocab, 0.1)
    qi[::4] = pi[::4, :kq] if kq <= kp else qi[::4]
    t = rng.integers(0, vocab, size=n)
    for tail in TAILS:
        run_both(pi, pl, qi, ql, tail, targets=t, vocab=vocab)


def test_full_rows_with_large_ids(simd):
    """Ids beyond 2^31 (no vocab_size): the 64-bit pairing path, same results."""
    rng = np.random.default_rng(11)
    pi, pl = full_rows(rng, 40, 20, 50)
    qi, ql = full_rows(rng, 40, 20, 50)
    base = np.int64(3) << 40
    res, _ = run_both(pi + base, pl, qi + base, ql, "bucket", targets=rng.integers(0, 50, 40) + base)
    small = topk_divergences(pi, pl, qi, ql, fields=NON_TARGET)
    for f in NON_TARGET:
        np.testing.assert_allclose(res[f], small[f], rtol=1e-14, atol=1e-15, err_msg=f)


@pytest.mark.parametrize(("k", "cols"), [(20, (3, 18)), (20, (16, 19)), (20, (0, 7)), (32, (15, 31)), (40, (2, 37))])
@pytest.mark.parametrize("model", ["p", "q"])
def test_duplicates_in_full_rows(simd, k, cols, model):
    """A repeated id is found wherever the two columns lie (within and across vector registers)."""
    rng = np.random.default_rng(k + cols[0])
    pi, pl = full_rows(rng, 6, k, 100)
    qi, ql = full_rows(rng, 6, k, 100)
    bad = (pi if model == "p" else qi).copy()
    a, c = cols
    bad[4, c] = bad[4, a]
    args = (bad, pl, qi, ql) if model == "p" else (pi, pl, bad, ql)
    with pytest.raises(ValueError, match=rf"{model}_ids: row 4 contains id {bad[4, a]} twice \(columns {a} and {c}\)"):
        topk_divergences(*args)


def test_subnormal_mixtures(simd):
    """Shared ids whose probabilities are subnormal under both models (JS of the mixture)."""
    pi, pl = rows([(1, 0.5), (2, 0.25), (3, 0.0), (4, 0.0)])
    pl[0, 2:] = [-720.0, -730.0]
    qi, ql = pi.copy(), pl.copy()
    ql[0, 2:] = [-725.0, -740.0]
    res, _ = run_both(pi, pl, qi, ql, "bucket")
    assert np.isfinite(res.js[0]) and res.js[0] > 0


def test_errors_in_full_rows(simd):
    """Error detection in rows without padding (the vector loader) names the right row."""
    rng = np.random.default_rng(3)
    pi, pl = full_rows(rng, 5, 8, 100)
    qi, ql = full_rows(rng, 5, 8, 100)
    bad = pl.copy()
    bad[3, 5] = 0.25
    with pytest.raises(ValueError, match=r"p_logprobs: row 3, column 5 \(id \d+\) is 0.25 > 0"):
        topk_divergences(pi, bad, qi, ql)
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"p_logprobs: row 3, column 5 \(id \d+\) is NaN"):
        topk_divergences(pi, bad, qi, ql)
    dup = qi.copy()
    dup[2, 7] = dup[2, 1]
    with pytest.raises(ValueError, match=rf"q_ids: row 2 contains id {dup[2, 1]} twice \(columns 1 and 7\)"):
        topk_divergences(pi, pl, dup, ql)
    with pytest.raises(ValueError, match=r"p_ids: row 0, column \d: id \d+ is outside \[0, vocab_size=10\)"):
        topk_divergences(pi, pl, qi, ql, vocab_size=10)
    heavy = ql.copy()
    heavy[4] = np.log(0.2)  # eight entries of 0.2
    with pytest.raises(ValueError, match=r"q_logprobs: row 4: the probabilities of its 8 entries sum to 1.6"):
        topk_divergences(pi, pl, qi, heavy)


# ---- dtypes, layouts, threads ---------------------------------------------------------------------


def some_rows(n=40, k=6, vocab=15, seed=0):
    rng = np.random.default_rng(seed)
    p = random_side(rng, n, k, vocab)
    q = random_side(rng, n, k + 2, vocab)
    return p, q


@pytest.mark.parametrize("id_dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64])
def test_id_dtypes(id_dtype):
    (pi, pl), (qi, ql) = some_rows()
    # unsigned types cannot hold -1: use them on rows without padding
    if np.dtype(id_dtype).kind == "u":
        pi, pl = rows([(1, 0.5), (2, 0.25)], [(2, 0.5), (3, 0.2)])
        qi, ql = rows([(2, 0.5), (4, 0.25)], [(3, 0.5), (2, 0.2)])
    res = topk_divergences(pi.astype(id_dtype), pl, qi.astype(id_dtype), ql)
    compare(res, ref_panel(pi, pl, qi, ql, "bucket"))


@pytest.mark.parametrize("lp_dtype", [np.float16, np.float32, np.float64, ">f8", "bfloat16"])
def test_logprob_dtypes(lp_dtype):
    if lp_dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        lp_dtype = ml_dtypes.bfloat16
    (pi, pl), (qi, ql) = some_rows()
    pl, ql = np.where(np.isnan(pl), 0.0, pl), np.where(np.isnan(ql), 0.0, ql)
    pl_t, ql_t = pl.astype(lp_dtype), ql.astype(lp_dtype)
    if np.dtype(lp_dtype).itemsize <= 2:  # rounding may push a row's mass above 1 + tol
        return _logprob_lowp(pi, pl_t, qi, ql_t)
    res = topk_divergences(pi, pl_t, qi, ql_t)
    compare(res, ref_panel(pi, pl_t.astype(np.float64), qi, ql_t.astype(np.float64), "bucket"))


def _logprob_lowp(pi, pl_t, qi, ql_t):
    p_ok = [r for r in range(len(pi)) if np.exp(pl_t[r][pi[r] != -1].astype(np.float64)).sum() <= 1 + MASS_TOL]
    q_ok = [r for r in range(len(qi)) if np.exp(ql_t[r][qi[r] != -1].astype(np.float64)).sum() <= 1 + MASS_TOL]
    keep = sorted(set(p_ok) & set(q_ok))
    res = topk_divergences(pi[keep], pl_t[keep], qi[keep], ql_t[keep])
    compare(res, ref_panel(pi[keep], pl_t[keep].astype(np.float64), qi[keep], ql_t[keep].astype(np.float64)))


def test_layouts_strided_fortran_readonly():
    (pi, pl), (qi, ql) = some_rows()
    ref = ref_panel(pi, pl, qi, ql, "bucket")
    # Fortran order
    res = topk_divergences(np.asfortranarray(pi), np.asfortranarray(pl), np.asfortranarray(qi), np.asfortranarray(ql))
    compare(res, ref)
    # strided views: every other column of a wider array
    wide = np.full((pi.shape[0], 2 * pi.shape[1]), -1, dtype=np.int64)
    wide[:, ::2] = pi
    widel = np.zeros((pi.shape[0], 2 * pi.shape[1]))
    widel[:, ::2] = pl
    res = topk_divergences(wide[:, ::2], widel[:, ::2], qi, ql)
    compare(res, ref)
    # negative row strides: rows reversed
    res = topk_divergences(pi[::-1], pl[::-1], qi[::-1], ql[::-1])
    compare(res, {f: v[::-1] for f, v in ref.items()})
    # a column-major int32 copy of the ids inside a transposed buffer
    buf = np.ascontiguousarray(qi.T.astype(np.int32))
    compare(topk_divergences(pi, pl, buf.T, ql), ref)
    # reversed columns (same rows, another order) keep every field but top-1 tie-breaking
    res = topk_divergences(pi[:, ::-1], pl[:, ::-1], qi, ql, fields=["kl_pq", "js", "tv", "entropy_p"])
    compare(res, ref, ["kl_pq", "js", "tv", "entropy_p"])
    # read-only inputs
    for a in (pi, pl, qi, ql):
        a.setflags(write=False)
    compare(topk_divergences(pi, pl, qi, ql), ref)


@pytest.mark.parametrize("padded", [True, False])
def test_thread_count_invariance(simd, padded):
    rng = np.random.default_rng(7)
    n = 3000
    if padded:
        pi, pl = random_side(rng, n, 10, 40, max_valid=39)
        qi, ql = random_side(rng, n, 12, 40, max_valid=39)
    else:
        pi, pl = full_rows(rng, n, 8, 40, special=0.1)
        qi, ql = full_rows(rng, n, 12, 40, special=0.1)
    t = rng.integers(0, 40, size=n)
    for tail in TAILS:
        a = topk_divergences(pi, pl, qi, ql, tail=tail, targets=t, vocab_size=40, num_threads=1)
        b = topk_divergences(pi, pl, qi, ql, tail=tail, targets=t, vocab_size=40, num_threads=2)
        c = topk_divergences(pi, pl, qi, ql, tail=tail, targets=t, vocab_size=40, num_threads=7)
        for f in a:
            assert np.array_equal(a[f].view(np.uint64), b[f].view(np.uint64)), (tail, f)
            assert np.array_equal(a[f].view(np.uint64), c[f].view(np.uint64)), (tail, f)


def test_thread_count_invariance_many_chunks(simd):
    """Enough rows for many of the ranges the threads take in turn (4096 rows each)."""
    rng = np.random.default_rng(8)
    n = 30_000
    pi, pl = full_rows(rng, n, 20, 200, special=0.05)
    qi, ql = full_rows(rng, n, 20, 200, special=0.05)
    qi[::7] = pi[::7]
    t = rng.integers(0, 200, size=n)
    a = topk_divergences(pi, pl, qi, ql, targets=t, num_threads=1)
    for nt in (2, 3):
        b = topk_divergences(pi, pl, qi, ql, targets=t, num_threads=nt)
        for f in a:
            assert np.array_equal(a[f].view(np.uint64), b[f].view(np.uint64)), (nt, f)


def test_field_subsets_match_full_panel():
    (pi, pl), (qi, ql) = some_rows()
    t = np.arange(len(pi)) % 15
    full = topk_divergences(pi, pl, qi, ql, targets=t, tail="geometric", vocab_size=15)
    for f in ALL_FIELDS:
        one = topk_divergences(pi, pl, qi, ql, targets=t, tail="geometric", vocab_size=15, fields=f)
        assert one.fields == (f,)
        assert np.array_equal(one[f], full[f], equal_nan=True), f


def test_offsets_and_meta():
    (pi, pl), (qi, ql) = some_rows(n=10)
    res = topk_divergences(pi, pl, qi, ql, offsets=np.array([0, 4, 10]), tail="ignore")
    assert res.offsets.tolist() == [0, 4, 10]
    assert res.meta == {"kind": "topk", "tail": "ignore", "vocab": None, "kp": 6, "kq": 8}
    assert res.sequence_mean("tv").shape == (2,)


def test_constants_match_the_kernel():
    core = _native.core()
    assert core.TOPK_FIELDS == ALL_FIELDS
    assert core.TOPK_TAILS == TAILS
    assert (core.TOPK_POSITIVE_TOL, core.TOPK_MASS_TOL, core.TOPK_TARGET_TOL) == (POSITIVE_TOL, MASS_TOL, TARGET_TOL)


# ---- errors ---------------------------------------------------------------------------------------


def ok_rows():
    pi, pl = rows([(1, 0.5), (2, 0.2)], [(3, 0.7)])
    qi, ql = rows([(2, 0.4), (1, 0.3), (5, 0.1)], [(3, 0.6)])
    return pi, pl, qi, ql


def call(**over):
    pi, pl, qi, ql = ok_rows()
    args = {"p_ids": pi, "p_logprobs": pl, "q_ids": qi, "q_logprobs": ql}
    args.update(over)
    return topk_divergences(**args)


def test_error_shapes():
    pi, pl, qi, ql = ok_rows()
    with pytest.raises(ValueError, match=r"p_ids: expected a 2-D array \[positions, k\], got shape \(2,\)"):
        call(p_ids=pi[0])
    with pytest.raises(ValueError, match=r"q_ids and q_logprobs must have the same shape .* q_ids \(2, 3\) and q_logprobs \(2, 2\)"):
        call(q_logprobs=ql[:, :2])
    with pytest.raises(ValueError, match=r"same number of positions; got 1 rows in p_ids and 2 in q_ids"):
        call(p_ids=pi[:1], p_logprobs=pl[:1])
    with pytest.raises(ValueError, match=r"targets: expected length 2"):
        call(targets=np.array([1]))
    with pytest.raises(ValueError, match=r"p_target_logprobs: expected length 2, got 3"):
        call(targets=np.array([1, 3]), p_target_logprobs=np.zeros(3))
    with pytest.raises(ValueError, match=r"offsets: must end at the number of positions 2"):
        call(offsets=np.array([0, 1]))


def test_error_dtypes():
    pi, pl, qi, ql = ok_rows()
    with pytest.raises(TypeError, match=r"p_ids: expected an integer array of token ids, got dtype float64"):
        call(p_ids=pi.astype(float))
    with pytest.raises(TypeError, match=r"q_ids: expected an integer array of token ids, got dtype bool"):
        call(q_ids=qi > 0)
    with pytest.raises(TypeError, match=r"p_logprobs: expected float32 or float64 log-probabilities, got dtype int64"):
        call(p_logprobs=pl.astype(np.int64))
    with pytest.raises(TypeError, match=r"q_logprobs: expected float32 or float64 .* got dtype complex128"):
        call(q_logprobs=ql.astype(complex))
    with pytest.raises(TypeError, match=r"targets: expected an integer array, got dtype float64"):
        call(targets=np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"p_target_logprobs: expected a floating-point array"):
        call(targets=np.array([1, 3]), p_target_logprobs=np.array([1, 2]))
    with pytest.raises(TypeError, match=r"vocab_size: expected a positive integer, got float"):
        call(vocab_size=10.0)
    with pytest.raises(ValueError, match=r"vocab_size: expected a positive integer, got 0"):
        call(vocab_size=0)
    with pytest.raises(ValueError, match=r"p_ids: id 18446744073709551615 at \(0, 0\) does not fit in int64"):
        call(p_ids=np.array([[2**64 - 1, 2], [3, 4]], dtype=np.uint64))


def test_error_duplicate_ids():
    pi, pl, qi, ql = ok_rows()
    qi[1, 1] = 3
    ql[1, 1] = math.log(0.1)
    with pytest.raises(ValueError, match=r"q_ids: row 1 contains id 3 twice \(columns 0 and 1\)"):
        call(q_ids=qi, q_logprobs=ql)
    with pytest.raises(ValueError, match=r"q_ids: row 1 \(sequence 1, position 0\) contains id 3 twice"):
        call(q_ids=qi, q_logprobs=ql, offsets=np.array([0, 1, 2]))


def test_error_ids_out_of_range():
    pi, pl, qi, ql = ok_rows()
    pi[1, 0] = -2
    with pytest.raises(ValueError, match=r"p_ids: row 1, column 0: id -2 is negative; only -1 marks padding"):
        call(p_ids=pi)
    with pytest.raises(ValueError, match=r"q_ids: row 0, column 2: id 5 is outside \[0, vocab_size=5\)"):
        call(vocab_size=5)
    with pytest.raises(ValueError, match=r"targets: values must lie in \[0, 5\); targets\[1\] = 7"):
        call(vocab_size=5, targets=np.array([1, 7]))
    with pytest.raises(ValueError, match=r"targets: token ids must be >= 0; targets\[0\] = -1"):
        call(targets=np.array([-1, 2]))


def test_error_logprob_values():
    pi, pl, qi, ql = ok_rows()
    bad = pl.copy()
    bad[0, 1] = 0.5
    with pytest.raises(ValueError, match=r"p_logprobs: row 0, column 1 \(id 2\) is 0.5 > 0; log-probabilities must be <= 0 \(rounding up to 1e-06"):
        call(p_logprobs=bad)
    bad[0, 1] = np.inf
    with pytest.raises(ValueError, match=r"p_logprobs: row 0, column 1 \(id 2\) is inf > 0"):
        call(p_logprobs=bad)
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match=r"p_logprobs: row 0, column 1 \(id 2\) is NaN"):
        call(p_logprobs=bad)
    bad = ql.copy()
    bad[0, 2] = math.log(0.5)  # 0.4 + 0.3 + 0.5
    with pytest.raises(ValueError, match=r"q_logprobs: row 0: the probabilities of its 3 entries sum to 1.2 > 1 \+ 0.0001"):
        call(q_logprobs=bad)
    # tiny positive rounding and a sum within the tolerance are accepted
    ok = pl.copy()
    ok[1, 0] = 5e-7
    call(p_logprobs=ok)
    with pytest.raises(ValueError, match=r"p_target_logprobs: log-probabilities must be <= 0 .* p_target_logprobs\[1\] = 0.1"):
        call(targets=np.array([1, 3]), p_target_logprobs=np.array([np.nan, 0.1]))


def test_error_padding_logprob_is_ignored():
    pi, pl, qi, ql = ok_rows()
    pl[0, 2:] = np.nan  # no such column: fine
    pl2 = np.full((2, 3), np.nan)
    pl2[:, :2] = pl[:, :2]
    pi2 = np.full((2, 3), -1)
    pi2[:, :2] = pi[:, :2]
    pl2[1, 1] = 7.0  # under padding
    pi2[1, 1] = -1
    call(p_ids=pi2, p_logprobs=pl2)


def test_error_tail_and_fields():
    with pytest.raises(ValueError, match=r"tail: expected one of 'bucket', 'ignore', 'renormalize', 'geometric', got 'glimpse'"):
        call(tail="glimpse")
    with pytest.raises(ValueError, match=r"vocab_size: tail='geometric' .* needs vocab_size="):
        call(tail="geometric")
    pi, pl = rows([(0, 0.5), (1, 0.5)])
    qi, ql = rows([(0, 0.5)])
    with pytest.raises(ValueError, match=r"vocab_size: row 0 of p_ids has 2 distinct ids; tail='geometric' needs vocab_size > 2 to leave a tail, got 2"):
        topk_divergences(pi, pl, qi, ql, tail="geometric", vocab_size=2)
    with pytest.raises(ValueError, match=r"fields \['rank_p'\] need the observed tokens: pass targets="):
        call(fields=["kl_pq", "rank_p"])
    with pytest.raises(ValueError, match=r"fields: unknown field 'kl'"):
        call(fields=["kl"])
    with pytest.raises(ValueError, match=r"p_target_logprobs are the observed tokens' log-probs and need targets="):
        call(p_target_logprobs=np.zeros(2))
    with pytest.raises(ValueError, match=r"num_threads must be >= 1, got 0"):
        call(num_threads=0)


def test_error_mismatched_target_logprob():
    with pytest.raises(ValueError, match=r"p_target_logprobs: row 0: target id 1 is in p's top-k \(column 0\) with log-prob -0.69.* but p_target_logprobs\[0\] = -0.5; they must agree to 1e-06"):
        call(targets=np.array([1, 3]), p_target_logprobs=np.array([-0.5, np.nan]))
    # within the tolerance
    call(targets=np.array([1, 3]), p_target_logprobs=np.array([math.log(0.5) + 9e-7, np.nan]))
    with pytest.raises(ValueError, match=r"q_target_logprobs: row 1: target id 3 is in q's top-k"):
        call(targets=np.array([1, 3]), q_target_logprobs=np.array([np.nan, -np.inf]))


def test_kernel_rechecks_its_inputs():
    """The native entry point refuses bad shapes and dtypes itself (it never trusts the caller)."""
    core = _native.core()
    pi, pl, qi, ql = ok_rows()
    outs = [(8, np.empty(2))]
    err = np.zeros(2, np.int32)
    with pytest.raises(ValueError, match="p_ids: expected native int32 or int64"):
        core.topk_panel(pi.astype(np.int16), pl, qi, ql, 0, 0, None, None, None, outs, err, 1)
    with pytest.raises(ValueError, match="q_ids and q_logprobs must have the same shape"):
        core.topk_panel(pi, pl, qi, ql[:, :1], 0, 0, None, None, None, outs, err, 1)
    with pytest.raises(ValueError, match="same number of rows"):
        core.topk_panel(pi, pl, qi[:1], ql[:1], 0, 0, None, None, None, outs, err, 1)
    with pytest.raises(ValueError, match="needs the vocabulary size"):
        core.topk_panel(pi, pl, qi, ql, 3, 0, None, None, None, outs, err, 1)
    with pytest.raises(ValueError, match="targets: expected a NumPy array"):
        core.topk_panel(pi, pl, qi, ql, 0, 0, [1, 2], None, None, outs, err, 1)
    with pytest.raises(ValueError, match=r"targets: expected shape \(2,\)"):
        core.topk_panel(pi, pl, qi, ql, 0, 0, np.zeros(3, np.int64), None, None, outs, err, 1)
    with pytest.raises(ValueError, match="unknown field index 17"):
        core.topk_panel(pi, pl, qi, ql, 0, 0, None, None, None, [(17, np.empty(2))], err, 1)
    # ids out of range and a bad target are flagged per row, not read out of bounds
    bad = pi.copy()
    bad[0, 0] = -7
    core.topk_panel(bad, pl, qi, ql, 0, 4, np.array([1, 99]), None, None, outs, err, 1)
    assert err[0] & core.TK_ERR_ID_P and err[1] & core.TK_ERR_TARGET_RANGE
    assert np.isnan(outs[0][1]).all()
