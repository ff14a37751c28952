r"""Detector benchmarking on a labelled dataset: ``fingerprint bench``.

:func:`benchmark_detectors` scores every applicable detector on records with a ``label`` column
(1 = positive: machine-generated / watermarked / training member; 0 = negative) and reports, per
detector:

- **AUROC** = :math:`P(S^+ > S^-) + \tfrac12 P(S^+ = S^-)`, the Mann--Whitney U statistic of the
  positives' oriented scores against the negatives' divided by :math:`n_+ n_-` (ties count one
  half; ``scipy.stats.mannwhitneyu``).
- **TPR at FPR** :math:`\alpha` (1% and 0.01%): a record is called positive when its oriented
  score is strictly above a threshold :math:`t`; :math:`t` is the smallest negative score with
  :math:`\#\{\text{negatives} > t\} \le \lfloor \alpha n_- \rfloor` (the empirical
  :math:`1-\alpha` quantile of the negatives), and TPR = :math:`\#\{\text{positives} > t\} / n_+`.
  It is *resolvable* only when :math:`\alpha n_- \ge 1` (100 negatives for 1%, 10,000 for
  0.01%); otherwise the value is ``None`` (``tpr`` holds nothing, ``resolvable`` is False).
- **tokens/s**: scored tokens over the wall time of that detector's scoring (after a one-off
  warm-up that loads the compiled kernels); for model-based detectors the time includes the
  model pass they share (teacher-forced logits and the divergence panel), so it is what running
  that detector alone would cost.
- the **direction** used: each detector's fixed orientation ("lower" = a lower score means
  positive, e.g. loss), never fitted to the labels; an AUROC below 0.5 says the detector points
  the other way on this data.

Detectors (names as in the table):

- from the records' own log-probs (column ``logprobs``): ``loss``, ``perplexity`` (ranks as
  ``loss``), ``zlib_ratio`` (needs ``text``), ``min_k`` (k = 0.2) -- :mod:`fingerprint.scores`.
  Positions with a NaN (not reported) log-prob are left out of these sums and counted.
- from an ``observer`` model (a LogitSource, e.g. :class:`~fingerprint.sources.onnx.OnnxCausalLM`
  or a saved :class:`~fingerprint.zoo.NGramLM`): ``observer.loss``, ``observer.min_k``,
  ``observer.min_k_plus_plus``, ``observer.zlib_ratio``, ``observer.fast_detectgpt_self``
  (white-box Fast-DetectGPT).
- with a ``performer`` too (same vocabulary): ``binoculars`` (performer perplexity over
  observer-performer cross-perplexity, as the public code), ``binoculars_observer`` (the paper's
  observer perplexity), ``fast_detectgpt`` (observer samples, performer scores).
- ``watermark`` specs (:func:`fingerprint.watermark.from_spec`): the exact p-value
  (``p_value_exact``, lower = watermarked) of each record's ``token_ids``.

Models score a record's ``token_ids`` given its ``prompt_ids`` when present (rows from the first
response token), else from its second token (the first has no context).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence

import numpy as np

from ._validate import choice, positive_int

__all__ = ["RECORDED_DETECTORS", "OBSERVER_DETECTORS", "PAIR_DETECTORS", "FPR_TARGETS",
           "auroc", "tpr_at_fpr", "benchmark_detectors", "format_table", "add_parser", "run"]

FPR_TARGETS: tuple[float, ...] = (0.01, 0.0001)
RECORDED_DETECTORS: tuple[str, ...] = ("loss", "perplexity", "zlib_ratio", "min_k")
OBSERVER_DETECTORS: tuple[str, ...] = ("observer.loss", "observer.min_k", "observer.min_k_plus_plus",
                                       "observer.zlib_ratio", "observer.fast_detectgpt_self")
PAIR_DETECTORS: tuple[str, ...] = ("binoculars", "binoculars_observer", "fast_detectgpt")
# direction: "lower" = a lower score means positive
_HIGHER = {"observer.fast_detectgpt_self", "fast_detectgpt"}
_ROW_CELLS = 1 << 23  # float32 cells of logits per source held at once (32 MB)


# ---------------------------------------------------------------------------------------------
# metrics


def _scores_pair(pos: object, neg: object) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(pos, dtype=np.float64).reshape(-1)
    b = np.asarray(neg, dtype=np.float64).reshape(-1)
    for name, x in (("positives", a), ("negatives", b)):
        if x.size == 0:
            raise ValueError(f"{name}: expected at least one score, got none")
        if np.isnan(x).any():
            raise ValueError(f"{name}: expected scores without NaN, got {int(np.isnan(x).sum())} NaN")
    return a, b


def auroc(pos: object, neg: object) -> float:
    """AUROC of scores where higher means positive: U / (n+ n-), ties counting one half."""
    from scipy.stats import mannwhitneyu  # noqa: PLC0415 - lazy

    a, b = _scores_pair(pos, neg)
    u = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic").statistic
    return float(u) / (a.size * b.size)


def tpr_at_fpr(pos: object, neg: object, fpr: float) -> dict:
    """TPR at a target FPR for scores where higher means positive (see the module docstring).

    Returns ``{"target_fpr", "threshold", "fpr", "tpr", "resolvable"}``; with
    ``fpr * n_neg < 1`` the target cannot be resolved by these negatives: ``tpr`` and
    ``threshold`` are None.
    """
    a, b = _scores_pair(pos, neg)
    if not (isinstance(fpr, float) and 0.0 < fpr < 1.0):
        raise ValueError(f"fpr: expected a float in (0, 1), got {fpr!r}")
    allowed = math.floor(fpr * b.size + 1e-9)
    out = {"target_fpr": fpr, "threshold": None, "fpr": None, "tpr": None, "resolvable": allowed >= 1}
    if allowed < 1:
        return out
    neg_sorted = np.sort(b)
    # smallest negative value v with #(neg > v) <= allowed: #(neg > v) = n - searchsorted(v, 'right')
    above = b.size - np.searchsorted(neg_sorted, neg_sorted, side="right")
    t = float(neg_sorted[np.flatnonzero(above <= allowed)[0]])
    out.update(threshold=t, fpr=float(np.count_nonzero(b > t)) / b.size,
               tpr=float(np.count_nonzero(a > t)) / a.size)
    return out


# ---------------------------------------------------------------------------------------------
# scoring


def _read(batch_or_paths, on_error: str):
    from .sources.readers import read_all  # noqa: PLC0415
    from .sources.records import ReadStats, TokenBatch  # noqa: PLC0415

    if isinstance(batch_or_paths, TokenBatch):
        return batch_or_paths, None
    stats = ReadStats()
    batch = read_all(batch_or_paths, on_error=on_error, stats=stats)
    return batch, stats


def _check_labels(batch) -> np.ndarray:
    if len(batch) == 0:
        raise ValueError("data: no records")
    if batch.labels is None:
        raise ValueError("data: the records have no 'label' column (1 = positive, e.g. machine/"
                         "watermarked/member; 0 = negative); benchmarking needs labelled records")
    lab = batch.labels
    bad = np.flatnonzero((lab != 0) & (lab != 1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{batch.where(i)}: label: expected 0 or 1, got {int(lab[i])}")
    for cls in (0, 1):
        if not np.any(lab == cls):
            raise ValueError(f"data: label: every record has label {1 - cls}; both classes (0 and 1) are "
                             "needed for AUROC and TPR")
    return lab


def _texts(batch) -> list | None:
    if batch.texts is None or any(t is None for t in batch.texts):
        return None
    return batch.texts


def _model_rows(batch):
    """Flat tokens, offsets and score_from: prompt + response, scored from the response."""
    b = len(batch)
    resp_len = np.diff(batch.offsets)
    if batch.prompt_tokens is not None:
        p_len = np.diff(batch.prompt_offsets)
        parts = []
        for i in range(b):
            parts.append(batch.prompt_tokens[batch.prompt_offsets[i]:batch.prompt_offsets[i + 1]])
            parts.append(batch.tokens[batch.offsets[i]:batch.offsets[i + 1]])
        tokens = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        lengths = p_len + resp_len
        score_from = np.maximum(p_len, 1)
    else:
        tokens, lengths = batch.tokens, resp_len
        score_from = np.ones(b, dtype=np.int64)
    offsets = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    score_from = np.minimum(score_from, lengths)
    return tokens, offsets, score_from


def _concat_rows(source, tokens, offsets, score_from, seqs, expected):
    sub_t = np.concatenate([tokens[offsets[s]:offsets[s + 1]] for s in seqs])
    sub_o = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum([offsets[s + 1] - offsets[s] for s in seqs], out=sub_o[1:])
    chunks = [c.logits for c in source.next_token_logits(sub_t, sub_o, score_from=score_from[seqs])]
    out = np.concatenate(chunks) if chunks else np.zeros((0, source.vocab_size), np.float32)
    if out.shape[0] != expected:
        raise RuntimeError(f"{getattr(source, 'name', type(source).__name__)}: next_token_logits returned "
                           f"{out.shape[0]} rows, expected {expected}")
    return out


def _model_panel(observer, performer, batch, num_threads):
    """Per-position panel fields (observer = P, performer = Q) streamed over groups of records."""
    from .divergence import token_divergences  # noqa: PLC0415

    tokens, offsets, score_from = _model_rows(batch)
    rows = np.maximum(np.diff(offsets) - score_from, 0)
    v = int(observer.vocab_size)
    fields = ["logprob_p", "entropy_p", "var_logp_p"]
    if performer is not None:
        fields += ["logprob_q", "cross_entropy_pq", "var_logq_p"]
    parts: dict[str, list] = {f: [] for f in fields}
    budget = max(1, _ROW_CELLS // v)
    b = len(batch)
    s = 0
    while s < b:
        seqs, n = [], 0
        while s < b and (not seqs or n + rows[s] <= budget):
            seqs.append(s)
            n += int(rows[s])
            s += 1
        if n == 0:
            continue
        lp = _concat_rows(observer, tokens, offsets, score_from, seqs, n)
        lq = lp if performer is None else _concat_rows(performer, tokens, offsets, score_from, seqs, n)
        res = token_divergences(lp, lq, targets=np.concatenate(
            [tokens[offsets[i] + score_from[i]:offsets[i + 1]] for i in seqs]), fields=fields,
            num_threads=num_threads)
        for f in fields:
            parts[f].append(res[f])
    panel = {f: (np.concatenate(p) if p else np.zeros(0)) for f, p in parts.items()}
    offs = np.zeros(b + 1, dtype=np.int64)
    np.cumsum(rows, out=offs[1:])
    return panel, offs


def _recorded_inputs(batch):
    """Recorded log-probs without NaN (not reported) positions, their offsets, and the count left out."""
    lp = batch.logprobs
    keep = ~np.isnan(lp)
    counts = np.add.reduceat(keep.astype(np.int64), batch.offsets[:-1]) if lp.size else np.zeros(len(batch), np.int64)
    counts = np.where(np.diff(batch.offsets) == 0, 0, counts)
    offs = np.zeros(len(batch) + 1, dtype=np.int64)
    np.cumsum(counts, out=offs[1:])
    return lp[keep], offs, int(lp.size - keep.sum())


def _metrics(scores: np.ndarray, labels: np.ndarray, direction: str) -> dict:
    oriented = -scores if direction == "lower" else scores
    defined = ~np.isnan(oriented)
    pos, neg = oriented[defined & (labels == 1)], oriented[defined & (labels == 0)]
    out = {"direction": direction, "n_positives": int(pos.size), "n_negatives": int(neg.size),
           "n_undefined": int((~defined).sum())}
    if pos.size == 0 or neg.size == 0:
        out.update(auroc=None, tpr={}, error="no defined score in one class")
        return out
    out["auroc"] = auroc(pos, neg)
    out["tpr"] = {f"{a:g}": tpr_at_fpr(pos, neg, a) for a in FPR_TARGETS}
    return out


def _warm_up() -> None:
    """Load every score kernel once (Numba compiles or reads its cache on first call), so no
    detector's tokens/s carries that one-off cost."""
    from .scores import detector_scores  # noqa: PLC0415

    one = np.array([-1.0])
    panel = {"logprob_p": one, "entropy_p": np.ones(1), "var_logp_p": np.ones(1), "logprob_q": one,
             "cross_entropy_pq": np.ones(1), "var_logq_p": np.ones(1)}
    for model in ("p", "q"):
        detector_scores(panel, np.array([0, 1]), texts=["x"], model=model)


