"""Radioactivity test: oracle agreement (dedup, prompts, filter, reading mode), power on a
synthetic contaminated student, validity on controls, multiple testing, KGW, errors."""

from __future__ import annotations

import numpy as np
import pytest
from reference import threebricks as ref
from scipy import special, stats

from fingerprint.watermark import (
    KGW,
    Aaronson,
    Maryland,
    adjust_p_values,
    generate,
    radioactivity,
)


def _ragged(texts):
    lengths = [len(t) for t in texts]
    return np.concatenate(texts).astype(np.int64), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _corpus(rng, v, n, lo, hi, bank_size=6):
    bank = [rng.integers(0, v, 5) for _ in range(bank_size)]
    texts = []
    for _ in range(n):
        parts, size, target = [], 0, int(rng.integers(lo, hi))
        while size < target:
            p = bank[int(rng.integers(0, bank_size))] if rng.random() < 0.5 else rng.integers(0, v, 3)
            parts.append(p)
            size += len(p)
        texts.append(np.concatenate(parts)[:target])
    return texts


@pytest.mark.parametrize("dedup", ["window+token", "window"])
@pytest.mark.parametrize("scheme", ["maryland", "aaronson"])
def test_matches_oracle_outputs(dedup, scheme, rng):
    V, ngram, seed = 61, 2, 11
    det = Maryland(V, gamma=0.25, ngram=ngram, seed=seed) if scheme == "maryland" else Aaronson(V, ngram=ngram, seed=seed)
    texts = _corpus(rng, V, 12, 0, 40)
    prompts = [np.concatenate([t[:6], rng.integers(0, V, 3)]) if len(t) > 6 else rng.integers(0, V, 2) for t in texts]
    filt = np.array([w for t in texts for w in (t[i : i + 2] for i in range(0, max(len(t) - 2, 0), 2))], dtype=np.int64).reshape(-1, 2)
    ids, offs = _ragged(texts)
    pids, poffs = _ragged(prompts)
    for kw, oracle_kw in [
        ({}, {}),
        ({"prompts": pids, "prompt_offsets": poffs}, {"prompts": prompts}),
        ({"filter_windows": filt}, {"filter_windows": filt}),
        ({"prompts": prompts, "filter_windows": filt}, {"prompts": prompts, "filter_windows": filt}),
    ]:
        res = radioactivity(det, ids, offs, dedup=dedup, **kw)
        pairs = ref.radioactivity_pairs(texts, ngram, dedup=dedup, **oracle_kw)
        assert res.num_tokens_scored == len(pairs), kw.keys()
        got_pairs = [(tuple(ids[p - ngram : p].tolist()), int(ids[p])) for p in res.scored_positions]
        assert got_pairs == pairs
        s = sum(ref.pair_score(scheme, w, t, vocab=V, seed=seed, gamma=0.25) for w, t in pairs)
        n = len(pairs)
        if scheme == "maryland":
            assert res.num_green_tokens == s
            assert res.p_value_exact == pytest.approx(stats.binom.sf(s - 1, n, int(0.25 * V) / V) if s > 0 else 1.0, rel=1e-12)
            assert res.p_value == pytest.approx(max(special.betainc(s, n - s + 1, 0.25), 1e-200), rel=1e-12)
        else:
            assert res.score_sum == pytest.approx(s, rel=1e-12)
            assert res.p_value_exact == pytest.approx(special.gammaincc(n, s), rel=1e-10)
        assert res.checkpoints[-1] == n
        assert res.num_candidates == sum(max(len(t) - ngram - 1, 0) for t in texts)


def test_reading_mode_matches_oracle(rng):
    V, ngram = 53, 3
    det = Maryland(V, gamma=0.5, ngram=ngram, seed=3)
    texts = _corpus(rng, V, 10, 5, 50)
    preds = [rng.integers(0, V, len(t)) for t in texts]
    ids, offs = _ragged(texts)
    pr, _ = _ragged(preds)
    res = radioactivity(det, ids, offs, scoring_mode="reading", predictions=pr)
    pairs = ref.radioactivity_pairs(texts, ngram, predictions=preds)
    got = [(tuple(ids[p - ngram : p].tolist()), int(pr[p])) for p in res.scored_positions]
    assert got == pairs
    assert res.num_in_context > 0


def test_dedup_counts_duplicated_corpus(rng):
    det = Aaronson(1000, ngram=2)
    t = rng.integers(0, 1000, 100)
    one = radioactivity(det, [t])
    many = radioactivity(det, [t, t, t])
    assert many.num_tokens_scored == one.num_tokens_scored
    assert many.num_duplicates == 2 * one.num_candidates + one.num_duplicates
    assert many.p_value_exact == one.p_value_exact


