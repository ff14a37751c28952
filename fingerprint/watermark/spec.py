"""Watermark detectors from a short text spec (for the CLI and config files).

``SCHEME[:KEY=VALUE,...]`` with SCHEME one of ``kgw``, ``maryland``, ``aaronson``, ``unigram``,
``synthid``; the keys are the detector's keyword arguments (``kgw:gamma=0.25,seeding=selfhash``,
``maryland:gamma=0.25,ngram=4,seed=0``, ``unigram:gamma=0.5,key=0``,
``synthid:keys=654/400/836,ngram_len=5``: list values are ``/``-separated). Values are read as
integers, floats, ``true``/``false``/``none``, else strings. A spec may also be a JSON object
``{"scheme": "kgw", "gamma": 0.25}`` or the path of a ``.json`` file holding one. The vocabulary size
is the model's, given separately (SynthID takes none).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

SCHEMES = ("kgw", "maryland", "aaronson", "unigram", "synthid")


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


def _parse(spec: str) -> dict:
    s = spec.strip()
    if s.startswith("{"):
        try:
            doc = json.loads(s)
        except json.JSONDecodeError as e:
            raise ValueError(f"watermark spec: not valid JSON ({e.msg}): {spec!r}") from None
    elif s.lower().endswith(".json") and Path(s).is_file():
        try:
            doc = json.loads(Path(s).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"watermark spec: {s}:{e.lineno}: not valid JSON ({e.msg})") from None
    else:
        scheme, _, rest = s.partition(":")
        doc = {"scheme": scheme}
        for item in filter(None, (x.strip() for x in rest.split(","))):
            key, eq, val = item.partition("=")
            if not eq or not key:
                raise ValueError(f"watermark spec: expected KEY=VALUE, got {item!r} in {spec!r}")
            doc[key.strip()] = [_value(v) for v in val.split("/")] if "/" in val else _value(val.strip())
    if not isinstance(doc, dict) or "scheme" not in doc:
        raise ValueError(f"watermark spec: expected an object with a 'scheme', got {spec!r}")
    return doc


def from_spec(spec: str | dict, vocab_size: int):
    """The detector a spec describes (see the module docs), for a model of ``vocab_size`` tokens."""
    from . import KGW, Aaronson, Maryland, SynthID, Unigram

    doc = dict(spec) if isinstance(spec, dict) else _parse(str(spec))
    scheme = str(doc.pop("scheme")).lower()
    classes = {"kgw": KGW, "maryland": Maryland, "aaronson": Aaronson, "unigram": Unigram, "synthid": SynthID}
    if scheme not in classes:
        raise ValueError(f"watermark spec: unknown scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    cls = classes[scheme]
    params = inspect.signature(cls.__init__).parameters
    allowed = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY]
    bad = sorted(set(doc) - set(allowed) - ({"keys"} if scheme == "synthid" else set()))
    if bad:
        raise ValueError(f"watermark spec: {scheme} takes no {', '.join(map(repr, bad))}; its options are "
                         f"{', '.join(allowed)}")
    if scheme == "synthid":
        keys = doc.pop("keys", None)
        if keys is None:
            raise ValueError("watermark spec: synthid needs keys=K1/K2/...")
        return cls(keys if isinstance(keys, list) else [keys], **doc)
    return cls(int(vocab_size), **doc)
