r"""Token strings and bytes to ids, and alignment of two tokenisations by their bytes.

API responses (OpenAI, vLLM) report tokens as strings and, in the Chat Completions format, as
UTF-8 **bytes**; corpora and models use integer ids. A :class:`Vocabulary` maps each id to the
exact bytes it stands for and back:

- from a Hugging Face ``tokenizers.Tokenizer`` (or a ``tokenizer.json`` path):
  byte-level BPE vocabularies (GPT-2, Llama 3, SmolLM2, Qwen: the decoder is ``ByteLevel``) are
  decoded through GPT-2's byte-to-unicode table, so every id has its exact bytes; SentencePiece
  style vocabularies (``Metaspace`` / ``Replace("\u2581", " ")`` decoders) map ``\u2581`` to a space
  and ``<0xNN>`` byte-fallback tokens to the byte NN; added tokens (specials) stand for the UTF-8
  of their content. Other vocabularies (e.g. WordPiece) are refused rather than guessed.
- from a ``token -> id`` mapping whose keys are the token *text* (``encoding="text"``), GPT-2
  byte-level strings (``"byte_level"``) or SentencePiece pieces (``"sentencepiece"``).

Lookup of one API token, in order (each step exact): a ``"token_id:N"`` string (vLLM's
``return_tokens_as_token_ids``) is id N; else the reported ``bytes``; else a ``"bytes:\xNN..."``
string (OpenAI's legacy rendering of a token that is not valid UTF-8) gives those bytes; else the
UTF-8 encoding of the token string. A string holding U+FFFD that is not itself in the vocabulary
is a lossy rendering of a partial UTF-8 sequence: its bytes are unknown and the lookup fails
(request ``bytes`` / token ids instead). When several ids have the same bytes (e.g. a special
token whose content is also an ordinary token), the non-special one with the lowest id wins;
:attr:`Vocabulary.ambiguous` counts such byte strings.

Cross-tokenizer alignment (:func:`align_by_bytes`): two tokenisations of the same byte string are
cut at the byte offsets where *both* have a token boundary. Each resulting group is a byte span;
a group of one token on each side (same bytes) is **exact**: the two tokens are the same string
at the same place. Comparing log-probabilities across tokenizers is exact only for the byte
stream as a whole when every step is a group of one token each; for a group of several tokens,
the sum of their log-probs is the log-probability of *that tokenisation* of the span, a lower
bound of the model's probability of the span's bytes (other tokenisations of the same bytes are
not counted), so a comparison of group sums is **approximate**. Top-k alternatives have no
counterpart across tokenizers and are not aligned.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ByteAlignment", "Vocabulary", "align_by_bytes", "parse_token_bytes"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (used by byte-level BPE)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), 256))
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


_UNICODE_TO_BYTE = {c: b for b, c in _bytes_to_unicode().items()}
_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")


def _byte_level(s: str) -> bytes | None:
    try:
        return bytes(_UNICODE_TO_BYTE[c] for c in s)
    except KeyError:
        return None


def _sentencepiece(s: str) -> bytes:
    m = _BYTE_FALLBACK.fullmatch(s)
    if m:
        return bytes([int(m.group(1), 16)])
    return s.replace("\u2581", " ").encode("utf-8")


def parse_token_bytes(token: str) -> bytes | None:
    r"""The bytes of an OpenAI ``"bytes:\xe2\x80"`` token string (escapes ``\xNN`` are bytes,
    other characters their UTF-8), or None if ``token`` has no ``bytes:`` prefix."""
    if not token.startswith("bytes:"):
        return None
    out = bytearray()
    rest = token[6:]
    i = 0
    for m in _HEX_ESCAPE.finditer(rest):
        out += rest[i:m.start()].encode("utf-8")
        out.append(int(m.group(1), 16))
        i = m.end()
    out += rest[i:].encode("utf-8")
    return bytes(out)


class Vocabulary:
    """Exact id <-> bytes maps of one tokenizer (see the module docstring).

    ``token_bytes[i]``: the bytes id ``i`` stands for (None for an unused id); ``special``: ids of
    special tokens (lowest priority when bytes collide).
    """

    def __init__(self, token_bytes: Sequence[bytes | None], *, special: Sequence[int] = (), name: str = "") -> None:
        self.token_bytes = list(token_bytes)
        self.name = name
        self.tokenizer = None  # the tokenizers.Tokenizer, when built from one (to encode text)
        self.special = frozenset(int(i) for i in special)
        self._by_bytes: dict[bytes, int] = {}
        self.ambiguous = 0
        for i, b in enumerate(self.token_bytes):
            if b is None:
                continue
            if not isinstance(b, (bytes, bytearray)):
                raise TypeError(f"token_bytes[{i}]: expected bytes or None, got {type(b).__name__}")
            prev = self._by_bytes.get(b)
            if prev is None:
                self._by_bytes[bytes(b)] = i
                continue
            self.ambiguous += 1
            if prev in self.special and i not in self.special:
                self._by_bytes[bytes(b)] = i

    @property
    def size(self) -> int:
        """Number of ids (the vocabulary size: one more than the largest id)."""
        return len(self.token_bytes)

    def __len__(self) -> int:
        return len(self.token_bytes)

    def __repr__(self) -> str:
        return f"Vocabulary({self.name!r}, size={self.size}, ambiguous={self.ambiguous})"

    def id_of_bytes(self, b: bytes) -> int | None:
        return self._by_bytes.get(bytes(b))

    def bytes_of(self, ids: Sequence[int] | np.ndarray) -> list[bytes]:
        out = []
        for i in np.asarray(ids, dtype=np.int64).tolist():
            if not 0 <= i < self.size or self.token_bytes[i] is None:
                raise ValueError(f"ids: {i} is not an id of this vocabulary (size {self.size})")
            out.append(self.token_bytes[i])
        return out

    def resolve(self, token: object, raw_bytes: object = None) -> tuple[int | None, str]:
        """The id of an API token: ``(id, "")``, or ``(None, reason)`` when it cannot be found
        (``reason`` is a sentence for the error message). ``raw_bytes``: the reported list of
        byte values, if any."""
        if isinstance(token, str) and token.startswith("token_id:"):
            try:
                i = int(token[9:])
            except ValueError:
                return None, f"malformed token id string {token!r}"
            return (i, "") if 0 <= i < self.size else (None, f"token id {i} outside the vocabulary (size {self.size})")
        return self._resolve_bytes(token, raw_bytes)

    def _resolve_bytes(self, token: object, raw_bytes: object) -> tuple[int | None, str]:
        if raw_bytes is not None:
            b = _byte_list(raw_bytes)
            if b is None:
                return None, f"bytes: expected a list of integers in [0, 255], got {str(raw_bytes)[:60]}"
            i = self._by_bytes.get(b)
            return (i, "") if i is not None else (None, f"no token of the vocabulary has the bytes {b!r}")
        if not isinstance(token, str):
            return None, f"token: expected a string, got {type(token).__name__}"
        b = parse_token_bytes(token)
        if b is None:
            b = token.encode("utf-8", "surrogatepass")
        i = self._by_bytes.get(b)
        if i is not None:
            return i, ""
        if "\ufffd" in token:
            return None, (f"token {token!r} holds U+FFFD, a lossy rendering of a partial UTF-8 "
                          "sequence; its bytes are unknown (request the bytes or token ids)")
        return None, f"token {token!r} (bytes {b!r}) is not in the vocabulary"

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def from_tokenizer(cls, tokenizer: object) -> Vocabulary:
        """From a ``tokenizers.Tokenizer`` or the path of a ``tokenizer.json``."""
        if isinstance(tokenizer, (str, os.PathLike)):
            from tokenizers import Tokenizer  # noqa: PLC0415 - lazy

            path = os.fspath(tokenizer)
            if not os.path.exists(path):
                raise FileNotFoundError(f"tokenizer: no such file {path!r}")
            tokenizer = Tokenizer.from_file(path)
        if not hasattr(tokenizer, "get_vocab") or not hasattr(tokenizer, "to_str"):
            raise TypeError(f"tokenizer: expected a tokenizers.Tokenizer or a tokenizer.json path, got {type(tokenizer).__name__}")
        spec = json.loads(tokenizer.to_str())
        style = _decoder_style(spec.get("decoder"))
        vocab = tokenizer.get_vocab(with_added_tokens=False)
        added = tokenizer.get_added_tokens_decoder()
        size = max([*vocab.values(), *added.keys(), -1]) + 1
        table: list[bytes | None] = [None] * size
        for s, i in vocab.items():
            table[i] = _piece_bytes(s, style, i)
        special = []
        for i, tok in added.items():
            table[i] = tok.content.encode("utf-8")
            if tok.special:
                special.append(i)
        out = cls(table, special=special, name=f"tokenizer ({style})")
        out.tokenizer = tokenizer
        return out

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` by the tokenizer (no special tokens added)."""
        if self.tokenizer is None:
            raise ValueError("vocab: built from a mapping, it cannot tokenise text; build it from a tokenizer.json")
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, int], *, encoding: str = "text", special: Sequence[int] = ()) -> Vocabulary:
        """From ``{token: id}``; ``encoding`` says how the keys spell the bytes: ``"text"``
        (UTF-8 text, ``bytes:\\xNN`` escapes allowed), ``"byte_level"`` (GPT-2 byte-level BPE
        strings such as ``"\u0120Paris"``) or ``"sentencepiece"`` (``\u2581`` for a space,
        ``<0xNN>`` byte fallback)."""
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping: expected a dict of token -> id, got {type(mapping).__name__}")
        if encoding not in ("text", "byte_level", "sentencepiece"):
            raise ValueError(f"encoding: expected 'text', 'byte_level' or 'sentencepiece', got {encoding!r}")
        ids = list(mapping.values())
        for s, i in mapping.items():
            if not isinstance(s, str) or isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
                raise ValueError(f"mapping: expected str -> int >= 0 entries, got {s!r}: {i!r}")
        table: list[bytes | None] = [None] * (max(ids) + 1 if ids else 0)
        for s, i in mapping.items():
            if encoding == "text":
                b = parse_token_bytes(s)
                table[i] = b if b is not None else s.encode("utf-8", "surrogatepass")
            else:
                table[i] = _piece_bytes(s, "byte_level" if encoding == "byte_level" else "sentencepiece", i)
        return cls(table, special=special, name=f"mapping ({encoding})")


