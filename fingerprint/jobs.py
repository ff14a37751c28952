r"""Per-batch jobs: one :class:`~fingerprint.sources.records.TokenBatch` in, one ``pyarrow.Table`` out.

Each job is pure and deterministic (the same batch gives the same table for any ``num_threads``);
the stateful ones are small classes whose state is built once in ``__init__`` (a detector), so
they can be handed to a Ray Data ``map_batches`` as they are. Corpus-level results (radioactivity,
an index) accumulate batch by batch in an object with ``add(batch)`` and a final ``result()``.

- :func:`score_batch`: per-record detector scores from recorded log-probs (loss, perplexity,
  Min-K%, Min-K%++ from the top-k lists, zlib ratio with the text), through :mod:`fingerprint.scores`.
- :func:`topk_divergence_batch`: per-record means of :func:`fingerprint.topk_divergences` between
  two record sets with the same ids and tokens (:func:`align_by_id` pairs them).
- :class:`WatermarkDetectJob`: per-record results of any :mod:`fingerprint.watermark` detector,
  built from a spec (:func:`build_detector`).
- :class:`RadioactivityAccumulator`: :func:`fingerprint.watermark.radioactivity` over a stream.
- :func:`minhash_batch`, :class:`IndexBuilder`, :func:`query_index`: MinHash signatures and
  :class:`fingerprint.FingerprintIndex` / :class:`fingerprint.MinHashLSH` build and query.

pyarrow is imported lazily (inside the functions).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .sources.records import TokenBatch, _ragged_offsets

__all__ = [
    "DETECTORS", "IndexBuilder", "RadioactivityAccumulator", "WatermarkDetectJob", "align_by_id",
    "build_detector", "minhash_batch", "query_index", "score_batch", "topk_divergence_batch",
]  # fmt: skip

#: Score columns of :func:`score_batch`, in order.
SCORE_COLUMNS: tuple[str, ...] = ("loss", "perplexity", "min_k", "min_k_plus_plus", "zlib_ratio")


def _pa():
    import pyarrow as pa  # noqa: PLC0415 - lazy

    return pa


def _check_batch(batch: object, name: str = "batch") -> TokenBatch:
    if not isinstance(batch, TokenBatch):
        raise TypeError(f"{name}: expected a TokenBatch, got {type(batch).__name__}")
    return batch


def _known(batch: TokenBatch) -> tuple[np.ndarray, np.ndarray]:
    """Positions with a reported log-prob (not NaN) and the offsets of that sub-corpus."""
    if batch.logprobs is None:
        raise ValueError(f"batch: the records of {batch.source or 'this batch'} have no log-probs (column "
                         "'logprobs'); scores need the log-prob of every observed token")
    known = ~np.isnan(batch.logprobs)
    return known, _ragged_offsets(_segment_count(known, batch.offsets))


def _segment_count(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per record, the number of True positions of ``mask`` (int64 [B]; empty records give 0)."""
    b = offsets.shape[0] - 1
    seg = np.repeat(np.arange(b), np.diff(offsets))
    return np.bincount(seg[mask], minlength=b).astype(np.int64)


def _base_columns(batch: TokenBatch, offs: np.ndarray) -> dict[str, Any]:
    cols: dict[str, Any] = {"id": batch.ids, "num_tokens": np.diff(batch.offsets), "num_scored": np.diff(offs)}
    if batch.labels is not None:
        cols["label"] = batch.labels
    return cols


