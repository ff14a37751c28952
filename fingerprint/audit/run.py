"""The distillation audit: every applicable test, one report.

:func:`audit` asks each model the shared prompts (or reads its recorded answers), then runs, per
suspect:

1. watermark radioactivity of its outputs (closed model) and, for runnable suspects, reading mode
   on the teacher's watermarked texts (needs the watermark key);
2. its token-level divergence from the teacher, ranked against every panel model's;
3. fingerprint attribution: the teacher's rank among the reference models by fingerprint
   similarity, with an empirical p-value against the panel's null similarities;
4. verbatim overlap (n-gram containment, MinHash near-duplicates) of its outputs with the teacher's
   texts, ranked against the panel.

The p-values of one suspect are combined with Holm's step-down (family-wise error control under
any dependence); the verdict is the strength of the smallest adjusted p-value.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone

import numpy as np

from . import evidence
from .models import AuditModel, Responses
from .stats import strength

LABELS = {
    "strong": "distilled from the teacher: strong evidence",
    "moderate": "likely distilled from the teacher: moderate evidence",
    "weak": "inconclusive: weak evidence",
    "none": "no evidence of distillation from the teacher",
}
VERDICT_RULE = ("Verdict: the smallest Holm-adjusted p-value over the suspect's tests; strong < 1e-5 <= "
                "moderate < 1e-3 <= weak < 0.05 <= none. 'No evidence' is not proof of independence: a "
                "suspect can be distilled in ways these tests miss (e.g. no watermark, a panel too small "
                "for the rank tests to reach small p-values).")


class _Clock:
    def __init__(self, progress: bool):
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.timings: dict[str, float] = {}
        self.progress = progress

    def lap(self, what: str) -> None:
        now = time.perf_counter()
        self.timings[what] = self.timings.get(what, 0.0) + now - self.last
        self.last = now
        if self.progress:
            print(f"[audit {now - self.t0:6.1f}s] {what}", file=sys.stderr, flush=True)


def verdict(ev: dict) -> dict:
    keys = [k for k, e in ev.items() if not e.get("skipped") and e.get("p_value") is not None]
    if not keys:
        return {"level": "none", "label": "no test applied", "min_adjusted_p": None,
                "summary": "No test could be run for this suspect."}
    from ..watermark import adjust_p_values

    adj = adjust_p_values([ev[k]["p_value"] for k in keys], "holm")
    for k, a in zip(keys, adj):
        ev[k]["adjusted_p"] = float(a)
        ev[k]["strength"] = strength(float(a))
    i = int(np.argmin(adj))
    level = strength(float(adj[i]))
    return {"level": level, "label": LABELS[level], "min_adjusted_p": float(adj[i]),
            "decisive_test": ev[keys[i]]["title"],
            "summary": (f"Strongest evidence: {ev[keys[i]]['title']} (adjusted p = {adj[i]:.3g}) over "
                        f"{len(keys)} test(s).")}


def audit(
    teacher: AuditModel,
    suspects: list[AuditModel],
    panel: list[AuditModel],
    *,
    prompts: list[np.ndarray],
    watermark=None,
    teacher_texts: Responses | None = None,
    teacher_text_prompts: list[np.ndarray] | None = None,
    attribution: bool = True,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    seed: int = 0,
    topk: int = 20,
    eos_token_id: int | None = None,
    overlap_threshold: float = 0.3,
    max_shared_texts: int = 24,
    num_threads: int | None = None,
    progress: bool = True,
    settings: dict | None = None,
) -> dict:
    """Run every applicable test for each suspect; returns the report dict (see
    :mod:`fingerprint.audit.report`). ``teacher`` must be runnable (it is teacher-forced on every
    model's answers); suspects and panel models may be runnable or recorded; ``watermark``: a
    detector (or a list: several keys/schemes, multiplicity-adjusted) of the teacher's scheme;
    ``teacher_texts``: the teacher's watermarked texts (responses to ``teacher_text_prompts``)."""
    import fingerprint as fp

    if not isinstance(teacher, AuditModel) or not teacher.runnable:
        raise ValueError("teacher: expected a runnable model (ONNX, GGUF or n-gram), got a recorded one")
    if not suspects:
        raise ValueError("suspects: expected at least one suspect model, got none")
    names = [m.name for m in [teacher] + suspects + panel]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"models: names must be unique, got {dup} more than once (use NAME=PATH)")
    clock = _Clock(progress)
    models = suspects + panel
    resp = {}
    for m in models:
        resp[m.name] = evidence.respond(m, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                        seed=seed, eos_token_id=eos_token_id)
        clock.lap(f"responses of {m.name}")
    runnable = [m for m in models if m.runnable]
    shared = len(runnable) == len(models)
    topks = None
    shared_source = ""
    if shared:
        # every model is runnable: all are teacher-forced on the same teacher-written texts (one teacher
        # pass): the teacher's watermarked texts when given (what a distilled suspect was trained on),
        # else the teacher's answers to the shared prompts
        if teacher_texts is not None and teacher_texts.num_tokens:
            keep = np.arange(min(max_shared_texts, len(teacher_texts.offsets) - 1))
            texts = Responses(keep, teacher_texts.tokens[: teacher_texts.offsets[keep[-1] + 1]],
                              teacher_texts.offsets[: keep[-1] + 2])
            shared_prompts = [teacher_text_prompts[int(i)] for i in keep]
            shared_source = f"the first {len(keep)} of the teacher's texts"
        else:
            texts = evidence.respond(teacher, prompts, max_new_tokens=max_new_tokens, temperature=temperature,
                                     seed=seed, eos_token_id=eos_token_id)
            shared_prompts = prompts
            shared_source = f"the teacher's answers to the {len(prompts)} shared prompts"
            clock.lap("teacher's answers to the shared prompts")
        profiles, topks = evidence.shared_text_panel(teacher.source, models, texts, shared_prompts, topk=topk,
                                                     num_threads=num_threads)
        clock.lap("teacher-forced divergences on the shared texts")
    else:
        # recorded models only have top-k on their own answers: the teacher is forced on each model's answers
        profiles = {}
        for m in models:
            profiles[m.name] = evidence.divergence_profile(teacher.source, m, resp[m.name], prompts, dense=False,
                                                           topk=topk, num_prompts=len(prompts),
                                                           num_threads=num_threads)
            clock.lap(f"teacher-forced divergence of {m.name}")
    panel_names = [m.name for m in panel]
    overlap = {}
    if teacher_texts is not None and teacher_texts.num_tokens:
        t_sig = fp.minhash.minhash(teacher_texts.tokens, teacher_texts.offsets, num_perm=128, ngram=5, seed=1)
        for m in models:
            overlap[m.name] = evidence.overlap_stats(resp[m.name], teacher_texts, t_sig,
                                                       threshold=overlap_threshold)
        clock.lap("verbatim overlap")
    attribution_ev = None
    if attribution:
        from .attribution import attribution_panel

        if topks is None:
            topks = {}
        attribution_ev = attribution_panel(teacher.name, [m.name for m in suspects], topks, panel_names,
                                           probe_key=shared_source if shared else "")
        clock.lap("fingerprints and attribution")
    out = []
    for m in suspects:
        ev = {}
        if watermark is not None:
            ev["radioactivity"] = evidence.radioactivity_outputs(watermark, resp[m.name], prompts, num_threads)
            if m.runnable and teacher_texts is not None:
                ev["radioactivity_reading"] = evidence.radioactivity_reading(
                    watermark, m, teacher_texts, teacher_text_prompts, num_threads)
        else:
            ev["radioactivity"] = {"title": "watermark radioactivity", "skipped": "no watermark key given"}
        ev["divergence"] = evidence.divergence_test(m.name, profiles, panel_names, "shared" if shared else "own")
        if attribution_ev is not None:
            ev["attribution"] = attribution_ev[m.name]
        if overlap:
            ev["overlap"] = evidence.overlap_test(m.name, overlap, panel_names, overlap_threshold)
        v = verdict(ev)
        out.append({**m.describe(), "verdict": v, "evidence": ev,
                    "responses": {"count": int(len(resp[m.name].offsets) - 1),
                                  "tokens": resp[m.name].num_tokens}})
        clock.lap(f"tests of {m.name}")
    return {
        "format": "fingerprint-audit/1",
        "fingerprint_version": fp.__version__,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "teacher": {**teacher.describe(), "vocab_size": int(teacher.source.vocab_size)},
        "suspects": out,
        "panel": [m.describe() for m in panel],
        "verdict_rule": VERDICT_RULE,
        "settings": {"prompts": len(prompts), "max_new_tokens": max_new_tokens, "temperature": temperature,
                     "seed": seed, "topk": topk, "divergence": (f"full vocabulary, on {shared_source}" if shared
                                    else "top-k (bucket tail), each model's own answers"),
                     "overlap_threshold": overlap_threshold,
                     "watermark": repr(watermark) if watermark is not None else None, **(settings or {})},
        "timings": {**clock.timings, "total": time.perf_counter() - clock.t0},
    }
