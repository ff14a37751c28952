"""The audit end to end on synthetic models: a watermarked teacher, a distilled student, independents.

The teacher is a random low-rank trigram model (fingerprint.zoo.LowRankLM) that writes KGW-watermarked
text; the student is an n-gram model trained on that text; independent models are n-gram models
trained on other random models' text. The audit must flag the student and clear the independents,
its per-prompt divergences must match a float64 NumPy reference, and the report must render in a
real browser (headless Chromium) without console errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fingerprint import watermark
from fingerprint.audit import AuditModel, Responses, audit, write_report
from fingerprint.audit.evidence import divergence_profile
from fingerprint.zoo import LowRankLM, NGramLM

V = 512


def _flat(seqs):
    return np.concatenate([np.asarray(s, np.int64) for s in seqs])


def _offsets(seqs):
    return np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    teacher = LowRankLM(V, rank=8, scale=3.0, seed=1, name="teacher")
    det = watermark.KGW(V, gamma=0.25, seeding="lefthash")
    train_prompts = [rng.integers(0, V, 4) for _ in range(80)]
    outs = teacher.generate(train_prompts, 64, seed=1, processor=det.processor(3.0))
    student = NGramLM.train(_flat(outs), _offsets(outs), V, order=2, name="student")
    others = []
    for j in range(7):
        src = LowRankLM(V, rank=8, scale=3.0, seed=100 + j)
        o = src.generate([rng.integers(0, V, 4) for _ in range(80)], 64, seed=j)
        others.append(NGramLM.train(_flat(o), _offsets(o), V, order=2, name=f"independent-{j + 1}"))
    prompts = [rng.integers(0, V, 6) for _ in range(24)]
    texts = Responses(np.arange(len(outs)), _flat(outs), _offsets(outs))
    return dict(teacher=teacher, student=student, others=others, det=det, prompts=prompts, texts=texts,
                train_prompts=train_prompts, outs=outs)


@pytest.fixture(scope="module")
def report(world):
    w = world
    t = AuditModel("teacher", "lowrank", w["teacher"])
    suspects = [AuditModel(m.name, "ngram", m) for m in [w["student"], *w["others"][:2]]]
    panel = [AuditModel(m.name, "ngram", m) for m in w["others"][2:]]
    return audit(t, suspects, panel, prompts=w["prompts"], watermark=w["det"], teacher_texts=w["texts"],
                 teacher_text_prompts=w["train_prompts"], max_new_tokens=48,
                 progress=False)


def _by_name(report):
    return {s["name"]: s for s in report["suspects"]}


def test_student_is_flagged(report):
    s = _by_name(report)["student"]
    assert s["verdict"]["level"] == "strong"
    assert s["evidence"]["radioactivity"]["p_value"] < 1e-5
    assert s["evidence"]["radioactivity_reading"]["p_value"] < 1e-5
    assert s["evidence"]["attribution"]["details"]["teacher_rank"] == 1
    assert s["evidence"]["divergence"]["details"]["rank_among_panel"] == 1


def test_independents_are_cleared(report):
    for name in ("independent-1", "independent-2"):
        s = _by_name(report)[name]
        assert s["verdict"]["level"] in ("none", "weak"), s["verdict"]
        assert s["evidence"]["radioactivity"]["p_value"] > 1e-3


def test_holm_adjustment_and_json(report, tmp_path):
    for s in report["suspects"]:
        ps = [e for e in s["evidence"].values() if not e.get("skipped")]
        for e in ps:
            assert e["adjusted_p"] >= e["p_value"]
        assert s["verdict"]["min_adjusted_p"] == min(e["adjusted_p"] for e in ps)
    jp, hp = write_report(report, tmp_path)
    doc = json.loads(jp.read_text())
    assert doc["format"] == "fingerprint-audit/1"
    assert [s["name"] for s in doc["suspects"]] == ["student", "independent-1", "independent-2"]
    html = hp.read_text()
    assert html.count("<svg") >= 4 and "<script" not in html and "<link" not in html
    assert "src=" not in html and "href=" not in html and "url(" not in html  # self-contained


def test_divergence_profile_matches_float64_reference(world):
    w = world
    m = AuditModel("student", "ngram", w["student"])
    prompts = w["prompts"][:5]
    outs = w["student"].generate(prompts, 7, seed=3)
    resp = Responses(np.arange(5), _flat(outs), _offsets(outs))
    got = divergence_profile(w["teacher"], m, resp, prompts, dense=True, topk=20, num_prompts=5)
    for i, (p, o) in enumerate(zip(prompts, outs)):
        seq = np.concatenate([p, o])
        js = []
        for j in range(len(p), len(seq)):
            lt = w["teacher"].log_probs(seq[:j])[0].astype(np.float64)
            ls = w["student"].log_probs(seq[:j])[0].astype(np.float64)
            pt, ps = np.exp(lt - np.logaddexp.reduce(lt)), np.exp(ls - np.logaddexp.reduce(ls))
            mix = 0.5 * (pt + ps)
            js.append(0.5 * np.sum(pt * np.log(pt / mix)) + 0.5 * np.sum(ps * np.log(ps / mix)))
        assert got["js_per_prompt"][i] == pytest.approx(np.mean(js), rel=1e-5, abs=1e-7)


def test_errors_name_the_argument(world):
    w = world
    t = AuditModel("teacher", "lowrank", w["teacher"])
    s = AuditModel("student", "ngram", w["student"])
    with pytest.raises(ValueError, match="suspects: expected at least one"):
        audit(t, [], [], prompts=w["prompts"], progress=False)
    with pytest.raises(ValueError, match="names must be unique"):
        audit(t, [s], [AuditModel("student", "ngram", w["others"][0])], prompts=w["prompts"], progress=False)
    with pytest.raises(ValueError, match="teacher: expected a runnable model"):
        audit(AuditModel("t", "recorded"), [s], [], prompts=w["prompts"], progress=False)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (Debian's chromium package; .ci/run installs it)")
def test_report_renders_in_chromium(report, tmp_path):
    _, hp = write_report(report, tmp_path)
    shot = tmp_path / "report.png"
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
           f"--screenshot={shot}", "--window-size=1000,2400", hp.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console
    assert shot.is_file() and shot.stat().st_size > 10_000
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          hp.resolve().as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "Distillation audit" in dom and dom.count("<svg") >= 4
    keep = os.environ.get("FINGERPRINT_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / "audit_report.png")


def test_cli_end_to_end(world, tmp_path):
    """``fingerprint audit`` in a subprocess on model files, as a user runs it."""
    w = world
    files = {}
    for m in [w["student"], *w["others"][:5]]:
        files[m.name] = tmp_path / f"{m.name}.npz"
        m.save(files[m.name])
    tpath = tmp_path / "teacher.npz"
    # the teacher of a file-based audit must be a model file: an n-gram model of the teacher's text
    # stands in for it (the watermark key and texts are the teacher's)
    NGramLM.train(_flat(w["outs"]), _offsets(w["outs"]), V, order=2, name="teacher").save(tpath)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt_ids": p.tolist()}) + "\n" for p in w["prompts"]))
    texts = tmp_path / "teacher_outputs.jsonl"
    texts.write_text("".join(json.dumps({"id": f"t{i}", "prompt_ids": p.tolist(), "token_ids": o.tolist()}) + "\n"
                             for i, (p, o) in enumerate(zip(w["train_prompts"], w["outs"]))))
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "fingerprint.cli", "audit", "--teacher", str(tpath), "--prompts", str(prompts),
           "--suspect", f"student={files['student']}", "--suspect", str(files["independent-1"]),
           *sum((["--panel", str(files[f"independent-{j}"])] for j in (2, 3, 4, 5)), []),
           "--watermark", "kgw:gamma=0.25,seeding=lefthash", "--teacher-texts", str(texts),
           "--max-new-tokens", "32", "--out", str(out), "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "student" in r.stdout and "report.html" in r.stdout
    doc = json.loads((out / "report.json").read_text())
    v = {s["name"]: s["verdict"]["level"] for s in doc["suspects"]}
    assert v["student"] == "strong" and v["independent-1"] in ("none", "weak")
    bad = subprocess.run([sys.executable, "-m", "fingerprint.cli", "audit", "--teacher", str(tmp_path / "nope.gguf"),
                          "--suspect", str(files["student"]), "--out", str(out)], capture_output=True, text=True,
                         cwd=tmp_path)
    assert bad.returncode != 0 and "nope.gguf" in bad.stderr