def test_prompt_copy_excluded(rng):
    det = Maryland(1000, ngram=2)
    prompt = rng.integers(0, 1000, 60)
    out = np.concatenate([prompt[10:50], rng.integers(0, 1000, 5)])  # the answer copies the prompt
    res = radioactivity(det, [out], prompts=[prompt])
    assert res.num_in_prompt == 40 - 2  # windows out[t-2:t] inside the copy: t = 3..40
    assert res.num_tokens_scored == out.shape[0] - 3 - res.num_in_prompt


def test_filter_windows(rng):
    det = Maryland(1000, ngram=2)
    t = rng.integers(0, 1000, 50)
    filt = np.stack([t[10:12], t[20:22]])
    res = radioactivity(det, [t], filter_windows=filt)
    assert res.num_tokens_scored == 2
    assert sorted(res.scored_positions.tolist()) == [12, 22]
    assert res.num_filtered == res.num_candidates - 2


def _student_corpus(det, n_texts, length, contaminated_frac, seed):
    """A 'student' whose next-token logits lean towards the teacher's green list on a fraction of
    steps (as after training on some watermarked text), random otherwise."""
    rng = np.random.default_rng(seed)
    proc = det.processor(2.0)
    texts = []
    for _ in range(n_texts):
        def logits_fn(ids):
            x = rng.standard_normal(det.vocab_size) * 2.0
            return proc(ids, x) if rng.random() < contaminated_frac else x

        prompt = rng.integers(0, det.vocab_size, det.ngram)
        texts.append(np.concatenate([prompt, generate(logits_fn, prompt, length, rng=rng)]))
    return texts


def test_student_detected_and_control_not():
    teacher = Maryland(1000, gamma=0.25, ngram=2, seed=77)
    student = _student_corpus(teacher, 20, 100, 0.3, 1)
    res = radioactivity(teacher, student)
    assert res.p_value_exact < 1e-5
    # the cumulative p-value decreases (overall) as tokens accrue
    assert res.checkpoint_p_values[-1] < res.checkpoint_p_values[len(res.checkpoint_p_values) // 2]
    other_key = Maryland(1000, gamma=0.25, ngram=2, seed=78)
    assert radioactivity(other_key, student).p_value_exact > 1e-3


def test_controls_uniform():
    rng = np.random.default_rng(5)
    det = Aaronson(500, ngram=2, seed=9)
    p = []
    for _ in range(1000):
        texts = _corpus(rng, 500, 3, 5, 40)
        p.append(radioactivity(det, texts).p_value_exact)
    p = np.array(p)
    assert stats.kstest(p, "uniform").pvalue > 0.01
    md = Maryland(500, gamma=0.25, ngram=2, seed=9)
    q = np.array([radioactivity(md, _corpus(rng, 500, 3, 5, 40)).p_value_exact for _ in range(1000)])
    for a in (0.1, 0.01):
        assert stats.binom.sf((q <= a).sum() - 1, q.size, a) > 0.01


def test_multiple_keys_adjustment():
    teacher = Maryland(1000, gamma=0.25, ngram=2, seed=77)
    student = _student_corpus(teacher, 10, 100, 0.5, 2)
    dets = [Maryland(1000, gamma=0.25, ngram=2, seed=s) for s in (1, 2, 77)] + [Aaronson(1000, ngram=2, seed=77)]
    multi = radioactivity(dets, student)
    assert len(multi) == 4 and multi.best == 2
    p = multi.p_values_exact
    assert multi.p_bonferroni[2] == pytest.approx(min(1.0, 4 * p[2]))
    assert multi.p_holm[2] <= multi.p_bonferroni[2]
    assert multi.p_value < 1e-5


def test_adjust_p_values():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjust_p_values(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])
    # Holm: sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.09, 0.09 (monotone), 0.5
    np.testing.assert_allclose(adjust_p_values(p, "holm"), [0.04, 0.09, 0.09, 0.5])
    with pytest.raises(ValueError, match="method"):
        adjust_p_values(p, "fdr")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_p_values([0.5, 1.5])


def test_kgw_lefthash_matches_detector(rng):
    kgw = KGW(1000, gamma=0.25, seeding="lefthash", compat="lm-watermarking")
    t = rng.integers(0, 1000, 300)
    res = radioactivity(kgw, [t])
    d = kgw.detect(t)
    assert res.num_tokens_scored == d.num_tokens_scored
    assert res.num_green_tokens == d.num_green_tokens
    assert res.p_value_exact == pytest.approx(d.p_value_exact, rel=1e-12)