def _as_source(name: str, model):
    if model is None:
        return None
    if not (hasattr(model, "next_token_logits") and hasattr(model, "vocab_size")):
        raise TypeError(f"{name}: expected a LogitSource (next_token_logits, vocab_size), got {type(model).__name__}")
    return model


def benchmark_detectors(
    batch_or_paths,
    *,
    detectors: Iterable[str] | None = None,
    observer=None,
    performer=None,
    watermark: Sequence[str] | str | None = None,
    vocab_size: int | None = None,
    num_threads: int | None = None,
    on_error: str = "fail",
) -> dict:
    """Benchmark every applicable detector on labelled records (see the module docstring).

    ``batch_or_paths``: a :class:`~fingerprint.sources.records.TokenBatch` or paths/globs read with
    :func:`~fingerprint.sources.readers.read_all` (``on_error`` = "fail" or "skip"). ``detectors``:
    names to run (default: every one the data and models allow; naming one that cannot run raises).
    ``vocab_size``: the vocabulary of the watermarked model (default: the observer's); the green
    lists of KGW-type schemes depend on it.
    Returns ``{"dataset": {...}, "detectors": {name: {auroc, tpr, tokens_per_second, direction,
    n_positives, n_negatives, n_undefined, ...}}, "not_run": {name: why}}`` (records whose score is
    NaN, e.g. no scored token, are left out of that detector's metrics and counted in
    ``n_undefined``).
    """
    from . import scores as sc  # noqa: PLC0415

    on_error = choice("on_error", on_error, ("fail", "skip"))
    observer, performer = _as_source("observer", observer), _as_source("performer", performer)
    if performer is not None and observer is None:
        raise ValueError("performer: needs an observer too (Binoculars and Fast-DetectGPT use both models)")
    if performer is not None and int(performer.vocab_size) != int(observer.vocab_size):
        raise ValueError(f"performer: vocab_size {performer.vocab_size} differs from the observer's "
                         f"{observer.vocab_size}; the two models must share a tokenizer")
    specs = [watermark] if isinstance(watermark, str) else list(watermark or [])
    if vocab_size is None and observer is not None:
        vocab = int(observer.vocab_size)
    elif vocab_size is not None:
        vocab = positive_int("vocab_size", vocab_size)
        if observer is not None and vocab != int(observer.vocab_size):
            raise ValueError(f"vocab_size: {vocab} differs from the observer's {observer.vocab_size}")
    else:
        vocab = None
    for spec in specs:
        if vocab is None and not str(spec).strip().lower().startswith("synthid"):
            raise ValueError(f"watermark {spec!r}: the detector needs the watermarked model's vocabulary size; "
                             "pass vocab_size= (--vocab-size) or an observer model")
    batch, stats = _read(batch_or_paths, on_error)
    if vocab is not None:
        bad = np.flatnonzero(batch.tokens >= vocab)
        if bad.size:
            j = int(bad[0])
            i = int(np.searchsorted(batch.offsets, j, side="right")) - 1
            raise ValueError(f"{batch.where(i)}: token_ids[{j - int(batch.offsets[i])}]: id {int(batch.tokens[j])} "
                             f"is outside the vocabulary of {vocab} tokens")
    labels = _check_labels(batch)
    texts = _texts(batch)

    available: dict[str, str] = {}  # name -> why unavailable ("" = available)
    for d in RECORDED_DETECTORS:
        available[d] = "" if batch.logprobs is not None else "the records have no 'logprobs' column"
    if texts is None:
        available["zlib_ratio"] = available["zlib_ratio"] or "not every record has a 'text'"
    for d in OBSERVER_DETECTORS:
        available[d] = "" if observer is not None else "needs --observer"
    if texts is None:
        available["observer.zlib_ratio"] = available["observer.zlib_ratio"] or "not every record has a 'text'"
    for d in PAIR_DETECTORS:
        available[d] = "" if performer is not None else "needs --observer and --performer"
    wm_names = [f"watermark[{s}]" for s in specs]
    if len(set(wm_names)) != len(wm_names):
        raise ValueError(f"watermark: the same spec is given twice: {specs}")
    for n in wm_names:
        available[n] = ""
    if detectors is None:
        wanted = [d for d, why in available.items() if not why]
        if not wanted:
            raise ValueError("detectors: none can run on these records: give records with 'logprobs', "
                             "an observer model, or a watermark spec")
    else:
        wanted = [detectors] if isinstance(detectors, str) else list(detectors)
        if not wanted:
            raise ValueError("detectors: empty list")
        for d in wanted:
            if d not in available:
                raise ValueError(f"detectors: unknown detector {d!r}; known here: {', '.join(available)}")
            if available[d]:
                raise ValueError(f"detectors: {d!r} cannot run: {available[d]}")

    n_tokens = batch.num_tokens
    _warm_up()
    results: dict[str, dict] = {}
    notes: dict[str, object] = {}

    rec = [d for d in wanted if d in RECORDED_DETECTORS]
    if rec:
        t0 = time.perf_counter()
        lp, offs, n_nan = _recorded_inputs(batch)
        prep = time.perf_counter() - t0
        notes["recorded_positions_not_reported"] = n_nan
        funcs = {"loss": lambda: sc.loss(lp, offs, num_threads=num_threads),
                 "perplexity": lambda: sc.perplexity(lp, offs, num_threads=num_threads),
                 "zlib_ratio": lambda: sc.zlib_ratio(lp, offs, texts, num_threads=num_threads),
                 "min_k": lambda: sc.min_k(lp, offs, 0.2, num_threads=num_threads)}
        for d in rec:
            t0 = time.perf_counter()
            s = funcs[d]()
            dt = prep + time.perf_counter() - t0
            results[d] = {**_metrics(s, labels, "lower"), "tokens": int(lp.size), "seconds": dt,
                          "source": "recorded log-probs"}

    mod = [d for d in wanted if d in OBSERVER_DETECTORS or d in PAIR_DETECTORS]
    if mod:
        t0 = time.perf_counter()
        panel, offs = _model_panel(observer, performer, batch, num_threads)
        model_time = time.perf_counter() - t0
        scored = int(offs[-1])
        notes["model_pass_seconds"] = model_time
        notes["model_tokens"] = scored
        for d in mod:
            if d in OBSERVER_DETECTORS:
                name, model, src = d.split(".", 1)[1], "p", getattr(observer, "name", "observer")
            else:
                name, model, src = d, "q", f"{getattr(observer, 'name', 'observer')} + {getattr(performer, 'name', 'performer')}"
            t0 = time.perf_counter()
            s = sc.detector_scores(panel, offs, texts=texts if name == "zlib_ratio" else None,
                                   model=model, scores=[name], num_threads=num_threads)[name]
            dt = model_time + time.perf_counter() - t0
            results[d] = {**_metrics(s, labels, "higher" if d in _HIGHER else "lower"), "tokens": scored,
                          "seconds": dt, "source": src, "includes_model_pass": True}

    if any(d.startswith("watermark[") for d in wanted):
        from .watermark import from_spec  # noqa: PLC0415

        for spec, name in zip(specs, wm_names):
            if name not in wanted:
                continue
            det = from_spec(spec, vocab)
            t0 = time.perf_counter()
            res = det.detect_batch(batch.tokens, batch.offsets, num_threads=num_threads)
            s = np.asarray(res.p_value_exact, dtype=np.float64)
            dt = time.perf_counter() - t0
            results[name] = {**_metrics(s, labels, "lower"), "tokens": n_tokens, "seconds": dt,
                             "source": "p_value_exact", "vocab_size": getattr(det, "vocab_size", None)}

    for r in results.values():
        r["tokens_per_second"] = r["tokens"] / r["seconds"] if r["seconds"] > 0 else None
    ds = {"records": len(batch), "positives": int((labels == 1).sum()), "negatives": int((labels == 0).sum()),
          "tokens": n_tokens, **notes}
    if stats is not None:
        ds["read"] = stats.to_dict()
    not_run = {d: why for d, why in available.items() if why}
    return {"dataset": ds, "fpr_targets": list(FPR_TARGETS), "detectors": {d: results[d] for d in wanted},
            "not_run": not_run if detectors is None else {}}


