"""MinHash signatures: fingerprint vs datasketch.MinHash, same run.

Run: pytest benches/bench_minhash.py   (datasketch optional: its baseline is skipped if missing)
Sizes follow the fingerprints issue: 100,000 documents of 500 tokens, 128 permutations, 5-grams.
fingerprint signs all 100,000 documents. datasketch is timed on the first 2,000 documents only
(about 1 ms per document) and its time is scaled by 100,000 / 2,000 = 50 (its cost is linear in
the number of documents: one MinHash object per document). Its shingles are built as bytes
(`ids[i:i+5].tobytes()`) before timing, so only datasketch's own hashing and min are timed.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from ratios import ratio, record

from fingerprint import get_num_threads

mh = importlib.import_module("fingerprint.minhash")  # the module, whatever the package re-exports

DOCS, LENGTH, NUM_PERM, NGRAM = 100_000, 500, 128, 5
BASELINE_DOCS = 2_000
THREADS = int(os.environ.get("FINGERPRINT_NUM_THREADS", get_num_threads()))


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 128_256, DOCS * LENGTH, dtype=np.int64)
    offsets = np.arange(DOCS + 1, dtype=np.int64) * LENGTH
    return ids, offsets


def _report(benchmark, key, docs, scale=1.0):
    seconds = float(benchmark.stats.stats.min) * scale
    record(key, seconds)
    benchmark.extra_info["docs_per_second"] = DOCS / seconds
    print(f"\n{key}: {DOCS / seconds:,.0f} docs/s ({seconds:.2f} s for {DOCS:,} documents"
          + (f", measured on {docs:,} and scaled" if docs != DOCS else "") + ")")


def test_minhash_fingerprint(benchmark, corpus):
    ids, offsets = corpus
    benchmark.group = "minhash"
    benchmark.pedantic(lambda: mh.minhash(ids, offsets, num_perm=NUM_PERM, ngram=NGRAM, num_threads=THREADS),
                       rounds=3, iterations=1, warmup_rounds=0)
    _report(benchmark, "minhash/fingerprint", DOCS)


def test_minhash_fingerprint_one_thread(benchmark, corpus):
    ids, offsets = corpus
    benchmark.group = "minhash"
    benchmark.pedantic(lambda: mh.minhash(ids, offsets, num_perm=NUM_PERM, ngram=NGRAM, num_threads=1),
                       rounds=1, iterations=1, warmup_rounds=0)
    _report(benchmark, "minhash/fingerprint_1thread", DOCS)


def test_minhash_datasketch(benchmark, corpus):
    datasketch = pytest.importorskip("datasketch")
    ids, _ = corpus
    docs = [ids[d * LENGTH:(d + 1) * LENGTH] for d in range(BASELINE_DOCS)]
    shingles = [[doc[i:i + NGRAM].tobytes() for i in range(LENGTH - NGRAM + 1)] for doc in docs]

    def run():
        out = []
        for sh in shingles:
            m = datasketch.MinHash(num_perm=NUM_PERM, seed=1)
            m.update_batch(sh)
            out.append(m.hashvalues)
        return out

    benchmark.group = "minhash"
    benchmark.pedantic(run, rounds=2, iterations=1, warmup_rounds=0)
    _report(benchmark, "minhash/datasketch", BASELINE_DOCS, scale=DOCS / BASELINE_DOCS)


ratio("minhash 128 perm x 5-grams, 100k docs x 500 tokens: fingerprint vs datasketch (speed-up)",
      "minhash/datasketch", "minhash/fingerprint")
ratio("minhash: all threads vs 1 thread", "minhash/fingerprint_1thread", "minhash/fingerprint")
