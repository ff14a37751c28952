"""JSON and JSONL records: OpenAI Chat Completions, legacy Completions, vLLM, Batch API lines,
canonical and plain-text records (see :mod:`fingerprint.sources.readers` for the formats)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np

from ._context import LOGPROB_TOL, PLACEHOLDER, _Ctx, _err, _open_text
from .records import ReadStats, RecordError, TokenBatch, _ragged_offsets
from .vocab import Vocabulary, _byte_list, align_by_bytes, parse_token_bytes


class _Rec:
    """One parsed record (Python lists), turned into arrays when a batch is full."""

    __slots__ = ("id", "tokens", "logprobs", "top", "text", "prompt", "label", "line")

    def __init__(self, id, tokens, logprobs, top, text, prompt, label, line):
        self.id, self.tokens, self.logprobs, self.top = id, tokens, logprobs, top
        self.text, self.prompt, self.label, self.line = text, prompt, label, line


def _iter_json(ctx: _Ctx, batch_rows: int, *, whole: bool) -> Iterator[TokenBatch]:
    ctx.whole_document = whole
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
    if "token_ids" in obj or ("text" in obj and ctx.vocab is not None and ctx.vocab.tokenizer is not None):
        return [_canonical_record(obj, ctx, where, line_no)]
    raise _err(where, "<record>", "unrecognised record: expected an API response (with 'choices'), a Batch API "
               "line (with 'custom_id' and 'response'), a record with 'token_ids', or one with 'text' and a "
               "tokenizer (vocab=) to tokenise it")


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
    # fast path (same result): bytes given, a float log-prob in range, bytes found in the vocabulary
    by_bytes = ctx.vocab._by_bytes if ctx.vocab is not None and not ctx.retokenize and ids_given is None else None
    lo, hi = PLACEHOLDER, LOGPROB_TOL
    for j, e in enumerate(content):
        f = f"{path}.content[{j}]"
        if not isinstance(e, dict):
            raise _err(where, f, f"expected an object, got {type(e).__name__}")
        tok = e.get("token")
        eb = e.get("bytes")
        tid = by_bytes.get(_as_bytes(eb)) if by_bytes is not None and type(eb) is list else None
        if tid is not None:
            pass
        elif ids_given is not None and not ctx.retokenize:
            tid = ids_given[j]
        else:
            if not isinstance(tok, str):
                raise _err(where, f"{f}.token", "missing" if tok is None else f"expected a string, got {type(tok).__name__}", "missing_field" if tok is None else "malformed")
            tid = _token_id(tok, e.get("bytes"), ctx, where, f"{f}.bytes" if e.get("bytes") is not None else f"{f}.token")
        tokens.append(tid)
        ev = e.get("logprob")
        lps.append(ev if type(ev) is float and lo < ev <= hi else _logprob(ev, where, f"{f}.logprob", ctx, nullable=False))
        alts = e.get("top_logprobs")
        row = []
        if alts is not None:
            if not isinstance(alts, list):
                raise _err(where, f"{f}.top_logprobs", f"expected a list, got {type(alts).__name__}")
            for a, alt in enumerate(alts):
                if by_bytes is not None and type(alt) is dict:
                    ab, av = alt.get("bytes"), alt.get("logprob")
                    if type(ab) is list and type(av) is float and lo < av <= hi:
                        aid = by_bytes.get(_as_bytes(ab))
                        if aid is not None:
                            row.append((aid, av, (f, a)))  # field name built only for a message
                            continue
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


def _as_bytes(raw: list) -> bytes | None:
    try:
        return bytes(raw)
    except (TypeError, ValueError):
        return None


def _field(g) -> str:
    """The field name of an alternative: a string, or (entry field, index) built lazily."""
    return g if isinstance(g, str) else f"{g[0]}.top_logprobs[{g[1]}]"


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
    if "token_ids" in obj:
        tokens = _int_list(obj["token_ids"], where, "token_ids")
    else:  # plain text, tokenised by the given tokenizer (no special tokens added)
        text = obj.get("text")
        if not isinstance(text, str):
            raise _err(where, "text", "missing" if text is None else f"expected a string, got {type(text).__name__}",
                       "missing_field" if text is None else "malformed")
        for f in ("logprobs", "top_ids", "top_logprobs"):
            if obj.get(f) is not None:
                raise _err(where, f, "given without token_ids: per-token values need the tokens they belong to", "missing_field")
        tokens = ctx.vocab.encode(text)
        ctx.stats.notes["tokenized_texts"] += 1
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
    where = f"{ctx.path}:[{r.line}]" if ctx.whole_document else f"{ctx.path}:{r.line}"
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
                raise _err(where, _field(g), f"id {tid} appears twice among the alternatives of position {j}", "bad_value")
            if size is not None and tid >= size:
                raise _err(where, _field(g), f"id {tid} >= the vocabulary size {size}", "bad_value")
            seen.add(tid)
        if k is not None and len(row) > k:
            raise _err(where, _field(g), f"{len(row)} alternatives at position {j}, more than top_k={k}", "bad_value")


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
