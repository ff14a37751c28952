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
    ``null`` for a NaN log-prob, ``-Infinity`` for -inf as Python's json writes it).
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
import gzip
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .records import COLUMNS, ReadStats, RecordError, TokenBatch, _ragged_offsets
from .vocab import Vocabulary, _byte_list, align_by_bytes, parse_token_bytes

__all__ = ["FORMATS", "detect_format", "expand_paths", "iter_batches", "iter_corpus", "iter_tables", "read_all"]

FORMATS: tuple[str, ...] = ("auto", "jsonl", "json", "parquet", "arrow", "npz")
ON_ERROR: tuple[str, ...] = ("fail", "skip")
PLACEHOLDER = -9999.0  # OpenAI's "not reported" log-prob
LOGPROB_TOL = 1e-6  # rounding above 0 accepted in a log-prob
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


class _Ctx:
    def __init__(self, path, vocab, top_k, include_prompt, on_error, stats, columns):
        self.path, self.vocab, self.top_k, self.include_prompt = path, vocab, top_k, include_prompt
        self.on_error, self.stats, self.columns = on_error, stats, columns
        self.stem = os.path.basename(path)
        self.retokenize = False

    def bad(self, err: RecordError) -> None:
        if self.on_error == "fail":
            raise err
        self.stats.skip(err)


# ---------------------------------------------------------------------------------------------
# JSON / JSONL


class _Rec:
    """One parsed record (Python lists), turned into arrays when a batch is full."""

    __slots__ = ("id", "tokens", "logprobs", "top", "text", "prompt", "label", "line")

    def __init__(self, id, tokens, logprobs, top, text, prompt, label, line):
        self.id, self.tokens, self.logprobs, self.top = id, tokens, logprobs, top
        self.text, self.prompt, self.label, self.line = text, prompt, label, line


def _open_text(path: str):
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def _iter_json(ctx: _Ctx, batch_rows: int, *, whole: bool) -> Iterator[TokenBatch]:
    pending: list[_Rec] = []
    for line_no, obj in (_json_document(ctx) if whole else _json_lines(ctx)):
        where = f"{ctx.path}:{line_no}" if not whole else f"{ctx.path}:[{line_no}]"
        try:
            recs = _records_of(obj, ctx, where, line_no)
        except RecordError as err:
            ctx.bad(err)
            continue
        for r in recs:
            pending.append(r)
            if len(pending) >= batch_rows:
                yield _batch_of(pending, ctx, where)
                pending = []
    if pending:
        yield _batch_of(pending, ctx, ctx.path)


def _json_lines(ctx: _Ctx) -> Iterator[tuple[int, object]]:
    with _open_text(ctx.path) as fh:
        for line_no, raw in enumerate(fh, start=1):
            where = f"{ctx.path}:{line_no}"
            if not raw.strip():
                ctx.stats.notes["blank_lines"] += 1
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                ctx.bad(RecordError(where, "<line>", f"not valid UTF-8 ({exc.reason} at byte {exc.start})", "bad_utf8"))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                ctx.bad(RecordError(where, "<line>", f"invalid JSON at column {exc.colno}: {exc.msg}", "bad_json"))
                continue
            yield line_no, obj


def _json_document(ctx: _Ctx) -> Iterator[tuple[int, object]]:
    with _open_text(ctx.path) as fh:
        data = fh.read()
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else f"not valid UTF-8 ({exc.reason})"
        raise RecordError(ctx.path, "<document>", msg, "bad_json") from None
    items = doc if isinstance(doc, list) else [doc]
    yield from enumerate(items)


def _err(where: str, field: str, msg: str, reason: str = "malformed") -> RecordError:
    return RecordError(where, field, msg, reason)


def _get(obj: object, key: str, where: str, path: str, *, types: tuple, optional: bool = False):
    if not isinstance(obj, dict):
        raise _err(where, path, f"expected an object, got {type(obj).__name__}")
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise _err(where, f"{path}.{key}" if path else key, "missing", "missing_field")
    v = obj[key]
    if not isinstance(v, types) or isinstance(v, bool) and bool not in types:
        names = "/".join(t.__name__ for t in types)
        raise _err(where, f"{path}.{key}" if path else key, f"expected {names}, got {type(v).__name__}")
    return v


