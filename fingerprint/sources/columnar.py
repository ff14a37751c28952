"""Columnar records: Parquet, Arrow IPC and NumPy archives with the canonical columns."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping

import numpy as np

from ._context import LOGPROB_TOL, _Ctx
from .records import COLUMNS, ReadStats, RecordError, TokenBatch, _ragged_offsets
from .vocab import Vocabulary


def _iter_parquet(ctx: _Ctx, batch_rows: int) -> Iterator[TokenBatch]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - lazy

    try:
        pf = pq.ParquetFile(ctx.path)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError variants
        raise ValueError(f"input: {ctx.path} is not a readable Parquet file ({exc})") from None
    names = set(pf.schema_arrow.names)
    wanted = [ctx.columns.get(c, c) for c in COLUMNS if ctx.columns.get(c, c) in names]
    row = 0
    for rb in pf.iter_batches(batch_size=batch_rows, columns=wanted):
        yield _batch_from_arrow(rb, ctx.columns, ctx.path, row, ctx.on_error, ctx.stats, ctx.vocab, ctx.top_k)
        row += rb.num_rows


def _iter_arrow_ipc(ctx: _Ctx, batch_rows: int) -> Iterator[TokenBatch]:
    import pyarrow as pa  # noqa: PLC0415 - lazy
    import pyarrow.ipc as ipc  # noqa: PLC0415

    source = pa.memory_map(ctx.path, "r")
    try:
        try:
            reader = ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            source.seek(0)
            try:
                batches = iter(ipc.open_stream(source))
            except pa.ArrowInvalid as exc:
                raise ValueError(f"input: {ctx.path} is neither an Arrow IPC file nor stream ({exc})") from None
        row = 0
        for rb in batches:
            for start in range(0, max(rb.num_rows, 1), batch_rows):
                part = rb.slice(start, batch_rows)
                if part.num_rows == 0 and rb.num_rows:
                    continue
                yield _batch_from_arrow(part, ctx.columns, ctx.path, row, ctx.on_error, ctx.stats, ctx.vocab, ctx.top_k)
                row += part.num_rows
    finally:
        source.close()


def _column(table, name: str):
    import pyarrow as pa  # noqa: PLC0415

    col = table.column(name)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return col


def _list_parts(col, name: str, source: str, value_type):
    """(valid mask [B], lengths [B], flat values as numpy, value-null mask) of a list column."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    t = col.type
    if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
        raise ValueError(f"columns: {source}: column {name!r} has type {t}; expected a list column")
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    lengths = pc.list_value_length(col).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = col.flatten()
    if value_type is not None:
        try:
            flat = flat.cast(value_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"columns: {source}: column {name!r} holds {t.value_type}, expected {value_type} values ({exc})") from None
    return valid, lengths, flat


