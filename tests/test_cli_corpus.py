"""The corpus commands end to end, in a subprocess, on small generated files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from fingerprint.jobs import WatermarkDetectJob, score_batch  # noqa: E402
from fingerprint.sources.readers import read_all  # noqa: E402
from fingerprint.sources.records import TokenBatch  # noqa: E402
from fingerprint.sources.writers import write_table  # noqa: E402

V = 40


def run(tmp_path, *args, ok=True):
    out = subprocess.run([sys.executable, "-m", "fingerprint.cli", *map(str, args)], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "FINGERPRINT_TRACEBACK": ""})
    if ok:
        assert out.returncode == 0, out.stderr
    return out


def _corpus(seed=0, B=8, k=3):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, size=B)
    offs = np.concatenate([[0], np.cumsum(lengths)])
    N = int(offs[-1])
    logits = rng.normal(size=(N, V))
    lsm = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    tokens = rng.integers(0, V, size=N)
    order = np.argsort(-lsm, axis=1)[:, :k]
    return TokenBatch(ids=[f"d{i}" for i in range(B)], tokens=tokens, offsets=offs, logprobs=lsm[np.arange(N), tokens],
                      top_ids=order, top_logprobs=np.take_along_axis(lsm, order, axis=1),
                      texts=[f"text {i}" for i in range(B)])


@pytest.fixture
def files(tmp_path):
    b = _corpus()
    write_table(tmp_path / "a.parquet", b.take(range(4)))
    write_table(tmp_path / "b.parquet", b.take(range(4, 8)))
    write_table(tmp_path / "all.jsonl", b)
    (tmp_path / "key.json").write_text(json.dumps({"scheme": "kgw", "vocab_size": V, "gamma": 0.25}))
    return tmp_path, b


def test_score_end_to_end_matches_job(files):
    tmp, b = files
    r = run(tmp, "score", "*.parquet", "--out", "s.parquet", "--batch-rows", "3", "--num-threads", "2")
    assert "loss" in r.stdout
    got = pq.read_table(tmp / "s.parquet")
    expect = score_batch(b)
    assert got.column("id").to_pylist() == b.ids
    for c in ("loss", "min_k", "min_k_plus_plus", "zlib_ratio"):
        np.testing.assert_array_equal(got.column(c).to_numpy(), expect.column(c).to_numpy())
    summary = json.loads((tmp / "s.parquet.summary.json").read_text())
    assert summary["rows"] == 8 and summary["read"]["records"] == 8 and summary["read"]["skipped"] == 0
    r = run(tmp, "score", "all.jsonl", "--reference", "a.parquet", "--out", "d.jsonl", "--json")
    rows = [json.loads(x) for x in (tmp / "d.jsonl").read_text().splitlines()]
    assert [x["id"] for x in rows] == ["d0", "d1", "d2", "d3"]
    assert all(x["mean_kl_pq"] == pytest.approx(0.0, abs=1e-12) for x in rows)
    assert json.loads(r.stdout)["reference"]["records_without_reference"] == 4


def test_malformed_input_one_line_error_and_skip(files):
    tmp, b = files
    lines = (tmp / "all.jsonl").read_text().splitlines()
    bad = json.loads(lines[2])
    bad["logprobs"][1] = "oops"
    lines[2] = json.dumps(bad)
    lines.insert(5, "{truncated")
    (tmp / "bad.jsonl").write_text("\n".join(lines) + "\n")
    r = run(tmp, "score", "bad.jsonl", "--out", "s.jsonl", ok=False)
    assert r.returncode == 2
    assert r.stderr.strip() == "fingerprint score: error: bad.jsonl:3: logprobs[1]: expected a number, got str"
    assert not (tmp / "s.jsonl").exists()
    r = run(tmp, "score", "bad.jsonl", "--out", "s.jsonl", "--on-error", "skip", "--json")
    s = json.loads(r.stdout)
    assert s["rows"] == 7 and s["read"]["skipped"] == 2
    assert s["read"]["skipped_by_reason"] == {"bad_json": 1, "malformed": 1}
    r = run(tmp, "score", "missing*.parquet", "--out", "x.parquet", ok=False)
    assert r.returncode == 2 and "matches no file" in r.stderr
    r = run(tmp, "score", "a.parquet", "--out", "x.csv", ok=False)
    assert r.returncode == 2 and "cannot tell the format" in r.stderr


def test_watermark_detect_and_radioactivity(files):
    tmp, b = files
    run(tmp, "watermark", "detect", "a.parquet", "b.parquet", "--key", "key.json", "--out", "w.jsonl")
    rows = [json.loads(x) for x in (tmp / "w.jsonl").read_text().splitlines()]
    direct = WatermarkDetectJob(json.loads((tmp / "key.json").read_text()))(b)
    assert [r["p_value_exact"] for r in rows] == direct.column("p_value_exact").to_pylist()
    r = run(tmp, "watermark", "radioactivity", "all.jsonl", "--key", "key.json", "--out", "radio.json", "--json")
    res = json.loads((tmp / "radio.json").read_text())
    assert res["num_records"] == 8 and 0 <= res["p_value"] <= 1
    assert json.loads(r.stdout)["p_value"] == res["p_value"]
    (tmp / "bad_key.json").write_text(json.dumps({"scheme": "kgw"}))
    r = run(tmp, "watermark", "detect", "a.parquet", "--key", "bad_key.json", "--out", "w.jsonl", ok=False)
    assert r.returncode == 2 and "invalid arguments for kgw" in r.stderr


def test_index_build_and_query(files):
    tmp, b = files
    rng = np.random.default_rng(1)
    vec = rng.normal(size=(25, 6))
    pq.write_table(pa.table({"id": [f"v{i}" for i in range(25)], "vector": vec.tolist()}), tmp / "vec.parquet")
    run(tmp, "index", "build", "vec.parquet", "--out", "v.index", "--batch-rows", "7")
    run(tmp, "index", "query", "vec.parquet", "--index", "v.index", "--k", "1", "--out", "q.parquet")
    q = pq.read_table(tmp / "q.parquet")
    assert q.column("match_id").to_pylist() == q.column("query_id").to_pylist()
    run(tmp, "index", "build", "a.parquet", "b.parquet", "--kind", "minhash", "--ngram", "2", "--out", "m.index")
    run(tmp, "index", "query", "all.jsonl", "--index", "m.index", "--k", "1", "--out", "mq.jsonl")
    rows = [json.loads(x) for x in (tmp / "mq.jsonl").read_text().splitlines()]
    assert [(r["query_id"], r["match_id"], r["score"]) for r in rows] == [(i, i, 1.0) for i in b.ids]
    pq.write_table(pa.table({"id": ["a", "b"], "vector": [[1.0, 2.0], [1.0]]}), tmp / "ragged.parquet")
    r = run(tmp, "index", "build", "ragged.parquet", "--out", "r.index", ok=False)
    assert r.returncode == 2 and "ragged.parquet:row 1: vector: 1 values, expected 2" in r.stderr


def test_openai_responses_with_tokenizer_file(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from fingerprint.sources.vocab import _bytes_to_unicode

    b2u = _bytes_to_unicode()
    vocab = {b2u[i]: i for i in range(256)}
    vocab["Hello"] = 256
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.save(str(tmp_path / "tokenizer.json"))
    resp = {"id": "c1", "choices": [{"index": 0, "message": {"content": "Hello!"}, "logprobs": {"content": [
        {"token": "Hello", "logprob": -0.5, "bytes": list(b"Hello"), "top_logprobs": [{"token": "Hello", "logprob": -0.5, "bytes": list(b"Hello")}]},
        {"token": "!", "logprob": -9999.0, "bytes": [33], "top_logprobs": []}]}}]}
    (tmp_path / "r.jsonl").write_text(json.dumps(resp) + "\n")
    r = run(tmp_path, "score", "r.jsonl", "--out", "s.jsonl", ok=False)  # without --tokenizer
    assert r.returncode == 2 and "--tokenizer or --vocab" in r.stderr
    r = run(tmp_path, "score", "r.jsonl", "--tokenizer", "tokenizer.json", "--out", "s.jsonl", "--json")
    s = json.loads(r.stdout)
    assert s["read"]["notes"] == {"placeholder_logprobs": 1}
    row = json.loads((tmp_path / "s.jsonl").read_text())
    assert row["id"] == "c1" and row["loss"] == float("inf")  # -9999 read as -inf
    b = read_all(str(tmp_path / "r.jsonl"), vocab=str(tmp_path / "tokenizer.json"))
    assert b.tokens.tolist() == [256, 33]


def test_help_and_existing_commands(tmp_path):
    r = run(tmp_path, "--help")
    for cmd in ("score", "watermark", "index", "demo", "info"):
        assert cmd in r.stdout
    assert "fingerprint score responses.jsonl" in run(tmp_path, "score", "--help").stdout
    assert json.loads(run(tmp_path, "info").stdout)["version"]