def _logprob(x: object, where: str, field: str, ctx: _Ctx, *, nullable: bool) -> float:
    if x is None:
        if nullable:
            return math.nan
        raise _err(where, field, "missing log-prob (null)", "missing_field")
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise _err(where, field, f"expected a number, got {type(x).__name__}")
    v = float(x)
    if math.isnan(v):
        raise _err(where, field, "log-prob is NaN", "bad_value")
    if v > LOGPROB_TOL:
        raise _err(where, field, f"log-prob {v!r} > 0 (a log-probability is <= 0)", "bad_value")
    if v <= PLACEHOLDER:
        ctx.stats.notes["placeholder_logprobs"] += 1
        return -math.inf
    return v


def _need_vocab(ctx: _Ctx) -> Vocabulary:
    if ctx.vocab is None:
        raise ValueError(f"vocab: {ctx.path} holds API responses whose tokens are strings; pass vocab= (a "
                         "tokenizer.json path, a tokenizers.Tokenizer, a {token: id} dict or a Vocabulary; "
                         "on the command line --tokenizer or --vocab) to map them to ids")
    return ctx.vocab


def _source_bytes(tok: object, raw_bytes: object, where: str, field: str) -> bytes:
    """The exact bytes of a token of the responding model (re-tokenisation mode)."""
    if raw_bytes is not None:
        b = _byte_list(raw_bytes)
        if b is None:
            raise _err(where, field, f"expected a list of integers in [0, 255], got {str(raw_bytes)[:60]}")
        return b
    if not isinstance(tok, str):
        raise _err(where, field, f"expected a string, got {type(tok).__name__}")
    if tok.startswith("token_id:"):
        raise _err(where, field, "a token id of the responding model has no known bytes; re-tokenisation needs "
                   "token strings or bytes", "unknown_token")
    b = parse_token_bytes(tok)
    if b is not None:
        return b
    if "\ufffd" in tok:
        raise _err(where, field, f"token {tok!r} holds U+FFFD, a lossy rendering of a partial UTF-8 sequence; "
                   "its bytes are unknown (request the bytes)", "unknown_token")
    return tok.encode("utf-8", "surrogatepass")


def _token_id(tok: object, raw_bytes: object, ctx: _Ctx, where: str, field: str) -> int:
    if ctx.retokenize:
        return _source_bytes(tok, raw_bytes, where, field)  # type: ignore[return-value]
    if isinstance(tok, str) and tok.startswith("token_id:") and ctx.vocab is None:
        try:
            i = int(tok[9:])
        except ValueError:
            raise _err(where, field, f"malformed token id string {tok!r}") from None
        if i < 0:
            raise _err(where, field, f"negative token id in {tok!r}", "bad_value")
        return i
    i, why = _need_vocab(ctx).resolve(tok, raw_bytes)
    if i is None:
        raise _err(where, field, why, "unknown_token")
    return i


def _records_of(obj: object, ctx: _Ctx, where: str, line_no: int) -> list[_Rec]:
    if not isinstance(obj, dict):
        raise _err(where, "<record>", f"expected a JSON object, got {type(obj).__name__}")
    if "custom_id" in obj and "response" in obj:  # OpenAI Batch API output line
        rid = obj.get("custom_id")
        if obj.get("error"):
            raise _err(where, "error", f"the request failed: {json.dumps(obj['error'])[:200]}", "api_error")
        resp = _get(obj, "response", where, "", types=(dict,))
        status = resp.get("status_code", 200)
        if status != 200:
            raise _err(where, "response.status_code", f"the request failed with status {status}", "api_error")
        body = _get(resp, "body", where, "response", types=(dict,))
        return _response_records(body, ctx, where, line_no, str(rid), "response.body.")
    if "choices" in obj:
        rid = obj.get("id")
        return _response_records(obj, ctx, where, line_no, None if rid is None else str(rid), "")
    if "token_ids" in obj:
        return [_canonical_record(obj, ctx, where, line_no)]
    raise _err(where, "<record>", "unrecognised record: expected an API response (with 'choices'), a Batch API "
               "line (with 'custom_id' and 'response') or a record with 'token_ids'")


