"""Dense divergence panel against the float64 NumPy reference (tests/reference/dense.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import dense

import fingerprint as fp
from fingerprint.result import ALL_FIELDS, TARGET_FIELDS

ml_dtypes = pytest.importorskip("ml_dtypes")

RTOL = 1e-5
ATOL = 1e-7  # values that are themselves ~0 (e.g. KL of nearly equal rows) are checked absolutely


def _check(res, ref, rtol=RTOL, atol=ATOL):
    for name in res.fields:
        np.testing.assert_allclose(res[name], ref[name], rtol=rtol, atol=atol, err_msg=name)


def _rows(rng, n, v, scale=3.0, noise=1.0):
    p = (rng.standard_normal((n, v)) * scale).astype(np.float32)
    q = (p + noise * rng.standard_normal((n, v))).astype(np.float32)
    return p, q


@pytest.fixture(autouse=True)
def _restore_simd():
    active = fp.simd_info()["active"]  # e.g. FINGERPRINT_SIMD=generic keeps the generic set
    yield
    fp.set_simd(active)


@pytest.mark.parametrize("v", [1, 2, 7, 8, 9, 15, 16, 17, 100, 1000, 50257])
def test_matches_reference_every_simd_level(rng, v):
    p, q = _rows(rng, 9, v)
    t = rng.integers(0, v, 9)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), t)
    for level in fp.simd_info()["supported"]:
        fp.set_simd(level)
        res = fp.token_divergences(p, q, targets=t)
        assert set(res.fields) == set(ALL_FIELDS)
        _check(res, ref)


def test_huge_vocab(rng):
    v = 262_144 + 3
    p, q = _rows(rng, 3, v, scale=4.0)
    t = rng.integers(0, v, 3)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), t)
    _check(fp.token_divergences(p, q, targets=t), ref)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 6),
    v=st.integers(1, 300),
    scale=st.floats(0.001, 150.0),
    noise=st.floats(0.0, 5.0),
    seed=st.integers(0, 2**32 - 1),
    mask_frac=st.sampled_from([0.0, 0.0, 0.3, 0.9]),
)
def test_property_matches_reference(n, v, scale, noise, seed, mask_frac):
    rng = np.random.default_rng(seed)
    p, q = _rows(rng, n, v, scale, noise)
    if mask_frac and n:
        for a in (p, q):
            m = rng.random((n, v)) < mask_frac
            m[np.arange(n), rng.integers(0, v, n)] = False  # keep one finite entry per row
            a[m] = -np.inf
    t = rng.integers(0, v, n)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), t)
    for level in fp.simd_info()["supported"]:
        fp.set_simd(level)
        res = fp.token_divergences(p, q, targets=t)
        assert len(res) == n
        _check_with_inf(res, ref)
        # ranges hold exactly, not only approximately
        for name in ("kl_pq", "kl_qp", "js", "tv", "entropy_p", "entropy_q"):
            assert (res[name] >= 0).all(), name
        assert (res.js <= np.log(2)).all() and (res.tv <= 1).all()


def _check_with_inf(res, ref):
    for name in res.fields:
        a, b = res[name], ref[name]
        inf = np.isinf(b)
        np.testing.assert_array_equal(np.isinf(a), inf, err_msg=name)
        np.testing.assert_allclose(a[~inf], b[~inf], rtol=RTOL, atol=ATOL, err_msg=name)


def test_subnormal_mixture_mass_regression():
    """Nearly one-hot rows with disjoint -inf masks: p + q is subnormal for some tokens, where
    1/(p + q) used to overflow and turn JS into ln 2 (found by hypothesis on the generic set)."""
    p = np.array([[0.612, -np.inf, 4.39, -np.inf, -np.inf, 8.27, 10.33, 45.69, -14.67]], np.float32)
    q = np.array([[-np.inf, 7.94, 3.30, -27.3, -35.44, 18.03, -np.inf, 55.84, -11.10]], np.float32)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64))
    for level in fp.simd_info()["supported"]:
        fp.set_simd(level)
        _check_with_inf(fp.token_divergences(p, q), ref)


def test_identical_rows_give_exact_zero(rng):
    p, _ = _rows(rng, 5, 4099)
    res = fp.token_divergences(p, p.copy(), fields=["kl_pq", "kl_qp", "js", "tv"])
    for name in res.fields:
        assert (res[name] == 0).all(), name
    # a constant shift of the logits is the same distribution
    res = fp.token_divergences(p, p + np.float32(7.0), fields=["kl_pq", "js", "tv"])
    for name in res.fields:
        np.testing.assert_allclose(res[name], 0, atol=1e-6)


def test_one_hot_rows():
    v = 50
    p = np.full((2, v), -np.inf, np.float32)
    q = np.full((2, v), -np.inf, np.float32)
    p[0, 3] = 0.0
    q[0, 3] = 5.0  # same one-hot
    p[1, 3] = 0.0
    q[1, 4] = 0.0  # disjoint one-hots
    res = fp.token_divergences(p, q, targets=np.array([3, 3]))
    np.testing.assert_array_equal(res.entropy_p, [0, 0])
    np.testing.assert_array_equal(res.kl_pq, [0, np.inf])
    np.testing.assert_array_equal(res.cross_entropy_pq, [0, np.inf])
    np.testing.assert_allclose(res.js, [0, np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(res.tv, [0, 1], rtol=1e-6)
    np.testing.assert_array_equal(res.logprob_p, [0, 0])
    np.testing.assert_array_equal(res.logprob_q, [0, -np.inf])
    np.testing.assert_array_equal(res.rank_q, [1, 2])
    np.testing.assert_array_equal(res.top1_agree, [1, 0])
    np.testing.assert_array_equal(res.var_logp_p, [0, 0])
    assert res.var_logq_p[1] == np.inf


def test_uniform_rows():
    v = 1000
    p = np.zeros((1, v), np.float32)
    res = fp.token_divergences(p, p, targets=[0])
    np.testing.assert_allclose(res.entropy_p, np.log(v), rtol=1e-6)
    np.testing.assert_allclose(res.logprob_p, -np.log(v), rtol=1e-6)
    np.testing.assert_array_equal(res.rank_p, [1])  # ties are not "strictly higher"
    np.testing.assert_allclose(res.var_logp_p, 0, atol=1e-9)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "bfloat16_bits"])
def test_half_precision_inputs(rng, dtype):
    p, q = _rows(rng, 6, 3001)
    if dtype == "float16":
        ph, qh = p.astype(np.float16), q.astype(np.float16)
        ref_p, ref_q = ph.astype(np.float64), qh.astype(np.float64)
        kw = {}
    else:
        ph, qh = p.astype(ml_dtypes.bfloat16), q.astype(ml_dtypes.bfloat16)
        ref_p, ref_q = ph.astype(np.float64), qh.astype(np.float64)
        kw = {}
        if dtype == "bfloat16_bits":
            ph, qh = ph.view(np.uint16), qh.view(np.uint16)
            kw = {"bfloat16_bits": True}
    t = rng.integers(0, 3001, 6)
    ref = dense.panel(ref_p, ref_q, t)
    for level in fp.simd_info()["supported"]:
        fp.set_simd(level)
        _check(fp.token_divergences(ph, qh, targets=t, **kw), ref)


def test_mixed_dtypes(rng):
    p, q = _rows(rng, 4, 777)
    ph = p.astype(ml_dtypes.bfloat16)
    ref = dense.panel(ph.astype(np.float64), q.astype(np.float64))
    _check(fp.token_divergences(ph, q), ref)


def test_layouts_strided_fortran_readonly(rng):
    p, q = _rows(rng, 10, 203)
    t = rng.integers(0, 203, 10)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), t)
    pf, qf = np.asfortranarray(p), np.asfortranarray(q)
    _check(fp.token_divergences(pf, qf, targets=t), ref)
    big_p = np.zeros((20, 406), np.float32)
    big_p[::2, ::2] = p  # strided rows and columns
    _check(fp.token_divergences(big_p[::2, ::2], q, targets=t), ref)
    ro = p.copy()
    ro.setflags(write=False)
    _check(fp.token_divergences(ro, q, targets=t), ref)
    # row-strided view with a contiguous last axis: no copy needed
    wide = np.zeros((10, 300), np.float32)
    wide[:, :203] = p
    _check(fp.token_divergences(wide[:, :203], q, targets=t), ref)
    # big-endian input is read by value
    _check(fp.token_divergences(p.astype(">f4"), q, targets=t), ref)


def test_results_identical_for_any_thread_count(rng):
    p, q = _rows(rng, 37, 5000)
    t = rng.integers(0, 5000, 37)
    one = fp.token_divergences(p, q, targets=t, num_threads=1)
    for n in (2, 3, 8, 64):
        other = fp.token_divergences(p, q, targets=t, num_threads=n)
        for name in one.fields:
            np.testing.assert_array_equal(one[name], other[name], err_msg=name)


def test_field_subsets_equal_full_panel(rng):
    p, q = _rows(rng, 11, 999)
    t = rng.integers(0, 999, 11)
    full = fp.token_divergences(p, q, targets=t)
    for name in ALL_FIELDS:
        sub = fp.token_divergences(p, q, targets=t, fields=[name])
        assert sub.fields == (name,)
        np.testing.assert_array_equal(sub[name], full[name], err_msg=name)
    sub = fp.token_divergences(p, q, fields="kl_pq")
    np.testing.assert_array_equal(sub.kl_pq, full.kl_pq)


def test_default_fields_without_targets(rng):
    p, q = _rows(rng, 3, 50)
    res = fp.token_divergences(p, q)
    assert not (set(res.fields) & TARGET_FIELDS)
    with pytest.raises(AttributeError, match=r"'logprob_p' was not computed.*targets="):
        res.logprob_p


def test_empty_and_single_position(rng):
    res = fp.token_divergences(np.zeros((0, 10), np.float32), np.zeros((0, 10), np.float32))
    assert len(res) == 0 and res.kl_pq.shape == (0,)
    p, q = _rows(rng, 1, 10)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), np.array([4]))
    _check(fp.token_divergences(p, q, targets=[4]), ref)


def test_logprob_inputs(rng):
    p, q = _rows(rng, 5, 300)
    lp = (p - np.log(np.exp(p.astype(np.float64)).sum(1, keepdims=True))).astype(np.float32)
    lq = (q - np.log(np.exp(q.astype(np.float64)).sum(1, keepdims=True))).astype(np.float32)
    a = fp.token_divergences(lp, lq, logits=False)
    b = fp.token_divergences(p, q)
    for name in a.fields:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match=r"p: logits=False but row 0 .*not normalised"):
        fp.token_divergences(p, lq, logits=False)


def test_offsets_and_sequence_mean(rng):
    p, q = _rows(rng, 10, 64)
    offsets = np.array([0, 3, 3, 10])
    res = fp.token_divergences(p, q, offsets=offsets, fields=["kl_pq"])
    m = res.sequence_mean("kl_pq")
    np.testing.assert_allclose(m[[0, 2]], [res.kl_pq[:3].mean(), res.kl_pq[3:].mean()])
    assert np.isnan(m[1])


# ---- errors -------------------------------------------------------------------------------


def test_error_nan_and_posinf_name_row_and_column(rng):
    p, q = _rows(rng, 6, 40)
    p[4, 7] = np.nan
    with pytest.raises(ValueError, match=r"p: row 4 \(sequence 1, position 1\) contains NaN \(first at column 7\)"):
        fp.token_divergences(p, q, offsets=[0, 3, 6])
    p[4, 7] = 0
    q[2, 9] = np.inf
    with pytest.raises(ValueError, match=r"q: row 2 contains \+inf at column 9"):
        fp.token_divergences(p, q)
    q[2, 9] = 0
    p16 = p.astype(np.float16)
    p16[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"p: row 1 contains NaN"):
        fp.token_divergences(p16, q)


def test_error_all_neg_inf_row():
    p = np.zeros((2, 5), np.float32)
    q = p.copy()
    q[1] = -np.inf
    with pytest.raises(ValueError, match=r"q: row 1 is -inf everywhere"):
        fp.token_divergences(p, q)


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"p": np.zeros((2, 3), np.float64)}, TypeError, r"p: expected float32, float16 or bfloat16, got float64; pass p.astype\(np.float32\)"),
        ({"q": np.zeros((2, 3), np.int32)}, TypeError, r"q: expected float32, float16 or bfloat16, got int32"),
        ({"p": np.zeros((2, 3), np.uint16)}, TypeError, r"p: got uint16; .*bfloat16_bits=True"),
        ({"p": np.zeros(3, np.float32)}, ValueError, r"p: expected a 2-D array \[positions, vocab\], got shape \(3,\)"),
        ({"q": np.zeros((2, 4), np.float32)}, ValueError, r"p and q must have the same shape.*\(2, 3\).*\(2, 4\)"),
        ({"p": np.zeros((2, 0), np.float32), "q": np.zeros((2, 0), np.float32)}, ValueError, r"p: vocabulary axis is empty"),
        ({"targets": np.array([0, 3])}, ValueError, r"targets: values must lie in \[0, 3\); targets\[1\] = 3"),
        ({"targets": np.array([0, -1])}, ValueError, r"targets\[1\] = -1"),
        ({"targets": np.array([0.0, 1.0])}, TypeError, r"targets: expected an integer array, got dtype float64"),
        ({"targets": np.array([0, 1, 2])}, ValueError, r"targets: expected length 2"),
        ({"offsets": np.array([0, 1])}, ValueError, r"offsets: must end at the number of positions 2"),
        ({"offsets": np.array([1, 2])}, ValueError, r"offsets: must start at 0"),
        ({"offsets": np.array([0, 2, 1, 2])}, ValueError, r"offsets: must be non-decreasing; offsets\[1\] = 2 > offsets\[2\] = 1"),
        ({"fields": ["kl"]}, ValueError, r"fields: unknown field 'kl'; valid fields are: logprob_p"),
        ({"fields": ["logprob_p"]}, ValueError, r"need the observed tokens: pass targets="),
        ({"fields": []}, ValueError, r"fields: empty"),
        ({"num_threads": 0}, ValueError, r"num_threads must be >= 1, got 0"),
        ({"num_threads": 1.5}, TypeError, r"num_threads must be an int or None"),
        ({"logits": "yes"}, TypeError, r"logits must be True or False"),
        ({"p": "abc"}, TypeError, r"p: expected a NumPy array, got str"),
    ],
)
def test_error_messages(kwargs, exc, pattern):
    args = {"p": np.zeros((2, 3), np.float32), "q": np.zeros((2, 3), np.float32)}
    args.update(kwargs)
    p, q = args.pop("p"), args.pop("q")
    with pytest.raises(exc, match=pattern):
        fp.token_divergences(p, q, **args)


def test_native_rechecks_bounds():
    """The native module refuses bad arguments itself (it never trusts its caller)."""
    from fingerprint import _native

    core = _native.core()
    p = np.zeros((2, 3), np.float32)
    err = np.zeros(2, np.int32)
    out = np.zeros(2)
    with pytest.raises(ValueError, match="targets: expected shape"):
        core.dense_panel(p, p, 0, 0, np.zeros(5, np.int64), [(8, out)], err, 1)
    with pytest.raises(ValueError, match="item size"):
        core.dense_panel(p, p, 1, 0, None, [(8, out)], err, 1)
    with pytest.raises(ValueError, match="unknown field index"):
        core.dense_panel(p, p, 0, 0, None, [(99, out)], err, 1)
    with pytest.raises(ValueError, match="kl_pq: expected shape"):
        core.dense_panel(p, p, 0, 0, None, [(8, np.zeros(3))], err, 1)
    # out-of-range targets that bypass Python validation are caught per row, not crashed on
    core.dense_panel(p, p, 0, 0, np.array([0, 7], np.int64), [(0, out)], err, 1)
    assert err[1] == core.ERR_TARGET_RANGE and np.isnan(out[1])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    v=st.integers(2049, 9000),
    seed=st.integers(0, 2**32 - 1),
    layout=st.sampled_from(["ramp_up", "ramp_down", "late_mass_p", "late_mass_q", "blocks", "plain"]),
)
def test_property_many_chunks(v, seed, layout):
    """Rows longer than the kernel's 2048-element chunk: maxima that rise in later chunks, and
    chunks where one model has only -inf, exercise the online rescaling."""
    rng = np.random.default_rng(seed)
    n = 4
    p, q = _rows(rng, n, v, scale=2.0, noise=1.5)
    ramp = np.linspace(0, 40, v, dtype=np.float32)
    if layout == "ramp_up":
        p += ramp
        q += ramp[::-1].copy()
    elif layout == "ramp_down":
        p += ramp[::-1].copy()
    elif layout == "late_mass_p":
        p[:, : v - 100] = -np.inf
    elif layout == "late_mass_q":
        q[:, : v // 2] = -np.inf
        q[:, -3:] += 30
    elif layout == "blocks":
        for a in (p, q):
            for start in rng.integers(0, v, 3):
                a[:, start : start + 2500] = -np.inf
            a[:, rng.integers(0, v)] = 1.0
    t = rng.integers(0, v, n)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), t)
    for level in fp.simd_info()["supported"]:
        fp.set_simd(level)
        _check_with_inf(fp.token_divergences(p, q, targets=t), ref)


def test_support_is_decided_on_logits_not_on_underflowed_probabilities():
    """P's second token has probability e^-200 (0 in float32) and Q masks it: KL(P||Q) = inf."""
    p = np.array([[0.0, -200.0, 1.0]], np.float32)
    q = np.array([[0.0, -np.inf, 1.0]], np.float32)
    for level in fp.simd_info()["supported"]:
        fp.set_simd(level)
        res = fp.token_divergences(p, q)
        assert res.kl_pq[0] == np.inf and res.cross_entropy_pq[0] == np.inf
        assert res.var_logq_p[0] == np.inf
        np.testing.assert_allclose(res.kl_qp, 0, atol=1e-7)  # Q's support lies inside P's
        np.testing.assert_allclose(res.js, 0, atol=1e-7)
