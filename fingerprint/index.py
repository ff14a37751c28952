"""Nearest-neighbour index over fingerprint vectors (FAISS), saved to one checked file.

:class:`FingerprintIndex` wraps a FAISS index with user ids, labels and JSON metadata:

- ``metric="cosine"``: vectors and queries are L2-normalised (on a copy; the caller's arrays are
  never altered) and compared by inner product. Scores are cosine *similarities* (higher = closer).
- ``metric="ip"``: raw inner products, *similarities* (higher = closer).
- ``metric="l2"``: *squared* Euclidean *distances* (lower = closer), as FAISS reports them.

Inputs are 2-D ``(n, dim)`` arrays. float32 C-contiguous arrays are used as they are (no copy);
float64 and float16 are converted to float32 explicitly (FAISS stores float32; float64 values
are rounded to the nearest float32); Fortran-order or strided arrays are copied for layout only.
NaN or infinite values are refused with the row that holds them.

FAISS is imported lazily (``import fingerprint`` does not load it).

File format (``save``/``load``), no pickle anywhere::

    magic    8 bytes   b"FPINDEX\\x00"
    version  uint32 LE (FORMAT_VERSION)
    hlen     uint64 LE  length of the header
    header   hlen bytes UTF-8 JSON: format name and version, settings, section lengths
    sha256   32 bytes   SHA-256 of header + payload
    payload  faiss index bytes (faiss.serialize_index) | ids int64 LE | JSON (labels, metadata)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._threads import resolve_num_threads
from ._validate import finite_float32_matrix, positive_int

FORMAT_NAME = "fingerprint.FingerprintIndex"
FORMAT_VERSION = 1
MAGIC = b"FPINDEX\x00"

METRICS = ("cosine", "l2", "ip")
KINDS = ("flat", "ivf", "hnsw", "ivfpq")
FACTORY_EXAMPLES = "'Flat', 'IVF1024,Flat', 'HNSW32,Flat', 'IVF4096,PQ32', 'OPQ32,IVF4096,PQ32', 'PQ32'"


def _faiss():
    import faiss  # lazy: importing fingerprint must not import faiss

    return faiss


def _faiss_reason(exc: BaseException) -> str:
    """The useful part of a FAISS C++ error (drops the source location)."""
    text = str(exc).strip()
    m = re.search(r"Error: '(.*?)' failed:?\s*(.*)$", text, re.S)
    if m:
        return (m.group(2).strip() or f"check {m.group(1)!r} failed").splitlines()[0]
    m = re.search(r"at \S+:\d+: (.*)$", text, re.S)
    if m:
        return m.group(1).strip().splitlines()[0]
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class SearchResult:
    """Neighbours of each query, best first.

    ``scores`` float32 [q, k]: similarities for cosine/ip (higher = closer), squared L2 distances
    for l2 (lower = closer); NaN where there is no neighbour. ``ids`` int64 [q, k], -1 where the
    index holds fewer than k vectors (or fewer were found). ``labels``: object array [q, k] of the
    stored labels (None where unlabelled or no neighbour).
    """

    scores: np.ndarray
    ids: np.ndarray
    labels: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.scores, self.ids, self.labels))


class FingerprintIndex:
    """Nearest-neighbour index over ``dim``-dimensional fingerprints.

    kind:
      - ``"flat"``: exact search.
      - ``"ivf"``: inverted lists over ``nlist`` k-means cells (needs :meth:`train`); ``nprobe``
        cells are scanned per query. ``nlist=None`` picks ``4*sqrt(n_train)`` (at most
        ``n_train // 39``) at training time; ``nprobe=None`` scans ``max(1, nlist // 16)`` cells.
      - ``"hnsw"``: HNSW graph with ``hnsw_m`` links per node; ``ef_search`` (default 64) trades
        speed for recall. No training. :meth:`remove` rebuilds the graph from the stored vectors.
      - ``"ivfpq"``: IVF with product-quantised codes: ``m`` sub-quantisers of ``nbits`` bits
        (``m`` must divide ``dim``; ``None`` picks the largest divisor of dim <= dim // 8).
        Needs :meth:`train` with at least ``2**nbits`` vectors. Scores are approximate.
      - any other string is a FAISS ``index_factory`` description (e.g. ``"IVF256,SQ8"``), built
        and checked at construction.
    """

    def __init__(
        self,
        dim: int,
        *,
        metric: str = "cosine",
        kind: str = "flat",
        nlist: int | None = None,
        m: int | None = None,
        nbits: int = 8,
        hnsw_m: int = 32,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> None:
        self._dim = positive_int("dim", dim)
        if not isinstance(metric, str):
            raise TypeError(f"metric: expected a str, one of {METRICS}, got {type(metric).__name__}")
        if metric not in METRICS:
            raise ValueError(f"metric: expected one of {', '.join(map(repr, METRICS))}, got {metric!r}")
        if not isinstance(kind, str):
            raise TypeError(f"kind: expected a str ({', '.join(KINDS)} or a FAISS factory string), got {type(kind).__name__}")
        self._metric = metric
        self._nlist = None if nlist is None else positive_int("nlist", nlist)
        self._nbits = positive_int("nbits", nbits)
        self._hnsw_m = positive_int("hnsw_m", hnsw_m)
        self._ef_search = None if ef_search is None else positive_int("ef_search", ef_search)
        self._nprobe = None if nprobe is None else positive_int("nprobe", nprobe)
        self._m = None if m is None else positive_int("m", m)
        if kind in KINDS:
            self._kind = kind
            self._factory: str | None = None
        else:
            if kind.strip() == "":
                raise ValueError(f"kind: expected one of {', '.join(KINDS)} or a FAISS factory string such as {FACTORY_EXAMPLES}; got an empty string")
            self._kind = "factory"
            self._factory = kind.strip()
        self._check_kind_arguments()
        self._index: Any = None  # the FAISS index, built now or (ivf/ivfpq with nlist=None) at train
        self._ids = np.zeros(0, dtype=np.int64)  # in insertion order
        self._labels: list[str | None] = []  # parallel to _ids
        self._vector_meta: dict[int, dict] = {}
        self.metadata: dict[str, Any] = {}
        self._lookup: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if self._kind == "factory":
            self._index = self._build(None)  # raises a helpful ValueError if FAISS rejects it
        elif self._kind in ("flat", "hnsw") or self._nlist is not None:
            self._index = self._build(self._nlist)

    # -- construction -------------------------------------------------------------------------

    def _check_kind_arguments(self) -> None:
        kind, dim = self._kind, self._dim
        if kind != "ivfpq" and self._m is not None:
            raise ValueError(f"m: only used by kind='ivfpq', got m={self._m} with kind={kind!r}")
        if kind == "ivfpq":
            if self._m is None:
                self._m = max(d for d in range(1, max(1, dim // 8) + 1) if dim % d == 0)
            elif dim % self._m != 0:
                divisors = [d for d in range(1, dim + 1) if dim % d == 0]
                raise ValueError(f"m: must divide dim={dim} (sub-quantisers of equal size), got m={self._m}; divisors of {dim}: {divisors}")
            if self._nbits > 16:
                raise ValueError(f"nbits: expected 1..16 bits per sub-quantiser code, got {self._nbits}")
        if kind not in ("ivf", "ivfpq", "factory") and self._nlist is not None:
            raise ValueError(f"nlist: only used by kind='ivf' or 'ivfpq', got nlist={self._nlist} with kind={kind!r}")
        if kind not in ("ivf", "ivfpq", "factory") and self._nprobe is not None:
            raise ValueError(f"nprobe: only used by IVF kinds, got nprobe={self._nprobe} with kind={kind!r}")
        if kind not in ("hnsw", "factory") and self._ef_search is not None:
            raise ValueError(f"ef_search: only used by kind='hnsw', got ef_search={self._ef_search} with kind={kind!r}")
        if kind == "factory":
            if self._nlist is not None or self._m is not None:
                raise ValueError("nlist/m: give them inside the FAISS factory string (e.g. 'IVF1024,PQ32'), not as arguments")
            if re.search(r"IDMap", self._factory or "", re.I):
                raise ValueError(f"kind: leave 'IDMap'/'IDMap2' out of the factory string (the index maps ids itself), got {self._factory!r}")

    def _factory_string(self, nlist: int | None) -> str:
        if self._kind == "flat":
            return "Flat"
        if self._kind == "hnsw":
            return f"HNSW{self._hnsw_m},Flat"
        if self._kind == "ivf":
            return f"IVF{nlist},Flat"
        if self._kind == "ivfpq":
            return f"IVF{nlist},PQ{self._m}x{self._nbits}"
        assert self._factory is not None
        return self._factory

    def _faiss_metric(self):
        faiss = _faiss()
        return faiss.METRIC_L2 if self._metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def _build(self, nlist: int | None):
        faiss = _faiss()
        desc = self._factory_string(nlist)
        try:
            base = faiss.index_factory(self._dim, desc, self._faiss_metric())
        except (RuntimeError, AssertionError, TypeError) as exc:
            where = "kind" if self._kind == "factory" else "kind/nlist/m/nbits/hnsw_m"
            raise ValueError(
                f"{where}: FAISS rejected the index description {desc!r} for dim={self._dim}: "
                f"{_faiss_reason(exc)}. Valid examples: {FACTORY_EXAMPLES} (see the FAISS wiki "
                "'The index factory'), or kind='flat'|'ivf'|'hnsw'|'ivfpq'"
            ) from None
        if self._ivf(base) is not None:
            index = base  # IVF indexes carry ids natively and remove them correctly
        else:
            index = faiss.IndexIDMap2(base)
        self._apply_search_params(index)
        return index

    def _ivf(self, index):
        faiss = _faiss()
        try:
            return faiss.extract_index_ivf(index)
        except (RuntimeError, AttributeError):
            return None

    def _hnsw(self, index):
        faiss = _faiss()
        inner = index
        if isinstance(inner, faiss.IndexIDMap2):
            inner = faiss.downcast_index(inner.index)
        return inner if hasattr(inner, "hnsw") else None

    def _default_nprobe(self, nlist: int) -> int:
        return max(1, nlist // 16)

    def _apply_search_params(self, index) -> None:
        ivf = self._ivf(index)
        if ivf is not None:
            ivf.nprobe = min(ivf.nlist, self._nprobe if self._nprobe is not None else self._default_nprobe(ivf.nlist))
        hnsw = self._hnsw(index)
        if hnsw is not None:
            hnsw.hnsw.efSearch = self._ef_search if self._ef_search is not None else 64

    # -- properties ---------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def kind(self) -> str:
        """``flat``/``ivf``/``hnsw``/``ivfpq``, or the FAISS factory string given."""
        return self._factory if self._kind == "factory" else self._kind

    @property
    def is_trained(self) -> bool:
        return self._index is not None and bool(self._index.is_trained)

    @property
    def ids(self) -> np.ndarray:
        """The stored ids in insertion order (a read-only view)."""
        v = self._ids.view()
        v.flags.writeable = False
        return v

    @property
    def nprobe(self) -> int | None:
        ivf = self._ivf(self._index) if self._index is not None else None
        return int(ivf.nprobe) if ivf is not None else self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self._kind in ("flat", "hnsw"):
            raise ValueError(f"nprobe: only used by IVF kinds, this index is kind={self.kind!r}")
        self._nprobe = positive_int("nprobe", value)
        if self._index is not None:
            if self._ivf(self._index) is None:
                raise ValueError(f"nprobe: the FAISS index {self.kind!r} has no inverted lists")
            self._apply_search_params(self._index)

    @property
    def ef_search(self) -> int | None:
        hnsw = self._hnsw(self._index) if self._index is not None else None
        return int(hnsw.hnsw.efSearch) if hnsw is not None else self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if self._kind in ("flat", "ivf", "ivfpq"):
            raise ValueError(f"ef_search: only used by HNSW kinds, this index is kind={self.kind!r}")
        self._ef_search = positive_int("ef_search", value)
        if self._index is not None:
            if self._hnsw(self._index) is None:
                raise ValueError(f"ef_search: the FAISS index {self.kind!r} has no HNSW graph")
            self._apply_search_params(self._index)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        return f"FingerprintIndex(dim={self._dim}, metric={self._metric!r}, kind={self.kind!r}, ntotal={len(self)})"

    # -- inputs -------------------------------------------------------------------------------

    def _vectors(self, name: str, x: object) -> np.ndarray:
        a = finite_float32_matrix(name, x, self._dim)
        if self._metric == "cosine":
            norms = np.sqrt(np.einsum("ij,ij->i", a, a, dtype=np.float64))
            zero = np.flatnonzero(norms == 0)
            if zero.size:
                raise ValueError(f"{name}: row {int(zero[0])} has zero norm; cosine similarity is undefined for it ({zero.size} zero row(s))")
            a = (a / norms[:, None]).astype(np.float32)  # a new array; the caller's is untouched
        return a

    @contextmanager
    def _threads(self, num_threads: int | None):
        faiss = _faiss()
        n = resolve_num_threads(num_threads)
        old = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(n)
        try:
            yield
        finally:
            faiss.omp_set_num_threads(old)

    # -- training and adding ------------------------------------------------------------------

    def train(self, vectors: object, *, num_threads: int | None = None) -> None:
        """Train the coarse quantiser / codebooks (ivf, ivfpq, trainable factory strings)."""
        x = self._vectors("vectors", vectors)
        n = x.shape[0]
        if self._index is not None and self._index.is_trained and self._kind in ("flat", "hnsw"):
            return  # nothing to learn
        if len(self):
            raise RuntimeError("train: the index already holds vectors; train before the first add")
        nlist = self._nlist
        if self._kind in ("ivf", "ivfpq"):
            if nlist is None:
                nlist = int(min(max(1, round(4 * math.sqrt(n))), max(1, n // 39)))
            if n < nlist:
                raise ValueError(f"vectors: training needs at least nlist={nlist} rows, got {n}")
            if self._kind == "ivfpq" and n < 2**self._nbits:
                raise ValueError(f"vectors: ivfpq training needs at least 2**nbits={2 ** self._nbits} rows, got {n}")
            if self._index is None or self._ivf(self._index).nlist != nlist:
                self._index = self._build(nlist)
        with self._threads(num_threads):
            try:
                self._index.train(x)
            except RuntimeError as exc:
                raise ValueError(f"vectors: FAISS could not train {self._factory_string(nlist)!r} on {n} rows: {_faiss_reason(exc)}") from None
        self._apply_search_params(self._index)

    def add(
        self,
        vectors: object,
        ids: object = None,
        labels: Sequence[str | None] | None = None,
        metadata: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
        *,
        num_threads: int | None = None,
    ) -> np.ndarray:
        """Add vectors; returns their int64 ids.

        ``ids``: distinct int64 values (not -1), none already stored; ``None`` assigns
        ``max(stored ids) + 1, ...`` (from 0). ``labels``: one str (or None) per vector.
        ``metadata``: a dict (merged into :attr:`metadata`, for the index) or a list with one
        dict (or None) per vector; everything must be JSON-serialisable.
        """
        if self._index is None or not self._index.is_trained:
            raise RuntimeError(f"add: a {self.kind!r} index must be trained first: call index.train(vectors) with representative vectors")
        x = self._vectors("vectors", vectors)
        n = x.shape[0]
        new_ids = self._new_ids(ids, n)
        new_labels = _labels_list(labels, n)
        index_meta, per_vector = _metadata_arg(metadata, n)
        if n == 0:
            if index_meta:
                self.metadata.update(index_meta)
            return new_ids
        with self._threads(num_threads):
            self._index.add_with_ids(x, new_ids)
        self._ids = np.concatenate([self._ids, new_ids])
        self._labels.extend(new_labels)
        if per_vector is not None:
            for i, d in zip(new_ids.tolist(), per_vector):
                if d is not None:
                    self._vector_meta[i] = d
        if index_meta:
            self.metadata.update(index_meta)
        self._lookup = None
        return new_ids

    def _new_ids(self, ids: object, n: int) -> np.ndarray:
        if ids is None:
            start = int(self._ids.max()) + 1 if len(self) else 0
            return np.arange(start, start + n, dtype=np.int64)
        if isinstance(ids, (list, tuple)) and len(ids) == 0:
            ids = np.zeros(0, dtype=np.int64)
        a = np.asarray(ids) if not isinstance(ids, np.ndarray) else ids
        if a.ndim != 1:
            raise ValueError(f"ids: expected a 1-D array of {n} int64 ids (one per vector), got shape {a.shape}")
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"ids: expected integers (int64), got dtype {a.dtype}")
        if a.shape[0] != n:
            raise ValueError(f"ids: expected {n} ids (one per vector), got {a.shape[0]}")
        if a.dtype == np.uint64 and a.size and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError("ids: values must fit in int64")
        a = np.ascontiguousarray(a, dtype=np.int64)
        if (a == -1).any():
            raise ValueError(f"ids: -1 is reserved (it marks 'no neighbour' in results); found at position {int(np.flatnonzero(a == -1)[0])}")
        uniq, counts = np.unique(a, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"ids: duplicates are refused; id {int(uniq[counts > 1][0])} appears {int(counts.max())} times")
        clash = np.intersect1d(a, self._ids)
        if clash.size:
            raise ValueError(f"ids: duplicates are refused; id {int(clash[0])} is already in the index ({clash.size} clash(es))")
        return a

    # -- removing -----------------------------------------------------------------------------

    def remove(self, ids: object, *, num_threads: int | None = None) -> int:
        """Remove vectors by id; returns how many were removed (ids not present are ignored).

        For HNSW (and other graph/encoded factory kinds without native removal) the index is
        rebuilt from the stored vectors, which costs as much as adding them again: batch removals.
        """
        faiss = _faiss()
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            ids = [int(ids)]
        if isinstance(ids, (list, tuple)) and len(ids) == 0:
            ids = np.zeros(0, dtype=np.int64)
        a = np.asarray(ids)
        if a.ndim != 1:
            raise ValueError(f"ids: expected a 1-D array of ids, got shape {a.shape}")
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"ids: expected integers (int64), got dtype {a.dtype}")
        a = np.unique(np.asarray(a, dtype=np.int64))
        keep = ~np.isin(self._ids, a)
        count = int((~keep).sum())
        if count == 0 or self._index is None:
            return 0
        with self._threads(num_threads):
            if self._ivf(self._index) is not None or self._flat_inner():
                sel = faiss.IDSelectorBatch(a.size, faiss.swig_ptr(a))
                removed = int(self._index.remove_ids(sel))
                if removed != count:
                    raise RuntimeError(f"remove: FAISS removed {removed} vectors, expected {count}")
            else:
                self._rebuild_without(keep)
        for i in self._ids[~keep].tolist():
            self._vector_meta.pop(i, None)
        self._labels = [lab for lab, k in zip(self._labels, keep.tolist()) if k]
        self._ids = self._ids[keep]
        self._lookup = None
        return count

    def _flat_inner(self) -> bool:
        faiss = _faiss()
        if not isinstance(self._index, faiss.IndexIDMap2):
            return False
        return isinstance(faiss.downcast_index(self._index.index), faiss.IndexFlat)

    def _rebuild_without(self, keep: np.ndarray) -> None:
        faiss = _faiss()
        idmap = self._index
        inner = faiss.downcast_index(idmap.index)
        try:
            stored = inner.reconstruct_n(0, inner.ntotal)
        except RuntimeError as exc:
            raise ValueError(f"ids: the FAISS index {self.kind!r} supports neither removal nor reconstruction: {_faiss_reason(exc)}") from None
        # the IDMap2 keeps the ids in insertion order, as self._ids does
        kept_vectors = np.ascontiguousarray(stored[keep])
        fresh_inner = faiss.clone_index(inner)  # keeps any trained quantiser
        fresh_inner.reset()
        fresh = faiss.IndexIDMap2(fresh_inner)
        self._apply_search_params(fresh)
        fresh.add_with_ids(kept_vectors, self._ids[keep])
        self._index = fresh

    # -- searching ----------------------------------------------------------------------------

    def search(self, queries: object, k: int = 10, *, num_threads: int | None = None) -> SearchResult:
        """The k nearest stored vectors of each query (see :class:`SearchResult`)."""
        kk = positive_int("k", k)
        q = self._vectors("queries", queries)
        nq = q.shape[0]
        if len(self) == 0 or nq == 0:
            scores = np.full((nq, kk), np.nan, dtype=np.float32)
            ids = np.full((nq, kk), -1, dtype=np.int64)
            return SearchResult(scores, ids, np.full((nq, kk), None, dtype=object))
        with self._threads(num_threads):
            scores, ids = self._index.search(q, kk)
        missing = ids < 0
        if missing.any():
            scores[missing] = np.nan
        return SearchResult(scores, ids, self._labels_of(ids))

    def _labels_of(self, ids: np.ndarray) -> np.ndarray:
        out = np.full(ids.shape, None, dtype=object)
        if not any(lab is not None for lab in self._labels):
            return out
        if self._lookup is None:
            order = np.argsort(self._ids, kind="stable")
            labels = np.empty(len(self._labels), dtype=object)
            labels[:] = self._labels
            self._lookup = (self._ids[order], labels[order], order)
        sorted_ids, sorted_labels, _ = self._lookup
        flat = ids.ravel()
        pos = np.searchsorted(sorted_ids, flat)
        pos = np.minimum(pos, sorted_ids.shape[0] - 1)
        hit = (sorted_ids[pos] == flat) & (flat >= 0)
        res = out.ravel()
        res[hit] = sorted_labels[pos[hit]]
        return res.reshape(ids.shape)

    def labels_of(self, ids: object) -> list[str | None]:
        """The label of each id (None when unlabelled); unknown ids raise ValueError."""
        a = self._known_ids(ids)
        return self._labels_of(a).tolist()

    def vector_metadata(self, ids: object) -> list[dict | None]:
        """The per-vector metadata dict of each id (None when none was given)."""
        a = self._known_ids(ids)
        return [self._vector_meta.get(i) for i in a.tolist()]

    def _known_ids(self, ids: object) -> np.ndarray:
        a = np.atleast_1d(np.asarray(ids))
        if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"ids: expected integers (int64), got dtype {a.dtype}")
        a = a.astype(np.int64).ravel()
        unknown = a[~np.isin(a, self._ids)]
        if unknown.size:
            raise ValueError(f"ids: id {int(unknown[0])} is not in the index")
        return a

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to one file (see the module docstring for the format)."""
        faiss = _faiss()
        index_bytes = b"" if self._index is None else faiss.serialize_index(self._index).tobytes()
        ids_bytes = self._ids.astype("<i8").tobytes()
        extra = json.dumps(
            {
                "labels": self._labels,
                "vector_metadata": [[i, d] for i, d in self._vector_meta.items()],
                "metadata": self.metadata,
            },
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")
        header = json.dumps(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "dim": self._dim,
                "metric": self._metric,
                "kind": self._kind,
                "factory": self._factory,
                "nlist": self._nlist,
                "m": self._m,
                "nbits": self._nbits,
                "hnsw_m": self._hnsw_m,
                "ef_search": self._ef_search,
                "nprobe": self._nprobe,
                "ntotal": len(self),
                "sections": {"faiss": len(index_bytes), "ids": len(ids_bytes), "json": len(extra)},
            }
        ).encode("utf-8")
        write_checked_file(path, MAGIC, FORMAT_VERSION, header, (index_bytes, ids_bytes, extra))

    @classmethod
    def load(cls, path: str | os.PathLike) -> FingerprintIndex:
        """Read a file written by :meth:`save`; ValueError says what is wrong with a bad file."""
        faiss = _faiss()
        header, (index_bytes, ids_bytes, extra_bytes) = read_checked_file(
            path, MAGIC, FORMAT_VERSION, FORMAT_NAME, "FingerprintIndex", ("faiss", "ids", "json")
        )
        name = os.fspath(path)
        extra = json.loads(extra_bytes.decode("utf-8"))
        self = cls.__new__(cls)
        self._dim = int(header["dim"])
        self._metric = header["metric"]
        self._kind = header["kind"]
        self._factory = header["factory"]
        self._nlist = header["nlist"]
        self._m = header["m"]
        self._nbits = int(header["nbits"])
        self._hnsw_m = int(header["hnsw_m"])
        self._ef_search = header["ef_search"]
        self._nprobe = header["nprobe"]
        if index_bytes:
            self._index = faiss.deserialize_index(np.frombuffer(index_bytes, dtype=np.uint8).copy())
            self._apply_search_params(self._index)
        else:
            self._index = None
        self._ids = np.frombuffer(ids_bytes, dtype="<i8").astype(np.int64)
        self._labels = list(extra["labels"])
        self._vector_meta = {int(i): d for i, d in extra["vector_metadata"]}
        self.metadata = dict(extra["metadata"])
        self._lookup = None
        ntotal = 0 if self._index is None else int(self._index.ntotal)
        if not (len(self._ids) == len(self._labels) == ntotal == header["ntotal"]):
            raise ValueError(f"{name}: inconsistent file: {len(self._ids)} ids, {len(self._labels)} labels, {ntotal} vectors in the FAISS index")
        return self


def _labels_list(labels: object, n: int) -> list[str | None]:
    if labels is None:
        return [None] * n
    if isinstance(labels, str):
        raise TypeError("labels: expected a sequence of str (one per vector), got a single str")
    try:
        out = list(labels)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"labels: expected a sequence of str (one per vector), got {type(labels).__name__}") from None
    if len(out) != n:
        raise ValueError(f"labels: expected {n} labels (one per vector), got {len(out)}")
    for i, lab in enumerate(out):
        if isinstance(lab, np.str_):
            out[i] = str(lab)
        elif lab is not None and not isinstance(lab, str):
            raise TypeError(f"labels: expected str or None, labels[{i}] is {type(lab).__name__}")
    return out


def _json_dict(name: str, d: object) -> dict:
    if not isinstance(d, Mapping):
        raise TypeError(f"{name}: expected a dict, got {type(d).__name__}")
    d = dict(d)
    for key in d:
        if not isinstance(key, str):
            raise TypeError(f"{name}: keys must be str (JSON object keys), got {type(key).__name__} {key!r}")
    try:
        text = json.dumps(d, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: must be JSON-serialisable: {exc}") from None
    return json.loads(text)  # a private copy, exactly as it will be saved


def _metadata_arg(metadata: object, n: int) -> tuple[dict | None, list[dict | None] | None]:
    if metadata is None:
        return None, None
    if isinstance(metadata, Mapping):
        return _json_dict("metadata", metadata), None
    if isinstance(metadata, (str, bytes)) or not isinstance(metadata, Sequence):
        raise TypeError(f"metadata: expected a dict (for the index) or a list of {n} dicts (one per vector), got {type(metadata).__name__}")
    if len(metadata) != n:
        raise ValueError(f"metadata: expected {n} dicts (one per vector), got {len(metadata)}")
    return None, [None if d is None else _json_dict(f"metadata[{i}]", d) for i, d in enumerate(metadata)]


def write_checked_file(path: str | os.PathLike, magic: bytes, version: int, header: bytes, sections: Sequence[bytes]) -> None:
    """Write ``magic | version, len(header) (<IQ) | header | SHA-256(header + sections) | sections``.

    ``header`` is UTF-8 JSON naming the format, its version and ``"sections"`` (name -> length).
    The file is written to ``path + ".tmp"`` and renamed over ``path``.
    """
    digest = hashlib.sha256(header)
    for part in sections:
        digest.update(part)
    tmp = os.fspath(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(magic)
        f.write(struct.pack("<IQ", version, len(header)))
        f.write(header)
        f.write(digest.digest())
        for part in sections:
            f.write(part)
    os.replace(tmp, path)


def read_checked_file(
    path: str | os.PathLike, magic: bytes, version: int, format_name: str, what: str, section_names: Sequence[str]
) -> tuple[dict, list[bytes]]:
    """Read a :func:`write_checked_file` file: (header dict, sections in ``section_names`` order).

    ValueError names what is wrong: bad magic, version, truncation, trailing bytes, checksum.
    """
    with open(path, "rb") as f:
        data = f.read()
    name = os.fspath(path)
    fixed = len(magic) + 12
    if len(data) < fixed:
        raise ValueError(f"{name}: truncated file ({len(data)} bytes; the fixed preamble alone is {fixed})")
    if data[: len(magic)] != magic:
        raise ValueError(f"{name}: not a {what} file (bad magic {data[:len(magic)]!r}, expected {magic!r})")
    got_version, hlen = struct.unpack_from("<IQ", data, len(magic))
    if got_version != version:
        raise ValueError(f"{name}: unsupported format version {got_version} (this fingerprint reads version {version})")
    if len(data) < fixed + hlen + 32:
        raise ValueError(f"{name}: truncated file (header of {hlen} bytes and checksum do not fit in {len(data)} bytes)")
    header_bytes = data[fixed : fixed + hlen]
    stored_digest = data[fixed + hlen : fixed + hlen + 32]
    payload = data[fixed + hlen + 32 :]
    try:
        header = json.loads(header_bytes.decode("utf-8"))
        sections = header["sections"]
        sizes = [int(sections[s]) for s in section_names]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ValueError(f"{name}: corrupted header (checksum mismatch or unreadable JSON)") from None
    if len(payload) < sum(sizes):
        raise ValueError(f"{name}: truncated file (payload has {len(payload)} bytes, header says {sum(sizes)})")
    if len(payload) > sum(sizes):
        raise ValueError(f"{name}: corrupted file ({len(payload) - sum(sizes)} trailing bytes after the payload)")
    if hashlib.sha256(header_bytes + payload).digest() != stored_digest:
        raise ValueError(f"{name}: checksum mismatch (SHA-256 of the contents differs from the stored one): the file is corrupted")
    if header.get("format") != format_name or header.get("version") != version:
        raise ValueError(f"{name}: unsupported format {header.get('format')!r} version {header.get('version')!r}")
    parts, at = [], 0
    for size in sizes:
        parts.append(payload[at : at + size])
        at += size
    return header, parts