def score_batch(
    batch: TokenBatch,
    *,
    k: float = 0.2,
    tail: str = "bucket",
    vocab_size: int | None = None,
    scores: Sequence[str] | None = None,
    num_threads: int | None = None,
):
    r"""Per-record detector scores from the recorded log-probs (``pyarrow.Table``).

    Columns: ``id``, ``num_tokens``, ``num_scored`` (positions with a reported log-prob; NaN
    log-probs, e.g. an ``echo``-ed first token, are left out of every score), ``label`` (if the
    records have one), then the scores of :mod:`fingerprint.scores` over the scored positions:

    - ``loss`` :math:`-\frac1n\sum\log p(x_t)` and ``perplexity`` :math:`e^{\mathrm{loss}}`
      (:func:`fingerprint.scores.loss`, Yeom et al. 2018; Carlini et al. 2021);
    - ``min_k``: :func:`fingerprint.scores.min_k` with fraction ``k`` (Shi et al. 2024);
    - ``min_k_plus_plus`` (records with top-k lists): :func:`fingerprint.scores.min_k_plus_plus`
      with :math:`\mu_t = -H_t` and :math:`\sigma_t^2 = \mathrm{Var}[\log p_t]` estimated from the
      top-k list by :func:`fingerprint.topk_divergences` with ``tail`` (``"bucket"``: the list plus
      one rest bucket; ``"geometric"`` with ``vocab_size``: an extrapolated tail). An estimate: the
      full-vocabulary moments are unknown from top-k. NaN for a record with a scored position
      whose list is empty;
    - ``zlib_ratio`` (records with a text): :func:`fingerprint.scores.zlib_ratio`.

    ``scores`` selects a subset (default: every one the records support).
    """
    from . import scores as S  # noqa: PLC0415
    from .topk import topk_divergences  # noqa: PLC0415

    batch = _check_batch(batch)
    valid = SCORE_COLUMNS
    want = list(valid) if scores is None else list(scores)
    for s in want:
        if s not in valid:
            raise ValueError(f"scores: unknown score {s!r}; expected some of {', '.join(valid)}")
    if scores is not None:
        if "min_k_plus_plus" in want and batch.top_ids is None:
            raise ValueError("scores: min_k_plus_plus needs top-k log-probs (columns top_ids, top_logprobs)")
        if "zlib_ratio" in want and batch.texts is None:
            raise ValueError("scores: zlib_ratio needs the texts (column text)")
    known, offs = _known(batch)
    lp = batch.logprobs[known]
    cols = _base_columns(batch, offs)
    if "loss" in want or "perplexity" in want:
        loss = S.loss(lp, offs, num_threads=num_threads)
        if "loss" in want:
            cols["loss"] = loss
        if "perplexity" in want:
            with np.errstate(over="ignore"):
                cols["perplexity"] = np.exp(loss)
    if "min_k" in want:
        cols["min_k"] = S.min_k(lp, offs, k, num_threads=num_threads)
    if "min_k_plus_plus" in want and batch.top_ids is not None:
        out = np.full(len(batch), np.nan)
        ti, tl = batch.top_ids[known], batch.top_logprobs[known]
        if ti.shape[0] and ti.shape[1]:
            panel = topk_divergences(ti, tl, ti, tl, tail=tail, vocab_size=vocab_size,
                                     fields=["entropy_p", "var_logp_p"], num_threads=num_threads)
            mean, var = -panel.entropy_p, panel.var_logp_p
            ok_pos = np.isfinite(mean) & np.isfinite(var)
            ok_rec = (np.diff(offs) > 0) & (_segment_count(~ok_pos, offs) == 0)
            rows = np.flatnonzero(ok_rec)
            if rows.size:
                sel = np.concatenate([np.arange(offs[r], offs[r + 1]) for r in rows])
                sub_offs = _ragged_offsets(np.diff(offs)[rows])
                out[rows] = S.min_k_plus_plus(lp[sel], mean[sel], var[sel], sub_offs, k, num_threads=num_threads)
        cols["min_k_plus_plus"] = out
    if "zlib_ratio" in want and batch.texts is not None:
        texts = batch.texts
        out = np.full(len(batch), np.nan)
        rows = [i for i, t in enumerate(texts) if t is not None]
        if rows:
            r = np.asarray(rows)
            sel = np.concatenate([np.arange(offs[i], offs[i + 1]) for i in rows]) if rows else np.zeros(0, np.int64)
            out[r] = S.zlib_ratio(lp[sel], _ragged_offsets(np.diff(offs)[r]), [texts[i] for i in rows], num_threads=num_threads)
        cols["zlib_ratio"] = out
    return _table(cols)


def _table(cols: Mapping[str, Any]):
    pa = _pa()
    out = {}
    for name, v in cols.items():
        if name == "id" or isinstance(v, list):
            out[name] = pa.array(v, type=pa.string()) if name in ("id", "match_id", "query_id") else pa.array(v)
        else:
            out[name] = pa.array(np.asarray(v))
    return pa.table(out)