def _response_records(resp: dict, ctx: _Ctx, where: str, line_no: int, rid: str | None, pre: str) -> list[_Rec]:
    choices = _get(resp, "choices", where, pre.rstrip("."), types=(list,))
    if not choices:
        raise _err(where, f"{pre}choices", "empty list (no choice to read)", "missing_field")
    base = rid if rid is not None else f"{ctx.stem}:{line_no}"
    out = []
    for c, ch in enumerate(choices):
        path = f"{pre}choices[{c}]"
        if not isinstance(ch, dict):
            raise _err(where, path, f"expected an object, got {type(ch).__name__}")
        idx = ch.get("index", c)
        rec_id = base if len(choices) == 1 else f"{base}#{idx}"
        out.append(_choice_record(ch, resp, ctx, where, line_no, rec_id, path))
    return out


def _choice_record(ch: dict, resp: dict, ctx: _Ctx, where: str, line_no: int, rec_id: str, path: str) -> _Rec:
    lp = ch.get("logprobs")
    if lp is None:
        raise _err(where, f"{path}.logprobs", "missing: the response has no log-probs (request logprobs=true)", "no_logprobs")
    if not isinstance(lp, dict):
        raise _err(where, f"{path}.logprobs", f"expected an object, got {type(lp).__name__}")
    given_ids = ch.get("token_ids")
    if "content" in lp or "refusal" in lp:
        tokens, lps, top = _chat_logprobs(lp, ctx, where, f"{path}.logprobs", given_ids)
        msg = ch.get("message")
        text = msg.get("content") if isinstance(msg, dict) else None
    elif "tokens" in lp:
        tokens, lps, top = _legacy_logprobs(lp, ctx, where, f"{path}.logprobs", given_ids)
        text = ch.get("text")
    else:
        raise _err(where, f"{path}.logprobs", "expected 'content' (Chat Completions) or 'tokens' (Completions)")
    if text is not None and not isinstance(text, str):
        raise _err(where, f"{path}.text", f"expected a string, got {type(text).__name__}")
    if ctx.retokenize:
        tokens, lps, top = retokenize_record(tokens, lps, top, ctx.vocab, ctx.stats, where, f"{path}.logprobs")
    if ctx.retokenize:  # prompt ids and prompt log-probs are in the responding model's ids
        if ch.get("prompt_token_ids", resp.get("prompt_token_ids")) is not None:
            ctx.stats.notes["prompt_ids_dropped_by_retokenize"] += 1
        return _Rec(rec_id, tokens, lps, top, text, None, None, line_no)
    prompt_ids = ch.get("prompt_token_ids", resp.get("prompt_token_ids"))
    pfield = f"{path}.prompt_token_ids" if "prompt_token_ids" in ch else "prompt_token_ids"
    prompt = None
    if prompt_ids is not None:
        prompt = _int_list(prompt_ids, where, pfield)
    plp = ch.get("prompt_logprobs", resp.get("prompt_logprobs"))
    if plp is not None:
        if not ctx.include_prompt:
            ctx.stats.notes["prompt_logprobs_ignored"] += 1
        else:
            if prompt is None:
                raise _err(where, f"{path}.prompt_token_ids", "needed to read prompt_logprobs (which entry is the "
                           "prompt token): request return_token_ids / use a vLLM that reports prompt_token_ids", "missing_field")
            p_lps, p_top = _vllm_prompt_logprobs(plp, prompt, ctx, where, f"{path}.prompt_logprobs")
            tokens, lps, top, text = prompt + tokens, p_lps + lps, p_top + top, None
    return _Rec(rec_id, tokens, lps, top, text, prompt, None, line_no)


