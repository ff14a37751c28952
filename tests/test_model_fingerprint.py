"""Model fingerprints against float64 references; the top-k sketch's estimator; probe sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fingerprint as fp
from reference import fingerprints as ref


def test_logit_profile_matches_reference(rng):
    x = (rng.standard_normal((9, 30)) * 3).astype(np.float32)
    x[2, 5] = -np.inf  # clipped at the floor
    anchors = [0, 5, 7, 29]
    got = fp.logit_profile(x, anchors, floor=-30.0)
    np.testing.assert_allclose(got, ref.logit_profile(x, anchors), rtol=1e-6, atol=1e-7)
    assert got.dtype == np.float32 and got.shape == (36,)
    assert fp.logit_profile(np.zeros((0, 4), np.float32), [1]).shape == (0,)


def test_logit_profile_errors():
    with pytest.raises(ValueError, match="anchors: values must lie"):
        fp.logit_profile(np.zeros((2, 4), np.float32), [4])
    with pytest.raises(ValueError, match="anchors: ids must be distinct"):
        fp.logit_profile(np.zeros((2, 4), np.float32), [1, 1])
    with pytest.raises(ValueError, match="row 1 contains NaN"):
        fp.logit_profile(np.array([[0, 0], [np.nan, 0]], np.float32), [0])
    with pytest.raises(ValueError, match="expected a 2-D"):
        fp.logit_profile(np.zeros(4, np.float32), [0])


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 5])
def test_topk_sketch_matches_reference(rng, seed):
    lp = np.log(rng.dirichlet(np.ones(40), size=7))
    ids, lps = fp.topk_from_logits(lp.astype(np.float32), 6)
    ids[3, 4:] = -1  # padding
    got = fp.topk_sketch(ids, lps, buckets=16, seed=seed)
    np.testing.assert_allclose(got, ref.topk_sketch(ids, lps, 16, seed), rtol=1e-6, atol=1e-8)


def test_topk_sketch_inner_product_is_unbiased_for_collision_probability(rng):
    """E over hash seeds of <sketch(P), sketch(Q)> = mean over positions of sum_v p(v) q(v)."""
    v, n = 50, 4
    p = rng.dirichlet(np.ones(v) * 0.3, size=n)
    q = rng.dirichlet(np.ones(v) * 0.3, size=n)
    ids = np.tile(np.arange(v), (n, 1))
    exact = float(np.mean(np.sum(p * q, axis=1)))
    est = np.array([
        float(np.dot(fp.topk_sketch(ids, np.log(p), buckets=8, seed=s).astype(np.float64),
                     fp.topk_sketch(ids, np.log(q), buckets=8, seed=s).astype(np.float64)))
        for s in range(4000)
    ])
    se = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean() - exact) < 4 * se + 1e-6, (est.mean(), exact, se)
    # with one bucket per token (no collisions possible... only by chance) the variance shrinks
    wide = np.array([
        float(np.dot(fp.topk_sketch(ids, np.log(p), buckets=4096, seed=s).astype(np.float64),
                     fp.topk_sketch(ids, np.log(q), buckets=4096, seed=s).astype(np.float64)))
        for s in range(200)
    ])
    assert wide.std() < est.std()


def test_text_fingerprint_matches_reference(rng):
    seqs = [list(map(int, rng.integers(0, 20, n))) for n in (0, 1, 3, 12, 7)]
    offs = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    toks = np.concatenate([np.asarray(s, np.int64) for s in seqs])
    got = fp.text_fingerprint(toks, offs, ngrams=(1, 2, 3), dim=64, seed=9)
    np.testing.assert_allclose(got, ref.text_fingerprint(seqs, (1, 2, 3), 64, 9), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="ngrams"):
        fp.text_fingerprint(toks, offs, ngrams=())


def test_model_fingerprint_from_sources_equals_array_builders():
    z = fp.make_zoo(n_teachers=2, students_per_teacher=1, n_independent=0, train_tokens=2000, seed=1)
    m = z.students[0]
    toks, offs, sf = z.probes.tokens()
    logits = np.concatenate([c.logits for c in m.next_token_logits(toks, offs, score_from=sf)])
    f = fp.model_fingerprint(m, z.probes, "logits", anchors=16, seed=2)
    np.testing.assert_array_equal(f.vector, fp.logit_profile(logits, fp.default_anchors(m.vocab_size, 16, seed=2)))
    assert f.probe_key == z.probes.key and f.name == m.name
    g = fp.model_fingerprint(m, z.probes, "topk", k=5, buckets=32)
    np.testing.assert_array_equal(g.vector, fp.topk_sketch(*fp.topk_from_logits(logits, 5), buckets=32))
    h = fp.model_fingerprint(m, z.probes, "text", samples=2, max_new_tokens=8, dim=128)
    assert h.vector.shape == (128,) and np.isfinite(h.vector).all()
    with pytest.raises(ValueError, match="kind"):
        fp.model_fingerprint(m, z.probes, "bogus")


# -- probe sets ------------------------------------------------------------------------------------


def test_default_probes_ship_with_the_package():
    ps = fp.default_probes()
    assert len(ps) == 16 and ps.tokenizer is None and all(p.text for p in ps.probes)
    with pytest.raises(ValueError, match="no token ids"):
        ps.tokens()
    tok = ps.tokenized(lambda s: [ord(c) % 97 for c in s], "chars-mod-97", vocab_size=97)
    toks, offs, sf = tok.tokens()
    assert offs.shape == (17,) and (sf > 1).all()  # continuations are scored


def test_probe_set_roundtrip_and_validation(tmp_path):
    ps = fp.ProbeSet.random(3, 5, 10, seed=1)
    path = tmp_path / "p.json"
    ps.save(path)
    back = fp.ProbeSet.load(path)
    assert back.key == ps.key
    for a, b in zip(ps.probes, back.probes):
        np.testing.assert_array_equal(a.prompt_ids, b.prompt_ids)
    doc = json.loads(path.read_text())
    doc["probes"][1]["prompt_ids"] = [1, 99]
    doc["probes"][2]["id"] = doc["probes"][0]["id"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"p.json: probe 1 \(r001\): field 'prompt_ids': id 99 at index 1 is out of range"):
        fp.ProbeSet.load(path)
    stats = {}
    got = fp.ProbeSet.load(path, on_error="skip", stats=stats)
    assert len(got) == 1 and stats["skipped"] == 2 and "duplicate id" in stats["errors"][1]
    doc["probes"] = [{"id": "x", "prompt_ids": [1]}]
    doc["tokenizer"] = None
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="need the set's 'tokenizer'"):
        fp.ProbeSet.load(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        fp.ProbeSet.load(path)
