r"""Attribution of a suspect model to a panel of reference fingerprints, and exact model distances.

:func:`attribute` ranks panel members by similarity to the suspect's fingerprint and says how
unusual each candidate's closeness is **against the null distribution of this suspect's
similarities to the rest of the panel** (members it is not derived from). For candidate j with
similarity :math:`s_j`, the null is the similarities :math:`s_i` of the other retrieved members
(the whole panel when it has at most ``null_size + 1`` members, else the ``null_size`` nearest
others, which shifts the null up and makes the test conservative). With the null's mean
:math:`\mu` and standard deviation :math:`\sigma` (ddof 1) over m values:

- ``z`` = :math:`(s_j - \mu)/\sigma`;
- ``p_value``: the predictive t-test, :math:`P(T_{m-1} \ge z / \sqrt{1 + 1/m})` (a new draw from
  a normal null with estimated mean and variance), scipy.stats.t;
- ``p_empirical`` = :math:`(1 + \#\{s_i \ge s_j\}) / (1 + m)` (no normality; its resolution is
  1/(m+1));
- ``p_adjusted`` = :math:`1 - (1 - p)^n` (Šidák over the n panel members: the best of n unrelated
  members is a maximum).

Thresholds: ``attributed`` is True when the top candidate's ``p_adjusted <= alpha`` (default 0.01).
z >= 3 is "unusually close", z >= 5 strong evidence. A self-normalised null removes what all
similarities of a suspect share (e.g. a flat, high-entropy model collides with every model under
the top-k sketch); it assumes most panel members are unrelated to the suspect (a family of
related checkpoints in the panel inflates the null and makes the test conservative).

:func:`model_distance`: the exact counterpart of sketched similarities: mean JS or KL over the
probe positions of two LogitSources (via :func:`fingerprint.token_divergences`, or
:func:`fingerprint.topk_divergences` with ``topk=k``), with a percentile bootstrap confidence
interval over probes (positions of one probe are resampled together).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import choice, integer, real_open

__all__ = ["Attribution", "Candidate", "ModelDistance", "attribute", "bootstrap_mean", "model_distance", "panel_index"]


@dataclass(frozen=True)
class Candidate:
    rank: int
    id: int
    label: str | None
    similarity: float
    z: float
    p_value: float
    p_empirical: float
    p_adjusted: float


@dataclass(frozen=True)
class Attribution:
    """Ranked candidates (best first); ``attributed``: top candidate's p_adjusted <= alpha."""

    candidates: list[Candidate]
    panel_size: int
    null_size: int
    alpha: float

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def attributed(self) -> bool:
        return bool(self.candidates) and self.candidates[0].p_adjusted <= self.alpha


def _vector(suspect: object) -> np.ndarray:
    v = getattr(suspect, "vector", suspect)
    a = np.asarray(v)
    if a.ndim != 1:
        raise ValueError(f"suspect: expected a ModelFingerprint or a 1-D vector, got shape {a.shape}")
    return a[None, :]


def panel_index(fingerprints, labels=None, *, metric: str = "cosine", kind: str = "flat"):
    """A :class:`~fingerprint.FingerprintIndex` holding ``fingerprints`` (ModelFingerprints or [n, d]).

    Labels default to the fingerprints' names; the probe key and kind go in the index metadata.
    """
    from .index import FingerprintIndex

    fps = list(fingerprints) if not isinstance(fingerprints, np.ndarray) else None
    if fps is not None and fps and hasattr(fps[0], "vector"):
        vecs = np.stack([np.asarray(f.vector) for f in fps])
        if labels is None:
            labels = [f.name for f in fps]
        keys = {(f.kind, f.probe_key) for f in fps}
        if len(keys) > 1:
            raise ValueError(f"fingerprints: mixed kinds or probe sets {sorted(map(str, keys))}; they are not comparable")
        meta = {"fingerprint_kind": fps[0].kind, "probe_key": fps[0].probe_key}
    else:
        vecs = np.asarray(fingerprints if fps is None else np.stack(fps))
        meta = {}
    if vecs.ndim != 2:
        raise ValueError(f"fingerprints: expected [n, dim], got shape {vecs.shape}")
    idx = FingerprintIndex(vecs.shape[1], metric=metric, kind=kind)
    if idx.kind in ("ivf", "ivfpq") or not idx.is_trained:
        idx.train(vecs)
    idx.add(vecs, labels=labels, metadata=meta)
    return idx


