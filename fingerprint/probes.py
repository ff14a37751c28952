"""Probe sets: versioned, named lists of prompts (and optional continuations) to fingerprint models.

A probe has an ``id``, a ``text`` prompt (where known), ``prompt_ids`` (token ids, where known) and
optionally a ``continuation`` text and ``continuation_ids``. Token ids belong to the set's
``tokenizer`` (a name such as ``"HuggingFaceTB/SmolLM2-135M"``); a set of text-only probes has
``tokenizer = None`` and is turned into ids with :meth:`ProbeSet.tokenized`.

File format (JSON, UTF-8)::

    {"format": "fingerprint.ProbeSet", "format_version": 1,
     "name": "default-en", "version": "1.0", "tokenizer": null | "<name>",
     "probes": [{"id": "p00", "text": "...", "prompt_ids": [..], "continuation": "...",
                 "continuation_ids": [..]}, ...]}

:meth:`ProbeSet.load` validates every probe and reports the file, the probe index and the field
of a bad entry; ``on_error="skip"`` skips bad probes and counts them in ``stats``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from collections.abc import Callable, Sequence

import numpy as np

from ._validate import choice, index_vector, integer

__all__ = ["Probe", "ProbeSet", "default_probes"]

FORMAT = "fingerprint.ProbeSet"
FORMAT_VERSION = 1
DEFAULT_FILE = "probes_default_en.json"


@dataclass(frozen=True)
class Probe:
    id: str
    text: str | None = None
    prompt_ids: np.ndarray | None = None
    continuation: str | None = None
    continuation_ids: np.ndarray | None = None

    def ids(self) -> np.ndarray:
        """prompt_ids followed by continuation_ids (int64); ValueError when the prompt has no ids."""
        if self.prompt_ids is None:
            raise ValueError(f"probe {self.id!r} has no token ids: tokenize the set first (ProbeSet.tokenized)")
        if self.continuation_ids is None:
            return self.prompt_ids
        return np.concatenate([self.prompt_ids, self.continuation_ids])


@dataclass
class ProbeSet:
    """A named, versioned list of :class:`Probe` (ids, when present, from ``tokenizer``)."""

    name: str
    version: str
    probes: list[Probe]
    tokenizer: str | None = None
    vocab_size: int | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.probes)

    def __repr__(self) -> str:
        return f"ProbeSet(name={self.name!r}, version={self.version!r}, tokenizer={self.tokenizer!r}, probes={len(self)})"

    @property
    def key(self) -> str:
        """``name@version/tokenizer``: fingerprints are comparable only under the same key."""
        return f"{self.name}@{self.version}/{self.tokenizer}"

    # -- building --------------------------------------------------------------------------------

    @classmethod
    def random(cls, n: int, length: int, vocab_size: int, *, seed: int = 0, name: str = "random") -> ProbeSet:
        """``n`` prompts of ``length`` uniform random ids in [0, vocab_size) (synthetic models)."""
        n = integer("n", n, lo=1)
        length = integer("length", length, lo=2)
        v = integer("vocab_size", vocab_size, lo=1)
        rng = np.random.default_rng(integer("seed", seed))
        probes = [Probe(f"r{i:03d}", prompt_ids=rng.integers(0, v, length).astype(np.int64)) for i in range(n)]
        return cls(name, f"seed{seed}", probes, tokenizer=f"synthetic-v{v}", vocab_size=v)

    def tokenized(self, encode: Callable[[str], Sequence[int]], tokenizer: str, *, vocab_size: int | None = None) -> ProbeSet:
        """A copy with ``prompt_ids`` / ``continuation_ids`` = ``encode(text)`` for every probe.

        ``encode``: e.g. ``lambda s: tok.encode(s).ids`` (tokenizers) or ``tok.encode``.
        """
        if not callable(encode):
            raise TypeError(f"encode: expected a callable str -> list of ids, got {type(encode).__name__}")
        if not isinstance(tokenizer, str) or not tokenizer:
            raise TypeError("tokenizer: expected the tokenizer's name (a non-empty str)")
        upper = None if vocab_size is None else integer("vocab_size", vocab_size, lo=1)
        out = []
        for p in self.probes:
            if p.text is None:
                raise ValueError(f"probe {p.id!r}: has no text to tokenize")
            ids = index_vector(f"encode({p.id!r})", list(encode(p.text)), upper=upper)
            cont = None
            if p.continuation is not None:
                cont = index_vector(f"encode({p.id!r} continuation)", list(encode(p.continuation)), upper=upper)
            out.append(replace(p, prompt_ids=ids, continuation_ids=cont))
        return ProbeSet(self.name, self.version, out, tokenizer=tokenizer, vocab_size=upper, meta=dict(self.meta))

    def tokens(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ragged ``tokens``, ``offsets`` and ``score_from`` for :meth:`LogitSource.next_token_logits`.

        Scored positions: the continuation when a probe has one, else every position from 1.
        """
        seqs, sf = [], []
        for p in self.probes:
            ids = p.ids()
            seqs.append(ids)
            sf.append(p.prompt_ids.shape[0] if p.continuation_ids is not None and p.continuation_ids.size else 1)
        offsets = np.concatenate([[0], np.cumsum([s.shape[0] for s in seqs])]).astype(np.int64)
        return np.concatenate(seqs).astype(np.int64), offsets, np.asarray(sf, dtype=np.int64)

    # -- files -------------------------------------------------------------------------------------

    def to_json(self) -> dict:
        def arr(a):
            return None if a is None else [int(x) for x in a]

        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": self.name, "version": self.version,
            "tokenizer": self.tokenizer, "vocab_size": self.vocab_size, "meta": self.meta,
            "probes": [
                {k: v for k, v in (("id", p.id), ("text", p.text), ("prompt_ids", arr(p.prompt_ids)),
                                    ("continuation", p.continuation), ("continuation_ids", arr(p.continuation_ids)))
                 if v is not None}
                for p in self.probes
            ],
        }

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike, *, on_error: str = "fail", stats: dict | None = None) -> ProbeSet:
        """Read and validate a probe-set file. ``on_error="skip"`` skips bad probes, counting them in
        ``stats["skipped"]`` with reasons in ``stats["errors"]``; an empty result is an error."""
        policy = choice("on_error", on_error, ("fail", "skip"))
        where = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
        return cls.from_json(doc, where=where, on_error=policy, stats=stats)

    @classmethod
    def from_json(cls, doc: object, *, where: str = "<json>", on_error: str = "fail", stats: dict | None = None) -> ProbeSet:
        policy = choice("on_error", on_error, ("fail", "skip"))
        if not isinstance(doc, dict):
            raise ValueError(f"{where}: expected a JSON object at top level, got {type(doc).__name__}")
        if doc.get("format") != FORMAT:
            raise ValueError(f"{where}: field 'format': expected {FORMAT!r}, got {doc.get('format')!r}")
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{where}: field 'format_version': this reads {FORMAT_VERSION}, got {doc.get('format_version')!r}")
        for key in ("name", "version"):
            if not isinstance(doc.get(key), str) or not doc[key]:
                raise ValueError(f"{where}: field {key!r}: expected a non-empty string, got {doc.get(key)!r}")
        tok = doc.get("tokenizer")
        if tok is not None and not isinstance(tok, str):
            raise ValueError(f"{where}: field 'tokenizer': expected a string or null, got {tok!r}")
        vs = doc.get("vocab_size")
        if vs is not None and (isinstance(vs, bool) or not isinstance(vs, int) or vs < 1):
            raise ValueError(f"{where}: field 'vocab_size': expected a positive integer or null, got {vs!r}")
        meta = doc.get("meta") or {}
        if not isinstance(meta, dict):
            raise ValueError(f"{where}: field 'meta': expected an object, got {type(meta).__name__}")
        raw = doc.get("probes")
        if not isinstance(raw, list):
            raise ValueError(f"{where}: field 'probes': expected a list, got {type(raw).__name__}")
        probes, errors, seen = [], [], set()
        for i, entry in enumerate(raw):
            try:
                p = _probe(entry, i, tok, vs)
                if p.id in seen:
                    raise ValueError(f"probe {i}: field 'id': duplicate id {p.id!r}")
                seen.add(p.id)
                probes.append(p)
            except ValueError as exc:
                if policy == "fail":
                    raise ValueError(f"{where}: {exc}") from None
                errors.append(f"{where}: {exc}")
        if stats is not None:
            stats["skipped"] = stats.get("skipped", 0) + len(errors)
            stats.setdefault("errors", []).extend(errors)
        if not probes:
            raise ValueError(f"{where}: no valid probes ({len(errors)} skipped)")
        return cls(doc["name"], doc["version"], probes, tokenizer=tok, vocab_size=vs, meta=meta)


