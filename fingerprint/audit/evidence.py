"""The pieces of evidence an audit computes, one function each.

Every function returns a dict with ``title``, ``method``, ``assumptions``, ``summary``,
``p_value`` (a valid p-value for H0: "the suspect was not trained on the teacher's outputs"
under the stated assumptions) and ``details``; ``skipped`` (a reason) where the test does not
apply. :mod:`fingerprint.audit.run` combines them into a verdict.
"""

from __future__ import annotations

import numpy as np

from .models import AuditModel, Responses
from ..model_fingerprint import topk_from_logits
from .stats import model_rank_pvalue, rank_sum_pvalue

TEACHER_KEY = "__teacher__"  # the teacher's entry in shared_text_panel's top-k results

# ----------------------------------------------------------------------------------------------
# responses and teacher-forced logits


def _sequences(prompts: list[np.ndarray], resp: Responses, rows: np.ndarray):
    """tokens, offsets, score_from of prompt+response for the responses ``rows``."""
    seqs, starts = [], []
    for i in rows:
        p = prompts[int(resp.prompt_index[i])]
        seqs.append(np.concatenate([p, resp.response(int(i))]).astype(np.int64))
        starts.append(len(p))
    lens = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tokens = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
    return tokens, offsets, np.array(starts, dtype=np.int64)


def forced_logits(source, prompts: list[np.ndarray], resp: Responses, rows: np.ndarray,
                  batch_size: int = 8) -> np.ndarray:
    """[n, V] float32 logits of ``source`` at every response position of ``rows`` (in order)."""
    tokens, offsets, starts = _sequences(prompts, resp, rows)
    chunks = [c.logits for c in source.next_token_logits(tokens, offsets, score_from=starts,
                                                          batch_size=batch_size)]
    n = int(sum(len(resp.response(int(i))) for i in rows))
    if not chunks:
        return np.zeros((0, source.vocab_size), np.float32)
    out = np.concatenate(chunks, axis=0)
    if out.shape[0] != n:
        raise RuntimeError(f"{type(source).__name__}.next_token_logits returned {out.shape[0]} rows "
                           f"for {n} response positions")
    return out


def respond(model: AuditModel, prompts: list[np.ndarray], *, max_new_tokens: int, temperature: float,
            seed: int, eos_token_id: int | None) -> Responses:
    """The model's responses to every prompt: recorded ones as read, runnable ones generated here
    (seeded sampling)."""
    if model.recorded is not None:
        return model.recorded
    outs = model.source.generate(prompts, max_new_tokens, temperature=temperature, seed=seed,
                                 eos_token_id=eos_token_id)
    lens = np.array([len(o) for o in outs], dtype=np.int64)
    return Responses(np.arange(len(prompts), dtype=np.int64),
                     np.concatenate([np.asarray(o, np.int64) for o in outs]) if outs else np.zeros(0, np.int64),
                     np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))


# ----------------------------------------------------------------------------------------------
# token-level divergence from the teacher, against the panel


class _PromptMeans:
    """Per-prompt sums of per-position JS and KL(teacher || model); :meth:`profile` gives the means."""

    def __init__(self, num_prompts: int) -> None:
        self.js = np.zeros(num_prompts)
        self.kl = np.zeros(num_prompts)
        self.count = np.zeros(num_prompts, dtype=np.int64)
        self.per_token: list[np.ndarray] = []

    def add(self, which: np.ndarray, panel) -> None:
        js = np.asarray(panel.js)
        np.add.at(self.js, which, js)
        np.add.at(self.kl, which, np.asarray(panel.kl_pq))
        np.add.at(self.count, which, 1)
        self.per_token.append(js)

    def profile(self) -> dict:
        c = self.count
        with np.errstate(invalid="ignore", divide="ignore"):
            js_mean = np.where(c > 0, self.js / np.maximum(c, 1), np.nan)
            kl_mean = np.where(c > 0, self.kl / np.maximum(c, 1), np.nan)
        return {"js_per_prompt": js_mean, "kl_per_prompt": kl_mean, "positions": int(c.sum()),
                "per_token_js": np.concatenate(self.per_token) if self.per_token else np.zeros(0)}