def attribute(suspect, index, k: int = 10, *, null_size: int = 1000, alpha: float = 0.01) -> Attribution:
    """Rank the ``k`` panel members closest to ``suspect`` (see the module docstring).

    ``index``: a :class:`~fingerprint.FingerprintIndex` (cosine/ip similarities; for l2 the
    similarity is minus the squared distance) with at least 3 members.
    """
    from scipy.stats import t as student_t

    kk = integer("k", k, lo=1)
    ns = integer("null_size", null_size, lo=2)
    a = real_open("alpha", alpha, 0.0, 1.0)
    n = len(index)
    if n < 3:
        raise ValueError(f"index: attribution needs a panel of at least 3 fingerprints, got {n}")
    q = _vector(suspect)
    want = min(n, max(kk, ns + 1))
    res = index.search(q, want)
    sims = res.scores[0].astype(np.float64)
    if index.metric == "l2":
        sims = -sims
    ok = np.flatnonzero(res.ids[0] >= 0)
    sims, ids, labels = sims[ok], res.ids[0][ok], res.labels[0][ok]
    order = np.argsort(-sims, kind="stable")
    sims, ids, labels = sims[order], ids[order], labels[order]
    m = sims.shape[0] - 1
    total = sims.sum()
    out = []
    for r in range(min(kk, sims.shape[0])):
        s = sims[r]
        rest = np.delete(sims, r)
        mu = (total - s) / m
        sd = float(np.std(rest, ddof=1)) if m > 1 else 0.0
        z = (s - mu) / sd if sd > 0 else (np.inf if s > mu else 0.0)
        p = float(student_t.sf(z / np.sqrt(1 + 1 / m), df=m - 1)) if np.isfinite(z) else (0.0 if z > 0 else 0.5)
        pe = (1 + int((rest >= s).sum())) / (1 + m)
        padj = float(-np.expm1(n * np.log1p(-min(p, 1.0)))) if p < 1 else 1.0
        lab = labels[r]
        out.append(Candidate(r + 1, int(ids[r]), None if lab is None else str(lab), float(s), float(z), p, pe, padj))
    return Attribution(out, n, m, a)


# -- exact distances ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelDistance:
    """Mean divergence over probes with a bootstrap CI; ``per_probe`` holds each probe's mean."""

    measure: str
    value: float
    low: float
    high: float
    level: float
    per_probe: np.ndarray
    n_boot: int


def bootstrap_mean(values: object, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` [n] and its percentile bootstrap CI (``n_boot`` resamples of n with replacement)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"values: expected a non-empty 1-D array, got shape {v.shape}")
    if np.isnan(v).any():
        raise ValueError(f"values: contains NaN at index {int(np.flatnonzero(np.isnan(v))[0])}")
    b = integer("n_boot", n_boot, lo=1)
    lev = real_open("level", level, 0.0, 1.0)
    rng = np.random.default_rng(integer("seed", seed))
    means = v[rng.integers(0, v.size, size=(b, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - lev) / 2, (1 + lev) / 2])
    return float(v.mean()), float(lo), float(hi)


def model_distance(p_source, q_source, probes, *, measure: str = "js", topk: int | None = None,
                   n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> ModelDistance:
    """Mean ``measure`` ("js", "kl_pq", "kl_qp", "tv") between two LogitSources over a ProbeSet.

    Each probe's positions are averaged, then probes are averaged; the CI resamples probes.
    ``topk=k`` uses only each model's top-k log-probs (:func:`fingerprint.topk_divergences`,
    ``tail="bucket"``: lower bounds of the full-vocabulary values).
    """
    from .divergence import token_divergences
    from .model_fingerprint import topk_from_logits
    from .topk import topk_divergences

    meas = choice("measure", measure, ("js", "kl_pq", "kl_qp", "tv"))
    if p_source.vocab_size != q_source.vocab_size:
        raise ValueError(f"q_source: vocab_size {q_source.vocab_size} differs from p_source's {p_source.vocab_size}")
    kk = None if topk is None else integer("topk", topk, lo=1)
    toks, offs, sf = probes.tokens()
    per_probe = []
    for s in range(offs.shape[0] - 1):
        seq = toks[offs[s] : offs[s + 1]]
        one = np.array([0, seq.shape[0]], dtype=np.int64)
        start = np.array([sf[s]], dtype=np.int64)
        lp = np.concatenate([c.logits for c in p_source.next_token_logits(seq, one, score_from=start)] or [np.zeros((0, p_source.vocab_size), np.float32)])
        lq = np.concatenate([c.logits for c in q_source.next_token_logits(seq, one, score_from=start)] or [np.zeros((0, q_source.vocab_size), np.float32)])
        if lp.shape[0] == 0:
            continue
        if kk is None:
            r = token_divergences(np.ascontiguousarray(lp, np.float32), np.ascontiguousarray(lq, np.float32), fields=[meas])
        else:
            pi, pl = topk_from_logits(lp, kk)
            qi, ql = topk_from_logits(lq, kk)
            r = topk_divergences(pi, pl, qi, ql, fields=[meas], vocab_size=p_source.vocab_size)
        per_probe.append(float(np.mean(getattr(r, meas))))
    if not per_probe:
        raise ValueError("probes: no scored positions")
    vals = np.asarray(per_probe)
    value, lo, hi = bootstrap_mean(vals, n_boot=n_boot, level=level, seed=seed)
    return ModelDistance(meas if kk is None else f"{meas}@top{kk}", value, lo, hi, level, vals, int(n_boot))
