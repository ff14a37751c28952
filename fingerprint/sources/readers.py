r"""Streaming readers: API responses with log-probs, Parquet/Arrow corpora, NumPy archives.

:func:`iter_batches` yields :class:`~fingerprint.sources.records.TokenBatch` objects of at most
``batch_rows`` records; memory is bounded by one batch (plus, for ``.json`` and ``.npz``, the file:
a JSON document and a NumPy archive cannot be read in parts). Formats (``format="auto"`` picks by
extension):

``jsonl`` (``.jsonl``, ``.ndjson``, optionally ``.gz``): one JSON object per line, each either
  - an OpenAI **Chat Completions** response: per choice, ``logprobs.content[j]`` gives ``token``,
    ``logprob``, ``bytes`` and ``top_logprobs`` (a list of ``{token, logprob, bytes}``);
  - a **legacy Completions** response: ``logprobs.tokens``, ``token_logprobs``, ``top_logprobs``
    (one ``{token: logprob}`` dict per position); with ``echo`` the first entry of
    ``token_logprobs`` and ``top_logprobs`` is null (no context): its log-prob is read as NaN and
    its top-k row is empty;
  - **vLLM**'s OpenAI-compatible output (both shapes above), including ``"token_id:N"`` token
    strings (``return_tokens_as_token_ids``), ``token_ids`` / ``prompt_token_ids`` lists, and
    ``prompt_logprobs`` (one ``{id: {logprob, rank, decoded_token}}`` dict per prompt token, the
    first null): with ``include_prompt=True`` a record's tokens are its prompt followed by its
    completion, with the prompt's log-probs and alternatives (ranked) in front;
  - an OpenAI **Batch API** output line ``{custom_id, response: {status_code, body}, error}``
    (the record id is ``custom_id``; a failed request is a malformed record, reason ``api_error``);
  - a canonical record (``id``, ``token_ids``, ... as :data:`~fingerprint.sources.records.COLUMNS`;
    ``null`` for a NaN log-prob, ``-Infinity`` for -inf as Python's json writes it);
  - a plain text record (``id``, ``text``, no ``token_ids``) when ``vocab`` is built from a
    tokenizer: the text is tokenised by it (no special tokens added). Parquet/Arrow likewise: a
    ``text`` column without ``token_ids`` is tokenised (``stats.notes["tokenized_texts"]``).
  One record per choice; its id is the response's ``id`` (``custom_id`` for Batch lines), with
  ``#<choice index>`` appended when a response has several choices, or ``<file>:<line>`` if none.
``json``: one such object, or a list of them.
``parquet`` (``.parquet``, ``.pq``) and ``arrow`` (``.arrow``, ``.feather``, ``.ipc``: Arrow IPC
  file or stream): the canonical list columns; ``columns={"token_ids": "input_ids", ...}`` maps
  canonical names to the file's. Read in record batches with pyarrow (``iter_batches``).
``npz``: arrays ``tokens`` and ``offsets`` (required), ``ids``, ``logprobs``, ``top_ids``,
  ``top_logprobs``, ``prompt_tokens``/``prompt_offsets``, ``labels``, ``texts`` (optional).

API quirks handled (nothing silently changed):
  - a log-prob ``<= -9999`` is OpenAI's placeholder for "too unlikely to report": read as -inf
    (counted in ``stats.notes["placeholder_logprobs"]``); an alternative with -inf is kept;
  - fewer alternatives than requested (or than other positions): rows are padded with id -1 and
    log-prob -inf to the batch's widest row (or ``top_k``; a row wider than ``top_k`` is an error);
  - tokens are mapped to ids through ``vocab`` (a :class:`~fingerprint.sources.vocab.Vocabulary`,
    a ``tokenizers.Tokenizer``, a ``tokenizer.json`` path or a ``{token: id}`` dict), by bytes
    when the response gives them; see :mod:`fingerprint.sources.vocab` for what is exact.

Malformed records raise :class:`~fingerprint.sources.records.RecordError`:
``file:line: field: message`` (Parquet/Arrow/NumPy: ``file:row N``). With ``on_error="skip"`` they
are skipped and counted in ``stats`` (a :class:`~fingerprint.sources.records.ReadStats`) by
reason. Values checked: token ids >= 0 (and < the vocabulary size when known), log-probs not NaN
where an alternative is given and <= 1e-6, alternatives unique within a row, lengths consistent.

Why not pyarrow's JSON reader for JSONL: it infers one schema per block (API responses mix
``null`` and numbers, dicts with varying keys) and reports errors per block, not per line; lines
are parsed with :mod:`json`, one at a time.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ._context import LOGPROB_TOL, PLACEHOLDER, _Ctx, _open_text  # noqa: F401 - constants re-exported
from .api_json import _iter_json, retokenize_record  # noqa: F401 - re-exported
from .columnar import _batch_from_arrow, _iter_arrow_ipc, _iter_npz, _iter_parquet  # noqa: F401
from .records import ReadStats, RecordError, TokenBatch
from .vocab import Vocabulary

__all__ = ["FORMATS", "detect_format", "expand_paths", "iter_batches", "iter_corpus", "iter_tables", "read_all", "retokenize_record"]

FORMATS: tuple[str, ...] = ("auto", "jsonl", "json", "parquet", "arrow", "npz")
ON_ERROR: tuple[str, ...] = ("fail", "skip")
DEFAULT_BATCH_ROWS = 1024


# ---------------------------------------------------------------------------------------------
# entry points


def detect_format(path: str) -> str:
    p = path.lower()
    if p.endswith(".gz"):
        p = p[:-3]
    for ext, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".parquet", "parquet"),
                     (".pq", "parquet"), (".arrow", "arrow"), (".feather", "arrow"), (".ipc", "arrow"), (".npz", "npz")):
        if p.endswith(ext):
            return fmt
    raise ValueError(f"format: cannot tell the format of {path!r} from its extension; pass format= one of "
                     f"{', '.join(FORMATS[1:])}")


def expand_paths(patterns: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Files named by paths or glob patterns (sorted within each pattern; each pattern must match)."""
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    out: list[str] = []
    for pat in patterns:
        pat = os.fspath(pat)
        if any(c in pat for c in "*?["):
            hits = sorted(glob.glob(pat, recursive=True))
            if not hits:
                raise FileNotFoundError(f"input: the pattern {pat!r} matches no file")
            out.extend(hits)
        elif os.path.isdir(pat):
            raise IsADirectoryError(f"input: {pat!r} is a directory; pass files or a glob such as {pat}/*.parquet")
        elif not os.path.exists(pat):
            raise FileNotFoundError(f"input: no such file {pat!r}")
        else:
            out.append(pat)
    return out


