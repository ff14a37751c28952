"""SynthID-Text g-values: fingerprint vs transformers' and synthid-text's ``compute_g_values``, same run.

Run: pytest benches/bench_watermark_synthid.py   (pytest-benchmark; transformers and a checkout of
google-deepmind/synthid-text are optional: set SYNTHID_TEXT_SRC to its ``src`` directory; missing
baselines are skipped). 20 texts x 500 tokens of uniform random ids (vocab 50,257), depth 30,
ngram_len 5. fingerprint computes the [n - 4, 30] g-values of each text, and the full detection (g-values, both masks, scores and exact
p-values) with ``detect_batch`` on 1 and THREADS threads. The references run with one torch
thread on the [20, 500] batch. The g-value figures are fingerprint's ``g_values_batch`` on one
thread (the per-core throughput). Reported: median seconds, tokens/s and the ratios.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from ratios import ratio, record_tokens

from fingerprint.watermark import SynthID

B, L, V, DEPTH, NGRAM = 20, 500, 50_257, 30, 5
THREADS = 2
ROUNDS = 3
KEYS = [int(k) for k in np.random.default_rng(1).integers(0, 2**62, DEPTH)]


@pytest.fixture(scope="module")
def texts():
    return np.random.default_rng(0).integers(0, V, (B, L))


def _report(benchmark, key):
    record_tokens(benchmark, key, B * L)


@pytest.mark.parametrize("compat", ["transformers", "synthid-text"])
def test_fingerprint_g_values(benchmark, texts, compat):
    s = SynthID(KEYS, ngram_len=NGRAM, compat=compat)
    flat = np.ascontiguousarray(texts.reshape(-1))
    offs = np.arange(0, B * L + 1, L, dtype=np.int64)
    benchmark.group = f"synthid-g-{compat}"
    g, rows = benchmark.pedantic(lambda: s.g_values_batch(flat, offs, num_threads=1), rounds=7, iterations=1,
                                 warmup_rounds=1)  # fmt: skip
    assert g.shape == (B * (L - NGRAM + 1), DEPTH)
    np.testing.assert_array_equal(g[rows[3] : rows[4]], s.g_values(texts[3]))
    _report(benchmark, f"synthid/{compat}/g_values/fingerprint/1t")


@pytest.mark.parametrize("threads", [1, THREADS])
@pytest.mark.parametrize("compat", ["transformers", "synthid-text"])
def test_fingerprint_detect(benchmark, texts, compat, threads):
    s = SynthID(KEYS, ngram_len=NGRAM, compat=compat)
    flat = np.ascontiguousarray(texts.reshape(-1))
    offs = np.arange(0, B * L + 1, L, dtype=np.int64)
    benchmark.group = f"synthid-detect-{compat}"
    res = benchmark.pedantic(lambda: s.detect_batch(flat, offs, num_threads=threads), rounds=5, iterations=1,
                             warmup_rounds=1)  # fmt: skip
    assert res.num_tokens_scored.sum() > 0
    _report(benchmark, f"synthid/{compat}/detect/fingerprint/{threads}t")


def test_transformers_g_values(benchmark, texts):
    torch = pytest.importorskip("torch")
    lp = pytest.importorskip("transformers.generation.logits_process")
    torch.set_num_threads(1)
    proc = lp.SynthIDTextWatermarkLogitsProcessor(ngram_len=NGRAM, keys=KEYS, sampling_table_size=2**16,
                                                  sampling_table_seed=0, context_history_size=1024,
                                                  device=torch.device("cpu"))  # fmt: skip
    ids = torch.tensor(texts)
    benchmark.group = "synthid-g-transformers"
    out = benchmark.pedantic(lambda: proc.compute_g_values(ids), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    s = SynthID(KEYS, ngram_len=NGRAM, compat="transformers")
    np.testing.assert_array_equal(out[3].numpy(), s.g_values(texts[3]))
    _report(benchmark, "synthid/transformers/g_values/reference")


def test_synthid_text_g_values(benchmark, texts):
    torch = pytest.importorskip("torch")
    src = os.environ.get("SYNTHID_TEXT_SRC")
    if not src:
        pytest.skip("SYNTHID_TEXT_SRC not set (path to synthid-text's src directory)")
    sys.path.insert(0, src)
    st = pytest.importorskip("synthid_text.logits_processing")
    torch.set_num_threads(1)
    proc = st.SynthIDLogitsProcessor(ngram_len=NGRAM, keys=KEYS, context_history_size=1024, temperature=1.0,
                                     top_k=40, device=torch.device("cpu"))  # fmt: skip
    ids = torch.tensor(texts)
    benchmark.group = "synthid-g-synthid-text"
    out = benchmark.pedantic(lambda: proc.compute_g_values(ids), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    s = SynthID(KEYS, ngram_len=NGRAM, compat="synthid-text")
    np.testing.assert_array_equal(out[3].numpy(), s.g_values(texts[3]))
    _report(benchmark, "synthid/synthid-text/g_values/reference")


for _c in ("transformers", "synthid-text"):
    ratio(f"SynthID {_c} g-values, 1 thread each", f"synthid/{_c}/g_values/reference",
          f"synthid/{_c}/g_values/fingerprint/1t")  # fmt: skip
    ratio(f"SynthID {_c} reference g-values vs fingerprint full detection ({THREADS} threads)",
          f"synthid/{_c}/g_values/reference", f"synthid/{_c}/detect/fingerprint/{THREADS}t")  # fmt: skip
