"""Decoder-only causal LMs under ONNX Runtime as a :class:`~fingerprint.sources.base.LogitSource`.

The model is any ONNX graph with the signature common exporters (optimum, this package's GGUF
builder) produce: inputs ``input_ids`` [B, S] and optionally ``attention_mask`` [B, past+S],
``position_ids`` [B, S], ``past_key_values.{i}.key|value`` [B, kv_heads, past, head_dim]; outputs
``logits`` [B, S, V] and, with a cache, ``present.{i}.key|value`` (looked up by name).

Scoring is teacher-forced in RIGHT-padded batches (real tokens first, padding after, masked by
``attention_mask``; position ids 0..L-1): padding after a token cannot change its logits under
causal attention, whereas left padding shifts positions in graphs that derive them from the mask.
Each batch's rows are yielded as one :class:`LogitsChunk`, so a corpus' [N, V] logits are never
held at once; a sequence longer than ``max_batch_tokens`` runs alone in windows that carry the KV
cache forward. Generation uses the KV cache: one prefill of the right-padded prompts, then one
token per step for every unfinished sequence, each at its own position.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._threads import resolve_num_threads
from .._validate import _describe, choice, index_vector, integer, positive_int
from .base import LogitsChunk, teacher_forcing_inputs

_OPT_LEVELS = ("disable", "basic", "extended", "all")
_PAST_RE = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")
_PRESENT_RE = re.compile(r"^present(?:_key_values)?\.(\d+)\.(key|value)$")
_NP_OF_ORT = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


@dataclass(frozen=True)
class TopK:
    """Top-k next-token log-probabilities per scored position, as chat/completions APIs return them.

    ``seq_index``, ``positions``, ``targets`` int64 [n]; ``target_logprobs`` float64 [n] (log-prob
    of the observed token); ``top_ids`` int64 [n, k] and ``top_logprobs`` float64 [n, k], most
    probable first (ties: lower id first). Log-probs are ``x - logsumexp(x)`` in float64.
    """

    seq_index: np.ndarray
    positions: np.ndarray
    targets: np.ndarray
    target_logprobs: np.ndarray
    top_ids: np.ndarray
    top_logprobs: np.ndarray


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``x - logsumexp(x)`` in float64."""
    x = np.asarray(logits, dtype=np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    return x - (m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)))


_ROWS = 256  # rows per float64 log-softmax block (bounds the temporary memory)


