r"""Binary signatures (SimHash, 1-bit MinHash) in a FAISS binary index, saved to one checked file.

:class:`BinaryIndex` stores ``bits``-bit codes (``bits`` a multiple of 8) with ids and labels in
``faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(bits))`` (exact Hamming search) and answers
``search(codes, k)`` with Hamming distances (lower = closer).

Codes: :func:`simhash_codes` packs :func:`fingerprint.minhash.simhash` values (uint64, low
``bits`` bits, bit j of the value is bit j of the code); :func:`minhash_bits` keeps the lowest
bit of each MinHash slot (b-bit minwise hashing with b = 1, Li & König 2010): two slots agree
with probability :math:`J + (1 - J)/2`, so :func:`jaccard_from_hamming` estimates
:math:`\hat J = 1 - 2\,d / P` from the Hamming distance d over P slots.

Save/load use the container of :mod:`fingerprint.index` (magic, version, JSON header,
SHA-256, no pickle): payload = ``faiss.serialize_index_binary`` bytes | ids int64 LE | JSON labels
and metadata.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .index import SearchResult, _faiss, _json_dict, _labels_list, read_checked_file, write_checked_file
from ._validate import integer

__all__ = ["BinaryIndex", "jaccard_from_hamming", "minhash_bits", "simhash_codes"]

FORMAT_NAME = "fingerprint.BinaryIndex"
FORMAT_VERSION = 1
MAGIC = b"FPBINIX\x00"


def simhash_codes(values: object, bits: int = 64) -> np.ndarray:
    """uint64 SimHash values [n] -> uint8 codes [n, bits // 8] (little-endian bit order)."""
    b = integer("bits", bits, lo=8, hi=65)
    if b % 8:
        raise ValueError(f"bits: expected a multiple of 8, got {b}")
    a = np.asarray(values)
    if a.ndim != 1 or a.dtype != np.uint64:
        raise TypeError(f"values: expected a 1-D uint64 array (fingerprint.minhash.simhash output), got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a.astype("<u8").view(np.uint8).reshape(-1, 8)[:, : b // 8])


def minhash_bits(signatures: object) -> np.ndarray:
    """MinHash signatures uint64 [n, P] (P a multiple of 8) -> uint8 codes [n, P // 8] of slot low bits."""
    s = np.asarray(signatures)
    if s.ndim != 2 or s.dtype != np.uint64:
        raise TypeError(f"signatures: expected a 2-D uint64 array [n, num_perm], got {s.dtype} {s.shape}")
    if s.shape[1] % 8:
        raise ValueError(f"signatures: num_perm must be a multiple of 8 to pack bits, got {s.shape[1]}")
    return np.packbits((s & np.uint64(1)).astype(np.uint8), axis=1, bitorder="little")


def jaccard_from_hamming(distance: object, num_slots: int) -> np.ndarray:
    """Unbiased 1-bit MinHash Jaccard estimate ``1 - 2 d / P`` (may fall below 0 for dissimilar sets)."""
    p = integer("num_slots", num_slots, lo=1)
    return 1.0 - 2.0 * np.asarray(distance, dtype=np.float64) / p


class BinaryIndex:
    """Exact Hamming-distance index over ``bits``-bit codes (uint8 [n, bits // 8])."""

    def __init__(self, bits: int) -> None:
        self._bits = integer("bits", bits, lo=8)
        if self._bits % 8:
            raise ValueError(f"bits: expected a multiple of 8, got {self._bits}")
        faiss = _faiss()
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(self._bits))
        self._ids = np.zeros(0, dtype=np.int64)
        self._labels: list[str | None] = []
        self.metadata: dict = {}

    @property
    def bits(self) -> int:
        return self._bits

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def __repr__(self) -> str:
        return f"BinaryIndex(bits={self._bits}, ntotal={len(self)})"

    def _codes(self, name: str, x: object) -> np.ndarray:
        a = np.asarray(x)
        nb = self._bits // 8
        if a.ndim != 2 or a.shape[1] != nb:
            raise ValueError(f"{name}: expected shape (n, bits // 8) = (n, {nb}), got {a.shape}")
        if a.dtype != np.uint8:
            raise TypeError(f"{name}: expected uint8 packed codes (simhash_codes / minhash_bits), got dtype {a.dtype}")
        return np.ascontiguousarray(a)

    def add(self, codes: object, ids: object = None, labels: object = None, metadata: object = None) -> np.ndarray:
        """Add codes; ids default to consecutive integers; returns the ids."""
        c = self._codes("codes", codes)
        n = c.shape[0]
        if ids is None:
            start = int(self._ids.max()) + 1 if len(self) else 0
            new = np.arange(start, start + n, dtype=np.int64)
        else:
            new = np.asarray(ids)
            if new.ndim != 1 or new.shape[0] != n or not np.issubdtype(new.dtype, np.integer) or new.dtype == np.bool_:
                raise ValueError(f"ids: expected {n} integer ids, got {new.dtype} {new.shape}")
            new = new.astype(np.int64)
            if (new == -1).any() or np.unique(new).size != n or np.intersect1d(new, self._ids).size:
                raise ValueError("ids: must be unique, new to the index and not -1")
        labs = _labels_list(labels, n)
        if metadata is not None:
            self.metadata.update(_json_dict("metadata", metadata))
        if n:
            self._index.add_with_ids(c, new)
        self._ids = np.concatenate([self._ids, new])
        self._labels.extend(labs)
        return new

    def search(self, queries: object, k: int = 10) -> SearchResult:
        """k nearest codes per query: scores = Hamming distances (float32, NaN where none)."""
        kk = integer("k", k, lo=1)
        q = self._codes("queries", queries)
        nq = q.shape[0]
        if len(self) == 0 or nq == 0:
            return SearchResult(np.full((nq, kk), np.nan, np.float32), np.full((nq, kk), -1, np.int64),
                                np.full((nq, kk), None, dtype=object))
        d, ids = self._index.search(q, kk)
        scores = d.astype(np.float32)
        scores[ids < 0] = np.nan
        lookup = dict(zip(self._ids.tolist(), self._labels))
        labels = np.array([[lookup.get(int(i)) for i in row] for row in ids], dtype=object).reshape(ids.shape)
        return SearchResult(scores, ids, labels)

    def save(self, path: str | os.PathLike) -> None:
        """One file: the :mod:`fingerprint.index` container (magic, version, SHA-256, no pickle)."""
        faiss = _faiss()
        index_bytes = faiss.serialize_index_binary(self._index).tobytes()
        ids_bytes = self._ids.astype("<i8").tobytes()
        extra = json.dumps({"labels": self._labels, "metadata": self.metadata}, allow_nan=False).encode("utf-8")
        header = json.dumps({
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "bits": self._bits, "ntotal": len(self),
            "sections": {"faiss": len(index_bytes), "ids": len(ids_bytes), "json": len(extra)},
        }).encode("utf-8")
        write_checked_file(path, MAGIC, FORMAT_VERSION, header, (index_bytes, ids_bytes, extra))

    @classmethod
    def load(cls, path: str | os.PathLike) -> BinaryIndex:
        faiss = _faiss()
        header, (index_bytes, ids_bytes, extra_bytes) = read_checked_file(
            path, MAGIC, FORMAT_VERSION, FORMAT_NAME, "BinaryIndex", ("faiss", "ids", "json"))
        self = cls.__new__(cls)
        self._bits = int(header["bits"])
        self._index = faiss.deserialize_index_binary(np.frombuffer(index_bytes, dtype=np.uint8).copy())
        self._ids = np.frombuffer(ids_bytes, dtype="<i8").astype(np.int64)
        extra = json.loads(extra_bytes.decode("utf-8"))
        self._labels = list(extra["labels"])
        self.metadata = dict(extra["metadata"])
        if not (len(self._ids) == len(self._labels) == int(self._index.ntotal) == header["ntotal"]):
            raise ValueError(f"{os.fspath(path)}: inconsistent file ({len(self._ids)} ids, {int(self._index.ntotal)} codes)")
        return self
