"""Unigram watermark: green list and z-scores against vectors from XuandongZhao/Unigram-Watermark."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from fingerprint.watermark import RepeatedNgramWarning, Unigram, generate, unigram_green_mask

DATA = Path(__file__).parent / "data" / "watermark"


@pytest.fixture(scope="module")
def vectors():
    return json.loads((DATA / "unigram.json").read_text())["cases"]


def test_green_list_and_z_match_reference(vectors):
    assert {c["vocab_size"] for c in vectors} == {1000, 32000, 50257, 128256}
    for c in vectors:
        v, gamma, key = c["vocab_size"], c["gamma"], c["key"]
        mask = unigram_green_mask(v, gamma, key)
        assert hashlib.sha256(np.packbits(mask).tobytes()).hexdigest() == c["mask_packbits_sha256"]
        assert int(mask.sum()) == c["num_green"]
        assert np.flatnonzero(mask)[:16].tolist() == c["first_green"]
        uni = Unigram(v, gamma=gamma, key=key)
        every = Unigram(v, gamma=gamma, key=key, unique_tokens=False)
        for t in c["texts"]:
            u = uni.detect(t["ids"])
            assert u.z_score == t["z_unidetect"]
            for alpha, decision in t["dynamic"].items():
                # p_value <= alpha exactly when the reference's dynamic threshold flags the text
                assert (u.p_value < float(alpha)) == decision
                assert (u.z_score > t["tau"][alpha]) == decision
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RepeatedNgramWarning)
                a = every.detect(t["ids"])
            assert a.z_score == t["z_detect"]


def test_exact_p_values():
    u = Unigram(1000, gamma=0.25, key=3)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 1000, 80)
    r = u.detect(ids)
    m = len(set(ids.tolist()))
    g = int(u.green_mask[np.unique(ids)].sum())
    assert (r.num_tokens_scored, r.num_green_tokens) == (m, g)
    np.testing.assert_allclose(r.p_value_exact, stats.hypergeom.sf(g - 1, 1000, 250, m), rtol=1e-12)
    e = Unigram(1000, gamma=0.25, key=3, unique_tokens=False)
    with pytest.warns(RepeatedNgramWarning, match="repeated tokens"):
        ra = e.detect(ids)
    assert ra.num_tokens_scored == 80
    np.testing.assert_allclose(ra.p_value_exact, stats.binom.sf(ra.num_green_tokens - 1, 80, 0.25), rtol=1e-12)
    np.testing.assert_allclose(ra.p_value, stats.norm.sf(ra.z_score), rtol=1e-14)


def test_batch_masks_and_edges():
    u = Unigram(500, gamma=0.5, key=1)
    texts = [[1, 2, 2, 3], [], [4]]
    b = u.detect_batch(texts, return_mask=True, num_threads=2)
    np.testing.assert_array_equal(b.too_short, [False, True, False])
    np.testing.assert_array_equal(b.num_tokens_scored, [3, 0, 1])
    np.testing.assert_array_equal(b.num_repeated, [1, 0, 0])
    assert np.isnan(b.z_score[1]) and b.p_value_exact[1] == 1.0
    np.testing.assert_array_equal(b.scored_token_mask, [True, True, False, True, True])
    np.testing.assert_array_equal(b.green_token_mask, u.green_mask[[1, 2, 2, 3, 4]])
    with pytest.raises(ValueError, match="ids: empty text"):
        u.detect([])
    with pytest.raises(ValueError, match=r"ids: values must lie in \[0, 500\)"):
        u.detect([500])
    with pytest.raises(TypeError, match=r"key: expected an integer"):
        Unigram(500, gamma=0.5, key="k")
    with pytest.raises(TypeError, match="gamma"):
        Unigram(500, key=1)  # gamma is required
    with pytest.raises(ValueError, match=r"gamma: int\(gamma \* vocab_size\)"):
        Unigram(5, gamma=0.1, key=1)


def test_processor_and_detection():
    v = 32000
    u = Unigram(v, gamma=0.5, key=15485863)
    proc = u.processor(2.0)
    x = np.zeros(v + 5, dtype=np.float32)
    out = proc(np.array([1]), x)
    np.testing.assert_array_equal(np.flatnonzero(out), u.green_ids)
    model = np.random.default_rng(9)
    toks = generate(lambda ids: model.standard_normal(v).astype(np.float32), [0], 200, processor=proc, rng=3)
    assert u.detect(toks).p_value_exact < 1e-6
