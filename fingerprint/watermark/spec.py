"""Watermark detectors from a spec (for the CLI, config files and jobs): one home for all of them.

A spec is a dict ``{"scheme": "kgw" | "maryland" | "aaronson" | "unigram" | "synthid", ...}`` whose
other keys are the detector's constructor arguments (``vocab_size``, ``gamma``, ``hash_key``,
``keys``, ``seed``, ...), the path of a ``.json`` file holding one, a JSON object as text, or the
short form ``SCHEME[:KEY=VALUE,...]`` (``kgw:gamma=0.25,seeding=selfhash``,
``maryland:gamma=0.25,ngram=4,seed=0``, ``unigram:gamma=0.5,key=0``,
``synthid:keys=654/400/836,ngram_len=5``: list values are ``/``-separated; values are read as
integers, floats, ``true``/``false``/``none``, else strings). ``vocab_size`` may come from the model
instead (the ``vocab_size`` argument of :func:`from_spec`); SynthID takes none. A ``"detect"`` key
(keyword arguments of ``detect_batch``) is not a constructor argument: :func:`parse_spec` returns
the dict with it, :func:`from_spec` ignores it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

SCHEMES: tuple[str, ...] = ("kgw", "unigram", "synthid", "maryland", "aaronson")


def _value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: Mapping | str | os.PathLike) -> dict:
    """The spec as a dict (see the module docs), from any of its forms."""
    if isinstance(spec, Mapping):
        doc = dict(spec)
    else:
        s = os.fspath(spec).strip()
        if s.startswith("{"):
            try:
                doc = json.loads(s)
            except json.JSONDecodeError as e:
                raise ValueError(f"watermark spec: not valid JSON ({e.msg}): {s!r}") from None
        elif s.lower().endswith(".json"):
            try:
                doc = json.loads(Path(s).read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise FileNotFoundError(f"watermark key: no such file {s!r}") from None
            except json.JSONDecodeError as e:
                raise ValueError(f"watermark key: {s}:{e.lineno}: invalid JSON ({e.msg})") from None
        else:
            scheme, _, rest = s.partition(":")
            doc = {"scheme": scheme}
            for item in filter(None, (x.strip() for x in rest.split(","))):
                key, eq, val = item.partition("=")
                if not eq or not key:
                    raise ValueError(f"watermark spec: expected KEY=VALUE, got {item!r} in {s!r}")
                val = val.strip()
                doc[key.strip()] = [_value(v) for v in val.split("/")] if "/" in val else _value(val)
    if not isinstance(doc, dict):
        raise TypeError(f"spec: expected a dict with a 'scheme' key, got {type(doc).__name__}")
    return doc


def from_spec(spec: Mapping | str | os.PathLike, vocab_size: int | None = None):
    """The detector a spec describes, for a model of ``vocab_size`` tokens (unless the spec gives it)."""
    from . import KGW, Aaronson, Maryland, SynthID, Unigram

    doc = parse_spec(spec)
    doc.pop("detect", None)
    scheme = doc.pop("scheme", None)
    classes = {"kgw": KGW, "unigram": Unigram, "synthid": SynthID, "maryland": Maryland, "aaronson": Aaronson}
    if scheme not in classes:
        raise ValueError(f"spec: 'scheme' must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if scheme == "synthid":
        keys = doc.get("keys")
        if keys is not None and not isinstance(keys, list):
            doc["keys"] = [keys]
    elif vocab_size is not None:
        given = doc.setdefault("vocab_size", int(vocab_size))
        if given != int(vocab_size):
            raise ValueError(f"spec: vocab_size {given} differs from the model's {int(vocab_size)}")
    try:
        return classes[scheme](**doc)
    except TypeError as exc:
        raise ValueError(f"spec: invalid arguments for {scheme}: {exc}") from None
