"""three_bricks Maryland and Aaronson detection: fingerprint's detect_batch vs three_bricks' detector.

Run: pytest benches/bench_watermark_threebricks.py   (pytest-benchmark). The baseline is
facebookresearch/three_bricks' ``wm/detector.py`` (``MarylandDetector``, ``OpenaiDetector``), which
is not a package: it runs when ``wm.detector`` is importable (e.g. a checkout of the repository on
PYTHONPATH, with its requirements: torch, scipy and transformers' tokenizer classes it imports) and
is skipped otherwise. 20 texts x 500 uniform random tokens, vocab 32,000, ngram 4, seed 0, hash
seeding, scoring v2, gamma 0.25 (Maryland). The reference runs with one torch thread (its cost is
one serial O(V) torch call per token); fingerprint with 1 and THREADS threads. Reported: median
seconds, tokens/s and the ratios. ``-k seeding``: min / skip seedings on repetitive text (below).
"""

from __future__ import annotations

import numpy as np
import pytest
from ratios import ratio, record, record_tokens

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


def _reference(scheme: str, seeding: str):
    """torch (one thread) and three_bricks' detector for the scheme (skips without them)."""
    torch = pytest.importorskip("torch")
    detector = pytest.importorskip("wm.detector", reason="three_bricks' wm/detector.py not on PYTHONPATH")
    torch.set_num_threads(1)
    if scheme == "maryland":
        return torch, detector.MarylandDetector(_Tokens(), NGRAM, 0, seeding, 35317, gamma=GAMMA)
    return torch, detector.OpenaiDetector(_Tokens(), NGRAM, 0, seeding, 35317)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_three_bricks(benchmark, texts, scheme):
    _, det = _reference(scheme, "hash")
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


# -- table seedings (min / skip) on repetitive text --------------------------------------------------
# 2,000 texts of 100-400 tokens made of phrases from a per-text bank of 3-11 phrases (60%) and
# random tokens: with min / skip seeding many windows share a seed, and fingerprint scores each
# distinct (seed, token) pair once with one generator stream per distinct seed. The reference
# detector raises on these seedings (it passes Python lists to get_seed_rng); its baseline here
# converts each window to an int64 tensor first (the generator's own computation), with the
# generator's hash table.
TABLE_SEEDINGS = ("hash", "min", "skip")


@pytest.fixture(scope="module")
def phrase_corpus():
    rng = np.random.default_rng(1)
    texts = []
    for _ in range(2000):
        bank = [rng.integers(0, V, int(rng.integers(3, 9))) for _ in range(int(rng.integers(3, 12)))]
        parts, size, target = [], 0, int(rng.integers(100, 401))
        while size < target:
            p = bank[int(rng.integers(0, len(bank)))] if rng.random() < 0.6 else rng.integers(0, V, int(rng.integers(1, 6)))
            parts.append(p)
            size += len(p)
        texts.append(np.concatenate(parts)[:target])
    lengths = np.array([len(t) for t in texts])
    return np.concatenate(texts).astype(np.int64), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _ours_seeded(scheme, seeding):
    kw = {} if seeding == "hash" else {"hashtable": 0}
    if scheme == "maryland":
        return Maryland(V, gamma=GAMMA, ngram=NGRAM, seed=0, seeding=seeding, **kw)
    return Aaronson(V, ngram=NGRAM, seed=0, seeding=seeding, **kw)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("seeding", TABLE_SEEDINGS)
def test_fingerprint_seeding_phrases(benchmark, phrase_corpus, scheme, seeding):
    ids, offs = phrase_corpus
    det = _ours_seeded(scheme, seeding)
    benchmark.group = f"threebricks-seeding-{scheme}"
    res = benchmark.pedantic(lambda: det.detect_batch(ids, offs, scoring="v2", num_threads=1),
                             rounds=ROUNDS, iterations=1, warmup_rounds=1)  # fmt: skip
    assert res.num_tokens_scored.sum() > 0
    record_tokens(benchmark, f"threebricks/{scheme}/{seeding}/phrases/fingerprint/1t", ids.shape[0])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_three_bricks_min_seeding_phrases(benchmark, phrase_corpus, scheme):
    torch, det = _reference(scheme, "min")
    ours = _ours_seeded(scheme, "min")
    det.hashtable = torch.from_numpy(ours.hashtable.astype(np.int64))
    det.get_seed_rng = lambda window: int(torch.min(det.hashint(det.salt_key * torch.tensor(window))))
    ids, offs = phrase_corpus
    rows = [ids[offs[i]:offs[i + 1]].tolist() for i in range(200)]  # a tenth of the corpus
    benchmark.group = f"threebricks-seeding-{scheme}"
    def run():  # get_pvalues one text at a time (NumPy 2 refuses its ragged batch)
        return np.array([det.get_pvalues([sl])[0] for sl in det.get_scores_by_t(rows, scoring_method="v2")])

    pv = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    mine = ours.detect_batch(ids[: offs[200]], offs[:201], scoring="v2")
    np.testing.assert_allclose(mine.p_value, pv[:, 0], rtol=1e-3)
    # timed on a tenth of the corpus; recorded as the time for the whole corpus at that rate
    seconds = float(benchmark.stats.stats.median) * ids.shape[0] / int(offs[200])
    record(f"threebricks/{scheme}/min/phrases/three_bricks", seconds)
    print(f"\nthreebricks/{scheme}/min/phrases/three_bricks: {ids.shape[0] / seconds:,.0f} tokens/s")


for _s in SCHEMES:
    ratio(f"three_bricks {_s} min seeding, repetitive text, 1 thread each",
          f"threebricks/{_s}/min/phrases/three_bricks", f"threebricks/{_s}/min/phrases/fingerprint/1t")
    ratio(f"fingerprint {_s} on repetitive text: hash vs min seeding",
          f"threebricks/{_s}/hash/phrases/fingerprint/1t", f"threebricks/{_s}/min/phrases/fingerprint/1t")