def _byte_list(raw: object) -> bytes | None:
    """bytes of a JSON list of byte values, or None if it is not one (JSON true/false count as
    1/0 here: ``bytes()`` accepts them, and checking every element would double the read time)."""
    if type(raw) is not list and not isinstance(raw, (list, tuple)):
        return None
    try:
        return bytes(raw)
    except (TypeError, ValueError):
        return None


def _decoder_style(dec: object) -> str:
    if not isinstance(dec, dict):
        raise ValueError("tokenizer: has no decoder; cannot tell which bytes its tokens stand for")
    kind = dec.get("type")
    if kind == "ByteLevel":
        return "byte_level"
    if kind == "Metaspace":
        return "sentencepiece"
    if kind == "Sequence":
        parts = dec.get("decoders") or []
        kinds = {d.get("type") for d in parts if isinstance(d, dict)}
        if "ByteLevel" in kinds:
            return "byte_level"
        if "ByteFallback" in kinds or "Metaspace" in kinds or any(
                d.get("type") == "Replace" and "\u2581" in json.dumps(d.get("pattern"), ensure_ascii=False) for d in parts if isinstance(d, dict)):
            return "sentencepiece"
    raise ValueError(f"tokenizer: decoder {kind!r} is neither byte-level BPE nor SentencePiece; "
                     "its tokens' bytes cannot be recovered exactly (pass a token -> id mapping instead)")