def divergence_profile(teacher, model: AuditModel, resp: Responses, prompts: list[np.ndarray], *,
                       dense: bool, topk: int, num_prompts: int, batch_size: int = 8,
                       num_threads: int | None = None) -> dict:
    """Per-prompt mean JS (and KL(teacher||model)) of ``model`` from ``teacher`` on the model's own
    responses, teacher-forced; ``dense`` uses both models' full logits, else the top-k panel
    (``tail="bucket"``: a lower bound of the full-vocabulary divergence)."""
    import fingerprint as fp

    acc = _PromptMeans(num_prompts)
    rows = np.arange(len(resp.offsets) - 1)
    for b in range(0, len(rows), batch_size):
        sel = rows[b: b + batch_size]
        lens = np.array([len(resp.response(int(i))) for i in sel], dtype=np.int64)
        n = int(lens.sum())
        if n == 0:
            continue
        tl = forced_logits(teacher, prompts, resp, sel, batch_size)
        tokens = np.concatenate([resp.response(int(i)) for i in sel])
        if dense:
            ml = forced_logits(model.source, prompts, resp, sel, batch_size)
            panel = fp.token_divergences(tl, ml, targets=tokens, fields=("js", "kl_pq"),
                                         num_threads=num_threads)
        else:
            t_ids, t_lp = topk_from_logits(tl, topk)
            if model.runnable:
                m_ids, m_lp = topk_from_logits(forced_logits(model.source, prompts, resp, sel, batch_size), topk)
            else:
                start = int(resp.offsets[sel[0]])
                m_ids = resp.top_ids[start: start + n]
                m_lp = resp.top_logprobs[start: start + n]
            panel = fp.topk_divergences(t_ids, t_lp, m_ids, m_lp, tail="bucket", fields=("js", "kl_pq"),
                                        num_threads=num_threads)
        acc.add(np.repeat(resp.prompt_index[sel], lens), panel)
    return acc.profile()


def shared_text_panel(teacher, models: list[AuditModel], texts: Responses, prompts: list[np.ndarray], *,
                      topk: int, batch_size: int = 8, num_threads: int | None = None) -> tuple[dict, dict]:
    """Every runnable model teacher-forced on the same texts (the teacher's answers to the shared
    prompts), in one pass: the teacher's logits are computed once per batch of texts.

    Returns ``(profiles, topks)``: per model, the per-prompt mean JS / KL(teacher || model) (as
    :func:`divergence_profile`), and the top-k ids and log-probs at every text position (the teacher's
    under its own name), for fingerprints."""
    import fingerprint as fp

    P = len(prompts)
    acc = {m.name: _PromptMeans(P) for m in models}
    topks = {m.name: ([], []) for m in models}
    topks[TEACHER_KEY] = ([], [])
    rows = np.arange(len(texts.offsets) - 1)
    for b in range(0, len(rows), batch_size):
        sel = rows[b: b + batch_size]
        lens = np.array([len(texts.response(int(i))) for i in sel], dtype=np.int64)
        if int(lens.sum()) == 0:
            continue
        tl = forced_logits(teacher, prompts, texts, sel, batch_size)
        tokens = np.concatenate([texts.response(int(i)) for i in sel])
        which = np.repeat(texts.prompt_index[sel], lens)
        ti, tp = topk_from_logits(tl, topk)
        topks[TEACHER_KEY][0].append(ti)
        topks[TEACHER_KEY][1].append(tp)
        for m in models:
            ml = forced_logits(m.source, prompts, texts, sel, batch_size)
            panel = fp.token_divergences(tl, ml, targets=tokens, fields=("js", "kl_pq"), num_threads=num_threads)
            acc[m.name].add(which, panel)
            mi, mp = topk_from_logits(ml, topk)
            topks[m.name][0].append(mi)
            topks[m.name][1].append(mp)
    profiles = {name: a.profile() for name, a in acc.items()}
    out = {k: (np.concatenate(v[0]) if v[0] else np.zeros((0, topk), np.int64),
               np.concatenate(v[1]) if v[1] else np.zeros((0, topk))) for k, v in topks.items()}
    return profiles, out