def retokenize_record(src_bytes: list[bytes], lps: list[float], top: list[list[tuple]], vocab: Vocabulary,
                      stats: ReadStats, where: str = "", field: str = "logprobs"):
    """Move one response's log-probs from the responding model's tokens onto ``vocab``'s tokens.

    ``src_bytes``: the exact bytes of each response token; their concatenation (valid UTF-8) is
    tokenised by ``vocab.tokenizer`` and the two tokenisations are aligned by
    :func:`~fingerprint.sources.vocab.align_by_bytes`. For each group of tokens:

    - one token on each side with the same bytes (**exact**): the log-prob is copied; so are the
      alternatives whose bytes are a token of ``vocab`` (the others are dropped and counted in
      ``stats.notes["alternatives_without_counterpart"]``); an approximation only in that an
      alternative's probability is the responding model's, for *its* token with those bytes;
    - otherwise (**approximate**): the last ``vocab`` token of the group gets the sum of the
      group's log-probs (the log-probability of the responding model's tokenisation of that byte
      span, a lower bound of the span's probability); the group's other tokens get NaN (not
      reported, left out of scores) and no alternatives. Counted in
      ``stats.notes["retokenized_grouped_tokens"]``.

    Returns ``(ids, logprobs, top)`` in ``vocab``'s ids.
    """
    data = b"".join(src_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _err(where, field, f"the tokens' bytes are not valid UTF-8 at byte {exc.start}; cannot re-tokenise", "retokenize") from None
    ids = vocab.encode(text)
    try:
        al = align_by_bytes(src_bytes, vocab.bytes_of(ids))
    except ValueError as exc:
        raise _err(where, field, f"re-tokenisation does not reproduce the bytes ({exc})", "retokenize") from None
    n_groups = al.num_groups
    lp = np.asarray(lps, dtype=np.float64)
    sums = al.group_sums(lp, "a") if n_groups else np.zeros(0)
    last_b = np.full(n_groups, -1, dtype=np.int64)
    last_b[al.groups_b] = np.arange(len(ids))  # the last token of each group wins
    first_a = np.full(n_groups, -1, dtype=np.int64)
    first_a[al.groups_a[::-1]] = np.arange(len(src_bytes))[::-1]
    out_lp = [math.nan] * len(ids)
    out_top: list[list[tuple]] = [[] for _ in ids]
    for g in range(n_groups):
        j = int(last_b[g])
        out_lp[j] = float(sums[g])
        if al.exact[g]:
            stats.notes["retokenized_exact_tokens"] += 1
            row = []
            for alt_bytes, v, gf in top[int(first_a[g])]:
                tid = vocab.id_of_bytes(alt_bytes)
                if tid is None:
                    stats.notes["alternatives_without_counterpart"] += 1
                else:
                    row.append((tid, v, gf))
            out_top[j] = row
        else:
            stats.notes["retokenized_grouped_tokens"] += int((al.groups_b == g).sum())
    return ids, out_lp, out_top


def _int_list(x: object, where: str, field: str) -> list[int]:
    if not isinstance(x, list):
        raise _err(where, field, f"expected a list of token ids, got {type(x).__name__}")
    for j, v in enumerate(x):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _err(where, f"{field}[{j}]", f"expected an integer token id, got {type(v).__name__}")
        if v < 0:
            raise _err(where, f"{field}[{j}]", f"token ids are >= 0, got {v}", "bad_value")
    return list(x)


def _check_given_ids(given: object, n: int, where: str, field: str) -> list[int] | None:
    if given is None:
        return None
    ids = _int_list(given, where, field)
    if len(ids) != n:
        raise _err(where, field, f"{len(ids)} token ids for {n} log-prob entries")
    return ids


def _chat_logprobs(lp: dict, ctx: _Ctx, where: str, path: str, given_ids: object):
    content = lp.get("content")
    if content is None:
        content = []
        ctx.stats.notes["null_content_logprobs"] += 1
    if not isinstance(content, list):
        raise _err(where, f"{path}.content", f"expected a list, got {type(content).__name__}")
    ids_given = _check_given_ids(given_ids, len(content), where, path.rsplit(".", 1)[0] + ".token_ids")
    tokens, lps, top = [], [], []
    for j, e in enumerate(content):
        f = f"{path}.content[{j}]"
        if not isinstance(e, dict):
            raise _err(where, f, f"expected an object, got {type(e).__name__}")
        tok = e.get("token")
        if ids_given is not None and not ctx.retokenize:
            tid = ids_given[j]
        else:
            if not isinstance(tok, str):
                raise _err(where, f"{f}.token", "missing" if tok is None else f"expected a string, got {type(tok).__name__}", "missing_field" if tok is None else "malformed")
            tid = _token_id(tok, e.get("bytes"), ctx, where, f"{f}.bytes" if e.get("bytes") is not None else f"{f}.token")
        tokens.append(tid)
        lps.append(_logprob(e.get("logprob"), where, f"{f}.logprob", ctx, nullable=False))
        alts = e.get("top_logprobs")
        row = []
        if alts is not None:
            if not isinstance(alts, list):
                raise _err(where, f"{f}.top_logprobs", f"expected a list, got {type(alts).__name__}")
            for a, alt in enumerate(alts):
                g = f"{f}.top_logprobs[{a}]"
                if not isinstance(alt, dict):
                    raise _err(where, g, f"expected an object, got {type(alt).__name__}")
                at = alt.get("token")
                if not isinstance(at, str):
                    raise _err(where, f"{g}.token", "missing" if at is None else "expected a string", "missing_field")
                aid = _token_id(at, alt.get("bytes"), ctx, where, f"{g}.bytes" if alt.get("bytes") is not None else f"{g}.token")
                row.append((aid, _logprob(alt.get("logprob"), where, f"{g}.logprob", ctx, nullable=False), g))
        top.append(row)
    return tokens, lps, top


def _legacy_logprobs(lp: dict, ctx: _Ctx, where: str, path: str, given_ids: object):
    toks = _get(lp, "tokens", where, path, types=(list,))
    tlp = _get(lp, "token_logprobs", where, path, types=(list,))
    if len(tlp) != len(toks):
        raise _err(where, f"{path}.token_logprobs", f"{len(tlp)} entries for {len(toks)} tokens")
    tops = lp.get("top_logprobs")
    if tops is not None and (not isinstance(tops, list) or len(tops) != len(toks)):
        n = len(tops) if isinstance(tops, list) else type(tops).__name__
        raise _err(where, f"{path}.top_logprobs", f"expected a list of {len(toks)} entries (one per token), got {n}")
    ids_given = _check_given_ids(given_ids, len(toks), where, path.rsplit(".", 1)[0] + ".token_ids")
    tokens, lps, top = [], [], []
    for j, tok in enumerate(toks):
        f = f"{path}.tokens[{j}]"
        if ids_given is not None and not ctx.retokenize:
            tokens.append(ids_given[j])
        else:
            if not isinstance(tok, str):
                raise _err(where, f, f"expected a string, got {type(tok).__name__}")
            tokens.append(_token_id(tok, None, ctx, where, f))
        lps.append(_logprob(tlp[j], where, f"{path}.token_logprobs[{j}]", ctx, nullable=True))
        row = []
        d = None if tops is None else tops[j]
        if d is not None:
            g = f"{path}.top_logprobs[{j}]"
            if not isinstance(d, dict):
                raise _err(where, g, f"expected an object {{token: logprob}}, got {type(d).__name__}")
            for at, av in d.items():
                aid = _token_id(at, None, ctx, where, f"{g}[{at!r}]")
                row.append((aid, _logprob(av, where, f"{g}[{at!r}]", ctx, nullable=False), f"{g}[{at!r}]"))
        top.append(row)
    return tokens, lps, top


def _vllm_prompt_logprobs(plp: object, prompt: list[int], ctx: _Ctx, where: str, path: str):
    if not isinstance(plp, list) or len(plp) != len(prompt):
        n = len(plp) if isinstance(plp, list) else type(plp).__name__
        raise _err(where, path, f"expected a list of {len(prompt)} entries (one per prompt token), got {n}")
    lps, top = [], []
    for j, d in enumerate(plp):
        f = f"{path}[{j}]"
        if d is None:
            lps.append(math.nan)
            top.append([])
            continue
        if not isinstance(d, dict):
            raise _err(where, f, f"expected an object {{token_id: {{logprob, rank}}}}, got {type(d).__name__}")
        entries = []
        own = None
        for key, val in d.items():
            g = f"{f}[{key!r}]"
            try:
                tid = int(key)
            except (TypeError, ValueError):
                raise _err(where, g, f"expected an integer token id as key, got {key!r}") from None
            if tid < 0:
                raise _err(where, g, f"token ids are >= 0, got {tid}", "bad_value")
            lv = val.get("logprob") if isinstance(val, dict) else val
            v = _logprob(lv, where, f"{g}.logprob", ctx, nullable=False)
            rank = val.get("rank") if isinstance(val, dict) else None
            entries.append((math.inf if rank is None else rank, tid, v, g))
            if tid == prompt[j]:
                own = v
        if own is None:
            raise _err(where, f, f"the prompt token {prompt[j]} is not among the entries", "missing_field")
        entries.sort(key=lambda e: (e[0], e[1]))
        lps.append(own)
        top.append([(tid, v, g) for _, tid, v, g in entries])
    return lps, top


def _canonical_record(obj: dict, ctx: _Ctx, where: str, line_no: int) -> _Rec:
    rid = obj.get("id")
    if rid is None:
        rid = f"{ctx.stem}:{line_no}"
        ctx.stats.notes["generated_ids"] += 1
    elif not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise _err(where, "id", f"expected a string, got {type(rid).__name__}")
    tokens = _int_list(obj["token_ids"], where, "token_ids")
    n = len(tokens)
    lps = obj.get("logprobs")
    if lps is not None:
        if not isinstance(lps, list) or len(lps) != n:
            raise _err(where, "logprobs", f"expected a list of {n} numbers (one per token), got "
                       f"{len(lps) if isinstance(lps, list) else type(lps).__name__}")
        lps = [_logprob(x, where, f"logprobs[{j}]", ctx, nullable=True) for j, x in enumerate(lps)]
    ti, tl = obj.get("top_ids"), obj.get("top_logprobs")
    top = None
    if (ti is None) != (tl is None):
        raise _err(where, "top_ids" if ti is None else "top_logprobs", "missing (top_ids and top_logprobs go together)", "missing_field")
    if ti is not None:
        for name, x in (("top_ids", ti), ("top_logprobs", tl)):
            if not isinstance(x, list) or len(x) != n:
                raise _err(where, name, f"expected a list of {n} lists (one per token), got "
                           f"{len(x) if isinstance(x, list) else type(x).__name__}")
        top = []
        for j, (ri, rl) in enumerate(zip(ti, tl)):
            ri = [] if ri is None else ri
            rl = [] if rl is None else rl
            if not isinstance(ri, list) or not isinstance(rl, list) or len(ri) != len(rl):
                raise _err(where, f"top_ids[{j}]", "top_ids and top_logprobs rows differ in length")
            ids_row = _int_list(ri, where, f"top_ids[{j}]")
            top.append([(a, _logprob(b, where, f"top_logprobs[{j}][{c}]", ctx, nullable=False), f"top_ids[{j}][{c}]")
                        for c, (a, b) in enumerate(zip(ids_row, rl))])
    text = obj.get("text")
    if text is not None and not isinstance(text, str):
        raise _err(where, "text", f"expected a string, got {type(text).__name__}")
    prompt = None if obj.get("prompt_ids") is None else _int_list(obj["prompt_ids"], where, "prompt_ids")
    label = obj.get("label")
    if label is not None and (isinstance(label, bool) or not isinstance(label, int)):
        raise _err(where, "label", f"expected an integer, got {type(label).__name__}")
    return _Rec(str(rid), tokens, lps, top, text, prompt, label, line_no)


def _check_rec(r: _Rec, ctx: _Ctx, k: int | None) -> None:
    """Checks that need the whole record: id range, unique alternatives, top-k width."""
    where = f"{ctx.path}:{r.line}"
    size = None if ctx.vocab is None else ctx.vocab.size
    if size is not None:
        for j, t in enumerate(r.tokens):
            if t >= size:
                raise _err(where, f"token_ids[{j}]", f"id {t} >= the vocabulary size {size}", "bad_value")
    if r.top is None:
        return
    for j, row in enumerate(r.top):
        seen = set()
        for tid, _, g in row:
            if tid in seen:
                raise _err(where, g, f"id {tid} appears twice among the alternatives of position {j}", "bad_value")
            if size is not None and tid >= size:
                raise _err(where, g, f"id {tid} >= the vocabulary size {size}", "bad_value")
            seen.add(tid)
        if k is not None and len(row) > k:
            raise _err(where, g, f"{len(row)} alternatives at position {j}, more than top_k={k}", "bad_value")


def _batch_of(recs: list[_Rec], ctx: _Ctx, where: str) -> TokenBatch:
    good = []
    for r in recs:
        try:
            _check_rec(r, ctx, ctx.top_k)
        except RecordError as err:
            ctx.bad(err)
            continue
        good.append(r)
    recs = good
    ctx.stats.records += len(recs)
    lengths = [len(r.tokens) for r in recs]
    offsets = _ragged_offsets(lengths)
    n = int(offsets[-1])
    tokens = np.fromiter((t for r in recs for t in r.tokens), dtype=np.int64, count=n)
    have_lp = all(r.logprobs is not None for r in recs) and recs
    logprobs = np.fromiter((x for r in recs for x in r.logprobs), dtype=np.float64, count=n) if have_lp else None
    top_ids = top_lps = None
    if recs and all(r.top is not None for r in recs):
        k = ctx.top_k if ctx.top_k is not None else max([len(row) for r in recs for row in r.top] + [0])
        top_ids = np.full((n, k), -1, dtype=np.int64)
        top_lps = np.full((n, k), -np.inf, dtype=np.float64)
        p = 0
        for r in recs:
            for row in r.top:
                for c, (tid, v, _) in enumerate(row):
                    top_ids[p, c] = tid
                    top_lps[p, c] = v
                p += 1
    texts = [r.text for r in recs] if recs and any(r.text is not None for r in recs) else None
    prompt_tokens = prompt_offsets = None
    if recs and all(r.prompt is not None for r in recs):
        prompt_offsets = _ragged_offsets([len(r.prompt) for r in recs])
        prompt_tokens = np.fromiter((t for r in recs for t in r.prompt), dtype=np.int64, count=int(prompt_offsets[-1]))
    labels = None
    if recs and all(r.label is not None for r in recs):
        labels = np.array([r.label for r in recs], dtype=np.int64)
    elif any(r.label is not None for r in recs):  # labels are all-or-nothing per batch
        ctx.stats.notes["batches_without_labels"] += 1
    lines = np.array([r.line for r in recs], dtype=np.int64)
    return TokenBatch(ids=[r.id for r in recs], tokens=tokens, offsets=offsets, logprobs=logprobs, top_ids=top_ids,
                      top_logprobs=top_lps, texts=texts, prompt_tokens=prompt_tokens, prompt_offsets=prompt_offsets,
                      labels=labels, source=ctx.path, first_line=int(lines[0]) if recs else 0, lines=lines)


# ---------------------------------------------------------------------------------------------
# Arrow (Parquet, IPC)


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
    flag(np.flatnonzero(~valid), lambda r: "token_ids", lambda r: "null", "missing_field")
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
            pos = np.flatnonzero(li_i != li_l)
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
        stats.records += len(out) - 0
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
    return TokenBatch(ids=ids, tokens=tokens, offsets=toffs, logprobs=logprobs, top_ids=top_ids, top_logprobs=top_lps,
                      texts=texts, prompt_tokens=prompt_tokens, prompt_offsets=prompt_offsets, labels=labels,
                      source=source, first_line=first_row)


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