# ---------------------------------------------------------------------------------------------
# table and CLI


def _fmt_tpr(t: dict | None) -> str:
    if not t:
        return "-"
    if not t["resolvable"]:
        return "n/a"
    return f"{t['tpr']:.3f}"


def format_table(report: dict) -> str:
    ds = report["dataset"]
    lines = [f"{ds['records']} records ({ds['positives']} positive, {ds['negatives']} negative), "
             f"{ds['tokens']} tokens"]
    head = f"{'detector':<34} {'dir':<6} {'AUROC':>6} {'TPR@1%':>7} {'TPR@0.01%':>9} {'tokens/s':>10}"
    lines += [head, "-" * len(head)]
    for name, r in report["detectors"].items():
        a = "-" if r.get("auroc") is None else f"{r['auroc']:.4f}"
        tps = "-" if r.get("tokens_per_second") is None else f"{r['tokens_per_second']:,.0f}"
        lines.append(f"{name[:34]:<34} {r['direction']:<6} {a:>6} {_fmt_tpr(r['tpr'].get('0.01')):>7} "
                     f"{_fmt_tpr(r['tpr'].get('0.0001')):>9} {tps:>10}")
    undefined = {d: r["n_undefined"] for d, r in report["detectors"].items() if r.get("n_undefined")}
    if undefined:
        lines.append("left out (score undefined, e.g. no scored token): " +
                     ", ".join(f"{d}: {n} record(s)" for d, n in undefined.items()))
    if report.get("not_run"):
        lines.append("not run: " + "; ".join(f"{d} ({why})" for d, why in report["not_run"].items()))
    read = ds.get("read") or {}
    if read.get("skipped"):
        lines.append(f"skipped {read['skipped']} malformed record(s): {read['skipped_by_reason']}; first: "
                     f"{read['examples'][0] if read['examples'] else '-'}")
    n_neg = ds["negatives"]
    for a in FPR_TARGETS:
        if a * n_neg < 1:
            lines.append(f"n/a: TPR at FPR {a:.2%} needs at least {math.ceil(1 / a):,} negatives; this set has {n_neg}")
    lines.append("dir: the score's fixed orientation (lower = a lower score means positive); model-based "
                 "tokens/s include the shared model pass")
    return "\n".join(lines)