def _piece_bytes(s: str, style: str, i: int) -> bytes:
    if style == "byte_level":
        b = _byte_level(s)
        if b is None:
            raise ValueError(f"tokenizer: token {s!r} (id {i}) is not a byte-level BPE string")
        return b
    return _sentencepiece(s)


@dataclass
class ByteAlignment:
    """Result of :func:`align_by_bytes`: ``groups_a[i]`` / ``groups_b[j]`` (int64) give the group
    of each token; group ``g`` covers bytes ``starts[g]:starts[g+1]``; ``exact[g]``: one token on
    each side with the same bytes."""

    groups_a: np.ndarray
    groups_b: np.ndarray
    starts: np.ndarray
    exact: np.ndarray

    @property
    def num_groups(self) -> int:
        return int(self.exact.shape[0])

    def group_sums(self, values: object, side: str = "a") -> np.ndarray:
        """Per-group sums (float64) of per-token values of side ``"a"`` or ``"b"`` (e.g. the
        log-probs: the log-probability of that side's tokenisation of each span)."""
        g = self.groups_a if side == "a" else self.groups_b
        v = np.asarray(values, dtype=np.float64)
        if v.shape != g.shape:
            raise ValueError(f"values: expected {g.shape[0]} values (one per token of side {side!r}), got shape {v.shape}")
        out = np.zeros(self.num_groups, dtype=np.float64)
        np.add.at(out, g, v)
        return out


def align_by_bytes(a: Sequence[bytes], b: Sequence[bytes]) -> ByteAlignment:
    """Align two tokenisations of the same bytes (lists of each token's bytes) at their common
    boundaries. Raises ValueError naming the first differing byte if the two byte strings differ.
    An empty token (no bytes) joins the group that contains its byte offset (the group ending
    at or after it), which makes that group inexact."""
    la = np.fromiter((len(x) for x in a), dtype=np.int64, count=len(a))
    lb = np.fromiter((len(x) for x in b), dtype=np.int64, count=len(b))
    sa, sb = b"".join(a), b"".join(b)
    if sa != sb:
        n = min(len(sa), len(sb))
        d = next((i for i in range(n) if sa[i] != sb[i]), n)
        raise ValueError(f"a and b: the tokens spell different bytes (first difference at byte {d}: "
                         f"{sa[d:d + 8]!r} vs {sb[d:d + 8]!r}; lengths {len(sa)} and {len(sb)})")
    ends_a, ends_b = np.cumsum(la), np.cumsum(lb)
    common = np.intersect1d(ends_a, ends_b)  # byte offsets where both have a boundary
    common = common[common > 0]
    starts = np.concatenate([[0], common]).astype(np.int64)
    n_groups = common.shape[0]
    if n_groups == 0:  # empty input
        return ByteAlignment(np.zeros(la.shape[0], np.int64), np.zeros(lb.shape[0], np.int64), starts, np.zeros(0, bool))
    # token i belongs to the group containing its last byte: the first common end >= its end
    ga = np.minimum(np.searchsorted(common, np.maximum(ends_a, 1), side="left"), n_groups - 1)
    gb = np.minimum(np.searchsorted(common, np.maximum(ends_b, 1), side="left"), n_groups - 1)
    ca = np.bincount(ga, minlength=n_groups)
    cb = np.bincount(gb, minlength=n_groups)
    return ByteAlignment(ga.astype(np.int64), gb.astype(np.int64), starts, (ca == 1) & (cb == 1))