def _as_vocab(vocab: object) -> Vocabulary | None:
    if vocab is None or isinstance(vocab, Vocabulary):
        return vocab
    if isinstance(vocab, Mapping):
        return Vocabulary.from_mapping(vocab)
    return Vocabulary.from_tokenizer(vocab)


def iter_batches(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_error: str = "fail",
    stats: ReadStats | None = None,
    vocab: object = None,
    columns: Mapping[str, str] | None = None,
    top_k: int | None = None,
    include_prompt: bool = False,
    retokenize: bool = False,
) -> Iterator[TokenBatch]:
    """Stream the records of one file as :class:`TokenBatch` objects (see the module docstring).

    ``vocab``: maps API token strings/bytes to ids (required for API responses whose tokens are
    strings); its size also bounds the ids of every format. ``top_k``: pad top-k rows to this
    width (default: the widest row of each batch). ``columns``: canonical -> file column names
    (Parquet/Arrow/NumPy). ``stats``: counts records read and skipped (created if None; pass one to
    see the counts). ``retokenize``: API responses come from a model whose tokenizer differs from
    ``vocab``'s: each response's token bytes are re-tokenised by ``vocab``'s tokenizer and the
    log-probs aligned by bytes (see :func:`retokenize_record`).
    """
    from .._validate import choice, positive_int  # noqa: PLC0415

    path = os.fspath(path)
    fmt = choice("format", format, FORMATS)
    if fmt == "auto":
        fmt = detect_format(path)
    on_error = choice("on_error", on_error, ON_ERROR)
    batch_rows = positive_int("batch_rows", batch_rows)
    if top_k is not None:
        top_k = positive_int("top_k", top_k)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"input: no such file {path!r}")
    stats = stats if stats is not None else ReadStats()
    v = _as_vocab(vocab)
    if retokenize and (v is None or v.tokenizer is None):
        raise ValueError("retokenize: needs vocab= built from a tokenizer (a tokenizer.json path or a tokenizers.Tokenizer)")
    ctx = _Ctx(path, v, top_k, include_prompt, on_error, stats, dict(columns or {}))
    ctx.retokenize = retokenize
    if fmt in ("jsonl", "json"):
        yield from _iter_json(ctx, batch_rows, whole=fmt == "json")
    elif fmt == "parquet":
        yield from _iter_parquet(ctx, batch_rows)
    elif fmt == "arrow":
        yield from _iter_arrow_ipc(ctx, batch_rows)
    else:
        yield from _iter_npz(ctx, batch_rows)


