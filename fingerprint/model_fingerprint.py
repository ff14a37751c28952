r"""Model fingerprints: vectors summarising a model's next-token behaviour on a probe set.

Three constructions, by what the model exposes. Each builder has an array form (the inputs you
already have) and :func:`model_fingerprint` builds any of them from a
:class:`~fingerprint.sources.base.LogitSource` over a :class:`~fingerprint.probes.ProbeSet`.
Fingerprints are comparable only for the same probe set (``ProbeSet.key``) and parameters.

**Logit profile** (:func:`logit_profile`, full logits). For probe position n with log-probs
:math:`\ell_n = \log\mathrm{softmax}(x_n)` (clipped below at ``floor``) and anchor tokens
:math:`a_1..a_A`: block :math:`u_n = (\ell_n(a_i) - \bar\ell_n)_i / \sqrt{N A}`, with
:math:`\bar\ell_n` the mean over anchors. The vector is :math:`(u_1, ..., u_N)`. Cosine similarity
is the correlation of the two models' anchor log-probabilities, centred per position and pooled
over positions: 1 = same relative preferences everywhere, about 0 = unrelated models.

**Top-k sketch** (:func:`topk_sketch`, top-k log-probs as APIs return them). For position n and
listed token v with probability :math:`p_n(v)`, a 64-bit hash
:math:`g = \mathrm{mix64}(\mathrm{mix64}(\mathrm{seed} + (n+1)\,\phi) + v)`
(:math:`\phi` = 0x9E3779B97F4A7C15, mix64 the splitmix64 finaliser of :mod:`fingerprint.minhash`)
gives a bucket :math:`b = g \bmod B` and a sign :math:`s = \pm 1` (top bit). Block n is
:math:`\phi_n[b] = \sum_v s(v)\, p_n(v) [b(v) = b] / \sqrt{N}`. Over the random hash,
:math:`E[s(v)s(w)] = [v = w]`, so

.. math::  E\,\langle \phi(P), \phi(Q) \rangle = \frac1N \sum_n \sum_{v} p_n(v)\, q_n(v),

the probability that the two models, each sampling once at a random probe position, emit the
same token (restricted to tokens in both lists: a lower bound of the full-vocabulary value,
exact when the lists hold all the mass). The variance falls as 1/B. Cosine similarity is that
collision probability normalised by each model's self-collision probability.

**Text n-gram sketch** (:func:`text_fingerprint`, sampled text only). For each order n in
``ngrams``, every n-gram g of the responses (inside one response) has the hash of
:func:`fingerprint.minhash.minhash`'s shingles mixed with n and ``seed``; bucket and sign as
above; block value :math:`\sum_g s(g) f_n(g)` with :math:`f_n(g)` the relative frequency of g
among the order-n n-grams. The inner product estimates :math:`\sum_n \sum_g f^A_n(g) f^B_n(g)`:
the probability that an n-gram drawn from each model's responses is the same (summed over n).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validate import index_vector, integer, offsets_vector, real_finite, topk_ids, topk_logprobs

__all__ = [
    "ModelFingerprint",
    "default_anchors",
    "logit_profile",
    "model_fingerprint",
    "text_fingerprint",
    "topk_from_logits",
    "topk_sketch",
]

KINDS = ("logits", "topk", "text")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    from .minhash import _mix64_np  # one home for splitmix64

    return _mix64_np(z)


@dataclass
class ModelFingerprint:
    """A fingerprint vector (float32 [dim]) with what it was built from."""

    vector: np.ndarray
    kind: str
    name: str | None = None
    probe_key: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])


def _float_rows(name: str, x: object) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array [positions, vocab], got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name}: expected float logits, got dtype {a.dtype}")
    return a


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    if np.isnan(x).any() or np.isposinf(x).any():
        i = int(np.flatnonzero(np.isnan(x).any(axis=1) | np.isposinf(x).any(axis=1))[0])
        raise ValueError(f"logits: row {i} contains NaN or +inf")
    m = x.max(axis=1, keepdims=True)
    if np.isneginf(m).any():
        raise ValueError(f"logits: row {int(np.flatnonzero(np.isneginf(m[:, 0]))[0])} is all -inf")
    z = x - m
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def default_anchors(vocab_size: int, count: int = 256, *, seed: int = 0) -> np.ndarray:
    """``min(count, V)`` distinct token ids drawn uniformly with ``seed``, sorted (int64).

    For large vocabularies, frequent tokens make better anchors: pass your own ids instead.
    """
    v = integer("vocab_size", vocab_size, lo=1)
    c = integer("count", count, lo=1)
    if c >= v:
        return np.arange(v, dtype=np.int64)
    rng = np.random.default_rng(integer("seed", seed))
    return np.sort(rng.choice(v, size=c, replace=False)).astype(np.int64)


def logit_profile(logits: object, anchors: object, *, floor: float = -30.0) -> np.ndarray:
    """Centred anchor log-prob profile of ``logits`` [N, V] (see the module docstring): float32 [N*A]."""
    x = _float_rows("logits", logits)
    a = index_vector("anchors", anchors, upper=x.shape[1])
    if a.size == 0:
        raise ValueError("anchors: expected at least one anchor token id")
    if np.unique(a).size != a.size:
        raise ValueError("anchors: ids must be distinct")
    fl = real_finite("floor", floor)
    if x.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    return _profile(_log_softmax(x)[:, a], fl)


def _profile(anchor_logprobs: np.ndarray, floor: float) -> np.ndarray:
    n, na = anchor_logprobs.shape
    lp = np.maximum(anchor_logprobs, floor)
    u = (lp - lp.mean(axis=1, keepdims=True)) / np.sqrt(n * na)
    return u.ravel().astype(np.float32)


def _bucket_sign(keys: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    b = (keys % np.uint64(buckets)).astype(np.int64)
    s = np.where((keys >> np.uint64(63)) == 1, -1.0, 1.0)
    return b, s


def topk_sketch(top_ids: object, top_logprobs: object, *, buckets: int = 64, seed: int = 0) -> np.ndarray:
    """Feature-hashed sketch of top-k next-token distributions [N, k] (id -1 pads): float32 [N*buckets]."""
    ids = topk_ids("top_ids", top_ids).astype(np.int64)
    lps = topk_logprobs("top_logprobs", top_logprobs).astype(np.float64)
    if ids.shape != lps.shape:
        raise ValueError(f"top_logprobs: expected the shape of top_ids {ids.shape}, got {lps.shape}")
    nb = integer("buckets", buckets, lo=1)
    sd = integer("seed", seed, lo=0, hi=2**64)
    live = ids >= 0
    if (ids < -1).any():
        raise ValueError(f"top_ids: ids must be >= 0 (or -1 for padding); got {int(ids.min())}")
    if np.isnan(lps[live]).any() or (lps[live] > 1e-6).any():
        raise ValueError("top_logprobs: expected log-probabilities <= 0 and not NaN")
    n = ids.shape[0]
    out = np.zeros((n, nb), dtype=np.float64)
    if n:
        with np.errstate(over="ignore"):
            pos_key = _mix64(np.uint64(sd) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN)
            keys = _mix64(pos_key[:, None] + np.where(live, ids, 0).astype(np.uint64))
        b, s = _bucket_sign(keys, nb)
        p = np.where(live, np.exp(np.minimum(lps, 0.0)), 0.0)
        np.add.at(out, (np.repeat(np.arange(n), ids.shape[1]), b.ravel()), (s * p).ravel())
        out /= np.sqrt(n)
    return out.ravel().astype(np.float32)


def topk_from_logits(logits: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    """What an API returns: the top-k ids (ties by id) and their log-probs, [N, k] each.

    O(V) per row: ``argpartition`` on the logits, log-sum-exp accumulated in float64; rows with
    ties at the k-th value are ordered exactly (stable sort).
    """
    x = _float_rows("logits", logits)
    kk = min(integer("k", k, lo=1), x.shape[1])
    if x.shape[0] == 0:
        return np.zeros((0, kk), np.int64), np.zeros((0, kk))
    m = x.max(axis=1)
    if np.isnan(m).any() or np.isposinf(m).any():
        i = int(np.flatnonzero(np.isnan(m) | np.isposinf(m))[0])
        raise ValueError(f"logits: row {i} contains NaN or +inf")
    if np.isneginf(m).any():
        raise ValueError(f"logits: row {int(np.flatnonzero(np.isneginf(m))[0])} is all -inf")
    mm = m.astype(np.float64)
    lse = mm + np.log(np.exp(x - m[:, None]).sum(axis=1, dtype=np.float64))
    part = np.argpartition(-x, kk - 1, axis=1)[:, :kk]
    part = np.sort(part, axis=1)  # ids ascending, so the stable sort below breaks ties by id
    vals = np.take_along_axis(x, part, axis=1)
    ids = np.take_along_axis(part, np.argsort(-vals, axis=1, kind="stable"), axis=1)
    # a tie at the k-th value may leave a smaller id outside the candidates: redo those rows exactly
    kth = vals.min(axis=1)
    for r in np.flatnonzero((x >= kth[:, None]).sum(axis=1) > kk):
        ids[r] = np.argsort(-x[r], kind="stable")[:kk]
    return ids.astype(np.int64), np.take_along_axis(x, ids, axis=1).astype(np.float64) - lse[:, None]


def text_fingerprint(tokens: object, offsets: object, *, ngrams: Sequence[int] = (1, 2, 3), dim: int = 4096,
                     seed: int = 0) -> np.ndarray:
    """Hashed n-gram frequency sketch of ragged responses (see the module docstring): float32 [dim]."""
    toks = index_vector("tokens", tokens)
    if toks.size and int(toks.min()) < 0:
        raise ValueError("tokens: ids must be >= 0")
    offs = offsets_vector("offsets", offsets, toks.shape[0])
    orders = [integer("ngrams[]", g, lo=1) for g in ngrams]
    if not orders:
        raise ValueError("ngrams: expected at least one n-gram order")
    d = integer("dim", dim, lo=1)
    sd = integer("seed", seed, lo=0, hi=2**64)
    lengths = np.diff(offs)
    seq = np.repeat(np.arange(lengths.shape[0]), lengths)
    pos = np.arange(toks.shape[0], dtype=np.int64) - (offs[seq] if toks.size else 0)
    out = np.zeros(d, dtype=np.float64)
    u = toks.astype(np.uint64)
    for g in orders:
        start = np.flatnonzero((pos + g) <= lengths[seq]) if toks.size else np.zeros(0, np.int64)
        if start.size == 0:
            continue
        with np.errstate(over="ignore"):
            h = np.zeros(start.size, dtype=np.uint64)
            for j in range(g):  # minhash's shingle hash
                h = _mix64(h + u[start + j] + _GOLDEN)
            h = _mix64(h + _mix64(np.uint64(sd) + np.uint64(g) * _GOLDEN))
        b, s = _bucket_sign(h, d)
        np.add.at(out, b, s / start.size)
    return out.astype(np.float32)


def _stream_rows(source, probes, reduce) -> np.ndarray:
    """``reduce(logits chunk)`` over the probes' scored rows, concatenated (one chunk held at a time)."""
    toks, offs, sf = probes.tokens()
    if probes.vocab_size is not None and probes.vocab_size > source.vocab_size:
        raise ValueError(f"probes: built for vocab_size {probes.vocab_size}, the source has {source.vocab_size}")
    parts = [reduce(np.asarray(chunk.logits)) for chunk in source.next_token_logits(toks, offs, score_from=sf)]
    if not parts:
        raise ValueError("probes: no scored positions (every probe is shorter than 2 tokens)")
    return parts


