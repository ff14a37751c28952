"""The distillation audit (``fingerprint audit``): is this suspect distilled from this teacher?

:func:`audit_files` opens models and data from paths (the CLI calls it, and so does the built-in
demo), :func:`fingerprint.audit.run.audit` runs the tests on opened models, and
:func:`fingerprint.audit.report.write_report` writes ``report.json`` and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path

from .models import AuditModel, Responses, load_model
from .report import render_html, write_report
from .run import audit

__all__ = ["AuditModel", "Responses", "audit", "audit_files", "load_model", "render_html", "write_report"]


def _teacher(spec: str, *, num_threads, tokenizer_path):
    """(AuditModel, tokenizer, chat_template, eos id) of the teacher."""
    from .models import split_spec

    p = Path(split_spec(spec)[0])
    if not p.is_file():
        raise ValueError(f"teacher: no such file {str(p)!r} (expected a .gguf, .onnx or .npz model)")
    if p.suffix.lower() not in (".gguf", ".onnx", ".npz"):
        raise ValueError(f"teacher: expected a .gguf, .onnx or .npz model, got {str(p)!r}")
    if p.suffix.lower() == ".onnx" and not tokenizer_path:
        raise ValueError("tokenizer: an .onnx teacher needs --tokenizer tokenizer.json (text prompts are "
                         "tokenized with it)")
    m = load_model(spec, num_threads=num_threads)
    tok = m.tokenizer
    if tokenizer_path:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_path))
    return m, tok, getattr(m.source, "chat_template", None), getattr(m.source, "eos_token_id", None)


def audit_files(
    teacher: str,
    suspects: list[str],
    panel: list[str] | None = None,
    *,
    out_dir: str | Path,
    prompts: str | None = None,
    watermark: str | list[str] | None = None,
    teacher_texts: str | None = None,
    tokenizer: str | None = None,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    seed: int = 0,
    topk: int = 20,
    attribution: bool = True,
    num_threads: int | None = None,
    progress: bool = True,
    settings: dict | None = None,
) -> dict:
    """Open the teacher, suspects and panel from paths, run :func:`audit`, write the report.

    Model paths: ``.gguf``/``.onnx`` (runnable), ``.npz`` (:class:`fingerprint.zoo.NGramLM`), or
    recorded responses (``.jsonl``/``.json``/``.parquet``); ``NAME=PATH`` names a model.
    ``watermark``: one spec or several (``kgw:gamma=0.25,seeding=lefthash``, see
    :func:`fingerprint.watermark.from_spec`); ``teacher_texts``: records of the teacher's
    watermarked outputs (``prompt_ids``, ``token_ids``).
    """
    from ..watermark import from_spec
    from .prompts import load_prompts
    from .recorded import read_texts

    t_model, tok, template, eos = _teacher(teacher, num_threads=num_threads, tokenizer_path=tokenizer)
    V = int(t_model.source.vocab_size)
    pids, _texts = load_prompts(prompts, tok, template)
    sus = [load_model(s, num_threads=num_threads, prompts=pids) for s in suspects]
    pan = [load_model(s, num_threads=num_threads, prompts=pids) for s in (panel or [])]
    for m in sus + pan:
        if m.runnable and int(m.source.vocab_size) != V:
            raise ValueError(f"model {m.name!r}: vocabulary size {m.source.vocab_size} differs from the teacher's "
                             f"{V}; the audit compares models over one tokenizer")
    det = None
    if watermark:
        specs = [watermark] if isinstance(watermark, str) else list(watermark)
        dets = [from_spec(s, V) for s in specs]
        det = dets[0] if len(dets) == 1 else dets
    tt = tt_prompts = None
    if teacher_texts:
        tt, tt_prompts = read_texts(teacher_texts, V)
    report = audit(t_model, sus, pan, prompts=pids, watermark=det, teacher_texts=tt,
                   teacher_text_prompts=tt_prompts, attribution=attribution,
                   max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, topk=topk,
                   eos_token_id=eos, num_threads=num_threads, progress=progress,
                   settings={"watermark_spec": watermark, "prompts_file": prompts, **(settings or {})})
    write_report(report, out_dir)
    return report