def test_kgw_selfhash_student():
    kgw = KGW(1000, gamma=0.25, seeding="selfhash", compat="lm-watermarking")
    rng = np.random.default_rng(3)
    proc = kgw.processor(4.0)
    t = np.concatenate([[1, 2, 3, 4], generate(lambda ids: rng.standard_normal(1000), [1, 2, 3, 4], 150, processor=proc, rng=4)])
    res = radioactivity(kgw, [t])
    d = kgw.detect(t)
    assert res.num_green_tokens == d.num_green_tokens and res.num_tokens_scored == d.num_tokens_scored
    assert res.p_value_exact < 1e-6


def test_thread_invariance(rng):
    det = Aaronson(32000, ngram=4)
    texts = [rng.integers(0, 32000, 200) for _ in range(10)]
    a = radioactivity(det, texts, num_threads=1)
    b = radioactivity(det, texts, num_threads=2)
    assert a.score_sum == b.score_sum and np.array_equal(a.checkpoint_p_values, b.checkpoint_p_values)


def test_errors(rng):
    det = Maryland(100, ngram=2)
    t = [rng.integers(0, 100, 20)]
    with pytest.raises(ValueError, match="dedup"):
        radioactivity(det, t, dedup="none")
    with pytest.raises(ValueError, match="scoring_mode"):
        radioactivity(det, t, scoring_mode="topk")
    with pytest.raises(ValueError, match="predictions: required"):
        radioactivity(det, t, scoring_mode="reading")
    with pytest.raises(ValueError, match="predictions: only used"):
        radioactivity(det, t, predictions=t[0])
    with pytest.raises(ValueError, match="predictions: expected length"):
        radioactivity(det, t, scoring_mode="reading", predictions=t[0][:5])
    with pytest.raises(ValueError, match="filter_windows"):
        radioactivity(det, t, filter_windows=np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="one prompt per text"):
        radioactivity(det, t, prompts=[[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="detector"):
        radioactivity(object(), t)
    with pytest.raises(ValueError, match="detector"):
        radioactivity([], t)
    with pytest.raises(ValueError, match="checkpoints"):
        radioactivity(det, t, checkpoints=[5, 3])
    with pytest.raises(ValueError, match=r"values must lie in \[0, 100\)"):
        radioactivity(det, [[1, 2, 3, 200]])


def test_reading_mode_student_detected():
    # the suspect's top-1 prediction on the teacher's watermarked text is green for some positions
    teacher = Maryland(1000, gamma=0.25, ngram=2, seed=5)
    rng = np.random.default_rng(8)
    texts = [rng.integers(0, 1000, 120) for _ in range(10)]
    preds = []
    for t in texts:
        p = rng.integers(0, 1000, t.shape[0])
        for i in range(2, t.shape[0]):
            if rng.random() < 0.2:
                p[i] = teacher.green_list(t[i - 2 : i])[0]
        preds.append(p)
    ids, offs = _ragged(texts)
    pr, _ = _ragged(preds)
    res = radioactivity(teacher, ids, offs, scoring_mode="reading", predictions=pr)
    assert res.p_value_exact < 1e-6
    ctrl, _ = _ragged([rng.integers(0, 1000, t.shape[0]) for t in texts])
    assert radioactivity(teacher, ids, offs, scoring_mode="reading", predictions=ctrl).p_value_exact > 1e-3


def _rw_cases():
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "data" / "watermark" / "radioactivity.json").read_text())["cases"]


