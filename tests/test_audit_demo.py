"""The README's main command, ``fingerprint audit --demo``, end to end on the real teacher (SmolLM2).

It runs in a subprocess exactly as a newcomer runs it (the conversion cache of this test session is
reused through FINGERPRINT_CACHE), and checks the verdicts the demo promises: the student is flagged
(radioactivity p < 1e-5, attribution rank 1) and the independent models are cleared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_audit_demo_flags_the_student_and_clears_the_independents(smollm2_folder, tmp_path):
    env = dict(os.environ, FINGERPRINT_CACHE=str(smollm2_folder.parent.parent))
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, "-m", "fingerprint.cli", "audit", "--demo", "--out", str(out)],
                       capture_output=True, text=True, timeout=1200, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((out / "report.json").read_text())
    assert doc["teacher"]["name"] == "SmolLM2-135M-Instruct"
    v = {s["name"]: s for s in doc["suspects"]}
    student = v["student"]
    assert student["verdict"]["level"] == "strong"
    assert student["evidence"]["radioactivity"]["p_value"] < 1e-5
    assert student["evidence"]["attribution"]["details"]["teacher_rank"] == 1
    for name in ("independent-1", "independent-2"):
        assert v[name]["verdict"]["level"] in ("none", "weak"), v[name]["verdict"]
        assert v[name]["evidence"]["radioactivity"]["p_value"] > 1e-3
    assert (out / "report.html").stat().st_size > 10_000
    assert "distilled from the teacher: strong evidence" in r.stdout


def test_gguf_suspects_open_like_the_teacher(smollm2_folder, monkeypatch):
    """A .gguf model given as a suspect or panel model carries its tokenizer, EOS and chat template."""
    from fingerprint.audit import load_model
    from fingerprint.sources.gguf import smollm2_gguf_path

    monkeypatch.setenv("FINGERPRINT_CACHE", str(smollm2_folder.parent.parent))
    m = load_model(f"smol={smollm2_gguf_path()}", num_threads=1)
    assert m.name == "smol" and m.kind == "gguf" and m.runnable
    assert m.source.vocab_size == 49152 and m.source.eos_token_id == 2 and m.source.chat_template
    assert m.tokenizer.encode("The capital of France is", add_special_tokens=False).ids
