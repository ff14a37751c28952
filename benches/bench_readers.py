"""Readers: fingerprint's validated streaming readers vs what a user would otherwise write, same run.

Run: pytest benches/bench_readers.py
Data: 1,000 Chat Completions responses x 100 positions x 5 alternatives (JSONL, token bytes given),
and the same records as canonical Parquet. Baselines: for JSONL, ``json.loads`` per line plus a
dict lookup of every token and alternative into Python lists (no checks, no padding, no arrays);
for Parquet, ``pyarrow.parquet.read_table`` plus flattening the list columns to NumPy (no checks).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ratios import ratio, record

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from fingerprint.sources.readers import iter_batches, read_all  # noqa: E402
from fingerprint.sources.writers import write_table  # noqa: E402

RESPONSES, LENGTH, K, VOCAB = 1_000, 100, 5, 2_000
WORDS = [bytes([97 + i % 26, 97 + (i // 26) % 26, 97 + (i // 676) % 26]) for i in range(VOCAB)]
MAPPING = {w.decode(): i for i, w in enumerate(WORDS)}
POSITIONS = RESPONSES * LENGTH


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("readers")
    rng = np.random.default_rng(0)
    with open(d / "chat.jsonl", "w") as f:
        for r in range(RESPONSES):
            content = []
            for t in rng.integers(0, VOCAB, LENGTH).tolist():
                alts = rng.choice(VOCAB, K, replace=False).tolist()
                content.append({"token": WORDS[t].decode(), "logprob": -1.0, "bytes": list(WORDS[t]),
                                "top_logprobs": [{"token": WORDS[a].decode(), "logprob": -2.0, "bytes": list(WORDS[a])} for a in alts]})
            f.write(json.dumps({"id": f"r{r}", "choices": [{"index": 0, "message": {"content": "x"},
                                                             "logprobs": {"content": content}}]}) + "\n")
    write_table(d / "c.parquet", read_all(str(d / "chat.jsonl"), vocab=MAPPING))
    return d


def _report(benchmark, key):
    seconds = float(benchmark.stats.stats.median)
    record(key, seconds)
    benchmark.extra_info["positions_per_s"] = POSITIONS / seconds
    print(f"\n{key}: {seconds * 1e3:.1f} ms, {POSITIONS / seconds:,.0f} positions/s")


def test_chat_jsonl_fingerprint(benchmark, files):
    benchmark.group = "read chat jsonl"
    benchmark.pedantic(lambda: sum(b.num_tokens for b in iter_batches(str(files / "chat.jsonl"), vocab=MAPPING)),
                       rounds=3, iterations=1)
    _report(benchmark, "chat_jsonl/fingerprint")


def _naive_chat(path):
    ids, lps, top = [], [], []
    with open(path, "rb") as f:
        for line in f:
            for e in json.loads(line)["choices"][0]["logprobs"]["content"]:
                ids.append(MAPPING[e["token"]])
                lps.append(e["logprob"])
                top.append([(MAPPING[a["token"]], a["logprob"]) for a in e["top_logprobs"]])
    return len(ids)


def test_chat_jsonl_naive(benchmark, files):
    benchmark.group = "read chat jsonl"
    benchmark.pedantic(lambda: _naive_chat(files / "chat.jsonl"), rounds=3, iterations=1)
    _report(benchmark, "chat_jsonl/json.loads+dict")
    ratio("chat JSONL: fingerprint (validated arrays) / json.loads + dict lookups", "chat_jsonl/fingerprint",
          "chat_jsonl/json.loads+dict")


def test_parquet_fingerprint(benchmark, files):
    benchmark.group = "read parquet"
    benchmark.pedantic(lambda: sum(b.num_tokens for b in iter_batches(str(files / "c.parquet"), batch_rows=4096)),
                       rounds=3, iterations=1)
    _report(benchmark, "parquet/fingerprint")


def _naive_parquet(path):
    t = pq.read_table(path)
    out = [t.column(c).combine_chunks().flatten().to_numpy(zero_copy_only=False) for c in ("token_ids", "logprobs")]
    inner = t.column("top_ids").combine_chunks().flatten().flatten().to_numpy()
    return out[0].shape[0] + inner.shape[0] * 0


def test_parquet_naive(benchmark, files):
    benchmark.group = "read parquet"
    benchmark.pedantic(lambda: _naive_parquet(files / "c.parquet"), rounds=3, iterations=1)
    _report(benchmark, "parquet/read_table+flatten")
    ratio("Parquet: fingerprint (validated, padded top-k) / read_table + flatten", "parquet/fingerprint",
          "parquet/read_table+flatten")