METHODS = {
    "shared": ("Every model is teacher-forced on the same teacher-written texts (the teacher's watermarked texts "
               "when given, else its answers to the shared prompts) and the Jensen-Shannon divergence between its "
               "next-token distribution and the teacher's (full vocabulary) is averaged per text."),
    "own": ("Each model answers the shared prompts; the teacher is teacher-forced on those answers and the "
            "Jensen-Shannon divergence between the teacher's top-k and the model's recorded top-k (bucket "
            "tail: a lower bound of the full-vocabulary value) is averaged per prompt."),
}


def divergence_test(suspect_name: str, profiles: dict[str, dict], panel_names: list[str], mode: str = "shared") -> dict:
    title = "token-level divergence vs panel"
    s = profiles[suspect_name]
    panel = [n for n in panel_names if n != suspect_name]
    if not panel:
        return {"title": title, "skipped": "no panel models to compare with"}
    ok = ~np.isnan(s["js_per_prompt"])
    if not ok.any():
        return {"title": title, "skipped": "the suspect has no scored response tokens"}
    stat = float(np.nanmean(s["js_per_prompt"]))
    pstats = {n: float(np.nanmean(profiles[n]["js_per_prompt"])) for n in panel}
    rank, p_model = model_rank_pvalue(stat, list(pstats.values()))
    m = np.array([profiles[n]["js_per_prompt"][ok] for n in panel])
    rs = rank_sum_pvalue(s["js_per_prompt"][ok], m)
    closer = sum(v > stat for v in pstats.values())
    rng = np.random.default_rng(0)
    samples = {}
    for n in [suspect_name] + panel:
        t = profiles[n]["per_token_js"]
        samples[n] = t if t.size <= 2000 else rng.choice(t, 2000, replace=False)
    return {
        "title": title,
        "statistic": "mean JS (nats)",
        "suspect": stat,
        "panel": pstats,
        "per_token": samples,
        "p_value": p_model,
        "summary": (f"mean JS from the teacher {stat:.4f}; closer than {closer} of {len(panel)} panel "
                    f"models (rank {rank} of {len(panel) + 1})"),
        "method": METHODS[mode] + (" The suspect's mean over prompts is ranked among the panel models' "
                                   "(1 = closest): p = (1 + number of panel models at least as close) / "
                                   "(panel size + 1)."),
        "assumptions": ("Under H0 the suspect is one more model like the panel's independent models (its mean "
                        "divergence is exchangeable with theirs). The p-value cannot go below 1/(panel size + 1): "
                        "a panel of n models gives at most that much evidence. The per-prompt rank sum in the "
                        "details is descriptive only: closeness is a trait of a model, so prompts are not "
                        "independent trials and a prompt-level test would overstate the evidence."),
        "details": {"rank_among_panel": rank, "panel_size": len(panel), "p_model_rank": p_model,
                    "rank_sum": rs["rank_sum"], "rank_sum_expected": rs["expected"],
                    "rank_sum_p_if_prompts_were_independent": rs["p_value"], "prompts": rs["prompts"],
                    "scored_positions": s["positions"],
                    "mean_kl_teacher_to_suspect": float(np.nanmean(s["kl_per_prompt"]))},
    }


# ----------------------------------------------------------------------------------------------
# radioactivity


def _curve(res) -> dict:
    return {"tokens": np.asarray(res.checkpoints).tolist(), "p_value": np.asarray(res.checkpoint_p_values).tolist()}


