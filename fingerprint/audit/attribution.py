"""Fingerprint attribution inside an audit: is the teacher the suspect's closest reference model?

Every runnable model is fingerprinted at the same positions (the teacher's answers to the shared
prompts, teacher-forced) with the top-k sketch of :mod:`fingerprint.model_fingerprint` (the
construction that API models allow too). The reference
index holds the teacher and the panel models; :func:`fingerprint.attribution.attribute` ranks them
by cosine similarity to the suspect and tests each candidate against the null of the suspect's
similarities to the other references. The audit's p-value is the teacher's (the teacher is fixed
in advance, so no adjustment over candidates is needed).
"""

from __future__ import annotations

import numpy as np


def attribution_panel(teacher_name: str, suspects: list[str], topks: dict, panel_names: list[str], *,
                      probe_key: str, buckets: int = 64) -> dict:
    """Attribution evidence for each suspect, from the top-k (ids, log-probs) of every runnable model
    at the same text positions (``topks``: name -> arrays; the teacher under ``TEACHER_KEY``)."""
    from ..attribution import attribute, panel_index
    from ..model_fingerprint import topk_sketch
    from .evidence import TEACHER_KEY

    title = "fingerprint attribution"
    fps = {name: topk_sketch(ids, lps, buckets=buckets) for name, (ids, lps) in topks.items()}
    k = next(iter(topks.values()))[0].shape[1] if topks else 0
    out = {}
    for name in suspects:
        if name not in fps:
            out[name] = {"title": title, "skipped": "needs a runnable suspect (its top-k on the shared texts)"}
            continue
        refs = [teacher_name] + [n for n in panel_names if n in fps and n != name]
        if len(refs) < 3:
            out[name] = {"title": title, "skipped": "needs the teacher and at least 2 runnable panel models"}
            continue
        vecs = np.stack([fps[TEACHER_KEY]] + [fps[n] for n in refs[1:]]).astype(np.float32)
        index = panel_index(vecs, labels=refs, metric="cosine")
        res = attribute(fps[name].astype(np.float32), index, k=len(refs), null_size=len(refs))
        ranking = [{"name": c.label, "similarity": c.similarity, "z": c.z, "p_value": c.p_value,
                    "p_empirical": c.p_empirical, "is_teacher": c.label == teacher_name} for c in res.candidates]
        t_rank = 1 + [r["name"] for r in ranking].index(teacher_name)
        t = ranking[t_rank - 1]
        out[name] = {
            "title": title, "p_value": float(t["p_value"]), "ranking": ranking,
            "summary": (f"teacher ranked {t_rank} of {len(refs)} references (cosine {t['similarity']:.3f}, "
                        f"z = {t['z']:.2f} against the other references)"),
            "method": ("Top-k sketches (k = %d, %d buckets per position) of each model's next-token distributions "
                       "at every position of the shared texts (%s) are compared by cosine similarity, which "
                       "estimates how often two models emit the same token; the teacher's similarity is "
                       "standardised against the suspect's similarities to the other reference models and tested "
                       "with the predictive t distribution." % (k, buckets, probe_key)),
            "assumptions": ("The other references are unrelated to the suspect and their similarities are roughly "
                            "normal; with few references the test has little power (df = references - 2)."),
            "details": {"teacher_rank": t_rank, "references": len(refs), "teacher_similarity": t["similarity"],
                        "teacher_z": t["z"], "teacher_p_empirical": t["p_empirical"],
                        "top_candidate": ranking[0]["name"]},
        }
    return out
