"""KGW detection: fingerprint's detect_batch vs transformers' WatermarkDetector, same run.

Run: pytest benches/bench_watermark_kgw.py   (pytest-benchmark; transformers optional: without it
the baseline is skipped). 20 texts x 500 tokens, vocab 50,257, gamma 0.25, lefthash and selfhash
(transformers' defaults otherwise: context width 1), de-duplicated n-grams on both sides, on
uniform random tokens and on natural-like text (Zipf-distributed tokens with repeated phrases, so
contexts repeat as in generated text). transformers runs with one torch thread: its cost is one
serial torch.randperm per n-gram, and on a shared 2-core machine two intra-op threads made it
several times slower, not faster (measured: 1,400 vs 200 tokens/s). fingerprint runs with 1 thread
(same threads) and with THREADS. Reported: median seconds of ROUNDS runs, tokens/s and the ratios.
"""

from __future__ import annotations

import numpy as np
import pytest
from ratios import ratio, record_tokens

from fingerprint.watermark import KGW

B, L, V, GAMMA = 20, 500, 50_257, 0.25
THREADS = 2
ROUNDS = 3
SCHEMES = ("lefthash", "selfhash")
TEXTS = ("random", "natural")


def natural_like(rng: np.random.Generator, b: int, n: int, v: int) -> np.ndarray:
    cdf = np.cumsum(1.0 / np.arange(1, v + 1) ** 1.1)
    cdf /= cdf[-1]
    perm = rng.permutation(v)

    def zipf(k):
        return perm[np.minimum(np.searchsorted(cdf, rng.random(k)), v - 1)]

    rows = []
    for _ in range(b):
        bank = [zipf(int(rng.integers(3, 9))) for _ in range(10)]
        pieces, size = [], 0
        while size < n:
            piece = bank[int(rng.integers(0, 10))] if rng.random() < 0.5 else zipf(int(rng.integers(1, 6)))
            pieces.append(piece)
            size += piece.shape[0]
        rows.append(np.concatenate(pieces)[:n])
    return np.stack(rows).astype(np.int64)


@pytest.fixture(scope="module")
def texts():
    rng = np.random.default_rng(0)
    natural = natural_like(rng, B, L, V)
    natural[natural == V - 1] = 0  # V - 1 is the BOS id below: never in the texts
    return {"random": rng.integers(0, V - 1, (B, L)), "natural": natural}


def _report(benchmark, key):
    record_tokens(benchmark, key, B * L)


@pytest.mark.parametrize("kind", TEXTS)
@pytest.mark.parametrize("seeding", SCHEMES)
@pytest.mark.parametrize("threads", [1, THREADS])
def test_fingerprint(benchmark, texts, seeding, kind, threads):
    ids = texts[kind]
    k = KGW(V, gamma=GAMMA, seeding=seeding, compat="transformers", ignore_repeated_ngrams=True, bos_token_id=V - 1)
    flat = np.ascontiguousarray(ids.reshape(-1))
    offs = np.arange(0, B * L + 1, L, dtype=np.int64)
    benchmark.group = f"kgw-{seeding}-{kind}"
    res = benchmark.pedantic(lambda: k.detect_batch(flat, offs, num_threads=threads), rounds=max(ROUNDS, 5),
                             iterations=1, warmup_rounds=1)  # fmt: skip
    assert res.num_tokens_scored.sum() > 0
    _report(benchmark, f"kgw/{seeding}/{kind}/fingerprint/{threads}t")


@pytest.mark.parametrize("kind", TEXTS)
@pytest.mark.parametrize("seeding", SCHEMES)
def test_transformers(benchmark, texts, seeding, kind):
    torch = pytest.importorskip("torch")
    watermarking = pytest.importorskip("transformers.generation.watermarking")
    import types

    torch.set_num_threads(1)
    cfg = {"greenlist_ratio": GAMMA, "bias": 2.0, "hashing_key": 15485863, "seeding_scheme": seeding,
           "context_width": 1}  # fmt: skip
    model_config = types.SimpleNamespace(vocab_size=V, bos_token_id=V - 1, is_encoder_decoder=False)
    det = watermarking.WatermarkDetector(model_config=model_config, device="cpu", watermarking_config=cfg,
                                         ignore_repeated_ngrams=True)  # fmt: skip
    ids = torch.tensor(texts[kind])
    benchmark.group = f"kgw-{seeding}-{kind}"
    out = benchmark.pedantic(lambda: det(ids, return_dict=True), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    # same counts as fingerprint (bit-compatible)
    k = KGW(V, gamma=GAMMA, seeding=seeding, compat="transformers", ignore_repeated_ngrams=True, bos_token_id=V - 1)
    mine = k.detect_batch(list(texts[kind]))
    np.testing.assert_array_equal(mine.num_green_tokens, out.num_green_tokens)
    _report(benchmark, f"kgw/{seeding}/{kind}/transformers")


for _s in SCHEMES:
    for _k in TEXTS:
        ratio(f"KGW {_s} {_k}, 1 thread each", f"kgw/{_s}/{_k}/transformers", f"kgw/{_s}/{_k}/fingerprint/1t")
        ratio(f"KGW {_s} {_k}, fingerprint {THREADS} threads", f"kgw/{_s}/{_k}/transformers", f"kgw/{_s}/{_k}/fingerprint/{THREADS}t")
