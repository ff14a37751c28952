"""three_bricks Maryland and Aaronson detection: fingerprint's detect_batch vs three_bricks' detector.

Run: pytest benches/bench_watermark_threebricks.py   (pytest-benchmark). The baseline is
facebookresearch/three_bricks' ``wm/detector.py`` (``MarylandDetector``, ``OpenaiDetector``), which
is not a package: it runs when ``wm.detector`` is importable (e.g. a checkout of the repository on
PYTHONPATH, with its requirements: torch, scipy and transformers' tokenizer classes it imports) and
is skipped otherwise. 20 texts x 500 uniform random tokens, vocab 32,000, ngram 4, seed 0, hash
seeding, scoring v2, gamma 0.25 (Maryland). The reference runs with one torch thread (its cost is
one serial O(V) torch call per token); fingerprint with 1 and THREADS threads. Reported: median
seconds, tokens/s and the ratios.
"""

from __future__ import annotations

import numpy as np
import pytest
from ratios import ratio, record_tokens

from fingerprint.watermark import Aaronson, Maryland

B, L, V, NGRAM, GAMMA = 20, 500, 32_000, 4, 0.25
THREADS = 2
ROUNDS = 3
SCHEMES = ("maryland", "aaronson")


@pytest.fixture(scope="module")
def texts():
    return np.random.default_rng(0).integers(0, V, (B, L))


def _report(benchmark, key):
    record_tokens(benchmark, key, B * L)


def _ours(scheme):
    return Maryland(V, gamma=GAMMA, ngram=NGRAM, seed=0) if scheme == "maryland" else Aaronson(V, ngram=NGRAM, seed=0)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("threads", [1, THREADS])
def test_fingerprint(benchmark, texts, scheme, threads):
    det = _ours(scheme)
    flat = np.ascontiguousarray(texts.reshape(-1))
    offs = np.arange(0, B * L + 1, L, dtype=np.int64)
    benchmark.group = f"threebricks-{scheme}"
    res = benchmark.pedantic(lambda: det.detect_batch(flat, offs, scoring="v2", num_threads=threads),
                             rounds=max(ROUNDS, 5), iterations=1, warmup_rounds=1)  # fmt: skip
    assert res.num_tokens_scored.sum() == B * (L - NGRAM - 1)
    _report(benchmark, f"threebricks/{scheme}/fingerprint/{threads}t")


class _Tokens:
    """Tokenizer stand-in: texts are already token ids."""

    vocab_size = V

    def encode(self, x, add_special_tokens=False):
        return list(x)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_three_bricks(benchmark, texts, scheme):
    torch = pytest.importorskip("torch")
    detector = pytest.importorskip("wm.detector", reason="three_bricks' wm/detector.py not on PYTHONPATH")
    torch.set_num_threads(1)
    if scheme == "maryland":
        det = detector.MarylandDetector(_Tokens(), NGRAM, 0, "hash", 35317, gamma=GAMMA)
    else:
        det = detector.OpenaiDetector(_Tokens(), NGRAM, 0, "hash", 35317)
    rows = [[int(x) for x in row] for row in texts]
    benchmark.group = f"threebricks-{scheme}"

    def run():
        return det.get_pvalues(det.get_scores_by_t(rows, scoring_method="v2"))

    pv = benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    mine = _ours(scheme).detect_batch(list(texts), scoring="v2")
    np.testing.assert_allclose(mine.p_value, pv[:, 0], rtol=1e-3)
    _report(benchmark, f"threebricks/{scheme}/three_bricks")


for _s in SCHEMES:
    ratio(f"three_bricks {_s}, 1 thread each", f"threebricks/{_s}/three_bricks", f"threebricks/{_s}/fingerprint/1t")
    ratio(f"three_bricks {_s}, fingerprint {THREADS} threads", f"threebricks/{_s}/three_bricks",
          f"threebricks/{_s}/fingerprint/{THREADS}t")  # fmt: skip