def _top_ids(lp: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k largest entries per row, largest first, lower id first among equal values."""
    n, v = lp.shape
    if k >= v:
        return np.lexsort((np.broadcast_to(np.arange(v), lp.shape), -lp), axis=1).astype(np.int64)
    part = np.argpartition(-lp, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(lp, part, 1)
    kth = vals.min(axis=1, keepdims=True)
    for r in np.flatnonzero((lp == kth).sum(axis=1) > (vals == kth).sum(axis=1)):
        part[r] = np.lexsort((np.arange(v), -lp[r]))[:k]  # a tie straddles the cut: lowest ids win
    vals = np.take_along_axis(lp, part, 1)
    return np.take_along_axis(part, np.lexsort((part, -vals), axis=1), 1).astype(np.int64)


class OnnxCausalLM:
    """A decoder-only ONNX model run by onnxruntime (CPU by default).

    Parameters: ``path`` to the ``.onnx`` file; ``num_threads`` intra-op threads (default: the
    package default, ``fingerprint.get_num_threads()``); ``graph_optimization`` one of
    ``disable|basic|extended|all``; ``session_options`` an ``onnxruntime.SessionOptions`` to start
    from, or a dict of its attributes (e.g. ``{"enable_mem_pattern": False}``); ``providers``
    for onnxruntime (default CPU); ``max_batch_tokens`` bounds B x padded length per run (and so
    each chunk's [rows, V] logits); ``name`` for reports; ``eos_token_id`` default for generate.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        num_threads: int | None = None,
        graph_optimization: str = "all",
        session_options: object = None,
        providers: list | None = None,
        max_batch_tokens: int = 2048,
        name: str | None = None,
        eos_token_id: int | None = None,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a path to an .onnx file, got {_describe(path)}")
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"path: no such ONNX model file: {str(p)!r}")
        import onnxruntime as ort

        level = choice("graph_optimization", graph_optimization, _OPT_LEVELS)
        if session_options is None or isinstance(session_options, dict):
            so = ort.SessionOptions()
            for k, v in (session_options or {}).items():
                if not hasattr(so, k):
                    raise ValueError(f"session_options: onnxruntime.SessionOptions has no attribute {k!r}")
                setattr(so, k, v)
        elif isinstance(session_options, ort.SessionOptions):
            so = session_options
        else:
            raise TypeError(f"session_options: expected onnxruntime.SessionOptions, a dict or None, got {_describe(session_options)}")
        self.num_threads = resolve_num_threads(num_threads)
        so.intra_op_num_threads = self.num_threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[level]
        self.max_batch_tokens = positive_int("max_batch_tokens", max_batch_tokens)
        try:
            self.session = ort.InferenceSession(str(p), so, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:
            raise ValueError(f"path: onnxruntime cannot load {str(p)!r}: {exc}") from None
        self.path = p
        self.name = name if name is not None else p.stem
        self.eos_token_id = eos_token_id
        self.bos_token_id = None
        self.chat_template = None
        self._inspect()

    # -- signature -----------------------------------------------------------------------------

    def _inspect(self) -> None:
        ins = {i.name: i for i in self.session.get_inputs()}
        outs = {o.name: o for o in self.session.get_outputs()}
        where = f"model {str(self.path)!r}"
        if "input_ids" not in ins:
            raise ValueError(f"{where}: has no input named 'input_ids' (inputs: {sorted(ins)})")
        if "logits" not in outs:
            raise ValueError(f"{where}: has no output named 'logits' (outputs: {sorted(outs)})")
        known = {"input_ids", "attention_mask", "position_ids"}
        past = {}
        for n in ins:
            m = _PAST_RE.match(n)
            if m:
                past[(int(m.group(1)), m.group(2))] = n
            elif n not in known:
                raise ValueError(f"{where}: input {n!r} is not one this runner can feed "
                                 "(input_ids, attention_mask, position_ids, past_key_values.{i}.key|value)")
        present = {}
        for n in outs:
            m = _PRESENT_RE.match(n)
            if m:
                present[(int(m.group(1)), m.group(2))] = n
        self._has_mask = "attention_mask" in ins
        self._has_pos = "position_ids" in ins
        self._layers = sorted({i for i, _ in past})
        for key, n in past.items():
            if key not in present:
                raise ValueError(f"{where}: input {n!r} has no matching output 'present.{key[0]}.{key[1]}'")
        if past and sorted(past) != [(i, k) for i in self._layers for k in ("key", "value")]:
            raise ValueError(f"{where}: past_key_values inputs are incomplete: {sorted(past.values())}")
        self._past_names = [(past[(i, "key")], past[(i, "value")]) for i in self._layers]
        self._present_names = [(present[(i, "key")], present[(i, "value")]) for i in self._layers]
        self._past_dtype = np.float32
        self._kv_shape = None
        if past:
            a = ins[self._past_names[0][0]]
            self._past_dtype = _NP_OF_ORT.get(a.type, np.float32)
            shape = list(a.shape)
            if len(shape) != 4 or not isinstance(shape[1], int) or not isinstance(shape[3], int):
                raise ValueError(f"{where}: past input {a.name!r} has shape {shape}; need [batch, heads, past, head_dim] with fixed heads and head_dim")
            self._kv_shape = (shape[1], shape[3])
        self._output_names = ["logits"] + [n for pair in self._present_names for n in pair]
        v = outs["logits"].shape[-1] if outs["logits"].shape else None
        if not isinstance(v, int):
            v = int(self._run(np.zeros((1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.int64), None)[0].shape[-1])
        self.vocab_size = int(v)
        meta = self.session.get_modelmeta().custom_metadata_map
        mp = meta.get("fingerprint.max_position")
        self.max_position = int(mp) if mp is not None else None

    def __repr__(self) -> str:
        return (f"OnnxCausalLM(name={self.name!r}, vocab_size={self.vocab_size}, layers={len(self._layers)}, "
                f"num_threads={self.num_threads})")

    def chat_prompt(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        """``messages`` rendered with the model's chat template (GGUF ``tokenizer.chat_template``)."""
        from .gguf import render_chat

        if not self.chat_template:
            raise ValueError(f"model {self.name!r} has no chat template")
        return render_chat(self.chat_template, messages, add_generation_prompt=add_generation_prompt)

    # -- one run ------------------------------------------------------------------------------

    def _run(self, ids: np.ndarray, mask: np.ndarray, past: list | None, positions: np.ndarray | None = None):
        """logits [B,S,V] and present [(k, v)] for ids [B,S], mask [B,past+S]."""
        b, s = ids.shape
        feed = {"input_ids": ids}
        if self._has_mask:
            feed["attention_mask"] = mask
        if self._has_pos:
            if positions is None:
                positions = np.broadcast_to(np.arange(mask.shape[1] - s, mask.shape[1], dtype=np.int64), (b, s))
            feed["position_ids"] = np.ascontiguousarray(positions, dtype=np.int64)
        if self._past_names:
            if past is None:
                heads, hd = self._kv_shape
                empty = np.zeros((b, heads, 0, hd), dtype=self._past_dtype)
                past = [(empty, empty)] * len(self._past_names)
            for (kn, vn), (k, v) in zip(self._past_names, past):
                feed[kn], feed[vn] = k, v
        out = self.session.run(self._output_names if self._past_names else ["logits"], feed)
        present = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(len(self._past_names))]
        return out[0], present

    def _check_length(self, n: int, what: str) -> None:
        if self.max_position is not None and n > self.max_position:
            raise ValueError(f"{what}: {n} tokens exceed the model's context of {self.max_position} positions")

    # -- teacher forcing ----------------------------------------------------------------------

    def _validate(self, tokens, offsets, score_from, batch_size):
        t, o, lens, sf = teacher_forcing_inputs(tokens, offsets, score_from, self.vocab_size, min_context=1)
        nseq = lens.shape[0]
        bs = positive_int("batch_size", batch_size)
        if nseq:
            longest = int(lens.max())
            self._check_length(longest, f"tokens (sequence {int(np.argmax(lens))})")
        return t, o, sf, bs

    def next_token_logits(self, tokens, offsets, *, score_from=None, batch_size: int = 8) -> Iterator[LogitsChunk]:
        """Teacher-forced logits: one :class:`LogitsChunk` per batch (see the LogitSource protocol).

        ``tokens`` int64 flat, ``offsets`` [B+1]; rows for j = score_from[s] .. L_s - 1 in order of
        s then j; row = float32 logits of x_j given x_0..x_{j-1}. Arguments are checked here, before
        the first chunk is computed.
        """
        t, o, sf, bs = self._validate(tokens, offsets, score_from, batch_size)
        return self._chunks(t, o, sf, bs)

    def _chunks(self, t, o, sf, bs) -> Iterator[LogitsChunk]:
        lens = np.diff(o)
        todo = [s for s in range(lens.shape[0]) if lens[s] - sf[s] > 0]
        i = 0
        while i < len(todo):
            s0 = todo[i]
            need = int(lens[s0]) - 1  # positions fed: 0 .. L-2
            if need > self.max_batch_tokens:
                yield from self._windowed(t, o, sf, s0)
                i += 1
                continue
            batch, width = [s0], need
            while i + len(batch) < len(todo) and len(batch) < bs:
                nxt = todo[i + len(batch)]
                w = max(width, int(lens[nxt]) - 1)
                if w * (len(batch) + 1) > self.max_batch_tokens:
                    break
                batch.append(nxt)
                width = w
            i += len(batch)
            yield self._batch(t, o, sf, batch, width)

    def _batch(self, t, o, sf, batch, width) -> LogitsChunk:
        b = len(batch)
        ids = np.zeros((b, width), dtype=np.int64)
        mask = np.zeros((b, width), dtype=np.int64)
        for r, s in enumerate(batch):
            n = int(o[s + 1] - o[s]) - 1
            ids[r, :n] = t[o[s] : o[s] + n]
            mask[r, :n] = 1
        logits, _ = self._run(ids, mask, None)
        rows_b, rows_p, seq, pos = [], [], [], []
        for r, s in enumerate(batch):
            j = np.arange(sf[s], o[s + 1] - o[s], dtype=np.int64)
            rows_b.append(np.full(j.shape[0], r, dtype=np.int64))
            rows_p.append(j - 1)
            seq.append(np.full(j.shape[0], s, dtype=np.int64))
            pos.append(j)
        rb, rp = np.concatenate(rows_b), np.concatenate(rows_p)
        seq_i, pos_j = np.concatenate(seq), np.concatenate(pos)
        rows = np.ascontiguousarray(logits[rb, rp], dtype=np.float32)
        return LogitsChunk(seq_index=seq_i, positions=pos_j, targets=t[o[seq_i] + pos_j], logits=rows)

    def _windowed(self, t, o, sf, s) -> Iterator[LogitsChunk]:
        """One long sequence in windows of max_batch_tokens positions, the KV cache carried over."""
        x = t[o[s] : o[s + 1]]
        n = x.shape[0] - 1
        if not self._past_names:
            raise ValueError(f"tokens: sequence {s} has {n + 1} tokens, more than max_batch_tokens="
                             f"{self.max_batch_tokens}, and this model has no KV-cache inputs to window it; "
                             "raise max_batch_tokens")
        past, w = None, self.max_batch_tokens
        for a in range(0, n, w):
            e = min(n, a + w)
            lo = max(a, int(sf[s]) - 1)
            ids = x[a:e][None, :]
            logits, past = self._run(ids, np.ones((1, e), dtype=np.int64), past)
            if lo >= e:
                continue
            j = np.arange(lo + 1, e + 1, dtype=np.int64)
            rows = np.ascontiguousarray(logits[0, lo - a : e - a], dtype=np.float32)
            yield LogitsChunk(seq_index=np.full(j.shape[0], s, dtype=np.int64), positions=j, targets=x[j], logits=rows)

    def token_logprobs(self, tokens, offsets, *, score_from=None, batch_size: int = 8) -> np.ndarray:
        """log p(x_j | x_<j) (float64) for every scored row, in the order of next_token_logits."""
        out = []
        for c in self.next_token_logits(tokens, offsets, score_from=score_from, batch_size=batch_size):
            for a in range(0, c.targets.shape[0], _ROWS):
                lp = log_softmax(c.logits[a : a + _ROWS])
                out.append(lp[np.arange(lp.shape[0]), c.targets[a : a + _ROWS]])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)

    def topk(self, tokens, offsets, k: int, *, score_from=None, batch_size: int = 8) -> TopK:
        """The k most probable next tokens and their log-probs at every scored row (see :class:`TopK`)."""
        kk = integer("k", k, lo=1, hi=self.vocab_size + 1)
        parts = []
        for c in self.next_token_logits(tokens, offsets, score_from=score_from, batch_size=batch_size):
            for a in range(0, c.targets.shape[0], _ROWS):
                tgt = c.targets[a : a + _ROWS]
                lp = log_softmax(c.logits[a : a + _ROWS])
                ids = _top_ids(lp, kk)
                parts.append((c.seq_index[a : a + _ROWS], c.positions[a : a + _ROWS], tgt,
                              lp[np.arange(lp.shape[0]), tgt], ids, np.take_along_axis(lp, ids, 1)))
        if not parts:
            z = np.zeros(0, dtype=np.int64)
            return TopK(z, z, z, np.zeros(0), np.zeros((0, kk), dtype=np.int64), np.zeros((0, kk)))
        return TopK(*[np.concatenate([p[i] for p in parts]) for i in range(6)])

    # -- generation ---------------------------------------------------------------------------

    def generate(
        self,
        prompts: list,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 0,
        processor: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        eos_token_id: int | None = None,
        batch_size: int = 8,
    ) -> list[np.ndarray]:
        """New tokens (int64) for each prompt, with the KV cache.

        Each step: ``logits`` (float32) of the next token; ``processor(prefix_ids, logits)`` if
        given (prefix = prompt + tokens so far); ``top_k`` keeps the k largest; then
        ``temperature == 0``: argmax (lowest id on ties); else draw from
        ``softmax(logits / temperature)`` in float64 by inverse CDF with one uniform
        ``U[i, step]`` of ``np.random.default_rng(seed).random((len(prompts), max_new_tokens))``
        (so results do not depend on ``batch_size``; for one prompt the draws are those of
        ``fingerprint.watermark.generate`` with ``rng=seed``). Generation of a prompt stops after
        ``eos_token_id`` (included in its output; default: the model's ``eos_token_id`` if
        set, pass ``eos_token_id=-1`` for none).
        """
        if not isinstance(prompts, (list, tuple)):
            raise TypeError(f"prompts: expected a list of 1-D token arrays, got {_describe(prompts)}")
        ps = [index_vector(f"prompts[{i}]", p, upper=self.vocab_size) for i, p in enumerate(prompts)]
        for i, p in enumerate(ps):
            if p.shape[0] == 0:
                raise ValueError(f"prompts[{i}]: empty prompt; give at least one token (e.g. the BOS token)")
        n = integer("max_new_tokens", max_new_tokens, lo=0)
        if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, (int, float, np.integer, np.floating)):
            raise TypeError(f"temperature: expected a number >= 0, got {_describe(temperature)}")
        temp = float(temperature)
        if not (np.isfinite(temp) and temp >= 0.0):
            raise ValueError(f"temperature: expected a finite number >= 0 (0 = greedy), got {temperature!r}")
        kk = None if top_k is None else integer("top_k", top_k, lo=1, hi=self.vocab_size + 1)
        if processor is not None and not callable(processor):
            raise TypeError(f"processor: expected a callable or None, got {type(processor).__name__}")
        eos = self.eos_token_id if eos_token_id is None else integer("eos_token_id", eos_token_id, lo=-1)
        eos = -1 if eos is None else int(eos)
        bs = positive_int("batch_size", batch_size)
        if not self._past_names:
            raise ValueError(f"model {str(self.path)!r}: generate needs past_key_values inputs (a KV cache)")
        for i, p in enumerate(ps):
            self._check_length(p.shape[0] + n, f"prompts[{i}] + max_new_tokens")
        seed_ = integer("seed", seed)
        u = np.random.default_rng(seed_).random((len(ps), n)) if temp > 0 else None
        out: list[np.ndarray] = []
        for a in range(0, len(ps), bs):
            out.extend(self._generate_batch(ps[a : a + bs], n, temp, kk, processor, eos, None if u is None else u[a : a + bs]))
        return out

    def _pick(self, logits: np.ndarray, prefix: np.ndarray, temp, kk, processor, u) -> int:
        x = logits
        if processor is not None:
            x = np.asarray(processor(prefix, x))
            if x.shape != logits.shape:
                raise ValueError(f"processor: returned shape {x.shape}, expected {logits.shape}")
        x = x.astype(np.float64)
        if kk is not None and kk < x.shape[0]:
            cut = np.partition(x, x.shape[0] - kk)[x.shape[0] - kk]
            x = np.where(x >= cut, x, -np.inf)
        if temp == 0.0:
            return int(np.argmax(x))
        x = x / temp
        p = np.exp(x - np.max(x))
        c = np.cumsum(p)
        return min(int(np.searchsorted(c, u * c[-1], side="right")), x.shape[0] - 1)

    def _generate_batch(self, ps, n, temp, kk, processor, eos, u) -> list[np.ndarray]:
        b = len(ps)
        lens = np.array([p.shape[0] for p in ps], dtype=np.int64)
        width = int(lens.max())
        ids = np.zeros((b, width), dtype=np.int64)
        mask = np.zeros((b, width), dtype=np.int64)
        for r, p in enumerate(ps):
            ids[r, : p.shape[0]] = p
            mask[r, : p.shape[0]] = 1
        new = [[] for _ in range(b)]
        if n == 0:
            return [np.zeros(0, dtype=np.int64) for _ in range(b)]
        logits, past = self._run(ids, mask, None)
        last = logits[np.arange(b), lens - 1]
        done = np.zeros(b, dtype=bool)
        for step in range(n):
            nxt = np.zeros((b, 1), dtype=np.int64)
            for r in range(b):
                if done[r]:
                    continue
                prefix = None if processor is None else np.concatenate([ps[r], np.asarray(new[r], dtype=np.int64)])
                tok = self._pick(last[r], prefix, temp, kk, processor, None if u is None else u[r, step])
                new[r].append(tok)
                nxt[r, 0] = tok
                if tok == eos:
                    done[r] = True
            if done.all() or step == n - 1:
                break
            mask = np.concatenate([mask, (~done).astype(np.int64)[:, None]], axis=1)
            pos = (lens + step)[:, None]
            logits, past = self._run(nxt, mask, past, positions=pos)
            last = logits[:, 0]
        return [np.asarray(x, dtype=np.int64) for x in new]