def radioactivity_outputs(detector, resp: Responses, prompts: list[np.ndarray], num_threads=None) -> dict:
    """Radioactivity of the suspect's own outputs (closed model), corpus-wide de-duplicated."""
    from ..watermark import radioactivity

    title = "watermark radioactivity (suspect's outputs)"
    if resp.num_tokens == 0:
        return {"title": title, "skipped": "the suspect produced no tokens"}
    pr = [prompts[int(i)] for i in resp.prompt_index]
    res = radioactivity(detector, resp.tokens, resp.offsets, prompts=pr, dedup="window+token",
                        num_threads=num_threads)
    return _radio_entry(title, res, detector,
                        "The suspect's answers to the shared prompts are scored with the teacher's watermark "
                        "key: every (context window, token) pair counts once in the whole corpus, windows "
                        "that occur in the prompt are skipped, and the green count is tested against its "
                        "exact Binomial(N, gamma) tail (Sander et al. 2024).")


def radioactivity_reading(detector, model: AuditModel, teacher_texts: Responses, prompts_tt: list[np.ndarray],
                          num_threads=None, batch_size: int = 8) -> dict:
    """Reading mode (open suspect): the suspect's teacher-forced top-1 predictions on the teacher's
    watermarked texts."""
    from ..watermark import radioactivity

    title = "watermark radioactivity (reading mode)"
    if not model.runnable:
        return {"title": title, "skipped": "needs a runnable suspect"}
    if teacher_texts is None or teacher_texts.num_tokens == 0:
        return {"title": title, "skipped": "no teacher texts given (--teacher-texts)"}
    preds = np.empty(teacher_texts.num_tokens, dtype=np.int64)
    rows = np.arange(len(teacher_texts.offsets) - 1)
    for b in range(0, len(rows), batch_size):
        sel = rows[b: b + batch_size]
        lg = forced_logits(model.source, prompts_tt, teacher_texts, sel, batch_size)
        s0 = int(teacher_texts.offsets[sel[0]])
        preds[s0: s0 + lg.shape[0]] = np.argmax(lg, axis=1)
    pr = [prompts_tt[int(i)] for i in teacher_texts.prompt_index]
    res = radioactivity(detector, teacher_texts.tokens, teacher_texts.offsets, prompts=pr,
                        dedup="window+token", scoring_mode="reading", predictions=preds,
                        num_threads=num_threads)
    return _radio_entry(title, res, detector,
                        "The suspect is teacher-forced on the teacher's watermarked texts and its top-1 "
                        "prediction at each position is scored with the watermark key (windows repeated "
                        "within a text, or present in its prompt, skipped; pairs de-duplicated corpus-wide).")


def _radio_entry(title, res, detector, method) -> dict:
    green = getattr(res, "num_green_tokens", None)
    n = int(res.num_tokens_scored)
    gamma = getattr(detector, "gamma", None)
    summ = f"{n:,} de-duplicated tokens scored"
    if green is not None and n:
        summ += f", {green / n:.3f} green (expected {gamma:.3f} without the watermark)" if gamma else ""
    return {
        "title": title, "p_value": float(res.p_value_exact), "summary": summ, "curve": _curve(res),
        "method": method,
        "assumptions": ("Under H0 the suspect's tokens do not depend on the watermark key, so distinct "
                        "(window, token) pairs are independent trials with the scheme's green probability; "
                        "de-duplication makes repeated text count once. Needs the teacher's key and scheme."),
        "details": {"num_tokens_scored": n, "num_green_tokens": green, "p_value_library_formula": float(res.p_value),
                    "num_candidates": int(res.num_candidates), "num_duplicates": int(res.num_duplicates),
                    "num_in_prompt": int(res.num_in_prompt)},
    }


# ----------------------------------------------------------------------------------------------
# near-duplicate overlap with the teacher's texts


def _ngrams(resp: Responses, n: int) -> np.ndarray:
    """Distinct token n-grams [m, n] inside the responses."""
    rows = []
    for i in range(len(resp.offsets) - 1):
        r = resp.response(i)
        if len(r) >= n:
            rows.append(np.lib.stride_tricks.sliding_window_view(r, n))
    if not rows:
        return np.zeros((0, n), np.int64)
    return np.unique(np.concatenate(rows).astype(np.int64), axis=0)


