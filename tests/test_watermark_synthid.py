"""SynthID-Text: g-values, masks and scores against vectors from google-deepmind/synthid-text and
transformers, the pure-Python oracle, H0 validity of the exact tests, detection, edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reference import synthid as ref
from scipy import stats

from fingerprint.watermark import SynthID, generate, torch_randint, torch_random32
from fingerprint.watermark.synthid import _chernoff_upper, tournament_log_probs, weights

DATA = Path(__file__).parent / "data" / "watermark"


@pytest.fixture(scope="module")
def vectors():
    return json.loads((DATA / "synthid.json").read_text())


def _make(c):
    return SynthID(
        c["keys"],
        ngram_len=c["ngram_len"],
        context_history_size=c["context_history_size"],
        eos_token_id=c["eos_token_id"],
        compat=c["mode"],
    )


def _bits(rows, depth):
    return np.array([[int(ch) for ch in r] for r in rows], dtype=np.uint8).reshape(-1, depth)


def _str(mask):
    return "".join(str(int(x)) for x in mask)


def test_vectors_cover_the_brief(vectors):
    cs = vectors["configs"]
    assert {c["mode"] for c in cs} == {"transformers", "synthid-text"}
    assert {c["vocab_size"] for c in cs} == {1000, 32000, 50257, 128256}
    assert {c["depth"] for c in cs} == {15, 30}
    assert {c["ngram_len"] for c in cs} == {3, 5}
    assert any(c["eos_token_id"] is not None for c in cs) and any(c["eos_token_id"] is None for c in cs)


def test_sampling_table_matches_torch(vectors):
    s = SynthID([1, 2, 3])
    import hashlib

    assert hashlib.sha256(s.table.tobytes()).hexdigest() == vectors["table_sha256"]
    assert int(s.table.sum()) == vectors["table_ones"]
    assert s.p0 == vectors["table_ones"] / 65536
    assert torch_randint(0, 0, 2, 8).tolist() == (torch_random32(0, 8).astype(np.int64) % 2).tolist()


@pytest.mark.parametrize("mode", ["synthid-text", "transformers"])
def test_g_values_masks_scores_match_reference_code(vectors, mode):
    n_texts = 0
    for c in vectors["configs"]:
        if c["mode"] != mode:
            continue
        s = _make(c)
        if mode == "synthid-text":
            assert s.hash_iv == c["hash_iv"]
        for t in c["texts"]:
            ids = t["ids"]
            g = s.g_values(ids)
            np.testing.assert_array_equal(g, _bits(t["g_values"], c["depth"]), err_msg=t["name"])
            assert _str(s.context_repetition_mask(ids)) == t["rep_mask"], t["name"]
            assert _str(s.mask(ids)) == t["combined_mask"], t["name"]
            if "eos_mask_full" in t:
                assert _str(s.eos_mask(ids)) == t["eos_mask_full"][c["ngram_len"] - 1 :]
            r = s.detect(ids)
            if t["mean_score"] is None:
                assert np.isnan(r.mean_score) and np.isnan(r.weighted_mean_score)
            else:
                assert r.mean_score == pytest.approx(t["mean_score"], rel=1e-12, abs=0)
                assert r.weighted_mean_score == pytest.approx(t["weighted_mean_score"], rel=1e-12, abs=0)
            assert r.num_tokens_scored == t["combined_mask"].count("1")
            n_texts += 1
    assert n_texts >= 30


def test_watermarked_vectors_detected_in_their_own_mode_only(vectors):
    for c in vectors["configs"]:
        s = _make(c)
        for t in c["texts"]:
            if not t["name"].startswith("wm_"):
                continue
            r = s.detect(t["ids"])
            own = t["name"] == "wm_" + c["mode"].replace("-", "_")
            if own:
                assert r.p_value_exact < 1e-10 and r.p_value_weighted < 1e-10, (c["mode"], t["name"], r)
            else:
                assert r.p_value_exact > 1e-4, (c["mode"], t["name"], r)


def test_processor_matches_reference_processors(vectors):
    for c in vectors["configs"]:
        s = _make(c)
        pr = c["processor"]
        v = c["vocab_size"]
        logits = np.random.default_rng(pr["logits_seed"]).standard_normal(v).astype(np.float32)
        if c["mode"] == "transformers":
            proc = s.processor()
            for ids, want in zip(pr["calls"], pr["out_first16"]):
                out = proc(np.array(ids), logits)
                np.testing.assert_allclose(out[:16], want, rtol=0, atol=2e-4)
        else:
            proc = s.processor(top_k=pr["top_k"])
            for ids, want in zip(pr["calls_ids"], pr["calls"]):
                out = proc(np.array(ids), logits)
                idx = np.array(want["indices"])
                np.testing.assert_allclose(out[idx], want["scores"], rtol=0, atol=2e-4)
                assert np.isfinite(out).sum() == pr["top_k"]


@pytest.mark.parametrize("compat", ["synthid-text", "transformers"])
def test_against_python_oracle(compat):
    rng = np.random.default_rng(5)
    keys = [int(k) for k in rng.integers(-(2**63), 2**63 - 1, 7, dtype=np.int64)]
    table = ref.sampling_table(torch_random32(0, 65536).tolist(), 65536)
    for ngram_len, hist, eos in [(2, 3, None), (3, 5, 4), (5, 1024, 9), (4, 0, None)]:
        s = SynthID(keys, ngram_len=ngram_len, context_history_size=hist, eos_token_id=eos, compat=compat)
        for _ in range(4):
            ids = rng.integers(0, 12, int(rng.integers(0, 60))).tolist()
            g = ref.g_values(ids, keys, ngram_len, compat, table)
            np.testing.assert_array_equal(s.g_values(ids), np.array(g, dtype=np.uint8).reshape(-1, 7))
            rep = ref.repetition_mask(ids, keys, ngram_len, hist, compat)
            em = ref.eos_mask(ids, ngram_len, eos)
            assert s.context_repetition_mask(ids).astype(int).tolist() == rep
            assert s.eos_mask(ids).astype(int).tolist() == em
            m = [a * b for a, b in zip(rep, em)]
            mean, wmean = ref.scores(g, m, 7)
            r = s.detect(ids)
            np.testing.assert_allclose([r.mean_score, r.weighted_mean_score], [mean, wmean], rtol=1e-12)


def test_zero_context_hash_masked_like_zero_initialised_history():
    # The reference history starts as zeros: a context hash of 0 counts as seen. Find a context
    # whose transformers-mode hash is 0 is infeasible; instead check the oracle agrees with the
    # native window on a history shorter than the text (the window forgets old contexts).
    s = SynthID([3, 5], ngram_len=2, context_history_size=2)
    ids = [1, 2, 3, 1, 2, 3, 1]
    want = ref.repetition_mask(ids, [3, 5], 2, 2, "transformers")
    assert s.context_repetition_mask(ids).astype(int).tolist() == want == [1, 1, 1, 1, 1, 1]


def test_weights():
    w = weights(30)
    assert w.sum() == pytest.approx(30)
    np.testing.assert_allclose(w / w[-1], np.linspace(10, 1, 30))
    assert weights(1).tolist() == [1.0]


def test_chernoff_bound_is_conservative_against_exact_convolution():
    # Exact tail of sum_d w_d C_d (w_d = linspace(10,1,D) = a_d / (D-1), a_d integers) by convolution.
    for depth, n, p0 in [(4, 6, 0.5), (5, 9, 0.5), (3, 12, 0.4996)]:
        w = weights(depth)
        a = np.rint(np.linspace(10, 1, depth) * (depth - 1)).astype(int)
        pmf = np.zeros(1)
        pmf[0] = 1.0
        for d in range(depth):
            layer = np.zeros(a[d] * n + 1)
            layer[:: a[d]] = stats.binom.pmf(np.arange(n + 1), n, p0)
            pmf = np.convolve(pmf, layer)
        scale = w[0] / a[0]
        support = np.arange(pmf.shape[0]) * scale
        xs = support[pmf > 0]
        tails = np.array([pmf[support >= x - 1e-9].sum() for x in xs])
        bound = _chernoff_upper(xs, np.full(xs.shape, n), w, p0)
        assert np.all(bound >= tails * (1 - 1e-9)), (depth, n)
        assert bound[-1] == pytest.approx(p0 ** (n * depth), rel=1e-9)


def _repetitive(rng, n, v):
    bank = [rng.integers(0, v, int(rng.integers(2, 7))) for _ in range(8)]
    out = []
    while len(out) < n:
        if rng.random() < 0.8:
            out.extend(bank[int(rng.integers(0, 8))].tolist())
        else:
            out.append(int(rng.integers(0, v)))
    return out[:n]


@pytest.mark.parametrize("compat", ["synthid-text", "transformers"])
def test_h0_validity(compat):
    rng = np.random.default_rng(2026 if compat == "transformers" else 11)
    keys = rng.integers(0, 2**62, 30).tolist()
    n_texts = 12_000
    texts = []
    for i in range(n_texts):
        n = int(rng.integers(5, 160))
        texts.append(rng.integers(0, 50257, n).tolist() if i % 2 else _repetitive(rng, n, 50257))
    s = SynthID(keys, ngram_len=5, context_history_size=16, compat=compat)  # short window: exercises dedup
    r = s.detect_batch(texts)
    assert r.num_repeated.sum() > 0  # some kept n-grams repeat a context beyond the window
    for field in ("p_value_exact", "p_value_weighted"):
        p = getattr(r, field)
        for alpha in (0.1, 0.01, 0.001):
            frac = np.mean(p <= alpha)
            assert frac <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / n_texts), (field, alpha, frac)
    # the exact test is not vacuous: its size is close to alpha
    assert np.mean(r.p_value_exact <= 0.1) > 0.07


def _random_logits(v, seed):
    def fn(ids):
        return np.random.default_rng([seed, len(ids)]).standard_normal(v) * 2.0

    return fn


@pytest.mark.parametrize("compat,top_k", [("transformers", None), ("synthid-text", 40)])
def test_detects_generated_text(compat, top_k):
    s = SynthID(list(range(100, 130)), ngram_len=5, compat=compat, eos_token_id=None)
    proc = s.processor(top_k=top_k)
    toks = generate(_random_logits(1000, 3), [1, 2, 3], 200, processor=proc, rng=7)
    r = s.detect(toks)
    assert r.num_tokens_scored >= 190
    assert r.p_value_exact < 1e-6 and r.p_value_weighted < 1e-6, r
    assert r.mean_score > 0.55
    other = SynthID(list(range(200, 230)), ngram_len=5, compat=compat)
    assert other.detect(toks).p_value_exact > 1e-3


def test_tournament_keeps_a_distribution():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    g = rng.integers(0, 2, (50, 30)).astype(np.uint8)
    lp = tournament_log_probs(x, g)
    assert np.exp(lp).sum() == pytest.approx(1.0, rel=1e-12)


def test_processor_state_and_repeated_context():
    s = SynthID([1, 2, 3, 4], ngram_len=3, context_history_size=8)
    proc = s.processor()
    logits = np.linspace(-1, 1, 20)
    base = logits - np.log(np.exp(logits).sum())
    a = proc(np.array([5]), logits)  # context (0, 0)
    assert not np.allclose(a, base)
    proc.reset()
    np.testing.assert_allclose(proc(np.array([9, 9]), logits), a)  # the prompt is ignored
    proc.reset()
    proc(np.array([5]), logits)
    proc(np.array([5, 0]), logits)  # context (0, 0) again: repeated, unchanged
    np.testing.assert_allclose(proc(np.array([5, 0, 0]), logits), base)
    skip = s.processor(skip_first_ngram_calls=True)
    np.testing.assert_allclose(skip(np.array([5]), logits), base)


def test_edge_cases():
    s = SynthID([7] * 30, ngram_len=5, eos_token_id=0)
    r = s.detect([1, 2, 3])
    assert r.num_ngrams == 0 and r.num_tokens_scored == 0 and np.isnan(r.mean_score)
    assert r.p_value_exact == 1.0 and r.p_value_weighted == 1.0 and np.isnan(r.p_value)
    assert s.g_values([1, 2, 3]).shape == (0, 30) and s.mask([]).shape == (0,)
    e = s.detect([0, 5, 6, 7, 8, 9, 10])  # EOS first: everything masked
    assert e.num_ngrams == 3 and e.num_tokens_scored == 0 and e.p_value_exact == 1.0
    rep = s.detect([4] * 50)  # one context, repeated: only the first n-gram kept
    assert rep.num_tokens_scored == 1 and rep.num_trials == 1
    b = s.detect_batch([[1, 2], [0] * 6, list(range(1, 40))])
    assert b.too_short.tolist() == [True, False, False]
    assert b[2].num_tokens_scored == 35
    assert len(b) == 3 and b[-1].mean_score == b.mean_score[2]


def test_detect_batch_matches_detect_and_threads():
    rng = np.random.default_rng(4)
    s = SynthID(rng.integers(0, 2**40, 20).tolist(), ngram_len=4, context_history_size=32, compat="synthid-text")
    texts = [rng.integers(0, 30, int(rng.integers(0, 300))) for _ in range(101)]
    lens = [len(t) for t in texts]
    ids = np.concatenate(texts)
    offs = np.concatenate([[0], np.cumsum(lens)])
    r1 = s.detect_batch(ids, offs, num_threads=1)
    r2 = s.detect_batch(ids, offs, num_threads=2)
    r7 = s.detect_batch(texts, num_threads=7)
    for k, v in r1.to_dict().items():
        np.testing.assert_array_equal(v, r2.to_dict()[k])
        np.testing.assert_array_equal(v, r7.to_dict()[k])
    for i in (0, 5, 100):
        one = s.detect(texts[i]).to_dict()
        for k, v in one.items():
            np.testing.assert_equal(v, r1.to_dict()[k][i])


def test_errors():
    with pytest.raises(ValueError, match="keys: expected at least one key"):
        SynthID([])
    with pytest.raises(TypeError, match="keys"):
        SynthID(5)
    with pytest.raises(TypeError, match=r"keys\[1\]"):
        SynthID([1, 2.5])
    with pytest.raises(ValueError, match=r"keys\[0\]"):
        SynthID([2**63])
    with pytest.raises(ValueError, match="compat"):
        SynthID([1], compat="google")
    with pytest.raises(ValueError, match="ngram_len"):
        SynthID([1], ngram_len=1)
    with pytest.raises(ValueError, match="context_history_size"):
        SynthID([1], context_history_size=-1)
    with pytest.raises(ValueError, match="sampling_table_size"):
        SynthID([1], compat="synthid-text", sampling_table_size=1024)
    s = SynthID([1, 2])
    with pytest.raises(ValueError, match="token ids must be >= 0"):
        s.detect([1, -2, 3])
    with pytest.raises(TypeError, match="integer array"):
        s.g_values([1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        s.mask([[1, 2]])
    with pytest.raises(ValueError, match="int64"):
        s.detect(np.array([2**64 - 1], dtype=np.uint64))
    with pytest.raises(TypeError, match="offsets: required"):
        s.detect_batch(np.arange(10))
    with pytest.raises(ValueError, match="offsets"):
        s.detect_batch(np.arange(10), [0, 11])
    with pytest.raises(ValueError, match="context: expected ngram_len - 1"):
        s.vocab_g_values([1, 2], 10)
    proc = s.processor()
    with pytest.raises(TypeError, match="logits"):
        proc([1], np.arange(5))
    with pytest.raises(ValueError, match="top_k"):
        s.processor(top_k=1)


def test_g_values_batch():
    rng = np.random.default_rng(8)
    texts = [rng.integers(0, 100, int(rng.integers(0, 40))) for _ in range(30)]
    for compat in ("transformers", "synthid-text"):
        s = SynthID([5, 6, 7], ngram_len=4, compat=compat)
        g1, rows1 = s.g_values_batch(texts, num_threads=1)
        g2, rows2 = s.g_values_batch(texts, num_threads=2)
        np.testing.assert_array_equal(g1, g2)
        np.testing.assert_array_equal(rows1, rows2)
        for i, t in enumerate(texts):
            np.testing.assert_array_equal(g1[rows1[i] : rows1[i + 1]], s.g_values(t))


@pytest.mark.parametrize("depth", [1, 7, 8, 9, 30, 33])
def test_every_simd_level_gives_the_same_bits(depth):
    """The AVX-512 g-value kernel (eight layers per vector, eight rows in flight) against the
    Python oracle and the scalar path: depths around the vector width, texts longer than one
    batch of 256 rows, vocabulary-wide g-values and the detection counts."""
    import fingerprint as fp

    rng = np.random.default_rng(depth)
    keys = [int(k) for k in rng.integers(-(2**63), 2**63 - 1, depth, dtype=np.int64)]
    texts = [rng.integers(0, 50_000, int(n)) for n in (0, 4, 5, 12, 300, 777)]
    oracle = [np.array(ref.g_values(t.tolist(), keys, 5, "synthid-text"), dtype=np.uint8).reshape(-1, depth)
              for t in texts]  # fmt: skip
    active = fp.simd_info()["active"]
    results = {}
    try:
        for level in fp.simd_info()["supported"]:
            fp.set_simd(level)
            s = SynthID(keys, ngram_len=5, context_history_size=64, compat="synthid-text")
            g, rows = s.g_values_batch(texts, num_threads=2)
            for i, want in enumerate(oracle):
                np.testing.assert_array_equal(g[rows[i] : rows[i + 1]], want, err_msg=level)
            results[level] = (s.detect_batch(texts).to_dict(), s.vocab_g_values([3, 1, 4, 1], 1000))
    finally:
        fp.set_simd(active)
    first = next(iter(results.values()))
    for level, (det, vocab_g) in results.items():
        for k, v in first[0].items():
            np.testing.assert_array_equal(det[k], v, err_msg=f"{level}: {k}")
        np.testing.assert_array_equal(vocab_g, first[1], err_msg=level)
