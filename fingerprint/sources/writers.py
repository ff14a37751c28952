"""Writers: Parquet and JSONL, streaming and atomic.

:class:`TableWriter` appends ``pyarrow`` tables (or :class:`~fingerprint.sources.records.TokenBatch`
objects, written with the canonical columns) to one file. Data go to a temporary file in the
destination's directory, renamed over the destination by :meth:`TableWriter.close` (``os.replace``,
atomic on POSIX): a reader never sees a half-written file, and a failure leaves any previous file
in place. Every table must have the columns of the first one (types are cast to the first's).

JSONL: one JSON object per row; NaN is written as ``null``, +-inf as ``Infinity`` / ``-Infinity``
(Python's json; :func:`~fingerprint.sources.readers.iter_batches` reads them back), lists and
nested lists as arrays. Parquet: zstd-compressed row groups, one per written table.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable

from .records import TokenBatch

__all__ = ["TableWriter", "write_table", "write_json", "write_text"]

WRITE_FORMATS = ("parquet", "jsonl")


def _format_of(path: str, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in WRITE_FORMATS:
            raise ValueError(f"format: expected one of {', '.join(WRITE_FORMATS)}, got {fmt!r}")
        return fmt
    p = path.lower()
    if p.endswith((".parquet", ".pq")):
        return "parquet"
    if p.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise ValueError(f"output: cannot tell the format of {path!r}; use a .parquet or .jsonl name, or pass format=")


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


class TableWriter:
    """Streaming, atomic writer of one Parquet or JSONL file (``format`` from the extension when
    None). Use as a context manager, or call :meth:`close` (commit) / :meth:`abort`."""

    def __init__(self, path: str | os.PathLike, *, format: str | None = None) -> None:
        self.path = os.fspath(path)
        self.format = _format_of(self.path, format)
        d = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(d):
            raise FileNotFoundError(f"output: the directory {d!r} does not exist")
        fd, self._tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=d)
        os.close(fd)
        self._schema = None
        self._pq = None
        self._fh = open(self._tmp, "w", encoding="utf-8") if self.format == "jsonl" else None
        self.rows = 0
        self._closed = False

    def write(self, table) -> None:
        """Append a ``pyarrow.Table`` / ``RecordBatch`` or a :class:`TokenBatch`."""
        import pyarrow as pa  # noqa: PLC0415 - lazy

        if isinstance(table, TokenBatch):
            table = table.to_arrow()
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if not isinstance(table, pa.Table):
            raise TypeError(f"table: expected a pyarrow Table/RecordBatch or a TokenBatch, got {type(table).__name__}")
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            if table.schema.names != self._schema.names:
                raise ValueError(f"table: columns {table.schema.names} differ from the file's {self._schema.names}")
            table = table.cast(self._schema)
        if self.format == "parquet":
            import pyarrow.parquet as pq  # noqa: PLC0415

            if self._pq is None:
                self._pq = pq.ParquetWriter(self._tmp, self._schema, compression="zstd")
            if table.num_rows:
                self._pq.write_table(table)
        else:
            for row in table.to_pylist():
                self._fh.write(json.dumps(_clean(row), ensure_ascii=False))
                self._fh.write("\n")
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.format == "parquet":
                if self._pq is None:  # nothing written: an empty file with the known (or no) columns
                    import pyarrow as pa  # noqa: PLC0415
                    import pyarrow.parquet as pq  # noqa: PLC0415

                    pq.write_table(pa.table({}) if self._schema is None else self._schema.empty_table(), self._tmp)
                else:
                    self._pq.close()
            else:
                self._fh.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard the temporary file (the destination is left untouched)."""
        self._closed = True
        try:
            if self._pq is not None:
                self._pq.close()
            if self._fh is not None and not self._fh.closed:
                self._fh.close()
        finally:
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_table(path: str | os.PathLike, tables: Iterable, *, format: str | None = None) -> int:
    """Write tables / TokenBatches (an iterable, or one) to ``path`` atomically; returns the row count."""
    import pyarrow as pa  # noqa: PLC0415

    if isinstance(tables, (TokenBatch, pa.Table, pa.RecordBatch)):
        tables = [tables]
    with TableWriter(path, format=format) as w:
        for t in tables:
            w.write(t)
    return w.rows


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically (temporary file in the same folder, then ``os.replace``)."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write one JSON document atomically (indented; NaN as null)."""
    write_text(path, json.dumps(_clean(obj), indent=2, ensure_ascii=False, allow_nan=True) + "\n")
