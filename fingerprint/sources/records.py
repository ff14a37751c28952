"""Corpus records in memory: :class:`TokenBatch`, and the counters of skipped records.

One record is one text or response. A :class:`TokenBatch` holds B records in ragged layout:
record ``i`` is ``tokens[offsets[i]:offsets[i+1]]`` (int64 token ids), with per-position
``logprobs`` (float64, log-prob of the observed token; NaN = not reported, e.g. the first token of
an ``echo``-ed prompt) and top-k alternatives ``top_ids`` (int64 [N, k], -1 pads) /
``top_logprobs`` (float64 [N, k], -inf pads). Canonical Arrow columns: see :data:`COLUMNS`.

pyarrow is imported only by :meth:`TokenBatch.to_arrow` / :meth:`TokenBatch.from_arrow`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Canonical column names (Parquet/Arrow/JSONL written by fingerprint), required first.
COLUMNS: tuple[str, ...] = (
    "id", "token_ids", "text", "prompt_ids", "logprobs", "top_ids", "top_logprobs", "label",
)  # fmt: skip
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "token_ids")


class RecordError(ValueError):
    """A malformed record: ``where`` is ``"file:line"`` (or ``"file:row N"``), ``field`` the path
    of the offending field (e.g. ``choices[0].logprobs.content[3].bytes``), ``reason`` a short
    category used to count skips."""

    def __init__(self, where: str, field: str, message: str, reason: str = "malformed") -> None:
        self.where, self.field, self.message, self.reason = where, field, message, reason
        super().__init__(f"{where}: {field}: {message}")


@dataclass
class ReadStats:
    """What a reader did: records read and skipped (``skipped[reason]``), with the first few
    messages (``examples``), and notes that altered nothing but are worth knowing
    (``notes[kind]``, e.g. ``placeholder_logprobs``: -9999 entries read as -inf)."""

    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_examples: int = 20

    def skip(self, err: RecordError) -> None:
        self.skipped[err.reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(str(err))

    @property
    def num_skipped(self) -> int:
        return int(sum(self.skipped.values()))

    def to_dict(self) -> dict:
        return {"records": self.records, "skipped": self.num_skipped,
                "skipped_by_reason": dict(sorted(self.skipped.items())),
                "notes": dict(sorted(self.notes.items())), "examples": list(self.examples)}


def _ragged_offsets(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    offs = np.zeros(len(lengths) + 1, dtype=np.int64)
    if len(lengths):
        np.cumsum(np.asarray(lengths, dtype=np.int64), out=offs[1:])
    return offs


def _pad_topk(ids: np.ndarray | None, lps: np.ndarray | None, k: int, n: int):
    if ids is None:
        return np.full((n, k), -1, dtype=np.int64), np.full((n, k), -np.inf, dtype=np.float64)
    if ids.shape[1] == k:
        return ids, lps
    out_i = np.full((n, k), -1, dtype=np.int64)
    out_l = np.full((n, k), -np.inf, dtype=np.float64)
    out_i[:, : ids.shape[1]] = ids
    out_l[:, : ids.shape[1]] = lps
    return out_i, out_l


@dataclass
class TokenBatch:
    """B records in ragged layout (see the module docstring). ``source``: the file they came
    from; ``first_line``: the 1-based line (JSONL) or 0-based row (Parquet/Arrow/NumPy) of the
    first record, for error messages; ``lines``: the line/row of every record (int64 [B]) when
    records were skipped in between, else None (consecutive from ``first_line``)."""

    ids: list[str]
    tokens: np.ndarray
    offsets: np.ndarray
    logprobs: np.ndarray | None = None
    top_ids: np.ndarray | None = None
    top_logprobs: np.ndarray | None = None
    texts: list[str | None] | None = None
    prompt_tokens: np.ndarray | None = None
    prompt_offsets: np.ndarray | None = None
    labels: np.ndarray | None = None
    source: str = ""
    first_line: int = 0
    lines: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.tokens = np.ascontiguousarray(self.tokens, dtype=np.int64)
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        b, n = len(self.ids), self.tokens.shape[0]
        if self.offsets.shape != (b + 1,) or self.offsets[0] != 0 or self.offsets[-1] != n:
            raise ValueError(
                f"offsets: expected B+1 = {b + 1} boundaries from 0 to {n}, got shape "
                f"{self.offsets.shape} ending at {int(self.offsets[-1]) if self.offsets.size else None}"
            )
        if self.logprobs is not None:
            self.logprobs = np.ascontiguousarray(self.logprobs, dtype=np.float64)
            if self.logprobs.shape != (n,):
                raise ValueError(f"logprobs: expected shape ({n},), got {self.logprobs.shape}")
        if (self.top_ids is None) != (self.top_logprobs is None):
            raise ValueError("top_ids and top_logprobs: give both or neither")
        if self.top_ids is not None:
            self.top_ids = np.ascontiguousarray(self.top_ids, dtype=np.int64)
            self.top_logprobs = np.ascontiguousarray(self.top_logprobs, dtype=np.float64)
            if self.top_ids.ndim != 2 or self.top_ids.shape[0] != n or self.top_ids.shape != self.top_logprobs.shape:
                raise ValueError(
                    f"top_ids/top_logprobs: expected equal shapes [{n}, k], got "
                    f"{self.top_ids.shape} and {self.top_logprobs.shape}"
                )
        if self.texts is not None and len(self.texts) != b:
            raise ValueError(f"texts: expected {b} texts, got {len(self.texts)}")
        if (self.prompt_tokens is None) != (self.prompt_offsets is None):
            raise ValueError("prompt_tokens and prompt_offsets: give both or neither")
        if self.prompt_tokens is not None:
            self.prompt_tokens = np.ascontiguousarray(self.prompt_tokens, dtype=np.int64)
            self.prompt_offsets = np.ascontiguousarray(self.prompt_offsets, dtype=np.int64)
            if self.prompt_offsets.shape != (b + 1,) or self.prompt_offsets[-1] != self.prompt_tokens.shape[0]:
                raise ValueError(f"prompt_offsets: expected B+1 = {b + 1} boundaries ending at the number of prompt tokens")
        if self.labels is not None:
            self.labels = np.ascontiguousarray(self.labels, dtype=np.int64)
            if self.labels.shape != (b,):
                raise ValueError(f"labels: expected shape ({b},), got {self.labels.shape}")

    # -- sizes and access --------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def k(self) -> int:
        """Columns of the top-k arrays (0 without them)."""
        return 0 if self.top_ids is None else int(self.top_ids.shape[1])

    def line_of(self, i: int) -> int:
        return int(self.lines[i]) if self.lines is not None else self.first_line + i

    def where(self, i: int) -> str:
        return f"{self.source}:{self.line_of(i)}"

    def take(self, rows: Sequence[int] | np.ndarray) -> TokenBatch:
        """The records ``rows`` (in that order) as a new batch."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        lengths = ends - starts
        pos = _gather_index(starts, lengths)
        def sub(a):
            return None if a is None else a[pos]
        pt = po = None
        if self.prompt_tokens is not None:
            ps, pe = self.prompt_offsets[rows], self.prompt_offsets[rows + 1]
            pt = self.prompt_tokens[_gather_index(ps, pe - ps)]
            po = _ragged_offsets(pe - ps)
        return TokenBatch(
            ids=[self.ids[i] for i in rows.tolist()], tokens=self.tokens[pos], offsets=_ragged_offsets(lengths),
            logprobs=sub(self.logprobs), top_ids=sub(self.top_ids), top_logprobs=sub(self.top_logprobs),
            texts=None if self.texts is None else [self.texts[i] for i in rows.tolist()],
            prompt_tokens=pt, prompt_offsets=po,
            labels=None if self.labels is None else self.labels[rows], source=self.source,
            first_line=self.line_of(int(rows[0])) if rows.size else self.first_line,
            lines=np.array([self.line_of(i) for i in rows.tolist()], dtype=np.int64),
        )

    @classmethod
    def concat(cls, batches: Sequence[TokenBatch]) -> TokenBatch:
        """One batch from several (top-k widths may differ: narrower ones are padded). An
        optional field is kept only if every batch has it."""
        batches = list(batches)
        if not batches:
            return cls.empty()
        if len(batches) == 1:
            return batches[0]
        n = [b.num_tokens for b in batches]
        ids = [i for b in batches for i in b.ids]
        tokens = np.concatenate([b.tokens for b in batches])
        lengths = np.concatenate([np.diff(b.offsets) for b in batches])
        lp = np.concatenate([b.logprobs for b in batches]) if all(b.logprobs is not None for b in batches) else None
        ti = tl = None
        if all(b.top_ids is not None for b in batches):
            k = max(b.k for b in batches)
            parts = [_pad_topk(b.top_ids, b.top_logprobs, k, nb) for b, nb in zip(batches, n)]
            ti = np.concatenate([p[0] for p in parts])
            tl = np.concatenate([p[1] for p in parts])
        texts = [t for b in batches for t in b.texts] if all(b.texts is not None for b in batches) else None
        pt = po = None
        if all(b.prompt_tokens is not None for b in batches):
            pt = np.concatenate([b.prompt_tokens for b in batches])
            po = _ragged_offsets(np.concatenate([np.diff(b.prompt_offsets) for b in batches]))
        labels = np.concatenate([b.labels for b in batches]) if all(b.labels is not None for b in batches) else None
        same = len({b.source for b in batches}) == 1
        return cls(ids=ids, tokens=tokens, offsets=_ragged_offsets(lengths), logprobs=lp, top_ids=ti,
                   top_logprobs=tl, texts=texts, prompt_tokens=pt, prompt_offsets=po, labels=labels,
                   source=batches[0].source if same else "<several files>", first_line=batches[0].first_line,
                   lines=np.concatenate([[b.line_of(i) for i in range(len(b))] for b in batches]).astype(np.int64))

    @classmethod
    def empty(cls, source: str = "") -> TokenBatch:
        return cls(ids=[], tokens=np.zeros(0, np.int64), offsets=np.zeros(1, np.int64), source=source)

    # -- Arrow ------------------------------------------------------------------------------

    def to_arrow(self):
        """A ``pyarrow.Table`` with the canonical columns present in this batch (top-k rows keep
        their padding columns stripped: a row lists only its real alternatives)."""
        import pyarrow as pa  # noqa: PLC0415 - lazy

        offs32 = self.offsets
        cols = {"id": pa.array(self.ids, type=pa.string()),
                "token_ids": pa.LargeListArray.from_arrays(offs32, pa.array(self.tokens, pa.int64())).cast(pa.list_(pa.int64()))}
        if self.texts is not None:
            cols["text"] = pa.array(self.texts, type=pa.string())
        if self.prompt_tokens is not None:
            cols["prompt_ids"] = pa.LargeListArray.from_arrays(
                self.prompt_offsets, pa.array(self.prompt_tokens, pa.int64())).cast(pa.list_(pa.int64()))
        if self.logprobs is not None:
            cols["logprobs"] = pa.LargeListArray.from_arrays(offs32, pa.array(self.logprobs, pa.float64())).cast(pa.list_(pa.float64()))
        if self.top_ids is not None:
            valid = self.top_ids >= 0
            inner = _ragged_offsets(valid.sum(axis=1))
            ids_inner = pa.LargeListArray.from_arrays(inner, pa.array(self.top_ids[valid], pa.int64()))
            lp_inner = pa.LargeListArray.from_arrays(inner, pa.array(self.top_logprobs[valid], pa.float64()))
            cols["top_ids"] = pa.LargeListArray.from_arrays(offs32, ids_inner).cast(pa.list_(pa.list_(pa.int64())))
            cols["top_logprobs"] = pa.LargeListArray.from_arrays(offs32, lp_inner).cast(pa.list_(pa.list_(pa.float64())))
        if self.labels is not None:
            cols["label"] = pa.array(self.labels, type=pa.int64())
        return pa.table(cols)

    @classmethod
    def from_arrow(cls, table, *, columns: dict[str, str] | None = None, source: str = "<arrow>",
                   first_row: int = 0, on_error: str = "fail", stats: ReadStats | None = None) -> TokenBatch:
        """A batch from a ``pyarrow.Table`` / ``RecordBatch`` with the canonical columns
        (``columns`` maps canonical names to the table's own). Malformed rows raise
        :class:`RecordError` naming ``source:row N`` and the column, or are skipped and counted
        with ``on_error="skip"``."""
        from .columnar import _batch_from_arrow  # noqa: PLC0415

        return _batch_from_arrow(table, columns or {}, source, first_row, on_error, stats)


def _gather_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges starts[i] : starts[i] + lengths[i], as one int64 index array."""
    total = int(lengths.sum()) if lengths.size else 0
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = _ragged_offsets(lengths)
    seg = np.repeat(np.arange(lengths.shape[0]), lengths)
    return (starts[seg] + (np.arange(total) - offs[seg])).astype(np.int64)
