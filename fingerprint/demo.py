"""The built-in demo: a synthetic teacher, a student distilled from it and an independent model.

Until the audit (which runs real models) exists, the demo exercises the kernels end to end on
logits generated here: per-position divergences of each suspect against the teacher, summarised
per sequence, and the throughput of the panel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class DemoData:
    teacher: np.ndarray  # [N, V] float32 logits
    student: np.ndarray
    independent: np.ndarray
    tokens: np.ndarray  # [N] observed tokens, sampled from the teacher
    offsets: np.ndarray  # [B + 1]


def make_models(sequences: int, length: int, vocab: int, seed: int) -> DemoData:
    """Zipf-shaped logits with per-position context; the student imitates the teacher.

    teacher: unigram prior + context signal; student: the teacher's logits at temperature 1.1 plus
    small noise (what distillation on teacher samples leaves behind); independent: its own prior
    and its own context signal.
    """
    rng = np.random.default_rng(seed)
    n = sequences * length
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    prior_t = -1.1 * np.log(ranks)[rng.permutation(vocab)]
    prior_i = -1.1 * np.log(ranks)[rng.permutation(vocab)]
    teacher = (prior_t + 2.5 * rng.standard_normal((n, vocab))).astype(np.float32)
    student = (teacher / 1.1 + 0.6 * rng.standard_normal((n, vocab))).astype(np.float32)
    independent = (prior_i + 2.5 * rng.standard_normal((n, vocab))).astype(np.float32)
    # observed tokens: sampled from the teacher (Gumbel-max)
    tokens = np.argmax(teacher - np.log(-np.log(rng.random((n, vocab)))), axis=1)
    offsets = np.arange(0, n + 1, length, dtype=np.int64)
    return DemoData(teacher, student, independent, tokens, offsets)


def run_demo(
    sequences: int = 16, length: int = 64, vocab: int = 32_000, seed: int = 0, num_threads: int | None = None
) -> dict:
    from .divergence import token_divergences

    data = make_models(sequences, length, vocab, seed)
    summary: dict[str, object] = {
        "positions": int(data.tokens.size), "sequences": sequences, "vocab": vocab, "suspects": {},
    }  # fmt: skip
    for name, logits in (("student (distilled)", data.student), ("independent", data.independent)):
        t0 = time.perf_counter()
        panel = token_divergences(
            data.teacher, logits, targets=data.tokens, offsets=data.offsets, num_threads=num_threads
        )
        seconds = time.perf_counter() - t0
        per_seq = {f: panel.sequence_mean(f) for f in ("kl_pq", "js", "tv", "top1_agree", "logprob_q")}
        summary["suspects"][name] = {
            "mean_kl_teacher_to_suspect": float(per_seq["kl_pq"].mean()),
            "mean_js": float(per_seq["js"].mean()),
            "mean_tv": float(per_seq["tv"].mean()),
            "top1_agreement": float(per_seq["top1_agree"].mean()),
            "suspect_nll_of_teacher_text": float(-per_seq["logprob_q"].mean()),
            "seconds": seconds,
            "positions_per_second": data.tokens.size / seconds,
        }
    return summary


def format_summary(summary: dict) -> str:
    lines = [
        f"fingerprint demo: teacher vs two suspects, {summary['sequences']} sequences, "
        f"{summary['positions']} positions, vocabulary {summary['vocab']:,}",
        "",
        f"{'suspect':<22}{'KL(T||S)':>10}{'JS':>8}{'TV':>8}{'top-1 agree':>13}{'NLL':>8}{'positions/s':>14}",
    ]
    for name, s in summary["suspects"].items():
        lines.append(
            f"{name:<22}{s['mean_kl_teacher_to_suspect']:>10.4f}{s['mean_js']:>8.4f}{s['mean_tv']:>8.4f}"
            f"{s['top1_agreement']:>13.3f}{s['suspect_nll_of_teacher_text']:>8.3f}{s['positions_per_second']:>14,.0f}"
        )
    st, ind = summary["suspects"]["student (distilled)"], summary["suspects"]["independent"]
    lines += [
        "",
        f"The distilled student is {ind['mean_kl_teacher_to_suspect'] / st['mean_kl_teacher_to_suspect']:.1f}x "
        "closer to the teacher in KL than the independent model, and agrees with its top-1 token "
        f"{st['top1_agreement']:.0%} of the time (independent: {ind['top1_agreement']:.0%}).",
    ]
    return "\n".join(lines)
