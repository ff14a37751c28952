"""Audit prompts: a JSON file of text prompts, formatted with the model's chat template.

A prompts file is ``{"prompts": ["...", ...]}`` (optionally ``name``, ``version``), or JSONL with
one ``{"prompt": "..."}`` or ``{"prompt_ids": [...]}`` per line (ids are used as given). Text
prompts are rendered as one user turn with the teacher's chat template (the GGUF's
``tokenizer.chat_template``, a Jinja template rendered in a sandbox as transformers does, with
``add_generation_prompt=True``) and tokenized with the teacher's tokenizer; without a template
the text is tokenized as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..sources.gguf import render_chat


def encode_prompts(tokenizer, prompts: list[str], chat_template: str | None = None) -> list[np.ndarray]:
    """Token ids (int64) of each text prompt, rendered with ``chat_template`` when given."""
    out = []
    for i, p in enumerate(prompts):
        if not isinstance(p, str) or not p.strip():
            raise ValueError(f"prompts[{i}]: expected a non-empty string, got {p!r}")
        text = render_chat(chat_template, [{"role": "user", "content": p}]) if chat_template else p
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        out.append(np.asarray(ids, dtype=np.int64))
    return out


def load_prompts(path: str | Path | None, tokenizer, chat_template: str | None) -> tuple[list[np.ndarray], list[str | None]]:
    """(token ids, texts) of the prompts in ``path`` (None: the packaged audit prompts)."""
    from .demo import packaged_prompts

    if tokenizer is None and (path is None or Path(path).suffix.lower() != ".jsonl"):
        raise ValueError("prompts: a teacher without a tokenizer needs token-id prompts: --prompts FILE.jsonl "
                         "with one {\"prompt_ids\": [...]} per line (or give --tokenizer)")
    if path is None:
        texts = packaged_prompts()
        return encode_prompts(tokenizer, texts, chat_template), list(texts)
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"prompts: no such file {str(p)!r}")
    raw = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".jsonl":
        ids, texts = [], []
        for ln, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p}:{ln}: not valid JSON ({e.msg})") from None
            if isinstance(rec, dict) and "prompt_ids" in rec:
                v = rec["prompt_ids"]
                if not isinstance(v, list) or not v or not all(isinstance(t, int) and t >= 0 for t in v):
                    raise ValueError(f"{p}:{ln}: field 'prompt_ids': expected a non-empty list of token ids")
                ids.append(np.asarray(v, dtype=np.int64))
                texts.append(rec.get("prompt"))
            elif isinstance(rec, dict) and isinstance(rec.get("prompt"), str) and tokenizer is not None:
                ids.extend(encode_prompts(tokenizer, [rec["prompt"]], chat_template))
                texts.append(rec["prompt"])
            else:
                raise ValueError(f"{p}:{ln}: expected an object with 'prompt' (text, needs a tokenizer) or "
                                 "'prompt_ids'")
        if not ids:
            raise ValueError(f"prompts: {str(p)!r} holds no prompt")
        return ids, texts
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None
    texts = doc.get("prompts") if isinstance(doc, dict) else doc
    if not isinstance(texts, list) or not texts:
        raise ValueError(f"prompts: {str(p)!r}: expected {{\"prompts\": [text, ...]}} with at least one prompt")
    return encode_prompts(tokenizer, texts, chat_template), list(texts)
