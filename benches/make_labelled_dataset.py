"""A labelled detector-benchmark dataset, for ``fingerprint bench`` (README, tests/test_detector_bench.py).

Positives (label 1): answers sampled from a teacher (:class:`fingerprint.zoo.LowRankLM`, seed 1)
with a KGW watermark (``kgw:gamma=0.25``, delta 2). Negatives (label 0), to other prompts: the
same teacher without the watermark (``--negatives teacher``, the default: only the watermark
tells the classes apart) or an unrelated model (``--negatives other``: LowRankLM seed 2, i.e.
"machine text of the teacher vs text from elsewhere"). Every record carries the teacher's
log-probs of its tokens (as an API scoring the text with the teacher would return them), its
prompt and a text. Also written: an observer and a performer (:class:`fingerprint.zoo.NGramLM`
of orders 2 and 3 trained on separate unwatermarked teacher samples), as ``.npz``.

    python benches/make_labelled_dataset.py OUT_DIR [--records N] [--vocab V] [--length L] [--negatives teacher|other]

writes ``OUT_DIR/part-0.jsonl``, ``OUT_DIR/part-1.parquet`` (records alternate between the two
files), ``OUT_DIR/observer.npz``, ``OUT_DIR/performer.npz``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

WATERMARK = "kgw:gamma=0.25"


def _logprobs(model, prompts, answers) -> list[np.ndarray]:
    seqs = [np.concatenate([p, a]) for p, a in zip(prompts, answers)]
    offs = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in seqs], out=offs[1:])
    sf = np.array([len(p) for p in prompts], dtype=np.int64)
    rows = []
    for c in model.next_token_logits(np.concatenate(seqs), offs, score_from=sf):
        x = c.logits.astype(np.float64)
        x -= x.max(axis=1, keepdims=True)
        lse = np.log(np.exp(x).sum(axis=1))
        rows.append(x[np.arange(len(c.targets)), c.targets] - lse)
    flat = np.concatenate(rows)
    cut = np.cumsum([len(a) for a in answers])[:-1]
    return np.split(flat, cut)


def make(out_dir: str, *, records: int = 200, vocab: int = 128, length: int = 40, seed: int = 0,
         negatives: str = "teacher") -> dict:
    from fingerprint.sources.records import TokenBatch
    from fingerprint.sources.writers import write_table
    from fingerprint.watermark import from_spec
    from fingerprint.zoo import LowRankLM, NGramLM

    rng = np.random.default_rng(seed)
    teacher = LowRankLM(vocab, seed=1, name="teacher")
    other = LowRankLM(vocab, seed=2, name="other")
    n_pos = records // 2
    n_neg = records - n_pos
    prompts = [rng.integers(0, vocab, 4) for _ in range(records)]
    proc = from_spec(WATERMARK, vocab).processor(2.0)
    pos = teacher.generate(prompts[:n_pos], length, seed=seed + 1, processor=proc)
    if negatives not in ("teacher", "other"):
        raise ValueError(f"negatives: expected 'teacher' or 'other', got {negatives!r}")
    neg = (teacher if negatives == "teacher" else other).generate(prompts[n_pos:], length, seed=seed + 2)
    answers = pos + neg
    lps = _logprobs(teacher, prompts, answers)
    labels = np.array([1] * n_pos + [0] * n_neg, dtype=np.int64)

    def batch(rows):
        lens = [len(answers[i]) for i in rows]
        offs = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lens, out=offs[1:])
        poffs = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(prompts[i]) for i in rows], out=poffs[1:])
        return TokenBatch(
            ids=[f"r{i}" for i in rows], tokens=np.concatenate([answers[i] for i in rows]), offsets=offs,
            logprobs=np.concatenate([lps[i] for i in rows]),
            texts=[" ".join(map(str, answers[i].tolist())) for i in rows],
            prompt_tokens=np.concatenate([prompts[i] for i in rows]), prompt_offsets=poffs,
            labels=labels[rows])

    order = rng.permutation(records)
    os.makedirs(out_dir, exist_ok=True)
    write_table(os.path.join(out_dir, "part-0.jsonl"), batch(order[0::2]))
    write_table(os.path.join(out_dir, "part-1.parquet"), batch(order[1::2]))
    train = teacher.generate([rng.integers(0, vocab, 2) for _ in range(400)], 60, seed=seed + 3)
    toks = np.concatenate(train)
    offs = np.arange(0, 60 * len(train) + 1, 60, dtype=np.int64)
    NGramLM.train(toks, offs, vocab, order=2, name="observer").save(os.path.join(out_dir, "observer.npz"))
    NGramLM.train(toks, offs, vocab, order=3, name="performer").save(os.path.join(out_dir, "performer.npz"))
    return {"records": records, "positives": n_pos, "negatives": n_neg, "negatives_from": negatives,
            "vocab": vocab, "watermark": WATERMARK}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir")
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--vocab", type=int, default=128)
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--negatives", choices=("teacher", "other"), default="teacher")
    a = ap.parse_args()
    print(make(a.out_dir, records=a.records, vocab=a.vocab, length=a.length, seed=a.seed, negatives=a.negatives))
