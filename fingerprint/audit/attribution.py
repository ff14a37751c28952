"""Fingerprint attribution inside an audit: is the teacher the suspect's closest reference model?

Every runnable model is fingerprinted on the same probe set (the package's default English probes,
tokenized with the teacher's tokenizer) with the top-k sketch of
:mod:`fingerprint.model_fingerprint` (the construction that API models allow too). The reference
index holds the teacher and the panel models; :func:`fingerprint.attribution.attribute` ranks them
by cosine similarity to the suspect and tests each candidate against the null of the suspect's
similarities to the other references. The audit's p-value is the teacher's (the teacher is fixed
in advance, so no adjustment over candidates is needed).
"""

from __future__ import annotations

import numpy as np


def probe_set(tokenizer, vocab_size: int, prompts: list[np.ndarray]):
    """The default probe set tokenized with ``tokenizer`` (a ``tokenizers.Tokenizer``); without a
    tokenizer (token-id prompts), the audit prompts themselves, every position scored."""
    from ..probes import Probe, ProbeSet, default_probes

    if tokenizer is None:
        return ProbeSet("audit-prompts", "1", [Probe(f"prompt{i}", prompt_ids=np.asarray(p, np.int64))
                                                for i, p in enumerate(prompts) if len(p) >= 2],
                        tokenizer="teacher", vocab_size=vocab_size)
    return default_probes().tokenized(lambda s: tokenizer.encode(s, add_special_tokens=False).ids,
                                      "teacher", vocab_size=vocab_size)


def attribution_panel(teacher, models, probes, panel_names: list[str], *, topk: int = 20) -> dict:
    """Attribution evidence for every model in ``models`` (the suspects are the ones not in the panel)."""
    from ..attribution import attribute, panel_index
    from ..model_fingerprint import model_fingerprint

    title = "fingerprint attribution"
    runnable = [m for m in models if m.runnable]
    fps = {m.name: model_fingerprint(m.source, probes, "topk", k=topk) for m in runnable}
    t_fp = model_fingerprint(teacher.source, probes, "topk", k=topk)
    out = {}
    for m in models:
        if m.name in panel_names:
            continue
        if not m.runnable:
            out[m.name] = {"title": title, "skipped": "needs a runnable suspect (top-k on the probe set)"}
            continue
        refs = [teacher.name] + [n for n in panel_names if n in fps and n != m.name]
        if len(refs) < 3:
            out[m.name] = {"title": title, "skipped": "needs the teacher and at least 2 runnable panel models"}
            continue
        vecs = np.stack([t_fp.vector] + [fps[n].vector for n in refs[1:]]).astype(np.float32)
        index = panel_index(vecs, labels=refs, metric="cosine")
        res = attribute(fps[m.name].vector.astype(np.float32), index, k=len(refs), null_size=len(refs))
        ranking = [{"name": c.label, "similarity": c.similarity, "z": c.z, "p_value": c.p_value,
                    "p_empirical": c.p_empirical, "is_teacher": c.label == teacher.name} for c in res.candidates]
        t = next(r for r in ranking if r["is_teacher"])
        t_rank = 1 + [r["name"] for r in ranking].index(teacher.name)
        out[m.name] = {
            "title": title, "p_value": float(t["p_value"]), "ranking": ranking,
            "summary": (f"teacher ranked {t_rank} of {len(refs)} references (cosine {t['similarity']:.3f}, "
                        f"z = {t['z']:.2f} against the other references)"),
            "method": ("Top-k sketches (k = %d) of each model's next-token distributions on %d probe prompts "
                       "(%s) are compared by cosine similarity; the teacher's similarity is standardised "
                       "against the suspect's similarities to the other reference models and tested with "
                       "the predictive t distribution." % (topk, len(probes), probes.key)),
            "assumptions": ("The other references are unrelated to the suspect and their similarities are roughly "
                            "normal; with few references the test has little power (df = references - 2)."),
            "details": {"teacher_rank": t_rank, "references": len(refs), "teacher_similarity": t["similarity"],
                        "teacher_z": t["z"], "teacher_p_empirical": t["p_empirical"],
                        "top_candidate": ranking[0]["name"]},
        }
    return out
