"""NGramLM (Witten-Bell), LowRankLM, the LogitSource protocol, the zoo, KGW inheritance."""

from __future__ import annotations

import numpy as np
import pytest

import fingerprint as fp
from fingerprint.zoo import LowRankLM, NGramLM, make_zoo

from reference import fingerprints as ref


def _ragged(seqs):
    offs = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    return np.concatenate([np.asarray(s, np.int64) for s in seqs]) if seqs else np.zeros(0, np.int64), offs


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("with_prior", [False, True])
def test_ngram_probabilities_match_reference(order, with_prior, rng):
    v = 7
    seqs = [list(rng.integers(0, v, n)) for n in (0, 1, 2, 5, 30, 17)]
    toks, offs = _ragged(seqs)
    prior = rng.random(v) + 0.1 if with_prior else None
    pw = 3.5 if with_prior else None
    m = NGramLM.train(toks, offs, v, order=order, prior=prior, prior_weight=pw)
    contexts = [[], [0], [int(seqs[4][3])], list(seqs[4][:3]), list(seqs[4][5:9]), [6, 6, 6], list(seqs[5])]
    for ctx in contexts:
        want = ref.witten_bell([list(map(int, s)) for s in seqs], v, order, list(map(int, ctx)), prior, pw)
        got = m.probabilities(np.asarray(ctx, np.int64))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        assert abs(got.sum() - 1) < 1e-12


def test_next_token_logits_protocol(rng):
    v = 11
    seqs = [list(rng.integers(0, v, n)) for n in (40, 3, 1, 25)]
    toks, offs = _ragged(seqs)
    m = NGramLM.train(toks, offs, v, order=3)
    assert isinstance(m, fp.LogitSource)
    sf = np.array([1, 0, 1, 24])
    chunks = list(m.next_token_logits(toks, offs, score_from=sf, batch_size=2))
    seq = np.concatenate([c.seq_index for c in chunks])
    pos = np.concatenate([c.positions for c in chunks])
    want = [(s, j) for s in range(4) for j in range(sf[s], len(seqs[s]))]
    assert list(zip(seq.tolist(), pos.tolist())) == want
    for c in chunks:
        assert c.logits.dtype == np.float32 and c.logits.flags.c_contiguous and c.logits.shape[1] == v
        assert c.seq_index.dtype == np.int64 and c.targets.dtype == np.int64
        for r in range(c.logits.shape[0]):
            s, j = int(c.seq_index[r]), int(c.positions[r])
            assert c.targets[r] == seqs[s][j]
            np.testing.assert_allclose(c.logits[r], np.log(m.probabilities(np.asarray(seqs[s][:j], np.int64))), rtol=1e-6)
    # default score_from = 1
    n_rows = sum(c.logits.shape[0] for c in m.next_token_logits(toks, offs))
    assert n_rows == sum(len(s) - 1 for s in seqs)


def test_errors(rng):
    with pytest.raises(ValueError, match="tokens: values must lie in"):
        NGramLM.train([0, 5], [0, 2], 5)
    with pytest.raises(ValueError, match="offsets: must end"):
        NGramLM.train([0, 1], [0, 1], 5)
    with pytest.raises(ValueError, match="order: vocab_size"):
        NGramLM.train([0, 1], [0, 2], 49152, order=5)
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM.train([0, 1], [0, 2], 5, smoothing="kneser_ney")
    with pytest.raises(ValueError, match="prior: expected a 1-D"):
        NGramLM.train([0, 1], [0, 2], 5, prior=np.ones(4))
    with pytest.raises(ValueError, match="prior: expected finite"):
        NGramLM.train([0, 1], [0, 2], 5, prior=np.array([1, -1, 0, 0, 1.0]))
    m = NGramLM.train([0, 1], [0, 2], 5, order=2)
    with pytest.raises(ValueError, match="score_from"):
        list(m.next_token_logits([0, 1], [0, 2], score_from=[3]))
    with pytest.raises(ValueError, match="temperature"):
        m.generate([np.array([0])], 3, temperature=-1)
    with pytest.raises(TypeError, match="prompts"):
        m.generate(np.array([0]), 3)