def align_by_id(p: TokenBatch, q: TokenBatch) -> tuple[TokenBatch, TokenBatch, list[str]]:
    """The records of ``p`` whose id is in ``q`` and their counterparts in ``q`` (same order), and
    the ids of ``p`` missing from ``q``. Raises ValueError for a duplicated id in ``q``."""
    where: dict[str, int] = {}
    for i, rid in enumerate(q.ids):
        if rid in where:
            raise ValueError(f"q: the id {rid!r} appears twice ({q.where(where[rid])} and {q.where(i)})")
        where[rid] = i
    rows_p, rows_q, missing = [], [], []
    for i, rid in enumerate(p.ids):
        j = where.get(rid)
        if j is None:
            missing.append(rid)
        else:
            rows_p.append(i)
            rows_q.append(j)
    return p.take(rows_p), q.take(rows_q), missing


def topk_divergence_batch(
    p: TokenBatch,
    q: TokenBatch,
    *,
    tail: str = "bucket",
    vocab_size: int | None = None,
    fields: Sequence[str] | None = None,
    num_threads: int | None = None,
):
    """Per-record means of :func:`fingerprint.topk_divergences` between aligned records (same ids,
    same tokens, in the same order: see :func:`align_by_id`) of model P and model Q.

    Columns: ``id``, ``num_positions``, and ``mean_<field>`` for each field (default: every field
    of the top-k panel), the mean over the record's positions where the field is not NaN (e.g. a
    position without alternatives), NaN when there is none. Observed-token log-probs of both
    sides are passed as ``p_target_logprobs`` / ``q_target_logprobs``.
    """
    from .topk import topk_divergences  # noqa: PLC0415

    p, q = _check_batch(p, "p"), _check_batch(q, "q")
    if p.ids != q.ids:
        raise ValueError("p and q: records must have the same ids in the same order (use align_by_id)")
    if p.top_ids is None or q.top_ids is None:
        raise ValueError("p and q: both need top-k log-probs (columns top_ids, top_logprobs)")
    if not np.array_equal(p.offsets, q.offsets) or not np.array_equal(p.tokens, q.tokens):
        for i in range(len(p)):
            a, b = p.tokens[p.offsets[i]:p.offsets[i + 1]], q.tokens[q.offsets[i]:q.offsets[i + 1]]
            if a.shape != b.shape or not np.array_equal(a, b):
                j = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
                raise ValueError(f"p and q: record {p.ids[i]!r} ({p.where(i)} vs {q.where(i)}) has different tokens "
                                 f"(first difference at position {j}; lengths {len(a)} and {len(b)}); the two sides "
                                 "must score the same token sequence (same tokenizer)")
    res = topk_divergences(p.top_ids, p.top_logprobs, q.top_ids, q.top_logprobs, tail=tail, targets=p.tokens,
                           p_target_logprobs=p.logprobs, q_target_logprobs=q.logprobs, vocab_size=vocab_size,
                           offsets=p.offsets, fields=fields, num_threads=num_threads)
    cols: dict[str, Any] = {"id": p.ids, "num_positions": np.diff(p.offsets)}
    seg = np.repeat(np.arange(len(p)), np.diff(p.offsets))
    for name in res.fields:
        v = np.asarray(getattr(res, name), dtype=np.float64)
        ok = ~np.isnan(v)
        s = np.bincount(seg[ok], weights=v[ok], minlength=len(p)) if len(p) else np.zeros(0)
        c = np.bincount(seg[ok], minlength=len(p)) if len(p) else np.zeros(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols[f"mean_{name}"] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
        inf = np.isinf(v) & ok
        if inf.any():  # sums with inf: bincount gives inf or nan (inf - inf); follow IEEE per record
            for r in np.unique(seg[inf]).tolist():
                cols[f"mean_{name}"][r] = float(np.mean(v[seg == r][~np.isnan(v[seg == r])]))
    return _table(cols)


# ---------------------------------------------------------------------------------------------
# watermarks

DETECTORS: tuple[str, ...] = ("kgw", "unigram", "synthid", "maryland", "aaronson")


def build_detector(spec: Mapping[str, Any] | str | os.PathLike):
    """A :mod:`fingerprint.watermark` detector from a spec: a dict (or the path of a JSON file
    holding one) ``{"scheme": "kgw" | "unigram" | "synthid" | "maryland" | "aaronson", ...}``, the
    other keys being the scheme's constructor arguments (``vocab_size``, ``gamma``, ``hash_key``,
    ``keys``, ``seed``, ...). ``"detect"`` (optional) holds keyword arguments of ``detect_batch``
    (e.g. ``{"scoring": "v2"}`` for Maryland/Aaronson) and is returned separately by
    :class:`WatermarkDetectJob`."""
    from . import watermark as W  # noqa: PLC0415

    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        try:
            with open(path, encoding="utf-8") as fh:
                spec = json.load(fh)
        except FileNotFoundError:
            raise FileNotFoundError(f"watermark key: no such file {path!r}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"watermark key: {path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec: expected a dict with a 'scheme' key, got {type(spec).__name__}")
    kw = {k: v for k, v in spec.items() if k not in ("scheme", "detect")}
    scheme = spec.get("scheme")
    classes = {"kgw": W.KGW, "unigram": W.Unigram, "synthid": W.SynthID, "maryland": W.Maryland, "aaronson": W.Aaronson}
    if scheme not in classes:
        raise ValueError(f"spec: 'scheme' must be one of {', '.join(DETECTORS)}, got {scheme!r}")
    try:
        return classes[scheme](**kw)
    except TypeError as exc:
        raise ValueError(f"spec: invalid arguments for {scheme}: {exc}") from None


class WatermarkDetectJob:
    """Per-record watermark detection: ``job(batch)`` -> ``pyarrow.Table`` with ``id``,
    ``num_tokens``, ``too_short`` and every per-text field of the detector's ``detect_batch``
    (``p_value``, ``p_value_exact``, ``z_score``, counts, ...). The detector is built once from
    ``spec`` (see :func:`build_detector`)."""

    def __init__(self, spec: Mapping[str, Any] | str | os.PathLike, *, num_threads: int | None = None, **detect_kwargs: Any) -> None:
        if isinstance(spec, (str, os.PathLike)):
            with open(os.fspath(spec), encoding="utf-8") as fh:
                spec = json.load(fh)
        self.spec = dict(spec)
        self.detector = build_detector(self.spec)
        self.detect_kwargs = {**dict(self.spec.get("detect") or {}), **detect_kwargs}
        self.num_threads = num_threads

    def __call__(self, batch: TokenBatch):
        batch = _check_batch(batch)
        res = self.detector.detect_batch(batch.tokens, batch.offsets, num_threads=self.num_threads, **self.detect_kwargs)
        cols: dict[str, Any] = {"id": batch.ids, "num_tokens": np.diff(batch.offsets)}
        if batch.labels is not None:
            cols["label"] = batch.labels
        cols["too_short"] = np.asarray(res.too_short, dtype=bool)
        for name, v in res.to_dict().items():
            v = np.asarray(v)
            if v.ndim == 1 and v.shape[0] == len(batch):
                cols[name] = v
        return _table(cols)


class RadioactivityAccumulator:
    """Radioactivity over a stream of batches: ``add(batch)`` for each, then ``result()`` runs
    :func:`fingerprint.watermark.radioactivity` once over the whole corpus (its de-duplication is
    corpus-wide, so the pairs of every batch must be seen together). Memory: the corpus' token ids
    (8 bytes per token, plus prompts and, in reading mode, one prediction per token), never the
    log-probs.

    ``scoring_mode="outputs"``: the records are the suspect's texts. ``"reading"``: the records
    are the teacher's watermarked texts scored by the suspect, whose top-1 predictions are column 0
    of ``top_ids`` (a row with no alternative is an error, except at each record's first
    position, which is never scored). ``use_prompts``: exclude windows of each record's prompt
    (``prompt_ids``) when present.
    """

    def __init__(self, spec: Mapping[str, Any] | Sequence[Mapping[str, Any]] | str | os.PathLike, *, dedup: str = "window+token",
                 scoring_mode: str = "outputs", use_prompts: bool = True, num_threads: int | None = None) -> None:
        if isinstance(spec, (str, os.PathLike)):
            with open(os.fspath(spec), encoding="utf-8") as fh:
                spec = json.load(fh)
        specs = list(spec) if isinstance(spec, Sequence) else [spec]
        self.detectors = [build_detector(s) for s in specs]
        self.dedup, self.scoring_mode, self.use_prompts, self.num_threads = dedup, scoring_mode, use_prompts, num_threads
        self._tokens: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._prompts: list[np.ndarray] = []
        self._plengths: list[np.ndarray] = []
        self._pred: list[np.ndarray] = []
        self._have_prompts = True
        self.num_records = 0

    def add(self, batch: TokenBatch) -> None:
        batch = _check_batch(batch)
        if self.scoring_mode == "reading":
            if batch.top_ids is None or batch.k == 0:
                raise ValueError(f"batch: reading mode needs the suspect's predictions (top_ids) in {batch.source}")
            pred = batch.top_ids[:, 0].copy()
            first = batch.offsets[:-1][np.diff(batch.offsets) > 0]
            pred[first] = np.maximum(pred[first], 0)  # never scored
            if (pred < 0).any():
                p = int(np.flatnonzero(pred < 0)[0])
                r = int(np.searchsorted(batch.offsets, p, side="right")) - 1
                raise ValueError(f"{batch.where(r)}: top_ids[{p - int(batch.offsets[r])}]: no prediction at this position "
                                 "(reading mode needs the suspect's top-1 at every position)")
            self._pred.append(pred)
        self._tokens.append(batch.tokens)
        self._lengths.append(np.diff(batch.offsets))
        if batch.prompt_tokens is None:
            self._have_prompts = False
        else:
            self._prompts.append(batch.prompt_tokens)
            self._plengths.append(np.diff(batch.prompt_offsets))
        self.num_records += len(batch)

    def result(self) -> dict[str, Any]:
        """A JSON-ready summary: per detector the p-values, counts and checkpoints; with several
        detectors also the Bonferroni / Holm adjusted p-values."""
        from .watermark import radioactivity  # noqa: PLC0415

        ids = np.concatenate(self._tokens) if self._tokens else np.zeros(0, np.int64)
        offs = _ragged_offsets(np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64))
        kw: dict[str, Any] = {"dedup": self.dedup, "scoring_mode": self.scoring_mode, "num_threads": self.num_threads}
        if self.use_prompts and self._have_prompts and self._prompts:
            kw["prompts"] = np.concatenate(self._prompts)
            kw["prompt_offsets"] = _ragged_offsets(np.concatenate(self._plengths))
        if self.scoring_mode == "reading":
            kw["predictions"] = np.concatenate(self._pred) if self._pred else np.zeros(0, np.int64)
        det = self.detectors if len(self.detectors) > 1 else self.detectors[0]
        res = radioactivity(det, ids, offs, **kw)
        results = res.results if len(self.detectors) > 1 else [res]
        out: dict[str, Any] = {"num_records": self.num_records, "num_tokens": int(ids.shape[0]),
                               "used_prompts": "prompts" in kw, "detectors": []}
        for d, r in zip(self.detectors, results):
            e = {k: v for k, v in vars(r).items() if k != "scored_positions"}
            e = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
            e["detector"] = repr(d)
            out["detectors"].append(e)
        if len(self.detectors) > 1:
            out["p_bonferroni"] = res.p_bonferroni.tolist()
            out["p_holm"] = res.p_holm.tolist()
            out["p_value"] = res.p_value
            out["best"] = res.best
        else:
            out["p_value"] = results[0].p_value_exact
        return out


# ---------------------------------------------------------------------------------------------
# fingerprints and the index


def minhash_batch(batch: TokenBatch, *, num_perm: int = 128, ngram: int = 5, seed: int = 1,
                  num_threads: int | None = None):
    """MinHash signatures of each record's token n-grams (:func:`fingerprint.minhash.minhash`):
    a table with ``id`` and ``signature`` (list<uint64>, ``num_perm`` slots)."""
    from .minhash import minhash  # noqa: PLC0415

    batch = _check_batch(batch)
    sig = minhash(batch.tokens, batch.offsets, num_perm=num_perm, ngram=ngram, seed=seed, num_threads=num_threads)
    pa = _pa()
    flat = pa.array(sig.reshape(-1), type=pa.uint64())
    col = pa.FixedSizeListArray.from_arrays(flat, num_perm) if len(batch) else pa.array([], pa.list_(pa.uint64(), num_perm))
    return pa.table({"id": pa.array(batch.ids, pa.string()), "signature": col})


def vectors_of(table, *, column: str = "vector", id_column: str = "id", source: str = "<table>", first_row: int = 0):
    """``(ids, float32 [n, dim] vectors)`` from a table with a list column of numbers. Rows with a
    null or wrongly sized vector raise ValueError naming the row."""
    pa = _pa()
    import pyarrow.compute as pc  # noqa: PLC0415

    names = table.schema.names
    for c in (column, id_column):
        if c not in names:
            raise ValueError(f"columns: {source} has no column {c!r}; its columns are {', '.join(names)}")
    col = table.column(column).combine_chunks() if isinstance(table, pa.Table) else table.column(column)
    if col.null_count:
        r = int(np.flatnonzero(~np.asarray(col.is_valid().to_numpy(zero_copy_only=False)))[0])
        raise ValueError(f"{source}:row {first_row + r}: {column}: null vector")
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    if lengths.size and (lengths != lengths[0]).any():
        r = int(np.flatnonzero(lengths != lengths[0])[0])
        raise ValueError(f"{source}:row {first_row + r}: {column}: {int(lengths[r])} values, expected {int(lengths[0])} like row {first_row}")
    dim = int(lengths[0]) if lengths.size else 0
    flat = col.flatten()
    if flat.null_count:
        p = int(np.flatnonzero(~np.asarray(flat.is_valid().to_numpy(zero_copy_only=False)))[0])
        raise ValueError(f"{source}:row {first_row + p // max(dim, 1)}: {column}[{p % max(dim, 1)}]: null value")
    vec = flat.to_numpy(zero_copy_only=False).reshape(len(lengths), dim)
    if vec.dtype.kind not in "fiu":
        raise ValueError(f"columns: {source}: {column} holds {flat.type}, expected numbers")
    ids = [str(x) for x in pc.cast(table.column(id_column), pa.string()).to_pylist()]
    return ids, vec


class IndexBuilder:
    """Builds an index batch by batch and saves it.

    ``kind="vectors"``: a :class:`fingerprint.FingerprintIndex` (``metric``, ``index_kind`` and
    other keywords are its constructor's) over ``add_vectors(ids, vectors)``; record ids become the
    labels. IVF kinds are trained on the first ``train_size`` vectors (kept until then).
    ``kind="minhash"``: a :class:`fingerprint.MinHashLSH` over the MinHash signatures of
    ``add(batch)``; ids are kept in a JSON sidecar ``<path>.ids.json``.
    """

    def __init__(self, kind: str = "vectors", *, metric: str = "cosine", index_kind: str = "flat", num_perm: int = 128,
                 ngram: int = 5, seed: int = 1, threshold: float = 0.5, num_threads: int | None = None, **index_kwargs: Any) -> None:
        if kind not in ("vectors", "minhash"):
            raise ValueError(f"kind: expected 'vectors' or 'minhash', got {kind!r}")
        self.kind, self.metric, self.index_kind, self.index_kwargs = kind, metric, index_kind, index_kwargs
        self.num_perm, self.ngram, self.seed, self.threshold, self.num_threads = num_perm, ngram, seed, threshold, num_threads
        self.index = None
        self.labels: list[str] = []
        if kind == "minhash":
            from .minhash import MinHashLSH  # noqa: PLC0415

            self.index = MinHashLSH(num_perm, threshold=threshold)

    def add(self, batch: TokenBatch) -> None:
        """MinHash mode: add the records of ``batch``."""
        if self.kind != "minhash":
            raise ValueError("add: a vectors index takes add_vectors(ids, vectors)")
        t = minhash_batch(batch, num_perm=self.num_perm, ngram=self.ngram, seed=self.seed, num_threads=self.num_threads)
        sig = np.asarray(t.column("signature").combine_chunks().flatten().to_numpy(), dtype=np.uint64).reshape(len(batch), self.num_perm)
        start = len(self.labels)
        self.index.add(sig, np.arange(start, start + len(batch), dtype=np.int64))
        self.labels.extend(batch.ids)

    def add_vectors(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        if self.kind != "vectors":
            raise ValueError("add_vectors: a minhash index takes add(batch)")
        from .index import FingerprintIndex  # noqa: PLC0415

        v = np.asarray(vectors)
        if v.ndim != 2:
            raise ValueError(f"vectors: expected a 2-D array, got shape {v.shape}")
        if self.index is None:
            self.index = FingerprintIndex(v.shape[1], metric=self.metric, kind=self.index_kind, **self.index_kwargs)
            if not self.index.is_trained:
                self.index.train(v, num_threads=self.num_threads)
        self.index.add(v, labels=list(ids), num_threads=self.num_threads)
        self.labels.extend(ids)

    def save(self, path: str | os.PathLike) -> dict[str, Any]:
        path = os.fspath(path)
        if self.index is None:
            raise ValueError("index: no vectors were added; nothing to save")
        self.index.save(path)
        if self.kind == "minhash":
            from .sources.writers import write_json  # noqa: PLC0415

            write_json(path + ".ids.json", {"format": "fingerprint.MinHashLSH ids", "num_perm": self.num_perm,
                                            "ngram": self.ngram, "seed": self.seed, "ids": self.labels})
        return {"kind": self.kind, "path": path, "count": len(self.labels),
                **({"dim": self.index.dim, "metric": self.metric, "index_kind": self.index.kind} if self.kind == "vectors" else
                   {"num_perm": self.num_perm, "ngram": self.ngram, "seed": self.seed, "bands": self.index.bands, "rows": self.index.rows})}


def load_index(path: str | os.PathLike):
    """``(kind, index, labels, params)`` for an index saved by :class:`IndexBuilder`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"index: no such file {path!r}")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic == b"FPMHLSH\n":
        from .minhash import MinHashLSH  # noqa: PLC0415

        side = path + ".ids.json"
        if not os.path.exists(side):
            raise FileNotFoundError(f"index: {path} is a MinHash index but its ids file {side!r} is missing")
        with open(side, encoding="utf-8") as fh:
            meta = json.load(fh)
        return "minhash", MinHashLSH.load(path), meta["ids"], meta
    from .index import FingerprintIndex  # noqa: PLC0415

    idx = FingerprintIndex.load(path)
    return "vectors", idx, None, {}


def query_index(index, queries, *, k: int = 10, labels: Sequence[str] | None = None, params: Mapping[str, Any] | None = None,
                num_threads: int | None = None):
    """Nearest stored records of each query as a table (``query_id``, ``rank``, ``match_id``,
    ``score``). ``queries``: ``(ids, vectors)`` for a FingerprintIndex (score: its metric), or a
    TokenBatch for a MinHashLSH (candidates sharing a band, ranked by estimated Jaccard
    similarity, at most ``k``; signatures computed with the index's ``params``)."""
    from .minhash import MinHashLSH, jaccard_estimate  # noqa: PLC0415

    q_ids: list[str] = []
    ranks: list[int] = []
    m_ids: list[str] = []
    scores: list[float] = []
    if isinstance(index, MinHashLSH):
        batch = _check_batch(queries, "queries")
        p = dict(params or {})
        t = minhash_batch(batch, num_perm=index.num_perm, ngram=p.get("ngram", 5), seed=p.get("seed", 1), num_threads=num_threads)
        sig = np.asarray(t.column("signature").combine_chunks().flatten().to_numpy(), dtype=np.uint64).reshape(len(batch), index.num_perm)
        stored, stored_ids = index.signatures, index.ids
        pos = {int(i): j for j, i in enumerate(stored_ids.tolist())}
        for qi in range(len(batch)):
            cand = index.query(sig[qi])
            if cand.size == 0:
                continue
            js = np.asarray(jaccard_estimate(np.repeat(sig[qi][None, :], cand.size, axis=0), stored[[pos[int(c)] for c in cand]]))
            order = np.lexsort((cand, -js))[:k]
            for r, o in enumerate(order.tolist()):
                q_ids.append(batch.ids[qi]); ranks.append(r + 1)
                m_ids.append(labels[int(cand[o])] if labels is not None else str(int(cand[o])))
                scores.append(float(js[o]))
    else:
        ids, vec = queries
        res = index.search(vec, k, num_threads=num_threads)
        for qi in range(len(ids)):
            for r in range(res.ids.shape[1]):
                if res.ids[qi, r] < 0:
                    continue
                q_ids.append(ids[qi]); ranks.append(r + 1)
                lab = res.labels[qi, r]
                m_ids.append(lab if lab is not None else str(int(res.ids[qi, r])))
                scores.append(float(res.scores[qi, r]))
    pa = _pa()
    return pa.table({"query_id": pa.array(q_ids, pa.string()), "rank": pa.array(ranks, pa.int64()),
                     "match_id": pa.array(m_ids, pa.string()), "score": pa.array(scores, pa.float64())})