def iter_corpus(paths: str | Iterable[str], **kw: Any) -> Iterator[TokenBatch]:
    """:func:`iter_batches` over every file of ``paths`` (paths or glob patterns), in order."""
    for p in expand_paths(paths):
        yield from iter_batches(p, **kw)


def read_all(paths: str | Iterable[str], **kw: Any) -> TokenBatch:
    """Every record of ``paths`` in one :class:`TokenBatch` (memory: the whole corpus)."""
    return TokenBatch.concat(list(iter_corpus(paths, **kw)))


# ---------------------------------------------------------------------------------------------
# plain tables (e.g. vectors for an index)


def iter_tables(path: str | os.PathLike, *, format: str = "auto", batch_rows: int = DEFAULT_BATCH_ROWS,
                columns: Iterable[str] | None = None) -> Iterator[tuple[int, Any]]:
    """Stream any table as ``(first_row, pyarrow.Table)`` chunks of at most ``batch_rows`` rows:
    Parquet / Arrow IPC in record batches, JSONL (one object per row; a line that is not a JSON
    object raises ValueError naming ``file:line``), or ``.npz`` (its 1-D/2-D arrays as columns; 2-D
    arrays become fixed-size lists)."""
    import pyarrow as pa  # noqa: PLC0415 - lazy

    from .._validate import choice, positive_int  # noqa: PLC0415

    path = os.fspath(path)
    fmt = choice("format", format, FORMATS)
    fmt = detect_format(path) if fmt == "auto" else fmt
    batch_rows = positive_int("batch_rows", batch_rows)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"input: no such file {path!r}")
    cols = None if columns is None else list(columns)
    row = 0
    if fmt == "parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415

        for rb in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=cols):
            yield row, pa.Table.from_batches([rb])
            row += rb.num_rows
    elif fmt == "arrow":
        import pyarrow.ipc as ipc  # noqa: PLC0415

        with pa.memory_map(path, "r") as src:
            try:
                t = ipc.open_file(src).read_all()
            except pa.ArrowInvalid:
                src.seek(0)
                t = ipc.open_stream(src).read_all()
        t = t.select(cols) if cols else t
        for s in range(0, t.num_rows, batch_rows):
            yield s, t.slice(s, batch_rows)
    elif fmt == "npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in (cols or z.files)}
        n = {a.shape[0] for a in arrays.values()}
        if len(n) != 1:
            raise ValueError(f"input: {path}: arrays have different lengths {sorted(n)}")
        data = {}
        for k, a in arrays.items():
            if a.ndim == 2:
                data[k] = pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), a.shape[1])
            else:
                data[k] = pa.array(a.tolist() if a.dtype.kind == "U" else a)
        t = pa.table(data)
        for s in range(0, t.num_rows, batch_rows):
            yield s, t.slice(s, batch_rows)
    else:
        rows: list[dict] = []
        start = 0
        with _open_text(path) as fh:
            for line_no, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise RecordError(f"{path}:{line_no}", "<line>", f"invalid JSON ({exc})", "bad_json") from None
                if not isinstance(obj, dict):
                    raise RecordError(f"{path}:{line_no}", "<record>", f"expected a JSON object, got {type(obj).__name__}")
                rows.append({k: obj.get(k) for k in cols} if cols else obj)
                if len(rows) >= batch_rows:
                    yield start, pa.Table.from_pylist(rows)
                    start += len(rows)
                    rows = []
        if rows:
            yield start, pa.Table.from_pylist(rows)
