"""Readers and writers on hand-made files: every documented quirk, errors by file/line/field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pytest.importorskip("tokenizers")

from fingerprint.sources.readers import iter_batches, read_all  # noqa: E402
from fingerprint.sources.records import ReadStats, RecordError, TokenBatch  # noqa: E402
from fingerprint.sources.vocab import Vocabulary, align_by_bytes, parse_token_bytes  # noqa: E402
from fingerprint.sources.writers import TableWriter, write_table  # noqa: E402

from fingerprint.sources.vocab import _bytes_to_unicode  # noqa: E402


# ---- a real byte-level BPE tokenizer (tokenizers), ids 0..255 the bytes ----------------------

def _tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    b2u = _bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    words = ["Hello", "\u0120world", "\u0120there", "\u0120caf", "\u00c3\u00a9"]  # "é" = C3 A9
    for w in words:
        vocab[w] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


TOK = _tokenizer()
VOCAB = Vocabulary.from_tokenizer(TOK)
HELLO, WORLD, THERE, CAF, E_ACUTE = 256, 257, 258, 259, 260


def _chat_entry(token, logprob, b=None, alts=()):
    e = {"token": token, "logprob": logprob, "bytes": None if b is None else list(b),
         "top_logprobs": [{"token": t, "logprob": lp, "bytes": None if bb is None else list(bb)} for t, lp, bb in alts]}
    return e


def _chat(rid, entries, text="x", n=1):
    return {"id": rid, "object": "chat.completion", "choices": [
        {"index": i, "message": {"role": "assistant", "content": text}, "logprobs": {"content": entries}}
        for i in range(n)]}


def _write_lines(path, objs):
    with open(path, "w", encoding="utf-8") as f:
        for o in objs:
            f.write((o if isinstance(o, str) else json.dumps(o)) + "\n")
    return str(path)


def test_vocabulary_from_tokenizer_exact_bytes():
    assert VOCAB.id_of_bytes(b"Hello") == HELLO
    assert VOCAB.id_of_bytes(b" world") == WORLD
    assert VOCAB.id_of_bytes("é".encode()) == E_ACUTE
    assert VOCAB.id_of_bytes(b"\xc3") == 0xC3
    assert VOCAB.id_of_bytes(b"<|endoftext|>") == TOK.token_to_id("<|endoftext|>")
    assert VOCAB.size == TOK.get_vocab_size()
    # every id's bytes are what the tokenizer decodes (byte-level, whole tokens)
    for i in (HELLO, WORLD, CAF, E_ACUTE, ord("a")):
        assert VOCAB.token_bytes[i] == TOK.decode([i]).encode()


def test_chat_placeholder_fewer_alternatives_and_bytes(tmp_path):
    entries = [
        _chat_entry("Hello", -0.25, b"Hello", [("Hello", -0.25, b"Hello"), (" there", -9999.0, b" there"), (" world", -3.0, b" world")]),
        _chat_entry(" caf", -1.5, b" caf", [(" caf", -1.5, b" caf")]),  # fewer alternatives than asked
        # "é" split across two tokens: the strings are lossy, the bytes exact
        _chat_entry("\ufffd", -0.5, b"\xc3", [("\ufffd", -0.5, b"\xc3"), ("bytes:\\xc3\\xa9", -1.0, None)]),
        _chat_entry("\ufffd", -9999.0, b"\xa9"),
    ]
    p = _write_lines(tmp_path / "chat.jsonl", [_chat("r1", entries, "Hello café")])
    st = ReadStats()
    (b,) = list(iter_batches(p, vocab=TOK, stats=st))
    assert b.ids == ["r1"] and b.texts == ["Hello café"]
    np.testing.assert_array_equal(b.tokens, [HELLO, CAF, 0xC3, 0xA9])
    np.testing.assert_array_equal(b.offsets, [0, 4])
    np.testing.assert_array_equal(b.logprobs, [-0.25, -1.5, -0.5, -np.inf])
    np.testing.assert_array_equal(b.top_ids, [[HELLO, THERE, WORLD], [CAF, -1, -1], [0xC3, E_ACUTE, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(b.top_logprobs, [[-0.25, -np.inf, -3.0], [-1.5, -np.inf, -np.inf],
                                                   [-0.5, -1.0, -np.inf], [-np.inf] * 3])
    assert st.notes["placeholder_logprobs"] == 2 and st.records == 1 and st.num_skipped == 0
    assert b"".join(VOCAB.bytes_of(b.tokens)).decode() == "Hello café"


def test_top_k_width_and_too_many(tmp_path):
    entries = [_chat_entry("Hello", -0.1, b"Hello", [("Hello", -0.1, b"Hello"), (" world", -2.5, b" world")])]
    p = _write_lines(tmp_path / "c.jsonl", [_chat("a", entries)])
    (b,) = iter_batches(p, vocab=VOCAB, top_k=4)
    assert b.top_ids.shape == (1, 4) and b.top_ids[0, 2] == -1 and b.top_logprobs[0, 3] == -np.inf
    with pytest.raises(RecordError, match=r"c\.jsonl:1: choices\[0\]\.logprobs\.content\[0\]\.top_logprobs\[1\]: "
                                          r"2 alternatives at position 0, more than top_k=1"):
        list(iter_batches(p, vocab=VOCAB, top_k=1))


def test_legacy_echo_null_first_entry_and_bytes_strings(tmp_path):
    legacy = {"id": "cmpl-1", "object": "text_completion", "choices": [{"index": 0, "text": "Hello world", "logprobs": {
        "tokens": ["Hello", " world", "bytes:\\xc3", "bytes:\\xa9"],
        "token_logprobs": [None, -2.0, -0.75, -0.5],
        "top_logprobs": [None, {" world": -2.0, " there": -2.5}, {"bytes:\\xc3": -0.75}, {"bytes:\\xa9": -0.5}],
        "text_offset": [0, 5, 11, 11]}}]}
    p = _write_lines(tmp_path / "legacy.jsonl", [legacy])
    (b,) = iter_batches(p, vocab=VOCAB)
    np.testing.assert_array_equal(b.tokens, [HELLO, WORLD, 0xC3, 0xA9])
    assert math.isnan(b.logprobs[0]) and b.logprobs[1] == -2.0
    np.testing.assert_array_equal(b.top_ids[0], [-1, -1])
    np.testing.assert_array_equal(b.top_ids[1], [WORLD, THERE])
    assert parse_token_bytes("bytes:\\xe2\\x80abc") == b"\xe2\x80abc"
    assert parse_token_bytes("plain") is None


def test_lossy_token_string_is_refused_with_field(tmp_path):
    legacy = {"id": "x", "choices": [{"index": 0, "text": "", "logprobs": {
        "tokens": ["Hello", "\ufffd"], "token_logprobs": [-1.0, -1.0], "top_logprobs": None}}]}
    p = _write_lines(tmp_path / "lossy.jsonl", [legacy])
    with pytest.raises(RecordError, match=r"lossy\.jsonl:1: choices\[0\]\.logprobs\.tokens\[1\]: .*U\+FFFD"):
        list(iter_batches(p, vocab=VOCAB))
    st = ReadStats()
    assert list(iter_batches(p, vocab=VOCAB, on_error="skip", stats=st)) == []
    assert st.skipped == {"unknown_token": 1}


def test_vllm_token_ids_strings_and_prompt_logprobs(tmp_path):
    resp = {"id": "cmpl-v", "choices": [{
        "index": 0, "text": " world", "prompt_token_ids": [HELLO, THERE],
        "prompt_logprobs": [None, {str(THERE): {"logprob": -4.0, "rank": 3, "decoded_token": " there"},
                                   str(WORLD): {"logprob": -1.0, "rank": 1, "decoded_token": " world"}}],
        "logprobs": {"tokens": [f"token_id:{WORLD}", "token_id:33"], "token_logprobs": [-0.5, -0.25],
                     "top_logprobs": [{f"token_id:{WORLD}": -0.5}, {"token_id:33": -0.25, f"token_id:{THERE}": -3.0}]}}]}
    p = _write_lines(tmp_path / "vllm.jsonl", [resp])
    st = ReadStats()
    (b,) = iter_batches(p, stats=st)  # token_id: strings need no vocabulary
    np.testing.assert_array_equal(b.tokens, [WORLD, 33])
    np.testing.assert_array_equal(b.prompt_tokens, [HELLO, THERE])
    assert st.notes["prompt_logprobs_ignored"] == 1
    (b,) = iter_batches(p, include_prompt=True, vocab=VOCAB)
    np.testing.assert_array_equal(b.tokens, [HELLO, THERE, WORLD, 33])
    assert math.isnan(b.logprobs[0]) and b.logprobs[1] == -4.0
    np.testing.assert_array_equal(b.top_ids[1], [WORLD, THERE])  # rank order
    np.testing.assert_array_equal(b.top_logprobs[3], [-0.25, -3.0])


def test_vllm_chat_token_ids_field(tmp_path):
    entries = [_chat_entry("Hel", -0.5), _chat_entry("lo", -0.25)]
    resp = _chat("v2", entries)
    resp["choices"][0]["token_ids"] = [HELLO, 5]
    p = _write_lines(tmp_path / "v2.jsonl", [resp])
    (b,) = iter_batches(p)
    np.testing.assert_array_equal(b.tokens, [HELLO, 5])


def test_batch_api_lines_and_failed_request(tmp_path):
    ok = {"id": "batch_req_1", "custom_id": "request-7", "response": {"status_code": 200, "body": _chat(
        "chatcmpl-1", [_chat_entry("Hello", -0.1, b"Hello")])}, "error": None}
    failed = {"id": "batch_req_2", "custom_id": "request-8", "response": {"status_code": 429, "body": {}}, "error": None}
    multi = _chat("m", [_chat_entry("!", -0.1, b"!")], n=2)
    p = _write_lines(tmp_path / "batch.jsonl", [ok, failed, multi])
    st = ReadStats()
    (b,) = iter_batches(p, vocab=VOCAB, on_error="skip", stats=st)
    assert b.ids == ["request-7", "m#0", "m#1"]
    assert st.skipped == {"api_error": 1}
    assert "batch.jsonl:2: response.status_code: the request failed with status 429" in st.examples[0]


def test_malformed_lines_fail_and_skip_counts(tmp_path):
    good = _chat("g", [_chat_entry("Hello", -0.1, b"Hello")])
    bad_type = _chat("t", [_chat_entry("Hello", "-0.1", b"Hello")])
    positive = _chat("p", [_chat_entry("Hello", 0.5, b"Hello")])
    unknown = _chat("u", [_chat_entry("zzz", -1.0, b"\xff\xfe")])
    no_lp = {"id": "n", "choices": [{"index": 0, "message": {"content": "x"}, "logprobs": None}]}
    lines = [good, "{not json", bad_type, "", positive, unknown, no_lp, "[1, 2]", good]
    p = _write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(RecordError) as ei:
        list(iter_batches(p, vocab=VOCAB))
    assert str(ei.value).startswith(f"{p}:2: <line>: invalid JSON at column 2")
    st = ReadStats()
    out = read_all(p, vocab=VOCAB, on_error="skip", stats=st, batch_rows=1)
    assert out.ids == ["g", "g"]
    np.testing.assert_array_equal(out.lines, [1, 9])
    assert st.records == 2 and st.num_skipped == 6
    assert st.skipped == {"bad_json": 1, "malformed": 2, "bad_value": 1, "unknown_token": 1, "no_logprobs": 1}
    assert st.notes["blank_lines"] == 1
    msgs = "\n".join(st.examples)
    assert f"{p}:3: choices[0].logprobs.content[0].logprob: expected a number, got str" in msgs
    assert f"{p}:5: choices[0].logprobs.content[0].logprob: log-prob 0.5 > 0" in msgs
    assert f"{p}:6: choices[0].logprobs.content[0].bytes: no token of the vocabulary has the bytes" in msgs
    assert f"{p}:7: choices[0].logprobs: missing" in msgs
    assert f"{p}:8: <record>: expected a JSON object, got list" in msgs


def test_api_tokens_without_vocabulary_is_a_clear_error(tmp_path):
    p = _write_lines(tmp_path / "c.jsonl", [_chat("a", [_chat_entry("Hello", -0.1, b"Hello")])])
    with pytest.raises(ValueError, match="pass vocab="):
        list(iter_batches(p, on_error="skip"))


def _corpus(n=7, k=3, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 6, size=n)
    offs = np.concatenate([[0], np.cumsum(lengths)])
    N = int(offs[-1])
    tokens = rng.integers(0, 50, size=N)
    lp = -rng.exponential(size=N)
    lp[::5] = np.nan
    lp[1::7] = -np.inf
    top_ids = np.stack([rng.permutation(50)[:k] for _ in range(N)]) if N else np.zeros((0, k), np.int64)
    top_lp = np.sort(-rng.exponential(size=(N, k)), axis=1)[:, ::-1] - 1.0
    top_ids[::3, -1] = -1  # fewer alternatives
    top_lp[::3, -1] = -np.inf
    return TokenBatch(ids=[f"doc{i}" for i in range(n)], tokens=tokens, offsets=offs, logprobs=lp, top_ids=top_ids,
                      top_logprobs=top_lp, texts=[f"text {i} é" for i in range(n)],
                      prompt_tokens=np.arange(2 * n), prompt_offsets=np.arange(0, 2 * n + 1, 2),
                      labels=rng.integers(0, 2, size=n))


def _assert_same(a: TokenBatch, b: TokenBatch):
    assert a.ids == b.ids and a.texts == b.texts
    for f in ("tokens", "offsets", "logprobs", "top_ids", "top_logprobs", "prompt_tokens", "prompt_offsets", "labels"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), f
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=f)


@pytest.mark.parametrize("ext", ["parquet", "jsonl", "arrow"])
def test_round_trip_writer_reader(tmp_path, ext):
    b = _corpus()
    path = str(tmp_path / f"c.{ext}")
    if ext == "arrow":
        import pyarrow.ipc as ipc

        t = b.to_arrow()
        with ipc.new_file(path, t.schema) as w:
            w.write_table(t, max_chunksize=3)
    else:
        write_table(path, [b.take([0, 1, 2]), b.take([3, 4, 5, 6])])
    _assert_same(read_all(path), b)


@pytest.mark.parametrize("ext", ["parquet", "jsonl", "npz"])
@pytest.mark.parametrize("rows", [1, 2, 3, 100])
def test_streaming_in_chunks_equals_whole(tmp_path, ext, rows):
    b = _corpus(n=11, seed=3)
    path = str(tmp_path / f"c.{ext}")
    if ext == "npz":
        np.savez(path, tokens=b.tokens, offsets=b.offsets, ids=np.array(b.ids), logprobs=b.logprobs,
                 top_ids=b.top_ids, top_logprobs=b.top_logprobs, texts=np.array(b.texts), labels=b.labels,
                 prompt_tokens=b.prompt_tokens, prompt_offsets=b.prompt_offsets)
    else:
        with TableWriter(path) as w:
            for i in range(0, 11, 4):
                w.write(b.take(range(i, min(11, i + 4))))
    parts = list(iter_batches(path, batch_rows=rows))
    assert all(len(p) <= rows for p in parts)
    assert len(parts) == math.ceil(11 / rows)
    _assert_same(TokenBatch.concat(parts), b)


def test_parquet_malformed_rows_named_by_row_and_column(tmp_path):
    t = pa.table({"id": ["a", "b", "c", "d"],
                  "input_ids": [[1, 2], [3], None, [4, -5]],
                  "logprobs": [[-1.0, -2.0], [-1.0, -2.0], [-1.0], [-0.5, -0.5]]})
    import pyarrow.parquet as pq

    path = str(tmp_path / "m.parquet")
    pq.write_table(t, path)
    with pytest.raises(ValueError, match=r"has no column 'token_ids'.*map them"):
        list(iter_batches(path))
    cols = {"token_ids": "input_ids"}
    with pytest.raises(RecordError, match=r"m\.parquet:row 1: logprobs: 2 log-probs for 1 tokens"):
        list(iter_batches(path, columns=cols))
    st = ReadStats()
    (b,) = iter_batches(path, columns=cols, on_error="skip", stats=st)
    assert b.ids == ["a"] and st.records == 1
    assert st.skipped == {"malformed": 1, "missing_field": 1, "bad_value": 1}
    assert any("row 3: token_ids[1]: token ids are >= 0, got -5" in m for m in st.examples)
    np.testing.assert_array_equal(b.lines, [0])


def test_parquet_topk_checks(tmp_path):
    import pyarrow.parquet as pq

    t = pa.table({"id": ["a", "b"], "token_ids": [[1], [2]],
                  "top_ids": [[[1, 1]], [[2, 3]]], "top_logprobs": [[[-1.0, -2.0]], [[-1.0, -2.0]]]})
    path = str(tmp_path / "t.parquet")
    pq.write_table(t, path)
    with pytest.raises(RecordError, match=r"t\.parquet:row 0: top_ids\[0\]: an id appears twice"):
        list(iter_batches(path))
    (b,) = iter_batches(path, on_error="skip", vocab=VOCAB)
    assert b.ids == ["b"]


def test_vocabulary_bounds_ids(tmp_path):
    b = TokenBatch(ids=["x"], tokens=[VOCAB.size + 3], offsets=[0, 1])
    path = str(tmp_path / "v.parquet")
    write_table(path, b)
    with pytest.raises(RecordError, match=r"row 0: token_ids\[0\]: id \d+ >= the vocabulary size"):
        list(iter_batches(path, vocab=VOCAB))


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "out.parquet"
    write_table(str(path), _corpus(n=2))
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with TableWriter(str(path)) as w:
            w.write(_corpus(n=3))
            raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]
    with pytest.raises(ValueError, match="cannot tell the format"):
        TableWriter(str(tmp_path / "x.csv"))


def test_json_document_and_errors(tmp_path):
    p = tmp_path / "one.json"
    p.write_text(json.dumps([_chat("a", [_chat_entry("Hello", -0.1, b"Hello")]), {"token_ids": [1, 2], "id": "z"}]))
    b = read_all(str(p), vocab=VOCAB)
    assert b.ids == ["a", "z"]
    p.write_text(json.dumps([{"token_ids": [1]}, {"token_ids": [1, 2], "top_ids": [[3, 3], []], "top_logprobs": [[-1, -2], []]}]))
    with pytest.raises(RecordError, match=r"one\.json:\[1\]: top_ids\[0\]\[1\]: id 3 appears twice"):
        read_all(str(p))
    p.write_text("{")
    with pytest.raises(RecordError, match=r"one\.json: <document>: invalid JSON"):
        read_all(str(p))


def test_bad_arguments():
    with pytest.raises(ValueError, match="on_error: expected one of 'fail', 'skip'"):
        list(iter_batches(__file__, format="jsonl", on_error="ignore"))
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(iter_batches("/nonexistent.jsonl"))
    with pytest.raises(ValueError, match="cannot tell the format"):
        list(iter_batches(__file__))


def test_align_by_bytes_exact_and_grouped():
    a = [b"Hello", b" caf", b"\xc3", b"\xa9", b"!"]
    b = [b"Hel", b"lo", b" caf", "é".encode(), b"!"]
    al = align_by_bytes(a, b)
    np.testing.assert_array_equal(al.groups_a, [0, 1, 2, 2, 3])
    np.testing.assert_array_equal(al.groups_b, [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(al.exact, [False, True, False, True])
    np.testing.assert_array_equal(al.starts, [0, 5, 9, 11, 12])
    np.testing.assert_allclose(al.group_sums([-1, -2, -3, -4, -5], "a"), [-1, -2, -7, -5])
    with pytest.raises(ValueError, match="first difference at byte 1"):
        align_by_bytes([b"ab"], [b"ac"])


def test_vocabulary_from_mapping_encodings():
    sp = Vocabulary.from_mapping({"\u2581Paris": 0, "<0x0A>": 1, "is": 2}, encoding="sentencepiece")
    assert sp.id_of_bytes(b" Paris") == 0 and sp.id_of_bytes(b"\n") == 1
    bl = Vocabulary.from_mapping({"\u0120Paris": 0}, encoding="byte_level")
    assert bl.id_of_bytes(b" Paris") == 0
    assert Vocabulary.from_mapping({" Paris": 3}).resolve(" Paris") == (3, "")


def _merging_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    b2u = _bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = [("H", "e"), ("He", "l"), ("Hel", "l"), ("Hell", "o")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def test_retokenize_aligns_log_probs_by_bytes(tmp_path):
    tok = _merging_tokenizer()
    hello = tok.token_to_id("Hello")
    assert tok.encode("Hello!", add_special_tokens=False).ids == [hello, 33]
    # the responding model split "Hello" as "Hel" + "lo" and "é" as two byte tokens
    entries = [_chat_entry("Hel", -1.0, b"Hel"), _chat_entry("lo", -2.0, b"lo"),
               _chat_entry("!", -0.5, b"!", [("!", -0.5, b"!"), ("?", -1.5, b"?"), ("Hel", -3.0, b"Hel"), ("zz", -4.0, b"zz")]),
               _chat_entry("\ufffd", -0.25, b"\xc3"), _chat_entry("\ufffd", -0.125, b"\xa9")]
    p = _write_lines(tmp_path / "other.jsonl", [_chat("x", entries, "Hello!é")])
    with pytest.raises(RecordError, match="not in the vocabulary|no token of the vocabulary"):
        list(iter_batches(p, vocab=Vocabulary.from_mapping({"Hello": 0})))
    st = ReadStats()
    (b,) = iter_batches(p, vocab=tok, retokenize=True, stats=st)
    e_ids = tok.encode("é", add_special_tokens=False).ids
    np.testing.assert_array_equal(b.tokens, [hello, 33, *e_ids])
    assert b.logprobs[0] == -3.0  # "Hel" + "lo" grouped onto "Hello": the sum
    assert b.logprobs[1] == -0.5  # exact
    np.testing.assert_array_equal(b.top_ids[1, :3], [33, ord("?"), tok.token_to_id("Hel")])
    np.testing.assert_array_equal(b.logprobs[2:], [-0.25, -0.125])  # byte tokens on both sides: exact
    assert st.notes["alternatives_without_counterpart"] == 1  # "zz" is no token of this vocabulary
    assert st.notes["retokenized_exact_tokens"] >= 1 and st.notes["retokenized_grouped_tokens"] >= 1
    with pytest.raises(ValueError, match="retokenize: needs vocab= built from a tokenizer"):
        list(iter_batches(p, vocab={"a": 0}, retokenize=True))


def test_from_arrow_round_trip_and_errors():
    b = _corpus(n=5, seed=9)
    _assert_same(TokenBatch.from_arrow(b.to_arrow()), b)
    t = pa.table({"id": ["a", None, "c"], "tokens": [[1], [2], [3, 4]], "label": [1, None, 0]})
    with pytest.raises(RecordError, match=r"<arrow>:row 1: id: null"):
        TokenBatch.from_arrow(t, columns={"token_ids": "tokens"})
    st = ReadStats()
    out = TokenBatch.from_arrow(t, columns={"token_ids": "tokens"}, on_error="skip", stats=st, first_row=10)
    assert out.ids == ["a", "c"] and out.lines.tolist() == [10, 12] and st.skipped == {"missing_field": 1}
    assert out.labels.tolist() == [1, 0]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    pts = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(pts[:-1], pts[1:])]


@settings(max_examples=80, deadline=None)
@given(st.binary(min_size=0, max_size=40), st.lists(st.integers(0, 1000), max_size=12), st.lists(st.integers(0, 1000), max_size=12))
def test_align_by_bytes_property(data, cuts_a, cuts_b):
    a, b = _split(data, cuts_a), _split(data, cuts_b)
    al = align_by_bytes(a, b)
    assert al.groups_a.shape == (len(a),) and al.groups_b.shape == (len(b),)
    for g in range(al.num_groups):
        sa = b"".join(x for x, gg in zip(a, al.groups_a) if gg == g)
        sb = b"".join(x for x, gg in zip(b, al.groups_b) if gg == g)
        assert sa == sb == data[al.starts[g]:al.starts[g + 1]] and sa
        assert al.exact[g] == (int((al.groups_a == g).sum()) == 1 and int((al.groups_b == g).sum()) == 1)
    assert np.all(np.diff(al.groups_a) >= 0) and np.all(np.diff(al.groups_b) >= 0)
    # exact groups are exactly the tokens both sides share at the same offset
    shared = set(zip(np.cumsum([0] + [len(x) for x in a[:-1]]).tolist(), a)) & set(zip(np.cumsum([0] + [len(x) for x in b[:-1]]).tolist(), b))
    assert int(al.exact.sum()) == len(shared)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(0, 10_000))
def test_streaming_any_batch_size_property(rows, seed):
    import tempfile

    b = _corpus(n=9, seed=seed)
    with tempfile.TemporaryDirectory() as d:
        for ext in ("parquet", "jsonl"):
            path = f"{d}/c.{ext}"
            write_table(path, b)
            parts = list(iter_batches(path, batch_rows=rows))
            _assert_same(TokenBatch.concat(parts), b)


def test_empty_inputs(tmp_path):
    (tmp_path / "e.jsonl").write_text("")
    assert list(iter_batches(str(tmp_path / "e.jsonl"))) == []
    (tmp_path / "bad.jsonl").write_text("{x\n[1]\n")
    st_ = ReadStats()
    assert list(iter_batches(str(tmp_path / "bad.jsonl"), on_error="skip", stats=st_)) == []
    assert st_.num_skipped == 2
    empty = TokenBatch(ids=["a", "b"], tokens=np.zeros(0, np.int64), offsets=[0, 0, 0], logprobs=np.zeros(0))
    write_table(str(tmp_path / "z.parquet"), empty)
    _assert_same(read_all(str(tmp_path / "z.parquet")), empty)
    write_table(str(tmp_path / "none.parquet"), [])
    assert list(iter_batches(str(tmp_path / "none.parquet"))) == []  # nothing written: nothing read


def test_plain_texts_are_tokenised_with_the_tokenizer(tmp_path):
    tok = _merging_tokenizer()
    hello = tok.token_to_id("Hello")
    p = _write_lines(tmp_path / "t.jsonl", [{"id": "a", "text": "Hello!"}, {"id": "b", "text": None}, {"id": "c", "text": "Hello"}])
    with pytest.raises(RecordError, match=r"t\.jsonl:2: text: missing"):
        list(iter_batches(p, vocab=tok))
    with pytest.raises(RecordError, match="unrecognised record"):  # no tokenizer: a text alone is not a record
        list(iter_batches(p))
    st = ReadStats()
    (b,) = iter_batches(p, vocab=tok, on_error="skip", stats=st)
    assert b.ids == ["a", "c"] and b.tokens.tolist() == [hello, 33, hello] and b.texts == ["Hello!", "Hello"]
    assert st.notes["tokenized_texts"] == 2 and st.skipped == {"missing_field": 1}
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["Hello!", None, "Hello"]}), tmp_path / "t.parquet")
    with pytest.raises(RecordError, match=r"t\.parquet:row 1: text: null \(nothing to tokenise\)"):
        list(iter_batches(str(tmp_path / "t.parquet"), vocab=tok))
    st = ReadStats()
    (b,) = iter_batches(str(tmp_path / "t.parquet"), vocab=tok, on_error="skip", stats=st)
    assert b.ids == ["a", "c"] and b.tokens.tolist() == [hello, 33, hello] and b.lines.tolist() == [0, 2]
    assert st.notes["tokenized_texts"] == 2 and st.records == 2


def test_parquet_row_numbers_across_batches(tmp_path):
    import pyarrow.parquet as pq

    t = pa.table({"id": [f"r{i}" for i in range(7)], "token_ids": [[1], [2], [3], [4], [5], [-6], [7]]})
    path = str(tmp_path / "rows.parquet")
    pq.write_table(t, path, row_group_size=3)
    with pytest.raises(RecordError, match=r"rows\.parquet:row 5: token_ids\[0\]: token ids are >= 0, got -6"):
        list(iter_batches(path, batch_rows=2))
    parts = list(iter_batches(path, batch_rows=2, on_error="skip"))
    got = TokenBatch.concat(parts)
    assert got.ids == ["r0", "r1", "r2", "r3", "r4", "r6"] and got.lines.tolist() == [0, 1, 2, 3, 4, 6]


def test_chat_duplicate_alternative_named_by_field(tmp_path):
    entries = [_chat_entry("Hello", -0.1, b"Hello", [("Hello", -0.1, b"Hello"), ("Hello", -0.2, b"Hello")])]
    p = _write_lines(tmp_path / "dup.jsonl", [_chat("d", entries)])
    with pytest.raises(RecordError, match=r"dup\.jsonl:1: choices\[0\]\.logprobs\.content\[0\]\.top_logprobs\[1\]: "
                                          r"id 256 appears twice among the alternatives of position 0"):
        list(iter_batches(p, vocab=VOCAB))