@pytest.mark.parametrize("case", _rw_cases(), ids=lambda c: f"{c['scheme']}-V{c['vocab_size']}-n{c['ngram']}-{c['scoring']}-p{c['prompts'] is not None}-f{c['filter_windows'] is not None}")
def test_compat_radioactive_watermark_chunked(case):
    """Against radioactive-watermark's get_scores_by_t_chunked / get_pvalues_by_t (v1 = dedup on
    windows, v2 = on window+token; prompts and data filter as given)."""
    V, n = case["vocab_size"], case["ngram"]
    if case["scheme"] == "maryland":
        det = Maryland(V, gamma=case["gamma"], ngram=n, seed=case["seed"])
    else:
        det = Aaronson(V, ngram=n, seed=case["seed"])
    texts = [np.asarray(t, dtype=np.int64) for t in case["texts"]]
    kw = {}
    if case["prompts"] is not None:
        # the reference collects prompt windows ending before the last prompt token; fingerprint
        # also excludes the window ending at it: dropping the last token reproduces the reference
        kw["prompts"] = [np.asarray(p[:-1], dtype=np.int64) for p in case["prompts"]]
    if case["filter_windows"] is not None:
        kw["filter_windows"] = np.asarray(case["filter_windows"], dtype=np.int64).reshape(-1, n)
    N = len(case["token_scores"])
    res = radioactivity(det, texts, dedup="window" if case["scoring"] == "v1" else "window+token",
                        checkpoints=np.arange(1, N + 1), **kw)  # fmt: skip
    assert res.num_tokens_scored == N
    ids = np.concatenate(texts)
    w = np.stack([ids[p - n : p] for p in res.scored_positions])
    mine = det.pair_scores(w, ids[res.scored_positions])
    np.testing.assert_allclose(mine, case["token_scores"], rtol=1e-6, atol=1e-6)
    ref_p = np.asarray(case["cumulative_p_values"])
    ok = ref_p > 1e-30
    np.testing.assert_allclose(res.checkpoint_p_values[ok], ref_p[ok], rtol=1e-4)


def test_reading_mode_topk(rng):
    V, n = 53, 2
    det = Aaronson(V, ngram=n, seed=1)
    texts = _corpus(rng, V, 6, 5, 40)
    ids, offs = _ragged(texts)
    top = rng.integers(0, V, (ids.shape[0], 3))
    res = radioactivity(det, ids, offs, scoring_mode="reading", predictions=top)
    # oracle: the same pipeline with each position's k predictions as consecutive pairs
    seen, pairs = set(), []
    for i, t in enumerate(texts):
        a = int(offs[i])
        earlier = set()
        for p in range(n, len(t)):
            w = tuple(t[p - n : p].tolist())
            fresh = w not in earlier
            earlier.add(w)
            if p < n + 1 or not fresh:
                continue
            for j in range(3):
                key = (*w, int(top[a + p, j]))
                if key not in seen:
                    seen.add(key)
                    pairs.append(key)
    assert res.num_tokens_scored == len(pairs)
    s = sum(ref.pair_score("aaronson", k[:n], k[n], vocab=V, seed=1) for k in pairs)
    assert res.score_sum == pytest.approx(s, rel=1e-12)
    with pytest.raises(ValueError, match="predictions: expected shape"):
        radioactivity(det, ids, offs, scoring_mode="reading", predictions=top[:-1])


@pytest.mark.parametrize("seeding", ["min", "skip"])
@pytest.mark.parametrize("dedup", ["window+token", "window"])
def test_table_seedings_dedup_by_seed(seeding, dedup, rng):
    # min / skip: many windows share a seed; the seed is what prompt exclusion, reading-mode
    # context and de-duplication compare, so that the scored pairs are distinct trials
    V, ngram = 67, 3
    table = rng.permutation(ref.TABLE_SIZE)
    det = Maryland(V, gamma=0.25, ngram=ngram, seeding=seeding, hashtable=table)

    def ctx(w):
        return ref.table_seed(seeding, w, 35317, table)

    texts = _corpus(rng, V, 10, 1, 40)
    prompts = [np.concatenate([t[:6], rng.integers(0, V, 3)]) if len(t) > 6 else rng.integers(0, V, 2) for t in texts]
    ids, offs = _ragged(texts)
    pids, poffs = _ragged(prompts)
    preds = rng.integers(0, V, ids.shape[0])
    ptexts = [preds[offs[i] : offs[i + 1]] for i in range(len(texts))]
    for kw, oracle_kw in [
        ({}, {}),
        ({"prompts": pids, "prompt_offsets": poffs}, {"prompts": prompts}),
        ({"scoring_mode": "reading", "predictions": preds}, {"predictions": ptexts}),
    ]:
        res = radioactivity(det, ids, offs, dedup=dedup, **kw)
        pairs = ref.radioactivity_pairs(texts, ngram, dedup=dedup, context=ctx, **oracle_kw)
        assert res.num_tokens_scored == len(pairs), kw.keys()
        toks = preds if "predictions" in kw else ids
        got = [(tuple(ids[p - ngram : p].tolist()), int(toks[p])) for p in res.scored_positions]
        assert got == pairs
        s = sum(ref.pair_score("maryland", w, t, vocab=V, seed=0, gamma=0.25, window_seed=ctx(w)) for w, t in pairs)
        assert res.num_green_tokens == s
        seeds = [ctx(w) for w, _ in pairs]
        keys = seeds if dedup == "window" else list(zip(seeds, [t for _, t in pairs]))
        assert len(set(keys)) == len(keys)