def _probe(entry: object, i: int, tokenizer: str | None, vocab_size: int | None) -> Probe:
    if not isinstance(entry, dict):
        raise ValueError(f"probe {i}: expected an object, got {type(entry).__name__}")
    unknown = set(entry) - {"id", "text", "prompt_ids", "continuation", "continuation_ids"}
    if unknown:
        raise ValueError(f"probe {i}: unknown field(s) {sorted(unknown)}")
    pid = entry.get("id")
    if not isinstance(pid, str) or not pid:
        raise ValueError(f"probe {i}: field 'id': expected a non-empty string, got {pid!r}")
    for key in ("text", "continuation"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise ValueError(f"probe {i} ({pid}): field {key!r}: expected a string, got {type(entry[key]).__name__}")
    ids = {}
    for key in ("prompt_ids", "continuation_ids"):
        val = entry.get(key)
        if val is None:
            ids[key] = None
            continue
        if tokenizer is None:
            raise ValueError(f"probe {i} ({pid}): field {key!r}: token ids need the set's 'tokenizer' name")
        if not isinstance(val, list) or any(isinstance(x, bool) or not isinstance(x, int) for x in val):
            raise ValueError(f"probe {i} ({pid}): field {key!r}: expected a list of integers")
        a = np.asarray(val, dtype=np.int64)
        bad = np.flatnonzero((a < 0) | (a >= (vocab_size if vocab_size is not None else np.iinfo(np.int64).max)))
        if bad.size:
            raise ValueError(f"probe {i} ({pid}): field {key!r}: id {int(a[bad[0]])} at index {int(bad[0])} is out of range")
        ids[key] = a
    if entry.get("text") is None and ids["prompt_ids"] is None:
        raise ValueError(f"probe {i} ({pid}): needs 'text' or 'prompt_ids'")
    if ids["prompt_ids"] is not None and ids["prompt_ids"].size == 0:
        raise ValueError(f"probe {i} ({pid}): field 'prompt_ids': empty")
    if ids["continuation_ids"] is not None and ids["prompt_ids"] is None:
        raise ValueError(f"probe {i} ({pid}): field 'continuation_ids' given without 'prompt_ids'")
    return Probe(pid, entry.get("text"), ids["prompt_ids"], entry.get("continuation"), ids["continuation_ids"])


def default_probes() -> ProbeSet:
    """The probe set shipped with the package: generic English prompts with continuations (text only)."""
    from importlib.resources import files

    res = files("fingerprint").joinpath("data", DEFAULT_FILE)
    doc = json.loads(res.read_text(encoding="utf-8"))
    return ProbeSet.from_json(doc, where=str(res))