def test_save_load_roundtrip(tmp_path, rng):
    v = 50
    toks = rng.integers(0, v, 2000)
    m = NGramLM.train(toks, [0, 1000, 2000], v, order=3, prior=rng.random(v), name="x")
    path = tmp_path / "m.npz"
    m.save(path)
    m2 = NGramLM.load(path)
    assert (m2.name, m2.order, m2.vocab_size, m2.prior_weight) == ("x", 3, v, m.prior_weight)
    for ctx in ([], [3], [4, 9], list(toks[:5])):
        np.testing.assert_array_equal(m.probabilities(np.asarray(ctx, np.int64)), m2.probabilities(np.asarray(ctx, np.int64)))
    # a corrupted array is detected by the checksum; no pickle is ever loaded
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["counts_2"][0] += 1
    bad = tmp_path / "bad.npz"
    with open(bad, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match="checksum mismatch"):
        NGramLM.load(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable NGramLM"):
        NGramLM.load(tmp_path / "junk.npz")


def test_large_vocab_is_cheap():
    v = 49152
    toks = np.random.default_rng(0).integers(0, v, 100_000)
    m = NGramLM.train(toks, [0, 100_000], v, order=3)
    sizes = [t[2].shape[0] for t in m.tables]
    assert sizes == [99_999, 99_998] or max(sizes) <= 100_000
    row = m.probabilities(toks[:2])
    assert row.shape == (v,) and abs(row.sum() - 1) < 1e-9


def test_generate_greedy_topk_eos_and_determinism():
    t = LowRankLM(32, seed=3)
    prompts = [np.array([1, 2]), np.array([5])]
    a = t.generate(prompts, 20, seed=7)
    b = t.generate(prompts, 20, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert all(x.dtype == np.int64 and x.shape == (20,) for x in a)
    g = t.generate(prompts, 5, temperature=0)
    lp = t.log_probs(np.array([1, 2]))[0]
    assert g[0][0] == int(np.argmax(lp))
    k1 = t.generate([np.array([1, 2])] * 50, 1, top_k=1, seed=1)
    assert {int(x[0]) for x in k1} == {int(np.argmax(lp))}
    eos = int(g[0][0])
    out = t.generate([np.array([1, 2])], 10, temperature=0, eos_token_id=eos)
    assert out[0].tolist() == [eos]


def test_zoo_is_deterministic_and_sized():
    z1 = make_zoo(n_teachers=3, students_per_teacher=1, n_independent=2, train_tokens=2000, seed=5)
    z2 = make_zoo(n_teachers=3, students_per_teacher=1, n_independent=2, train_tokens=2000, seed=5)
    assert len(z1.models) == 8 and z1.student_teacher == [0, 1, 2]
    for a, b in zip(z1.models, z2.models):
        np.testing.assert_array_equal(a.log_probs([1, 2]), b.log_probs([1, 2]))
    toks, offs, _ = z1.probes.tokens()
    assert len(z1.probes) == 16 and offs[-1] == 16 * 32


@pytest.mark.slow
def test_students_inherit_kgw_lefthash_watermark():
    """A bigram/trigram student of a KGW-watermarked teacher carries the watermark; an independent does not."""
    v = 512
    kgw = fp.watermark.KGW(v, gamma=0.25, seeding="lefthash")
    proc = kgw.processor(delta=3.0)
    teacher = LowRankLM(v, seed=11, scale=1.0)
    other = LowRankLM(v, seed=12, scale=1.0)
    rng = np.random.default_rng(0)
    prompts = [rng.integers(0, v, 1) for _ in range(80)]
    wm = teacher.generate(prompts, 199, seed=1, processor=proc)
    clean = other.generate(prompts, 199, seed=2)

    def corpus(outs):
        seqs = [np.concatenate([p, o]) for p, o in zip(prompts, outs)]
        return _ragged(seqs)

    for order in (2, 3):
        student = NGramLM.train(*corpus(wm), v, order=order)
        control = NGramLM.train(*corpus(clean), v, order=order)
        test_prompts = [rng.integers(0, v, 1) for _ in range(10)]
        s_out = student.generate(test_prompts, 200, seed=3)
        c_out = control.generate(test_prompts, 200, seed=4)
        s_ids, s_offs = _ragged(s_out)
        c_ids, c_offs = _ragged(c_out)
        rs = kgw.detect(s_ids)
        rc = kgw.detect(c_ids)
        assert rs.p_value_exact < 1e-6, (order, rs)
        assert rc.p_value_exact > 1e-3, (order, rc)


def test_edge_cases_empty_short_strided_readonly(rng):
    v = 9
    m = NGramLM.train(rng.integers(0, v, 200), [0, 200], v, order=3)
    assert list(m.next_token_logits(np.zeros(0, np.int64), [0])) == []
    assert list(m.next_token_logits([4], [0, 0, 1])) == []  # lengths 0 and 1: nothing to score
    base = rng.integers(0, v, 40)
    strided = base[::2]
    ro = strided.copy()
    ro.flags.writeable = False
    a = np.concatenate([c.logits for c in m.next_token_logits(strided, [0, 20])])
    b = np.concatenate([c.logits for c in m.next_token_logits(ro, [0, 20])])
    np.testing.assert_array_equal(a, b)
    out = m.generate([np.array([1])], 0)
    assert len(out) == 1 and out[0].shape == (0,) and out[0].dtype == np.int64
    assert m.generate([], 5) == []
    empty = NGramLM.train(np.zeros(0, np.int64), [0], v, order=2)
    np.testing.assert_allclose(empty.probabilities(np.array([3], np.int64)), np.full(v, 1 / v))
    with pytest.raises(TypeError, match="tokens: expected an integer array"):
        NGramLM.train(np.zeros(3), [0, 3], v)


try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:

    @settings(max_examples=40, deadline=None)
    @given(
        seqs=st.lists(st.lists(st.integers(0, 4), max_size=12), max_size=5),
        order=st.integers(1, 3),
        ctx=st.lists(st.integers(0, 4), max_size=4),
        pw=st.one_of(st.none(), st.floats(0.0, 10.0)),
    )
    def test_ngram_property_matches_reference(seqs, order, ctx, pw):
        toks, offs = _ragged(seqs)
        m = NGramLM.train(toks, offs, 5, order=order, prior_weight=pw)
        got = m.probabilities(np.asarray(ctx, np.int64))
        want = ref.witten_bell(seqs, 5, order, ctx, None, pw)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        assert abs(got.sum() - 1) < 1e-12
