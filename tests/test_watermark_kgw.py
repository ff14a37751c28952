"""KGW: bit-compatibility with transformers and lm-watermarking (vectors in tests/data/watermark),
the pure-Python oracle (tests/reference/kgw.py), edge cases and error messages."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import kgw as ref

import fingerprint as fp
from fingerprint import _native
from fingerprint.watermark import KGW, PRF_NAMES, RepeatedNgramWarning, generate, torch_randperm

DATA = Path(__file__).parent / "data" / "watermark"


def _load(name):
    return json.loads((DATA / name).read_text())


@pytest.fixture(scope="module")
def tr_vectors():
    return _load("kgw_transformers.json")["cases"]


@pytest.fixture(scope="module")
def lmw_vectors():
    return _load("kgw_lm_watermarking.json")["cases"]


def _tr(case):
    return KGW(
        case["vocab_size"], gamma=case["gamma"], seeding=case["seeding"], hash_key=case["hash_key"],
        context_width=case["context_width"], ignore_repeated_ngrams=case["ignore_repeated_ngrams"],
        compat="transformers", bos_token_id=case["bos_token_id"],
    )  # fmt: skip


def _lmw(case):
    return KGW(
        case["vocab_size"], gamma=case["gamma"], seeding=case["seeding"], compat="lm-watermarking",
        ignore_repeated_ngrams=case["ignore_repeated_ngrams"], select_green_tokens=case["select_green_tokens"],
        bos_token_id=case["bos_token_id"],
    )  # fmt: skip


def _candidate_logits(v, cand):
    s = np.full(v, -10.0, dtype=np.float32)
    for i, c in enumerate(cand):
        s[c] = np.float32(10.0 - 0.125 * i)
    return s


def _sha_i64(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<i8").tobytes()).hexdigest()


def _check_text(res, t, p_rtol):
    assert res.num_tokens_scored == t["num_tokens_scored"]
    assert res.num_green_tokens == t["num_green_tokens"]
    assert res.z_score == t["z_score"]  # same float64 operations, bit-identical
    assert res.green_fraction == t["green_fraction"]
    if p_rtol == 0:
        assert res.p_value == t["p_value"]
    else:
        np.testing.assert_allclose(res.p_value, t["p_value"], rtol=p_rtol, atol=0)


def _check_case(k, case, p_rtol, masks=False):
    texts = case["texts"]
    for t in texts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RepeatedNgramWarning)
            res = k.detect(t["ids"], return_mask=masks)
        _check_text(res, t, p_rtol)
        if masks:
            ids = t["ids"]
            start = 1 if ids[0] == case["bos_token_id"] else 0
            got = res.green_token_mask[start + k.ngram_len - 1 :].astype(int).tolist()
            assert got == t["green_token_mask"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RepeatedNgramWarning)
        batch = k.detect_batch([t["ids"] for t in texts], num_threads=2)
    np.testing.assert_array_equal(batch.num_green_tokens, [t["num_green_tokens"] for t in texts])
    np.testing.assert_array_equal(batch.z_score, [t["z_score"] for t in texts])


def _check_processor(k, case):
    pv = case["processor"]
    v = case["vocab_size"]
    logits = _candidate_logits(v, pv["candidates"])
    out = k.processor(4.0)(np.array(pv["prefix"]), logits)
    boosted = np.flatnonzero(out != logits)
    assert boosted.size == pv["num_boosted"]
    if "boosted" in pv:
        assert boosted.tolist() == pv["boosted"]
    else:
        assert _sha_i64(np.sort(boosted)) == pv["boosted_sha256"]
    np.testing.assert_array_equal(out[boosted], logits[boosted] + np.float32(4.0))


def test_transformers_vectors(tr_vectors):
    seen = set()
    for case in tr_vectors:
        k = _tr(case)
        _check_case(k, case, p_rtol=1e-13)
        _check_processor(k, case)
        if case["short_prefix_unchanged"] is not None:
            assert case["short_prefix_unchanged"]
            logits = _candidate_logits(case["vocab_size"], case["processor"]["candidates"])
            short = case["processor"]["prefix"][: case["context_width"] - 1]
            np.testing.assert_array_equal(k.processor(4.0)(np.array(short, dtype=np.int64), logits), logits)
        seen.add((case["seeding"], case["vocab_size"]))
    assert {(s, v) for s in ("lefthash", "selfhash") for v in (1000, 32000, 50257, 128256)} <= seen


def test_lm_watermarking_vectors(lmw_vectors):
    seen = set()
    for case in lmw_vectors:
        k = _lmw(case)
        _check_case(k, case, p_rtol=0, masks=True)
        _check_processor(k, case)
        seen.add((case["seeding"], case["vocab_size"]))
    for scheme in ("lefthash", "selfhash", "minhash", "skipgram"):
        assert {(scheme, v) for v in (1000, 32000, 50257, 128256)} <= seen
    prfs = {c["seeding"].split("-")[1] for c in lmw_vectors if c["seeding"].startswith("ff-")}
    assert prfs == set(PRF_NAMES)


def test_lefthash_is_the_same_in_both_libraries(rng):
    ids = rng.integers(0, 32000, 300)
    a = KGW(32000, seeding="lefthash", compat="transformers").detect(ids)
    b = KGW(32000, seeding="lefthash", compat="lm-watermarking").detect(ids)
    assert (a.num_green_tokens, a.num_tokens_scored, a.z_score) == (b.num_green_tokens, b.num_tokens_scored, b.z_score)
    np.testing.assert_allclose(a.p_value, b.p_value, rtol=1e-13)
    # selfhash differs: transformers seeds its hash table with the key (and uses width 1 by default)
    c = KGW(32000, seeding="selfhash", context_width=4, compat="transformers").detect(ids, return_mask=True)
    d = KGW(32000, seeding="selfhash", compat="lm-watermarking").detect(ids, return_mask=True)
    assert c.num_tokens_scored == d.num_tokens_scored
    assert not np.array_equal(c.green_token_mask, d.green_token_mask)


# -- the pure-Python oracle ----------------------------------------------------------------------

_LMW_TABLE = None


def _lmw_table():
    global _LMW_TABLE
    if _LMW_TABLE is None:
        _LMW_TABLE = torch_randperm(2971215073, 1_000_003).tolist()
    return _LMW_TABLE


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prf=st.sampled_from(PRF_NAMES),
    width=st.integers(2, 6),
    salt=st.booleans(),
    key=st.one_of(st.integers(0, 2**63 - 1), st.sampled_from([0, 1, 15485863, 2**63 - 1, 2**62 + 12345])),
    data=st.data(),
)
def test_seeds_match_oracle(prf, width, salt, key, data):
    v = 128_256
    k = KGW(v, seeding=f"ff-{prf}-{width}-{salt}-{key}", compat="lm-watermarking")
    w = data.draw(st.lists(st.integers(0, v - 1), min_size=width, max_size=width))
    table = None if prf in ("additive_prf", "multiplicative_prf", "minfunc_prf", "position_prf") else _lmw_table()
    assert k.seed_of(w) == ref.seed(prf, w, key, table)


@settings(max_examples=40, deadline=None)
@given(key=st.integers(0, 2**63 - 1), width=st.integers(1, 5), data=st.data())
def test_transformers_selfhash_seeds_match_oracle(key, width, data):
    v = 50_257
    k = KGW(v, seeding="selfhash", hash_key=key, context_width=width)
    w = data.draw(st.lists(st.integers(0, v - 1), min_size=width, max_size=width))
    table = torch_randperm(key, 1_000_003).tolist()
    assert k.seed_of(w) == ref.seed("anchored_minhash_prf", w, key, table)
    lk = KGW(v, seeding="lefthash", hash_key=key, context_width=width)
    assert lk.seed_of(w[-1:]) == (key * w[-1]) % (2**64 - 1)


def test_selfhash_wraparound_example():
    # the int64 product wraps before the modulo (REFERENCES: -6688091305739433969 -> 11758652767970117646)
    assert -6688091305739433969 % (2**64 - 1) == 11758652767970117646
    k = KGW(128_256, seeding="selfhash", compat="lm-watermarking")
    table = _lmw_table()
    hits = 0
    for w in ([5, 77, 1000, 99999], [128255, 3, 3, 128000], [17, 17, 17, 17], [0, 0, 0, 1]):
        raw = ref.prf("anchored_minhash_prf", w, 15485863, table)
        hits += raw < 0
        assert k.seed_of(w) == raw % (2**64 - 1)
    assert hits > 0  # at least one window wraps negative


@pytest.mark.parametrize(
    "compat,seeding,width,ignore,select",
    [
        ("transformers", "lefthash", 1, False, True),
        ("transformers", "lefthash", 3, True, True),
        ("transformers", "selfhash", 1, True, True),
        ("transformers", "selfhash", 3, False, True),
        ("lm-watermarking", "selfhash", None, True, True),
        ("lm-watermarking", "minhash", None, False, False),
        ("lm-watermarking", "skipgram", None, True, True),
        ("lm-watermarking", "ff-noncomm_prf-2-True-99", None, True, False),
    ],
)
def test_detection_matches_oracle(compat, seeding, width, ignore, select):
    v, gamma = 1000, 0.3
    rng = np.random.default_rng(7)
    k = KGW(v, gamma=gamma, seeding=seeding, context_width=width, compat=compat,
            ignore_repeated_ngrams=ignore, select_green_tokens=select)  # fmt: skip
    table = None if k._table is None else k._table.tolist()
    texts = [rng.integers(0, v, n).tolist() for n in (8, 30, 60)]
    phrase = rng.integers(0, 40, 6).tolist()
    texts.append((phrase * 8)[:45])  # repetitive
    for ids in texts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RepeatedNgramWarning)
            res = k.detect(ids, return_mask=True)
        want = ref.detect(ids, vocab=v, gamma=gamma, prf_name=k.prf, prf_width=k._prf_width, ngram_len=k.ngram_len,
                          self_salt=k.self_salt, key=k.hash_key, table=table, ignore_repeated=ignore,
                          select_head=select)  # fmt: skip
        for f in ("num_tokens_scored", "num_green_tokens", "num_trials", "num_green_trials"):
            assert getattr(res, f) == want[f], f
        assert res.green_token_mask[k.ngram_len - 1 :].astype(int).tolist() == want["green_per_position"]


def test_p_value_exact_is_the_binomial_tail():
    v, gamma = 1000, 0.25
    k = KGW(v, gamma=gamma)
    rng = np.random.default_rng(3)
    ids = rng.integers(0, v, 40)
    res = k.detect(ids)
    t, g, p = res.num_trials, res.num_green_trials, 250 / 1000
    want = sum(math.comb(t, j) * p**j * (1 - p) ** (t - j) for j in range(g, t + 1))
    np.testing.assert_allclose(res.p_value_exact, want, rtol=1e-12)
    # the green probability is int(V * gamma) / V, not gamma
    k2 = KGW(1001, gamma=gamma)
    assert k2.green_size == 250


# -- edge cases, BOS, errors -------------------------------------------------------------------


def test_too_short_and_empty():
    k = KGW(1000)
    with pytest.raises(ValueError, match=r"ids: too short to score.*needs at least 2 tokens; got 0"):
        k.detect([])
    with pytest.raises(ValueError, match=r"needs at least 2 tokens; got 1"):
        k.detect([5])
    assert k.detect([5, 6]).num_tokens_scored == 1
    s = KGW(1000, seeding="selfhash", compat="lm-watermarking")
    with pytest.raises(ValueError, match=r"needs at least 5 tokens; got 4"):
        s.detect([1, 2, 3, 4])
    assert s.detect([1, 2, 3, 4, 5]).num_tokens_scored == 2  # 4-grams, self-salted
    b = k.detect_batch([[], [1], [1, 2, 3]])
    np.testing.assert_array_equal(b.too_short, [True, True, False])
    np.testing.assert_array_equal(b.num_tokens_scored, [0, 0, 2])
    assert np.isnan(b.z_score[:2]).all() and np.isnan(b.p_value[:2]).all()
    np.testing.assert_array_equal(b.p_value_exact[:2], [1.0, 1.0])
    assert len(k.detect_batch([])) == 0


def test_bos_handling():
    k = KGW(1000, bos_token_id=999)
    ids = np.random.default_rng(1).integers(0, 999, 50)
    with_bos = np.concatenate([[999], ids])
    a, b = k.detect(with_bos, return_mask=True), k.detect(ids)
    assert (a.num_tokens_scored, a.num_green_tokens) == (b.num_tokens_scored, b.num_green_tokens)
    assert not a.green_token_mask[0] and not a.scored_token_mask[0] and not a.scored_token_mask[1]
    # only one leading BOS is removed, and only at the start
    c = k.detect(np.concatenate([[999, 999], ids]))
    assert c.num_tokens_scored == b.num_tokens_scored + 1
    none = KGW(1000).detect(with_bos)
    assert none.num_tokens_scored == b.num_tokens_scored + 1
    with pytest.raises(ValueError, match=r"after removing the leading BOS; got 1"):
        k.detect([999, 5])
    batch = k.detect_batch([with_bos, ids])
    np.testing.assert_array_equal(batch.num_green_tokens, [b.num_green_tokens] * 2)


def test_ids_errors():
    k = KGW(1000)
    with pytest.raises(ValueError, match=r"ids: values must lie in \[0, 1000\); ids\[2\] = 1000"):
        k.detect([1, 2, 1000])
    with pytest.raises(ValueError, match=r"ids: values must lie in \[0, 1000\); ids\[0\] = -1"):
        k.detect([-1, 2])
    with pytest.raises(TypeError, match=r"ids: expected an integer array, got dtype float64"):
        k.detect([1.0, 2.0])
    with pytest.raises(ValueError, match=r"ids: expected a 1-D array"):
        k.detect([[1, 2]])
    with pytest.raises(ValueError, match=r"offsets: must end at the number of positions 3"):
        k.detect_batch(np.array([1, 2, 3]), np.array([0, 2]))
    with pytest.raises(TypeError, match=r"offsets: required when ids is an array"):
        k.detect_batch(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"ids\[1\]: values must lie in"):
        k.detect_batch([[1, 2], [3, 4000]])


def test_native_rechecks_bounds():
    core = _native.core()
    k = KGW(1000)
    cfg = dict(k._config)
    with pytest.raises(ValueError, match=r"ids\[1\] = 1000 is outside \[0, 1000\)"):
        core.wm_kgw_detect_batch(np.array([1, 1000], dtype=np.int64), np.array([0, 2], dtype=np.int64), cfg, False, 1)
    with pytest.raises(ValueError, match="offsets"):
        core.wm_kgw_detect_batch(np.array([1, 2], dtype=np.int64), np.array([0, 3], dtype=np.int64), cfg, False, 1)
    with pytest.raises(ValueError, match="offsets"):
        core.wm_kgw_detect_batch(np.array([1, 2], dtype=np.int64), np.array([0, 2, 1, 2], dtype=np.int64), cfg, False, 1)
    bad = dict(cfg, green_size=1000)
    with pytest.raises(ValueError, match="green list size"):
        core.wm_kgw_detect_batch(np.array([1, 2], dtype=np.int64), np.array([0, 2], dtype=np.int64), bad, False, 1)
    with pytest.raises(ValueError, match="hashint table"):
        core.wm_kgw_detect_batch(np.array([1, 2], dtype=np.int64), np.array([0, 2], dtype=np.int64),
                                 dict(cfg, prf=6), False, 1)  # fmt: skip
    with pytest.raises(ValueError, match="tokens"):
        core.wm_green_membership(np.array([1], dtype=np.uint32), np.array([5000]), 1000, 250, True, 1)


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"seeding: expected 'lefthash' \(alias 'simple_1'\), 'selfhash'.*ff-<prf>"):
        KGW(1000, seeding="nonsense", compat="lm-watermarking")
    with pytest.raises(ValueError, match=r"unknown PRF 'foo_prf'.*valid PRFs: additive_prf"):
        KGW(1000, seeding="ff-foo_prf-2-True", compat="lm-watermarking")
    with pytest.raises(ValueError, match=r"seeding: expected .* got 'ff-additive_prf-2-yes'"):
        KGW(1000, seeding="ff-additive_prf-2-yes", compat="lm-watermarking")
    with pytest.raises(ValueError, match=r"compat='transformers' supports 'lefthash' and 'selfhash'; got 'minhash'"):
        KGW(1000, seeding="minhash")
    with pytest.raises(TypeError, match=r"seeding: expected a string"):
        KGW(1000, seeding=3)
    with pytest.raises(ValueError, match=r"context_width: lm-watermarking's 'selfhash' has context width 4, got 2.*ff-anchored_minhash_prf-2-True"):
        KGW(1000, seeding="selfhash", context_width=2, compat="lm-watermarking")
    with pytest.raises(ValueError, match=r"select_green_tokens=False .* only in lm-watermarking"):
        KGW(1000, select_green_tokens=False)
    with pytest.raises(ValueError, match=r"gamma: int\(vocab_size \* gamma\) = int\(10 \* 0.05\) = 0"):
        KGW(10, gamma=0.05)
    with pytest.raises(ValueError, match=r"gamma: expected a number strictly between 0.0 and 1.0"):
        KGW(1000, gamma=1.0)
    with pytest.raises(ValueError, match=r"hash_key: expected an integer in \[0, 9223372036854775808\)"):
        KGW(1000, hash_key=2**63)
    with pytest.raises(ValueError, match=r"conflicts with the key 7"):
        KGW(1000, seeding="ff-additive_prf-1-False-7", hash_key=8, compat="lm-watermarking")
    with pytest.raises(ValueError, match=r"compat: expected one of 'transformers', 'lm-watermarking'"):
        KGW(1000, compat="hf")
    with pytest.raises(ValueError, match=r"vocab_size: expected an integer in \[2, 214748364\)"):
        KGW(1)
    with pytest.raises(ValueError, match=r"minskipgram_prf needs a context width >= 2"):
        KGW(1000, seeding="ff-minskipgram_prf-1-False", compat="lm-watermarking")
    # a non-default key with a named lm-watermarking scheme is that scheme's ff form with the key
    a = KGW(1000, seeding="minhash", hash_key=99, compat="lm-watermarking")
    b = KGW(1000, seeding="ff-minhash_prf-4-False-99", compat="lm-watermarking")
    assert a.seed_of([1, 2, 3, 4]) == b.seed_of([1, 2, 3, 4])


def test_thread_invariance(rng):
    v = 32000
    texts = [rng.integers(0, v, int(n)) for n in rng.integers(0, 120, 150)]
    bank = [rng.integers(0, 300, 6) for _ in range(5)]
    texts += [np.concatenate([bank[j] for j in rng.integers(0, 5, 12)]) for _ in range(50)]
    for seeding, compat in (("lefthash", "transformers"), ("selfhash", "lm-watermarking")):
        k = KGW(v, seeding=seeding, compat=compat)
        ref_res = k.detect_batch(texts, num_threads=1, return_mask=True)
        for n in (2, 3, 8):
            res = k.detect_batch(texts, num_threads=n, return_mask=True)
            for f, arr in ref_res.to_dict().items():
                np.testing.assert_array_equal(getattr(res, f), arr, err_msg=f)
            np.testing.assert_array_equal(res.green_token_mask, ref_res.green_token_mask)
        # per text, alone, the same
        for i in (0, 7, 160):
            one = k.detect_batch([texts[i]])
            assert one.num_green_tokens[0] == ref_res.num_green_tokens[i]


def test_every_simd_level_agrees(rng):
    texts = [rng.integers(0, 50257, 80) for _ in range(20)]
    k = KGW(50257, seeding="selfhash", compat="lm-watermarking")
    levels = fp.simd_info()["supported"]
    try:
        results = []
        for level in levels:
            fp.set_simd(level)
            results.append(k.detect_batch(texts).num_green_tokens)
    finally:
        fp.set_simd(levels[-1])
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


# -- warnings ----------------------------------------------------------------------------------


def test_repeated_ngrams_warn_without_deduplication():
    phrase = [11, 12, 13, 14, 15]
    text = phrase * 10
    k = KGW(1000, ignore_repeated_ngrams=False)
    with pytest.warns(RepeatedNgramWarning, match=r"p-values are not valid .*repeated \(context, token\) pairs"):
        res = k.detect(text)
    assert res.num_tokens_scored == 49 and res.num_repeated == 49 - 5
    assert res.num_trials == 49  # counted with multiplicity: not valid
    with pytest.warns(RepeatedNgramWarning, match=r"1 of 2 text"):
        k.detect_batch([text, [1, 2, 3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = KGW(1000).detect(text)
        assert d.num_tokens_scored == 5 and d.num_trials == 5


def test_selfhash_dedup_counts_distinct_pairs():
    # different 4-grams can share the anchored-minhash seed and the scored token: one trial
    k = KGW(1000, seeding="selfhash", compat="lm-watermarking")
    rng = np.random.default_rng(11)
    bank = [rng.integers(0, 1000, 3).tolist() for _ in range(30)]
    ids = []
    for j in rng.integers(0, 30, 200):
        ids += bank[j] + [7]  # the same token 7 after many different contexts
    res = k.detect(ids)
    assert res.num_trials <= res.num_tokens_scored


# -- generation ----------------------------------------------------------------------------------


def test_generated_text_is_detected():
    # KGW gamma 0.25, delta 2 on a random-logit model: p < 1e-6 at 200 tokens
    v = 50257

    def model(scale):
        r = np.random.default_rng(2024)
        return lambda ids: (r.standard_normal(v) * scale).astype(np.float32)

    k = KGW(v, gamma=0.25, seeding="lefthash")
    toks = generate(model(1.0), [1, 2, 3], 200, processor=k.processor(2.0), rng=5)
    assert k.detect(toks).p_value_exact < 1e-6
    assert k.detect(generate(model(1.0), [1, 2, 3], 200, rng=6)).p_value_exact > 1e-3
    # self-hashing biases only the top 40 candidates, so it needs a peaked model
    s = KGW(v, gamma=0.25, seeding="selfhash")
    toks = generate(model(3.0), [1, 2, 3], 200, processor=s.processor(2.0), rng=5)
    assert s.detect(toks).p_value_exact < 1e-6
    assert s.detect(generate(model(3.0), [1, 2, 3], 200, rng=6)).p_value_exact > 1e-3


def test_processor_shapes_and_errors(rng):
    k = KGW(1000)
    proc = k.processor(2.0)
    logits = rng.standard_normal((2, 1003)).astype(np.float32)
    out = proc(np.array([[1, 2], [3, 4]]), logits)
    assert out.shape == logits.shape and out.dtype == np.float32
    for b, last in enumerate((2, 4)):
        green = proc.green_ids([last])
        assert green.size == 250
        np.testing.assert_array_equal(np.flatnonzero(out[b] != logits[b]), green)
    np.testing.assert_array_equal(out[:, 1000:], logits[:, 1000:])
    with pytest.raises(ValueError, match=r"logits: last axis has 999 entries, fewer than vocab_size 1000"):
        proc(np.array([1]), np.zeros(999, np.float32))
    with pytest.raises(TypeError, match=r"logits: expected a floating-point array"):
        proc(np.array([1]), np.zeros(1000, np.int64))
    with pytest.raises(ValueError, match=r"input_ids: values must lie in \[0, 1000\)"):
        proc(np.array([1000]), np.zeros(1000, np.float32))
    lm = KGW(1000, seeding="minhash", compat="lm-watermarking").processor()
    with pytest.raises(ValueError, match=r"prefix_ids: seeding 'minhash' needs at least 4 token"):
        lm(np.array([1, 2]), np.zeros(1000, np.float32))
    # the green-list cache is keyed by seed and does not change results
    again = proc(np.array([[1, 2], [3, 4]]), logits)
    np.testing.assert_array_equal(again, out)


def test_import_is_light(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; import fingerprint.watermark as w; "
        "print(','.join(m for m in ('scipy', 'torch', 'numba', 'fingerprint._core') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("n_targets", [1, 2, 5, 16, 17, 60])
@pytest.mark.parametrize("select", [True, False])
def test_group_paths_agree_with_randperm(n_targets, select):
    # one context followed by n distinct tokens: a seed with n tokens (single, shared-stream and
    # built-prefix paths of the native code)
    v, gamma = 32000, 0.25
    k = KGW(v, gamma=gamma, seeding="lefthash", compat="lm-watermarking", select_green_tokens=select)
    rng = np.random.default_rng(n_targets)
    ctx = 1234
    targets = rng.choice(v, n_targets, replace=False)
    ids = np.ravel(np.column_stack([np.full(n_targets, ctx), targets]))
    res = k.detect(ids, return_mask=True)
    perm = torch_randperm(k.seed_of([ctx]), v)
    green = set((perm[: k.green_size] if select else perm[v - k.green_size :]).tolist())
    np.testing.assert_array_equal(res.green_token_mask[1::2], [t in green for t in targets])