def overlap_stats(resp: Responses, teacher_texts: Responses, teacher_sig: np.ndarray, *, threshold: float,
                  ngram: int = 5, num_perm: int = 128, seed: int = 1) -> dict:
    """Verbatim overlap of a model's responses with the teacher's texts.

    ``containment``: the fraction of the responses' distinct token ``ngram``-grams that occur in the
    teacher's texts (exact, by sorting); ``near_duplicates``: the fraction of responses whose MinHash
    estimate of Jaccard similarity to some teacher text is >= ``threshold``.
    """
    from .. import minhash

    mine = _ngrams(resp, ngram)
    theirs = _ngrams(teacher_texts, ngram)
    if mine.shape[0] == 0:
        return {"containment": float("nan"), "ngrams": 0, "near_duplicates": float("nan"), "responses": 0}
    both = np.concatenate([theirs, mine])
    _, inv, counts = np.unique(both, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    containment = float(np.mean(counts[inv[theirs.shape[0]:]] > 1))
    lens = np.diff(resp.offsets)
    keep = np.flatnonzero(lens >= ngram)
    toks = np.concatenate([resp.response(int(i)) for i in keep])
    offs = np.concatenate([[0], np.cumsum(lens[keep])]).astype(np.int64)
    sig = minhash.minhash(toks, offs, num_perm=num_perm, ngram=ngram, seed=seed)
    best = np.zeros(sig.shape[0])
    for j in range(0, teacher_sig.shape[0], 256):
        blk = teacher_sig[j: j + 256]
        best = np.maximum(best, (sig[:, None, :] == blk[None, :, :]).mean(axis=2).max(axis=1))
    return {"containment": containment, "ngrams": int(mine.shape[0]),
            "near_duplicates": float(np.mean(best >= threshold)), "responses": int(keep.size)}


def overlap_test(suspect_name: str, stats: dict[str, dict], panel_names: list[str], threshold: float,
                 ngram: int = 5) -> dict:
    title = "verbatim overlap with the teacher's texts"
    panel = [n for n in panel_names if n != suspect_name]
    st = stats[suspect_name]
    if st["ngrams"] == 0:
        return {"title": title, "skipped": f"the suspect's responses hold no {ngram}-gram"}
    if not panel:
        return {"title": title, "skipped": "no panel models to compare with"}
    pv = {k: stats[k]["containment"] for k in panel}
    f = st["containment"]
    # larger overlap = closer: rank on the negated containment
    rank, p = model_rank_pvalue(-f, [-v for v in pv.values()])
    return {
        "title": title, "p_value": p, "statistic": f"share of the responses' {ngram}-grams found in the teacher's texts",
        "suspect": f, "panel": pv,
        "summary": (f"{f:.1%} of its distinct {ngram}-grams occur in the teacher's texts (panel: "
                    f"{min(pv.values()):.1%}-{max(pv.values()):.1%}); {st['near_duplicates']:.0%} of responses "
                    f"near-duplicate a teacher text; rank {rank} of {len(panel) + 1}"),
        "method": (f"Exact containment: the distinct token {ngram}-grams of the model's answers to the shared prompts "
                   f"are looked up among those of the teacher's texts; ranked against the panel models' "
                   f"containment. Near-duplicates: MinHash signatures (128 permutations) of the answers' {ngram}-grams, "
                   f"estimated Jaccard similarity >= {threshold} to some teacher text."),
        "assumptions": ("Model-level exchangeability with the panel (the p-value cannot go below 1/(panel size + 1)). "
                        "Verbatim overlap shows memorised teacher text, not how it was obtained; common phrases "
                        "give every model some overlap, hence the comparison with the panel."),
        "details": {"rank_among_panel": rank, "panel_size": len(panel), "containment": f,
                    "distinct_ngrams": st["ngrams"], "near_duplicate_fraction": st["near_duplicates"],
                    "near_duplicate_threshold": threshold},
    }
