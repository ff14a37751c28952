"""Attribution accuracy on the synthetic zoo: logits, top-k and text fingerprints vs exact JS ranking.

Run: pytest benches/bench_attribution.py -s
Zoo per seed: 12 teachers (LowRankLM), 24 students (NGramLM distilled from them: 70% teacher
samples, 30% their own base model's, own prior), 8 independents (4 students of hidden teachers, 4
hidden LowRankLMs) = 44 models; 16 random probes of 32 tokens (496 scored positions).
Reported per construction: top-1 teacher accuracy of students, TPR (top-1 correct and
``attributed`` at alpha 0.01), independent FPR (``attributed``), and time to fingerprint + attribute
all 32 suspects, against the exact alternative (rank the 12 teachers by mean JS over the probes,
``fingerprint.model_distance``, no bootstrap) in the same run.
Env: FINGERPRINT_ZOO_SEEDS (default "0,1,2"), FINGERPRINT_ZOO_VOCAB (default "64,256").
"""

from __future__ import annotations

import os
import time

import numpy as np
from ratios import ratio, record

import fingerprint as fp

SEEDS = [int(s) for s in os.environ.get("FINGERPRINT_ZOO_SEEDS", "0,1,2").split(",")]
VOCABS = [int(v) for v in os.environ.get("FINGERPRINT_ZOO_VOCAB", "64,256").split(",")]


def _run(kind, z):
    t0 = time.perf_counter()
    panel = fp.panel_index([fp.model_fingerprint(t, z.probes, kind) for t in z.teachers])
    res_s = [fp.attribute(fp.model_fingerprint(s, z.probes, kind), panel) for s in z.students]
    res_i = [fp.attribute(fp.model_fingerprint(m, z.probes, kind), panel) for m in z.independents]
    dt = time.perf_counter() - t0
    names = [z.teachers[t].name for t in z.student_teacher]
    acc = np.mean([a.top.label == n for a, n in zip(res_s, names)])
    tpr = np.mean([a.top.label == n and a.attributed for a, n in zip(res_s, names)])
    fpr = np.mean([a.attributed for a in res_i])
    return acc, tpr, fpr, dt


def _exact(z):
    t0 = time.perf_counter()
    hits = 0
    for s, t in zip(z.students, z.student_teacher):
        d = [fp.model_distance(s, te, z.probes, n_boot=1).value for te in z.teachers]
        hits += int(np.argmin(d) == t)
    for m in z.independents:  # same work for the independents (the exact method has no null)
        [fp.model_distance(m, te, z.probes, n_boot=1).value for te in z.teachers]
    return hits / len(z.students), time.perf_counter() - t0


def test_attribution_accuracy():
    rows = {}
    for v in VOCABS:
        for seed in SEEDS:
            t0 = time.perf_counter()
            z = fp.make_zoo(vocab_size=v, seed=seed)
            build = time.perf_counter() - t0
            for kind in ("logits", "topk", "text"):
                rows.setdefault((v, kind), []).append(_run(kind, z))
            acc, dt = _exact(z)
            rows.setdefault((v, "exact-js"), []).append((acc, np.nan, np.nan, dt))
            print(f"\nV={v} seed={seed}: zoo of {len(z.models)} models built in {build:.2f} s")
    print()
    for (v, kind), r in rows.items():
        a = np.array(r, dtype=np.float64)
        if kind == "exact-js":
            print(f"V={v:4d} {kind:8s} top-1 acc {a[:, 0].mean():.3f} (min {a[:, 0].min():.3f})  time {a[:, 3].mean():.2f} s")
        else:
            print(f"V={v:4d} {kind:8s} top-1 acc {a[:, 0].mean():.3f} (min {a[:, 0].min():.3f})  TPR {a[:, 1].mean():.3f}  "
                  f"FPR {a[:, 2].mean():.3f} ({int(round(a[:, 2].sum() * 8))}/{8 * len(r)})  time {a[:, 3].mean():.2f} s")
        record(f"V{v}-{kind}", float(a[:, 3].mean()))
        if kind != "exact-js":
            ratio(f"V={v} exact JS ranking vs {kind} fingerprints (time)", f"V{v}-exact-js", f"V{v}-{kind}")
    for v in VOCABS:
        for kind in ("logits", "topk"):
            assert np.mean([r[0] for r in rows[(v, kind)]]) >= 0.95