def _batch_from_arrow(table, columns: Mapping[str, str], source: str, first_row: int, on_error: str,
                      stats: ReadStats | None, vocab: Vocabulary | None = None, top_k: int | None = None) -> TokenBatch:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    stats = stats if stats is not None else ReadStats()
    name = {c: columns.get(c, c) for c in COLUMNS}
    present = set(table.schema.names)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise ValueError(f"columns: unknown canonical name(s) {unknown}; expected some of {', '.join(COLUMNS)}")
    if name["token_ids"] not in present and name["text"] in present and vocab is not None and vocab.tokenizer is not None:
        table = _tokenize_column(table, name, source, vocab)
        present = set(table.schema.names)
        tokenized = True
    else:
        tokenized = False
    if name["token_ids"] not in present:
        raise ValueError(f"columns: {source} has no column {name['token_ids']!r} (token ids); its columns are "
                         f"{', '.join(table.schema.names)} (map them with columns={{'token_ids': ...}})")
    B = table.num_rows
    bad: dict[int, RecordError] = {}

    def flag(rows: np.ndarray, field_of, msg_of, reason="malformed") -> None:
        for r in rows.tolist():
            if r not in bad:
                bad[r] = RecordError(f"{source}:row {first_row + r}", field_of(r), msg_of(r), reason)

    valid, tlen, tflat = _list_parts(_column(table, name["token_ids"]), name["token_ids"], source, pa.int64())
    flag(np.flatnonzero(~valid), lambda r: "text" if tokenized else "token_ids",
         lambda r: "null (nothing to tokenise)" if tokenized else "null", "missing_field")
    toffs = _ragged_offsets(tlen)
    tnull = np.asarray(tflat.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    tokens = _filled(tflat, 0).astype(np.int64, copy=False)
    _flag_positions(flag, toffs, tnull, "token_ids", lambda p: "null token id", "bad_value")
    _flag_positions(flag, toffs, tokens < 0, "token_ids", lambda p: f"token ids are >= 0, got {int(tokens[p])}", "bad_value")
    if vocab is not None:
        _flag_positions(flag, toffs, tokens >= vocab.size, "token_ids",
                        lambda p: f"id {int(tokens[p])} >= the vocabulary size {vocab.size}", "bad_value")

    logprobs = None
    if name["logprobs"] in present:
        v, ln, flat = _list_parts(_column(table, name["logprobs"]), name["logprobs"], source, pa.float64())
        rows = np.flatnonzero(v & (ln != tlen))
        flag(rows, lambda r: "logprobs", lambda r: f"{int(ln[r])} log-probs for {int(tlen[r])} tokens")
        if not (v & (ln != tlen)).any() and v.all():
            logprobs = _filled(flat, math.nan).astype(np.float64, copy=False)
            _flag_positions(flag, toffs, logprobs > LOGPROB_TOL, "logprobs",
                            lambda p: f"log-prob {float(logprobs[p])!r} > 0", "bad_value")
        elif not v.all():
            flag(np.flatnonzero(~v), lambda r: "logprobs", lambda r: "null (the column is present: give a list, nulls inside for unknown values)", "missing_field")

    top_ids = top_lps = None
    if (name["top_ids"] in present) != (name["top_logprobs"] in present):
        missing = "top_logprobs" if name["top_ids"] in present else "top_ids"
        raise ValueError(f"columns: {source} has {'top_ids' if missing == 'top_logprobs' else 'top_logprobs'} but no {missing!r}")
    if name["top_ids"] in present:
        parts = []
        for c, vt in (("top_ids", pa.int64()), ("top_logprobs", pa.float64())):
            v, ln, inner = _list_parts(_column(table, name[c]), name[c], source, None)
            flag(np.flatnonzero(v & (ln != tlen)), lambda r, c=c, ln=ln: c, lambda r, ln=ln: f"{int(ln[r])} rows for {int(tlen[r])} tokens")
            flag(np.flatnonzero(~v), lambda r, c=c: c, lambda r: "null", "missing_field")
            vi, li, vals = _list_parts(inner, name[c], source, vt)
            parts.append((ln, li, vals))
        (ln_i, li_i, ids_flat), (ln_l, li_l, lps_flat) = parts
        ok_rows = (ln_i == tlen) & (ln_l == tlen)
        if ok_rows.all() and (li_i == li_l).all() and not bad:
            N = int(tlen.sum())
            inner_offs = _ragged_offsets(li_i)
            k = top_k if top_k is not None else int(li_i.max()) if li_i.size else 0
            wide = np.flatnonzero(li_i > k)
            _flag_positions(flag, toffs, li_i > k, "top_ids", lambda p: f"{int(li_i[p])} alternatives, more than top_k={k}", "bad_value")
            ids_np = _filled(ids_flat, -2).astype(np.int64, copy=False)
            lps_np = _filled(lps_flat, math.nan).astype(np.float64, copy=False)
            full = bool(li_i.size) and not wide.size and bool((li_i == k).all())
            if full:  # every row has k alternatives: no padding
                top_ids, top_lps = ids_np.reshape(N, k), lps_np.reshape(N, k)
                _check_topk_values(flag, toffs, top_ids, top_lps, vocab)
            else:
                top_ids = np.full((N, k), -1, dtype=np.int64)
                top_lps = np.full((N, k), -np.inf, dtype=np.float64)
            if ids_np.size and not wide.size and not full:
                prow = np.repeat(np.arange(N), li_i)
                pcol = np.arange(ids_np.shape[0]) - inner_offs[prow]
                top_ids[prow, pcol] = ids_np
                top_lps[prow, pcol] = lps_np
                _check_topk_values(flag, toffs, top_ids, top_lps, vocab)
        elif not bad:
            _flag_positions(flag, toffs, li_i != li_l, "top_ids",
                            lambda p: f"top_ids and top_logprobs differ in length at this position ({int(li_i[p])} vs {int(li_l[p])})")

    if name["id"] in present:
        idc = _column(table, name["id"])
        if idc.null_count:
            flag(np.flatnonzero(~np.asarray(idc.is_valid().to_numpy(zero_copy_only=False), dtype=bool)),
                 lambda r: "id", lambda r: "null", "missing_field")
    if bad:
        rows = sorted(bad)
        if on_error == "fail":
            raise bad[rows[0]]
        for r in rows:
            stats.skip(bad[r])
        keep = np.ones(B, dtype=bool)
        keep[rows] = False
        sub = table.filter(pa.array(keep))
        kept = np.flatnonzero(keep)
        out = _batch_from_arrow(sub, columns, source, 0, "fail", ReadStats(), vocab, top_k)
        out.source, out.lines = source, (first_row + kept).astype(np.int64)
        out.first_line = int(out.lines[0]) if kept.size else first_row
        stats.records += len(out)
        if tokenized:
            stats.notes["tokenized_texts"] += len(out)
        return out

    if name["id"] in present:
        ids = [str(x) for x in pc.cast(_column(table, name["id"]), pa.string()).to_pylist()]
    else:
        ids = [f"{os.path.basename(source)}:row {first_row + i}" for i in range(B)]
        stats.notes["generated_ids"] += B
    texts = None
    if name["text"] in present:
        texts = pc.cast(_column(table, name["text"]), pa.string()).to_pylist()
    prompt_tokens = prompt_offsets = None
    if name["prompt_ids"] in present:
        v, ln, flat = _list_parts(_column(table, name["prompt_ids"]), name["prompt_ids"], source, pa.int64())
        prompt_offsets = _ragged_offsets(ln)
        prompt_tokens = flat.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    labels = None
    if name["label"] in present:
        lc = _column(table, name["label"])
        if lc.null_count == 0:
            labels = np.asarray(lc.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        else:  # labels are all-or-nothing per batch
            stats.notes["batches_without_labels"] += 1
    stats.records += B
    if tokenized:
        stats.notes["tokenized_texts"] += B
    return TokenBatch(ids=ids, tokens=tokens, offsets=toffs, logprobs=logprobs, top_ids=top_ids, top_logprobs=top_lps,
                      texts=texts, prompt_tokens=prompt_tokens, prompt_offsets=prompt_offsets, labels=labels,
                      source=source, first_line=first_row)


def _tokenize_column(table, name, source, vocab):
    """``table`` with a ``token_ids`` column made by tokenising its text column (a null text
    gives null token ids, reported as a malformed row by the caller)."""
    import pyarrow as pa  # noqa: PLC0415

    for f in ("logprobs", "top_ids", "top_logprobs"):
        if name[f] in table.schema.names:
            raise ValueError(f"columns: {source} has {f!r} but no token ids: per-token values need the tokens they belong to")
    texts = _column(table, name["text"]).to_pylist()
    enc = vocab.tokenizer.encode_batch([t if isinstance(t, str) else "" for t in texts], add_special_tokens=False)
    col = pa.array([e.ids if isinstance(t, str) else None for t, e in zip(texts, enc)], type=pa.list_(pa.int64()))
    return table.append_column(name["token_ids"], col)


def _filled(arr, value) -> np.ndarray:
    """NumPy values of an Arrow array, nulls replaced by ``value`` (no copy pass without nulls)."""
    if arr.null_count:
        arr = arr.fill_null(value)
    return arr.to_numpy(zero_copy_only=False)


def _flag_positions(flag, offsets: np.ndarray, mask: np.ndarray, field: str, msg_of, reason: str = "malformed") -> None:
    """Flag the records holding a True position of ``mask`` (the first such position of each)."""
    if not mask.any():
        return
    pos = np.flatnonzero(mask)
    rows = np.searchsorted(offsets, pos, side="right") - 1
    first = {}
    for p, r in zip(pos.tolist(), rows.tolist()):
        first.setdefault(r, p)
    rr = np.array(sorted(first), dtype=np.int64)
    flag(rr, lambda r: f"{field}[{first[r] - int(offsets[r])}]", lambda r: msg_of(first[r]), reason)


def _check_topk_values(flag, offsets, ids, lps, vocab) -> None:
    real = ids >= 0
    _flag_positions(flag, offsets, (ids < -1).any(axis=1), "top_ids", lambda p: "null or negative id among the alternatives", "bad_value")
    _flag_positions(flag, offsets, (real & np.isnan(lps)).any(axis=1), "top_logprobs", lambda p: "NaN log-prob", "bad_value")
    _flag_positions(flag, offsets, (real & (lps > LOGPROB_TOL)).any(axis=1), "top_logprobs", lambda p: "log-prob > 0", "bad_value")
    if vocab is not None:
        _flag_positions(flag, offsets, (ids >= vocab.size).any(axis=1), "top_ids",
                        lambda p: f"id >= the vocabulary size {vocab.size}", "bad_value")
    if ids.shape[1] > 1:
        s = np.sort(ids, axis=1)
        dup = ((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any(axis=1)
        _flag_positions(flag, offsets, dup, "top_ids", lambda p: "an id appears twice among the alternatives", "bad_value")


# ---------------------------------------------------------------------------------------------
# NumPy


def _iter_npz(ctx: _Ctx, batch_rows: int) -> Iterator[TokenBatch]:
    with np.load(ctx.path, allow_pickle=False) as z:
        keys = set(z.files)
        col = {c: ctx.columns.get(c, c) for c in ("tokens", "offsets", "ids", "logprobs", "top_ids", "top_logprobs",
                                                 "prompt_tokens", "prompt_offsets", "labels", "texts")}
        for req in ("tokens", "offsets"):
            if col[req] not in keys:
                raise ValueError(f"input: {ctx.path} has no array {col[req]!r}; it holds {', '.join(sorted(keys))}")
        arr = {c: z[k] for c, k in col.items() if k in keys}
    offs = arr["offsets"]
    if offs.ndim != 1 or offs.size < 1 or offs[0] != 0 or (np.diff(offs) < 0).any() or offs[-1] != arr["tokens"].shape[0]:
        raise ValueError(f"input: {ctx.path}: offsets must run from 0 to len(tokens) = {arr['tokens'].shape[0]}, non-decreasing")
    B = offs.shape[0] - 1
    ids = [str(x) for x in arr["ids"].tolist()] if "ids" in arr else [f"{ctx.stem}:row {i}" for i in range(B)]
    texts = [str(x) for x in arr["texts"].tolist()] if "texts" in arr else None
    whole = TokenBatch(ids=ids, tokens=arr["tokens"], offsets=offs, logprobs=arr.get("logprobs"),
                       top_ids=arr.get("top_ids"), top_logprobs=arr.get("top_logprobs"), texts=texts,
                       prompt_tokens=arr.get("prompt_tokens"), prompt_offsets=arr.get("prompt_offsets"),
                       labels=arr.get("labels"), source=ctx.path, first_line=0)
    bad: dict[int, RecordError] = {}

    def flag(rows, field_of, msg_of, reason="malformed"):
        for r in rows.tolist():
            bad.setdefault(r, RecordError(f"{ctx.path}:row {r}", field_of(r), msg_of(r), reason))

    t = whole.tokens
    _flag_positions(flag, offs, t < 0, "tokens", lambda p: f"token ids are >= 0, got {int(t[p])}", "bad_value")
    if ctx.vocab is not None:
        _flag_positions(flag, offs, t >= ctx.vocab.size, "tokens", lambda p: f"id {int(t[p])} >= the vocabulary size", "bad_value")
    if whole.logprobs is not None:
        lp = whole.logprobs
        _flag_positions(flag, offs, lp > LOGPROB_TOL, "logprobs", lambda p: f"log-prob {float(lp[p])!r} > 0", "bad_value")
    if whole.top_ids is not None:
        _check_topk_values(flag, offs, whole.top_ids, whole.top_logprobs, ctx.vocab)
    keep = np.ones(B, dtype=bool)
    if bad:
        rows = sorted(bad)
        if ctx.on_error == "fail":
            raise bad[rows[0]]
        for r in rows:
            ctx.stats.skip(bad[r])
        keep[rows] = False
    good = np.flatnonzero(keep)
    for s in range(0, good.shape[0], batch_rows):
        part = whole.take(good[s:s + batch_rows])
        ctx.stats.records += len(part)
        yield part
