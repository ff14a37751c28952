r"""Small trainable language models and a synthetic model zoo (teachers, students, independents).

Two :class:`~fingerprint.sources.base.LogitSource` implementations:

- :class:`NGramLM`: an interpolated **Witten–Bell** n-gram model (Witten & Bell 1991; Chen &
  Goodman 1998, sec. 2.6) trained from ragged token sequences, with sparse counts. With
  :math:`c(h, w)` the count of token w after context h, :math:`c(h) = \sum_w c(h, w)` and
  :math:`T(h)` the number of distinct tokens seen after h,

  .. math::
     P_k(w \mid h) = \frac{c(h, w) + T(h)\, P_{k-1}(w \mid h')}{c(h) + T(h)}

  where h' drops the oldest token of h (contexts never seen, or cut by the start of the
  sequence, fall back to :math:`P_{k-1}`). The base is the unigram mixed with a prior
  :math:`\pi` (uniform by default; the "own prior" of a distilled student):
  :math:`P_1(w) = (c(w) + \alpha \pi(w)) / (N + \alpha)`, N the number of training tokens and
  :math:`\alpha` = ``prior_weight`` (default: the number of distinct tokens seen, Witten–Bell's
  choice). Logits are :math:`\log P_n` (float32), so ``softmax(logits)`` is the model.
  Counts of order k are stored sorted by context code :math:`\sum_i x_i V^{k-2-i}` (one int64 per
  distinct n-gram), so V = 49,152 with 100k training tokens takes a few MB.
- :class:`LowRankLM`: a random teacher with structure: logits of the next token given the two
  previous ones, :math:`b + (E_1[x_{-1}] + E_2[x_{-2}]) W^\top`, with Gaussian factors of
  ``rank`` columns, deterministic by seed.

:func:`make_zoo` builds teachers, students distilled from them and independent models in a few
seconds, deterministically by seed.

Sampling (``generate``, both models) follows INTERFACES.md: ``processor(prefix, logits)`` (e.g.
``fp.watermark.KGW(V).processor(delta)``), then ``top_k``, then ``softmax(logits / temperature)``
in float64 with ``np.random.default_rng(seed)`` (temperature 0: greedy). Prompts advance in
lockstep: at each step one uniform is drawn per unfinished prompt, in prompt order.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validate import index_vector, integer, offsets_vector, real_finite
from .sources.base import LogitsChunk, teacher_forcing_inputs

__all__ = ["LowRankLM", "NGramLM", "Zoo", "make_zoo"]

NGRAM_FORMAT = "fingerprint.NGramLM"
NGRAM_VERSION = 1
SMOOTHING = ("witten_bell",)
_ROW_BUDGET = 1 << 22  # float64 cells per block of rows computed at once (32 MB)


# -- shared autoregressive machinery --------------------------------------------------------------


class _HistoryModel:
    """A model whose next-token distribution depends on the last ``history`` tokens only.

    Subclasses define ``vocab_size``, ``name``, ``history`` and ``_log_probs(H)``: float64 [n, V]
    log-probabilities for a history matrix ``H`` int64 [n, history] (last column = the previous
    token; -1 where the sequence has fewer tokens).
    """

    vocab_size: int
    name: str
    history: int

    def _log_probs(self, hist: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _histories(self, tokens: np.ndarray, seq_start: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """History matrix for flat positions ``pos`` (absolute) of sequences starting at ``seq_start``."""
        m = self.history
        hist = np.full((pos.shape[0], m), -1, dtype=np.int64)
        for c in range(m):
            back = m - c  # column c holds the token `back` positions before
            src = pos - back
            ok = src >= seq_start
            hist[ok, c] = tokens[src[ok]]
        return hist

    def log_probs(self, tokens: object, offsets: object | None = None) -> np.ndarray:
        """float64 [B, V] next-token log-probabilities after each whole sequence (one row each)."""
        toks = index_vector("tokens", tokens, upper=self.vocab_size)
        offs = np.array([0, toks.shape[0]], dtype=np.int64) if offsets is None else offsets_vector("offsets", offsets, toks.shape[0])
        ends = offs[1:]
        return self._log_probs(self._histories(toks, offs[:-1], ends))

    def next_token_logits(
        self,
        tokens: object,
        offsets: object,
        *,
        score_from: object | None = None,
        batch_size: int = 8,
    ) -> Iterator[LogitsChunk]:
        """Teacher-forced logits, streamed (INTERFACES.md): rows for j = score_from[s] .. L-1.

        Chunks hold at most ``batch_size`` sequences and at most ``max(1, 2**22 // V)`` rows.
        """
        toks, offs, lengths, sf = teacher_forcing_inputs(tokens, offsets, score_from, self.vocab_size, min_context=0)
        bs = integer("batch_size", batch_size, lo=1)
        return self._chunks(toks, offs, np.minimum(sf, lengths), bs)

    def _chunks(self, toks, offs, sf, bs) -> Iterator[LogitsChunk]:
        b = offs.shape[0] - 1
        max_rows = max(1, _ROW_BUDGET // self.vocab_size)
        for s0 in range(0, b, bs):
            seqs = np.arange(s0, min(b, s0 + bs), dtype=np.int64)
            counts = offs[seqs + 1] - offs[seqs] - sf[seqs]
            counts = np.maximum(counts, 0)
            seq_of = np.repeat(seqs, counts)
            if seq_of.size == 0:
                continue
            first = np.repeat(np.cumsum(counts) - counts, counts)
            positions = np.arange(seq_of.size, dtype=np.int64) - first + sf[seq_of]
            absolute = offs[seq_of] + positions
            for r0 in range(0, seq_of.size, max_rows):
                sl = slice(r0, r0 + max_rows)
                hist = self._histories(toks, offs[seq_of[sl]], absolute[sl])
                logits = np.ascontiguousarray(self._log_probs(hist), dtype=np.float32)
                yield LogitsChunk(seq_of[sl].copy(), positions[sl].copy(), toks[absolute[sl]].copy(), logits)

    def generate(
        self,
        prompts: Sequence[object],
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 0,
        processor: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        eos_token_id: int | None = None,
    ) -> list[np.ndarray]:
        """Sample continuations of each prompt; returns the new tokens only (int64 arrays)."""
        if isinstance(prompts, np.ndarray) or not isinstance(prompts, Sequence):
            raise TypeError(f"prompts: expected a list of 1-D int arrays, got {type(prompts).__name__}")
        seqs = [list(index_vector(f"prompts[{i}]", p, upper=self.vocab_size)) for i, p in enumerate(prompts)]
        n = integer("max_new_tokens", max_new_tokens, lo=0)
        t = real_finite("temperature", temperature)
        if t < 0:
            raise ValueError(f"temperature: expected >= 0 (0 = greedy), got {t!r}")
        k = None if top_k is None else integer("top_k", top_k, lo=1)
        if processor is not None and not callable(processor):
            raise TypeError(f"processor: expected a callable or None, got {type(processor).__name__}")
        eos = None if eos_token_id is None else integer("eos_token_id", eos_token_id, lo=0, hi=self.vocab_size)
        rng = np.random.default_rng(integer("seed", seed))
        out: list[list[int]] = [[] for _ in seqs]
        active = list(range(len(seqs)))
        m = self.history
        for _ in range(n):
            if not active:
                break
            hist = np.full((len(active), m), -1, dtype=np.int64)
            for r, i in enumerate(active):
                tail = seqs[i][-m:] if m else []
                if tail:
                    hist[r, m - len(tail):] = tail
            rows = self._log_probs(hist)
            if processor is not None:
                rows = np.stack([
                    np.asarray(processor(np.asarray(seqs[i], dtype=np.int64), rows[r].astype(np.float32)), dtype=np.float64)
                    for r, i in enumerate(active)
                ])
            if k is not None and k < self.vocab_size:
                order = np.argsort(-rows, axis=1, kind="stable")
                rows = rows.copy()
                np.put_along_axis(rows, order[:, k:], -np.inf, axis=1)
            if t == 0:
                toks = np.argmax(rows, axis=1)
            else:
                x = rows / t
                x = x - np.max(x, axis=1, keepdims=True)
                c = np.cumsum(np.exp(x), axis=1)
                u = rng.random(len(active)) * c[:, -1]
                toks = np.minimum((c <= u[:, None]).sum(axis=1), self.vocab_size - 1)
            still = []
            for r, i in enumerate(active):
                tok = int(toks[r])
                seqs[i].append(tok)
                out[i].append(tok)
                if eos is None or tok != eos:
                    still.append(i)
            active = still
        return [np.asarray(o, dtype=np.int64) for o in out]


# -- n-gram model --------------------------------------------------------------------------------


def _prior_vector(prior: object, v: int) -> np.ndarray | None:
    if prior is None:
        return None
    a = np.asarray(prior)
    if a.ndim != 1 or a.shape[0] != v:
        raise ValueError(f"prior: expected a 1-D distribution of length vocab_size = {v}, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"prior: expected a float array, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if bad.size:
        raise ValueError(f"prior: expected finite values >= 0; prior[{int(bad[0])}] = {a[bad[0]]!r}")
    total = float(a.sum())
    if total <= 0:
        raise ValueError("prior: sums to 0; expected a distribution (it is normalised to sum 1)")
    return a / total


class NGramLM(_HistoryModel):
    """Interpolated Witten–Bell n-gram LM over ``vocab_size`` tokens (see the module docstring).

    Build with :meth:`train`; :meth:`save` / :meth:`load` one ``.npz`` file (no pickle).
    Attributes: ``vocab_size``, ``order``, ``name``, ``prior`` (float64 [V] or None),
    ``prior_weight`` (the alpha used), ``num_tokens`` (N).
    """

    def __init__(self, *, vocab_size, order, unigram, tables, prior, prior_weight, name) -> None:
        self.vocab_size = int(vocab_size)
        self.order = int(order)
        self.history = self.order - 1
        self.name = name
        self.unigram = unigram  # int64 [V]
        self.tables = tables  # per order k >= 2: (ctx_codes, ctx_start, words, counts)
        self.prior = prior
        self.num_tokens = int(unigram.sum())
        types = int(np.count_nonzero(unigram))
        self.prior_weight = float(max(types, 1) if prior_weight is None else prior_weight)
        self._explicit_weight = prior_weight is not None
        base = np.full(self.vocab_size, 1.0 / self.vocab_size) if prior is None else prior
        a = self.prior_weight
        if self.num_tokens + a > 0:
            self._p1 = (unigram.astype(np.float64) + a * base) / (self.num_tokens + a)
        else:  # no training tokens and alpha = 0: the prior alone
            self._p1 = np.array(base, dtype=np.float64)
        self._totals = [np.add.reduceat(c, s[:-1]) if c.size else np.zeros(0, np.int64) for (_, s, _, c) in tables]

    def __repr__(self) -> str:
        sizes = [int(t[2].shape[0]) for t in self.tables]
        return f"NGramLM(name={self.name!r}, vocab_size={self.vocab_size}, order={self.order}, num_tokens={self.num_tokens}, ngrams={sizes})"

    @classmethod
    def train(
        cls,
        tokens: object,
        offsets: object,
        vocab_size: int,
        order: int = 3,
        smoothing: str = "witten_bell",
        prior: object | None = None,
        *,
        prior_weight: float | None = None,
        name: str | None = None,
    ) -> NGramLM:
        """Count the n-grams (orders 1..``order``) of ragged sequences ``tokens``/``offsets``.

        An n-gram is counted only where its whole context lies inside its sequence. ``prior``:
        None (uniform) or a distribution [V] (normalised here); ``prior_weight``: alpha (>= 0)
        of the base level, None = Witten–Bell's number of distinct tokens.
        """
        v = integer("vocab_size", vocab_size, lo=1)
        k_max = integer("order", order, lo=1)
        if v ** k_max > np.iinfo(np.int64).max:
            raise ValueError(f"order: vocab_size ** order = {v}**{k_max} does not fit in int64 n-gram codes; use order <= {int(np.log(2.0**63) / np.log(v))}")
        if smoothing not in SMOOTHING:
            raise ValueError(f"smoothing: expected one of {', '.join(map(repr, SMOOTHING))}, got {smoothing!r}")
        toks = index_vector("tokens", tokens, upper=v)
        offs = offsets_vector("offsets", offsets, toks.shape[0])
        pw = None
        if prior_weight is not None:
            pw = real_finite("prior_weight", prior_weight)
            if pw < 0:
                raise ValueError(f"prior_weight: expected >= 0, got {pw!r}")
        pri = _prior_vector(prior, v)
        lengths = np.diff(offs)
        seq = np.repeat(np.arange(lengths.shape[0]), lengths)
        pos_in_seq = np.arange(toks.shape[0], dtype=np.int64) - offs[seq] if toks.size else np.zeros(0, np.int64)
        unigram = np.bincount(toks, minlength=v).astype(np.int64)
        tables = []
        vv = np.int64(v)
        for k in range(2, k_max + 1):
            at = np.flatnonzero(pos_in_seq >= k - 1)
            key = np.zeros(at.shape[0], dtype=np.int64)
            for back in range(k - 1, -1, -1):
                key = key * vv + toks[at - back]
            keys, counts = np.unique(key, return_counts=True)
            ctx = keys // vv
            words = keys - ctx * vv
            ctx_codes, first = np.unique(ctx, return_index=True)
            ctx_start = np.append(first, keys.shape[0]).astype(np.int64)
            tables.append((ctx_codes.astype(np.int64), ctx_start, words.astype(np.int64), counts.astype(np.int64)))
        return cls(vocab_size=v, order=k_max, unigram=unigram, tables=tables, prior=pri, prior_weight=pw,
                   name=name if name is not None else f"ngram{k_max}")

    def _log_probs(self, hist: np.ndarray) -> np.ndarray:
        n = hist.shape[0]
        v = self.vocab_size
        p = np.broadcast_to(self._p1, (n, v)).copy()
        vv = np.int64(v)
        for k in range(2, self.order + 1):
            ctx_codes, ctx_start, words, counts = self.tables[k - 2]
            if ctx_codes.size == 0:
                continue
            cols = hist[:, hist.shape[1] - (k - 1):]
            valid = (cols >= 0).all(axis=1)
            code = np.zeros(n, dtype=np.int64)
            for c in range(k - 1):
                code = code * vv + np.maximum(cols[:, c], 0)
            idx = np.searchsorted(ctx_codes, code)
            idx_c = np.minimum(idx, ctx_codes.shape[0] - 1)
            rows = np.flatnonzero(valid & (ctx_codes[idx_c] == code))
            if rows.size == 0:
                continue
            ci = idx_c[rows]
            start, stop = ctx_start[ci], ctx_start[ci + 1]
            lens = stop - start
            tot = self._totals[k - 2][ci].astype(np.float64)
            denom = tot + lens
            p[rows] *= (lens / denom)[:, None]
            rep = np.repeat(np.arange(rows.size), lens)
            gather = np.arange(rep.size, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens) + np.repeat(start, lens)
            p[rows[rep], words[gather]] += counts[gather] / denom[rep]
        with np.errstate(divide="ignore"):
            return np.log(p)

    def probabilities(self, context: object) -> np.ndarray:
        """float64 [V]: P(next token | context) for one context (1-D int ids, may be empty)."""
        return np.exp(self.log_probs(context))[0]

    # -- persistence ---------------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"unigram": self.unigram.astype("<i8")}
        if self.prior is not None:
            arrays["prior"] = self.prior.astype("<f8")
        for k, (cc, cs, w, c) in enumerate(self.tables, start=2):
            arrays[f"ctx_codes_{k}"] = cc.astype("<i8")
            arrays[f"ctx_start_{k}"] = cs.astype("<i8")
            arrays[f"words_{k}"] = w.astype("<i8")
            arrays[f"counts_{k}"] = c.astype("<i8")
        return arrays

    @staticmethod
    def _digest(arrays: dict[str, np.ndarray]) -> str:
        h = hashlib.sha256()
        for key in sorted(arrays):
            h.update(key.encode())
            h.update(np.ascontiguousarray(arrays[key]).tobytes())
        return h.hexdigest()

    def save(self, path: str | os.PathLike) -> None:
        """Write one ``.npz`` (arrays + a JSON header with format, version, parameters, SHA-256)."""
        arrays = self._arrays()
        meta = {
            "format": NGRAM_FORMAT, "version": NGRAM_VERSION, "vocab_size": self.vocab_size,
            "order": self.order, "name": self.name, "smoothing": "witten_bell",
            "prior_weight": self.prior_weight if self._explicit_weight else None,
            "sha256": self._digest(arrays),
        }
        arrays["header"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        with open(path, "wb") as f:  # a file object: np.savez would otherwise append ".npz"
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NGramLM:
        """Read a file written by :meth:`save` (``allow_pickle=False``); ValueError on a bad file."""
        where = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{where}: not a readable NGramLM .npz file ({exc})") from None
        try:
            meta = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
        except (KeyError, UnicodeDecodeError, ValueError):
            raise ValueError(f"{where}: not an NGramLM file (missing or unreadable header)") from None
        if meta.get("format") != NGRAM_FORMAT:
            raise ValueError(f"{where}: wrong format {meta.get('format')!r}, expected {NGRAM_FORMAT!r}")
        if meta.get("version") != NGRAM_VERSION:
            raise ValueError(f"{where}: unsupported NGramLM version {meta.get('version')!r} (this reads {NGRAM_VERSION})")
        if cls._digest(arrays) != meta.get("sha256"):
            raise ValueError(f"{where}: checksum mismatch (SHA-256 of the arrays differs from the header): the file is corrupted")
        v, order = int(meta["vocab_size"]), int(meta["order"])
        tables = []
        try:
            for k in range(2, order + 1):
                cc, cs = arrays[f"ctx_codes_{k}"], arrays[f"ctx_start_{k}"]
                w, c = arrays[f"words_{k}"], arrays[f"counts_{k}"]
                ok = (cs.shape[0] == cc.shape[0] + 1 and w.shape == c.shape and int(cs[-1]) == w.shape[0]
                      and (w.size == 0 or (int(w.min()) >= 0 and int(w.max()) < v)))
                if not ok:
                    raise ValueError(f"inconsistent order-{k} tables")
                tables.append((cc.astype(np.int64), cs.astype(np.int64), w.astype(np.int64), c.astype(np.int64)))
            unigram = arrays["unigram"].astype(np.int64)
            if unigram.shape != (v,):
                raise ValueError("unigram has the wrong length")
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{where}: corrupted NGramLM file ({exc})") from None
        prior = arrays["prior"].astype(np.float64) if "prior" in arrays else None
        return cls(vocab_size=v, order=order, unigram=unigram, tables=tables, prior=prior,
                   prior_weight=meta.get("prior_weight"), name=meta.get("name"))


# -- random structured teacher --------------------------------------------------------------------


class LowRankLM(_HistoryModel):
    r"""Random trigram-context teacher: logits :math:`b + s\,(E_1[x_{-1}] + E_2[x_{-2}]) W^\top`.

    ``b`` ~ N(0, ``bias_scale``^2) [V], ``E_1``, ``E_2`` [V+1, rank] (row V: no token there),
    ``W`` [V, rank], all standard normal from ``np.random.default_rng(seed)``; ``s`` = ``scale`` /
    sqrt(rank). Log-probabilities are the log-softmax of these logits.
    """

    history = 2

    def __init__(self, vocab_size: int, *, rank: int = 8, scale: float = 2.0, bias_scale: float = 1.0,
                 seed: int = 0, name: str | None = None) -> None:
        self.vocab_size = integer("vocab_size", vocab_size, lo=2)
        self.rank = integer("rank", rank, lo=1)
        self.scale = real_finite("scale", scale)
        self.bias_scale = real_finite("bias_scale", bias_scale)
        self.seed = integer("seed", seed)
        self.name = name if name is not None else f"lowrank-{self.seed}"
        rng = np.random.default_rng(self.seed)
        v, r = self.vocab_size, self.rank
        self.bias = rng.standard_normal(v) * self.bias_scale
        self.e1 = rng.standard_normal((v + 1, r))
        self.e2 = rng.standard_normal((v + 1, r))
        self.w = rng.standard_normal((v, r)) * (self.scale / np.sqrt(r))

    def __repr__(self) -> str:
        return f"LowRankLM(name={self.name!r}, vocab_size={self.vocab_size}, rank={self.rank}, seed={self.seed})"

    def _log_probs(self, hist: np.ndarray) -> np.ndarray:
        v = self.vocab_size
        h1 = np.where(hist[:, 1] < 0, v, hist[:, 1])
        h2 = np.where(hist[:, 0] < 0, v, hist[:, 0])
        x = self.bias + (self.e1[h1] + self.e2[h2]) @ self.w.T
        x -= x.max(axis=1, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


# -- the zoo -------------------------------------------------------------------------------------


@dataclass
class Zoo:
    """A synthetic model zoo (see :func:`make_zoo`).

    ``teachers``: the panel (LowRankLM); ``students``: NGramLMs distilled from them, with
    ``student_teacher[i]`` the index of student i's teacher; ``independents``: models related to
    no teacher (NGramLMs distilled from hidden LowRankLMs, and hidden LowRankLMs themselves);
    ``probes``: a :class:`~fingerprint.probes.ProbeSet` of random prompts over the zoo's vocabulary.
    """

    teachers: list
    students: list
    student_teacher: list[int]
    independents: list
    probes: object
    params: dict = field(default_factory=dict)

    @property
    def models(self) -> list:
        return [*self.teachers, *self.students, *self.independents]


def _sample_corpus(model: _HistoryModel, n_tokens: int, seq_len: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_seq = max(1, -(-n_tokens // seq_len))
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(0, model.vocab_size, 1) for _ in range(n_seq)]
    outs = model.generate(prompts, seq_len - 1, seed=seed + 1)
    seqs = [np.concatenate([p, o]) for p, o in zip(prompts, outs)]
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    return np.concatenate(seqs).astype(np.int64), offsets


def make_zoo(
    *,
    n_teachers: int = 12,
    students_per_teacher: int = 2,
    n_independent: int = 8,
    vocab_size: int = 64,
    rank: int = 8,
    train_tokens: int = 12_000,
    teacher_fraction: float = 0.7,
    orders: Sequence[int] = (2, 3),
    n_probes: int = 16,
    probe_len: int = 32,
    seed: int = 0,
) -> Zoo:
    """Teachers, students and independents, deterministic by ``seed`` (a few seconds).

    Each student has its **own base model** (a hidden LowRankLM): it is an NGramLM of order drawn
    from ``orders``, trained on ``train_tokens`` tokens of which ``teacher_fraction`` are sampled
    from its teacher and the rest from its own base, with the base's mean next-token distribution
    as ``prior``. Independents: half are NGramLMs trained the same way on hidden models' samples
    only (distilled from a teacher outside the panel), half hidden LowRankLMs.
    """
    nt = integer("n_teachers", n_teachers, lo=1)
    sp = integer("students_per_teacher", students_per_teacher, lo=0)
    ni = integer("n_independent", n_independent, lo=0)
    v = integer("vocab_size", vocab_size, lo=2)
    tt = integer("train_tokens", train_tokens, lo=1)
    frac = real_finite("teacher_fraction", teacher_fraction)
    if not 0 <= frac <= 1:
        raise ValueError(f"teacher_fraction: expected a number in [0, 1], got {frac!r}")
    orders = [integer("orders[]", o, lo=1) for o in orders]
    if not orders:
        raise ValueError("orders: expected at least one n-gram order")
    s = integer("seed", seed)
    ss = np.random.SeedSequence(s)
    seeds = iter(int(x) for x in ss.generate_state(4 * (nt + nt * sp + ni) + 8, dtype=np.uint32))
    seq_len = 64

    def hidden(tag: str) -> LowRankLM:
        return LowRankLM(v, rank=rank, seed=next(seeds), name=tag)

    def distil(teacher: _HistoryModel | None, base: LowRankLM, name: str) -> NGramLM:
        n_teacher = int(round(tt * frac)) if teacher is not None else 0
        parts = []
        if n_teacher:
            parts.append(_sample_corpus(teacher, n_teacher, seq_len, next(seeds)))
        if tt - n_teacher > 0:
            parts.append(_sample_corpus(base, tt - n_teacher, seq_len, next(seeds)))
        toks = np.concatenate([p[0] for p in parts])
        offs = [np.zeros(1, np.int64)]
        shift = 0
        for _, o in parts:
            offs.append(o[1:] + shift)
            shift += int(o[-1])
        prior = np.exp(base.log_probs(np.zeros(0, np.int64))[0])
        order = orders[next(seeds) % len(orders)]
        return NGramLM.train(toks, np.concatenate(offs), v, order=order, prior=prior, name=name)

    teachers = [hidden(f"teacher-{i}") for i in range(nt)]
    students, owner = [], []
    for i, t in enumerate(teachers):
        for j in range(sp):
            students.append(distil(t, hidden(f"base-{i}-{j}"), f"student-{i}-{j}"))
            owner.append(i)
    independents: list = []
    for j in range(ni):
        if j % 2 == 0:
            independents.append(distil(hidden(f"hidden-teacher-{j}"), hidden(f"hidden-base-{j}"), f"independent-{j}"))
        else:
            independents.append(hidden(f"independent-{j}"))
    from .probes import ProbeSet

    probes = ProbeSet.random(n_probes, probe_len, v, seed=next(seeds), name=f"zoo-v{v}")
    params = dict(n_teachers=nt, students_per_teacher=sp, n_independent=ni, vocab_size=v, rank=rank,
                  train_tokens=tt, teacher_fraction=frac, orders=list(orders), n_probes=n_probes,
                  probe_len=probe_len, seed=s)
    return Zoo(teachers, students, owner, independents, probes, params)
