"""Per-batch jobs against direct library calls and the float64 references."""

from __future__ import annotations

import math

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")

import fingerprint as fp  # noqa: E402
from fingerprint.jobs import (  # noqa: E402
    IndexBuilder,
    RadioactivityAccumulator,
    WatermarkDetectJob,
    align_by_id,
    build_detector,
    minhash_batch,
    query_index,
    score_batch,
    topk_divergence_batch,
)
from fingerprint.sources.records import TokenBatch  # noqa: E402
from reference import scores as R  # noqa: E402
from reference import topk as RT  # noqa: E402

V = 64


def _batch(seed=0, B=9, k=5, echo=True, with_text=True):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 24, size=B)
    lengths[1] = 1
    offs = np.concatenate([[0], np.cumsum(lengths)])
    N = int(offs[-1])
    logits = rng.normal(scale=2.0, size=(N, V))
    lsm = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    tokens = rng.integers(0, V, size=N)
    lp = lsm[np.arange(N), tokens]
    order = np.argsort(-lsm, axis=1)[:, :k]
    tl = np.take_along_axis(lsm, order, axis=1)
    order[::4, -2:] = -1  # fewer alternatives
    tl[::4, -2:] = -np.inf
    if echo:
        lp[offs[:-1][lengths > 0]] = np.nan  # no log-prob for the first token of every record
    texts = [f"record {i} " * int(i + 1) for i in range(B)] if with_text else None
    return TokenBatch(ids=[f"r{i}" for i in range(B)], tokens=tokens, offsets=offs, logprobs=lp, top_ids=order,
                      top_logprobs=tl, texts=texts, labels=np.arange(B) % 2, source="mem")


def _known_parts(b: TokenBatch):
    segs = []
    for i in range(len(b)):
        s, e = b.offsets[i], b.offsets[i + 1]
        keep = np.flatnonzero(~np.isnan(b.logprobs[s:e])) + s
        segs.append(keep)
    offs = np.concatenate([[0], np.cumsum([len(x) for x in segs])])
    pos = np.concatenate(segs) if segs else np.zeros(0, np.int64)
    return pos.astype(np.int64), offs