EXAMPLES = """examples:
  fingerprint bench labelled.parquet --watermark kgw:gamma=0.25 --vocab-size 49152 --json bench.json
  fingerprint bench 'data/*.jsonl' --observer observer.onnx --performer performer.onnx
  fingerprint bench data.jsonl --observer model.gguf --detectors observer.loss,binoculars
"""


def add_parser(sub) -> None:
    import argparse  # noqa: PLC0415

    p = sub.add_parser(
        "bench", help="benchmark detectors on a labelled dataset: AUROC, TPR at 1%% / 0.01%% FPR, tokens/s",
        description="Scores every applicable detector on records with a 'label' column (1 = positive, "
                    "0 = negative) and prints AUROC, TPR at 1% and 0.01% FPR and tokens/s.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="+", metavar="DATA", help="labelled records: .jsonl/.json/.parquet/.arrow/.npz paths or globs")
    p.add_argument("--observer", metavar="MODEL", help="observer / scoring model: .onnx, .gguf or .npz (NGramLM)")
    p.add_argument("--performer", metavar="MODEL", help="performer model for Binoculars / Fast-DetectGPT (same tokenizer)")
    p.add_argument("--watermark", action="append", default=[], metavar="SPEC",
                   help="a watermark detector spec, e.g. kgw:gamma=0.25,seeding=lefthash; repeatable")
    p.add_argument("--vocab-size", type=int, default=None,
                   help="vocabulary size of the watermarked model (default: the observer's)")
    p.add_argument("--detectors", help="comma-separated detector names (default: every applicable one)")
    p.add_argument("--json", metavar="OUT", help="write the full results as JSON")
    p.add_argument("--num-threads", type=int, default=None)
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="a malformed record: fail (default) or skip and count")
    p.set_defaults(func=run)


def _load(spec: str | None, num_threads):
    if spec is None:
        return None
    from .audit.models import load_model  # noqa: PLC0415

    m = load_model(spec, num_threads=num_threads)
    if m.source is None:
        raise ValueError(f"model {spec!r}: expected a runnable model (.onnx, .gguf or .npz)")
    return m.source


def run(args) -> int:
    from .sources.writers import write_json  # noqa: PLC0415

    if args.num_threads is not None and args.num_threads < 1:
        raise ValueError(f"--num-threads: expected a positive integer, got {args.num_threads}")
    dets = None
    if args.detectors is not None:
        dets = [d.strip() for d in args.detectors.split(",") if d.strip()]
        if not dets:
            raise ValueError("--detectors: expected comma-separated detector names, got an empty list")
    observer = _load(args.observer, args.num_threads)
    performer = _load(args.performer, args.num_threads)
    report = benchmark_detectors(args.data, detectors=dets, observer=observer, performer=performer,
                                 watermark=args.watermark, vocab_size=args.vocab_size, num_threads=args.num_threads, on_error=args.on_error)
    print(format_table(report))
    if args.json:
        write_json(args.json, report)
    return 0
