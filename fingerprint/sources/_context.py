"""Shared by the readers: the reading context, constants, error construction."""

from __future__ import annotations

import gzip
import os

from .records import RecordError

PLACEHOLDER = -9999.0  # OpenAI's "not reported" log-prob
LOGPROB_TOL = 1e-6  # rounding above 0 accepted in a log-prob


class _Ctx:
    def __init__(self, path, vocab, top_k, include_prompt, on_error, stats, columns):
        self.path, self.vocab, self.top_k, self.include_prompt = path, vocab, top_k, include_prompt
        self.on_error, self.stats, self.columns = on_error, stats, columns
        self.stem = os.path.basename(path)
        self.retokenize = False
        self.whole_document = False  # a .json document: records are named file:[index]

    def bad(self, err: RecordError) -> None:
        if self.on_error == "fail":
            raise err
        self.stats.skip(err)


def _open_text(path: str):
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def _err(where: str, field: str, msg: str, reason: str = "malformed") -> RecordError:
    return RecordError(where, field, msg, reason)