def test_score_batch_matches_reference():
    b = _batch()
    t = score_batch(b, k=0.3)
    assert t.column_names == ["id", "num_tokens", "num_scored", "label", "loss", "perplexity", "min_k",
                              "min_k_plus_plus", "zlib_ratio"]
    pos, offs = _known_parts(b)
    lp = b.logprobs[pos]
    col = {c: np.asarray(t.column(c).to_numpy(zero_copy_only=False)) for c in t.column_names[1:]}
    np.testing.assert_array_equal(col["num_scored"], np.diff(offs))
    np.testing.assert_allclose(col["loss"], R.loss(lp, offs), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(col["perplexity"], R.perplexity(lp, offs), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(col["min_k"], R.min_k(lp, offs, 0.3), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(col["zlib_ratio"], R.zlib_ratio(lp, offs, b.texts), rtol=1e-12, equal_nan=True)
    ref = RT.panel(b.top_ids[pos], b.top_logprobs[pos], b.top_ids[pos], b.top_logprobs[pos], tail="bucket")
    expect = R.min_k_plus_plus(lp, -ref["entropy_p"], ref["var_logp_p"], offs, 0.3)
    np.testing.assert_allclose(col["min_k_plus_plus"], expect, rtol=1e-9, atol=1e-12, equal_nan=True)
    assert math.isnan(col["loss"][1])  # a record whose only token has no log-prob


def test_score_batch_chunks_and_threads_identical():
    b = _batch(seed=1, B=12)
    whole = score_batch(b, num_threads=1)
    parts = pa.concat_tables([score_batch(b.take(range(i, min(12, i + 5))), num_threads=2) for i in range(0, 12, 5)])
    assert whole.column_names == parts.column_names
    for c in whole.column_names:
        np.testing.assert_array_equal(np.asarray(whole.column(c).to_pylist(), dtype=object if c == "id" else float),
                                      np.asarray(parts.column(c).to_pylist(), dtype=object if c == "id" else float), err_msg=c)


def test_score_batch_errors():
    b = _batch()
    nolp = TokenBatch(ids=b.ids, tokens=b.tokens, offsets=b.offsets, source="x.parquet")
    with pytest.raises(ValueError, match="x.parquet have no log-probs"):
        score_batch(nolp)
    plain = TokenBatch(ids=b.ids, tokens=b.tokens, offsets=b.offsets, logprobs=b.logprobs)
    assert "min_k_plus_plus" not in score_batch(plain).column_names
    with pytest.raises(ValueError, match="min_k_plus_plus needs top-k"):
        score_batch(plain, scores=["min_k_plus_plus"])
    with pytest.raises(ValueError, match="unknown score 'ppl'"):
        score_batch(b, scores=["ppl"])


def test_topk_divergence_batch_matches_direct_call():
    p = _batch(seed=2, echo=False)
    q = _batch(seed=3, echo=False)
    q = TokenBatch(ids=q.ids, tokens=p.tokens, offsets=p.offsets, logprobs=None, top_ids=q.top_ids[: p.num_tokens],
                   top_logprobs=q.top_logprobs[: p.num_tokens]) if q.num_tokens >= p.num_tokens else None
    if q is None:
        pytest.skip("seed gives a shorter q")
    t = topk_divergence_batch(p, q, fields=["kl_pq", "js", "tv", "entropy_q"])
    res = fp.topk_divergences(p.top_ids, p.top_logprobs, q.top_ids, q.top_logprobs, targets=p.tokens,
                              p_target_logprobs=p.logprobs, offsets=p.offsets, fields=["kl_pq", "js", "tv", "entropy_q"])
    for f in ("kl_pq", "js", "tv", "entropy_q"):
        v = getattr(res, f)
        expect = [np.nanmean(v[s:e]) if np.any(~np.isnan(v[s:e])) else np.nan for s, e in zip(p.offsets[:-1], p.offsets[1:])]
        np.testing.assert_allclose(t.column(f"mean_{f}").to_numpy(zero_copy_only=False), expect, rtol=1e-12, equal_nan=True)


def test_align_by_id_and_token_mismatch():
    p = _batch(seed=4)
    q = p.take([3, 0, 5])
    ap, aq, missing = align_by_id(p, q)
    assert ap.ids == aq.ids == ["r0", "r3", "r5"]
    assert missing == [f"r{i}" for i in (1, 2, 4, 6, 7, 8)]
    bad = TokenBatch(ids=aq.ids, tokens=(aq.tokens + 1) % V, offsets=aq.offsets, logprobs=aq.logprobs,
                     top_ids=aq.top_ids, top_logprobs=aq.top_logprobs, source="q.jsonl", first_line=1)
    with pytest.raises(ValueError, match=r"record 'r0' .* has different tokens \(first difference at position 0"):
        topk_divergence_batch(ap, bad)
    with pytest.raises(ValueError, match="appears twice"):
        align_by_id(p, TokenBatch.concat([q, q]))


@pytest.mark.parametrize("spec", [
    {"scheme": "kgw", "vocab_size": V, "gamma": 0.25, "hash_key": 15485863},
    {"scheme": "maryland", "vocab_size": V, "gamma": 0.5, "seed": 7, "detect": {"scoring": "v2"}},
    {"scheme": "aaronson", "vocab_size": V, "seed": 3},
    {"scheme": "unigram", "vocab_size": V, "gamma": 0.5, "key": 11},
    {"scheme": "synthid", "keys": [5, 9, 13], "ngram_len": 3},
])
def test_watermark_detect_job_matches_direct_call(spec):
    b = _batch(seed=5)
    t = WatermarkDetectJob(spec)(b)
    det = build_detector(spec)
    res = det.detect_batch(b.tokens, b.offsets, **spec.get("detect", {}))
    assert t.column("id").to_pylist() == b.ids
    for name, v in res.to_dict().items():
        if np.ndim(v) == 1:
            np.testing.assert_array_equal(t.column(name).to_numpy(zero_copy_only=False), v, err_msg=name)
    with pytest.raises(ValueError, match="'scheme' must be one of"):
        build_detector({"scheme": "nope"})


@pytest.mark.parametrize("mode", ["outputs", "reading"])
def test_radioactivity_streaming_equals_one_call(mode):
    b = _batch(seed=6, B=20)
    b.prompt_tokens = np.arange(40) % V
    b.prompt_offsets = np.arange(0, 41, 2)
    specs = [{"scheme": "maryland", "vocab_size": V, "ngram": 2, "seed": 1},
             {"scheme": "aaronson", "vocab_size": V, "ngram": 2, "seed": 2}]
    acc = RadioactivityAccumulator(specs, scoring_mode=mode)
    for i in range(0, 20, 6):
        acc.add(b.take(range(i, min(20, i + 6))))
    out = acc.result()
    kw = {"prompts": b.prompt_tokens, "prompt_offsets": b.prompt_offsets, "scoring_mode": mode}
    if mode == "reading":
        pred = b.top_ids[:, 0].copy()
        pred[pred < 0] = 0
        kw["predictions"] = pred
    direct = fp.watermark.radioactivity([build_detector(s) for s in specs], b.tokens, b.offsets, **kw)
    assert out["p_value"] == direct.p_value and out["used_prompts"]
    for e, r in zip(out["detectors"], direct.results):
        assert e["p_value_exact"] == r.p_value_exact and e["num_tokens_scored"] == r.num_tokens_scored
    assert out["num_records"] == 20 and out["num_tokens"] == b.num_tokens


def test_minhash_and_index_jobs():
    b = _batch(seed=7, B=10)
    t = minhash_batch(b, num_perm=64, ngram=3)
    sig = np.asarray(t.column("signature").combine_chunks().flatten().to_numpy()).reshape(10, 64)
    np.testing.assert_array_equal(sig, fp.minhash.minhash(b.tokens, b.offsets, num_perm=64, ngram=3))
    ib = IndexBuilder("minhash", num_perm=64, ngram=3, threshold=0.5)
    ib.add(b.take(range(5)))
    ib.add(b.take(range(5, 10)))
    hits = query_index(ib.index, b.take([2, 7]), k=3, labels=ib.labels, params={"ngram": 3})
    top = [r for r in hits.to_pylist() if r["rank"] == 1]
    assert [(r["query_id"], r["match_id"], r["score"]) for r in top] == [("r2", "r2", 1.0), ("r7", "r7", 1.0)]
    rng = np.random.default_rng(0)
    vec = rng.normal(size=(30, 8)).astype(np.float32)
    iv = IndexBuilder("vectors", metric="cosine")
    iv.add_vectors([f"v{i}" for i in range(30)], vec)
    res = query_index(iv.index, ([f"q{i}" for i in range(3)], vec[[4, 9, 20]]), k=2)
    direct = iv.index.search(vec[[4, 9, 20]], 2)
    assert res.column("match_id").to_pylist()[::2] == ["v4", "v9", "v20"]
    np.testing.assert_allclose(res.column("score").to_numpy(), direct.scores.reshape(-1).astype(np.float64))


def test_jobs_on_empty_batches():
    empty = TokenBatch.empty()
    empty.logprobs = np.zeros(0)
    assert score_batch(empty).num_rows == 0
    assert WatermarkDetectJob({"scheme": "kgw", "vocab_size": V})(empty).num_rows == 0
    zero_len = TokenBatch(ids=["a"], tokens=np.zeros(0, np.int64), offsets=[0, 0], logprobs=np.zeros(0))
    t = score_batch(zero_len)
    assert t.column("num_scored").to_pylist() == [0] and math.isnan(t.column("loss")[0].as_py())