def model_fingerprint(
    source,
    probes,
    kind: str = "logits",
    *,
    anchors: object = 256,
    floor: float = -30.0,
    k: int = 20,
    buckets: int = 64,
    samples: int = 4,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    ngrams: Sequence[int] = (1, 2, 3),
    dim: int = 4096,
    seed: int = 0,
) -> ModelFingerprint:
    """Fingerprint a LogitSource on a ProbeSet.

    ``kind="logits"``: :func:`logit_profile` of the teacher-forced logits at the probes' scored
    positions; ``anchors``: ids, or a count for :func:`default_anchors` (with ``seed``).
    ``kind="topk"``: :func:`topk_sketch` of the top-``k`` log-probs (as an API would return them).
    ``kind="text"``: :func:`text_fingerprint` of ``samples`` responses of ``max_new_tokens`` per
    probe prompt, sampled with ``temperature`` and ``seed``.
    """
    from ._validate import choice

    kind = choice("kind", kind, KINDS)
    v = int(source.vocab_size)
    name = getattr(source, "name", None)
    key = getattr(probes, "key", None)
    if kind == "text":
        ns = integer("samples", samples, lo=1)
        prompts = [p.prompt_ids for p in probes.probes for _ in range(ns)]
        if any(p is None for p in prompts):
            raise ValueError("probes: kind='text' needs prompt_ids (tokenize the probe set first)")
        outs = source.generate(prompts, integer("max_new_tokens", max_new_tokens, lo=1), temperature=temperature, seed=seed)
        offsets = np.concatenate([[0], np.cumsum([o.shape[0] for o in outs])]).astype(np.int64)
        vec = text_fingerprint(np.concatenate(outs) if outs else np.zeros(0, np.int64), offsets, ngrams=ngrams, dim=dim, seed=seed)
        params = dict(samples=ns, max_new_tokens=max_new_tokens, temperature=temperature, ngrams=list(ngrams), dim=dim, seed=seed)
        return ModelFingerprint(vec, kind, name, key, params)
    if kind == "logits":
        anc = default_anchors(v, anchors, seed=seed) if isinstance(anchors, (int, np.integer)) and not isinstance(anchors, bool) else index_vector("anchors", anchors, upper=v)
        fl = real_finite("floor", floor)
        lp = np.concatenate(_stream_rows(source, probes, lambda x: _log_softmax(_float_rows("logits", x))[:, anc]))
        vec = _profile(lp, fl)
        return ModelFingerprint(vec, kind, name, key, dict(anchors=anc.tolist(), floor=floor))
    kk = integer("k", k, lo=1)
    parts = _stream_rows(source, probes, lambda x: topk_from_logits(x, kk))
    ids = np.concatenate([p[0] for p in parts])
    lps = np.concatenate([p[1] for p in parts])
    vec = topk_sketch(ids, lps, buckets=buckets, seed=seed)
    return ModelFingerprint(vec, kind, name, key, dict(k=k, buckets=buckets, seed=seed))
