"""Document fingerprints: MinHash and SimHash signatures of token n-grams, LSH banding.

A corpus is ragged: ``ids`` (int64 token ids >= 0, all documents concatenated) and ``offsets``
(length B+1, from 0 to ``len(ids)``, non-decreasing); document d is ``ids[offsets[d]:offsets[d+1]]``.

Definitions (exact; ``tests/reference/minhash.py`` re-implements them in pure Python):

* ``mix64(z)`` is the splitmix64 finaliser on 64-bit words (wrap-around):
  ``z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31``.
* Shingles are the ``ngram``-grams of consecutive ids (``len - ngram + 1`` of them). Each has the
  64-bit hash ``h = 0; for x in gram: h = mix64(h + x + 0x9E3779B97F4A7C15)``. A document that is
  not empty but shorter than ``ngram`` has one shingle: all its ids (hashed the same way). An
  empty document has no shingles.
* MinHash slot ``k`` is ``min over shingles of (a_k * (h >> 3) + b_k) mod (2**61 - 1)``, where
  ``(a_k, b_k)`` come from the splitmix64 stream of ``seed`` (``s += 0x9E3779B97F4A7C15``, output
  ``mix64(s)``), drawn in the order a_0, b_0, a_1, b_1, ... as ``a_k = 1 + next % (2**61 - 2)``
  and ``b_k = next % (2**61 - 1)`` (modulo bias below 2^-60). Slots are uint64 in [0, 2^61 - 1).
  An empty document's signature is all ``EMPTY = 2**64 - 1``, a value no shingle produces.
* SimHash (Charikar): bit ``j < bits`` is 1 iff ``sum over shingles of w * (+1 if bit j of h is
  set else -1) > 0`` (ties give 0); ``w`` is 1, or with ``weights`` (one finite float per id) the
  weight of the shingle's first position (e.g. ``idf[ids]``). Bits ``>= bits`` are 0; an empty
  document gives 0.

Signatures are computed in C++ in parallel over documents with the GIL released; results are
identical for any thread count and SIMD level (the arithmetic is exact).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable

import numpy as np

from ._native import core
from ._threads import resolve_num_threads

__all__ = [
    "EMPTY",
    "MERSENNE_PRIME",
    "MinHashLSH",
    "hamming",
    "jaccard_estimate",
    "lsh_params",
    "minhash",
    "minhash_permutations",
    "simhash",
]

MERSENNE_PRIME = (1 << 61) - 1
EMPTY = (1 << 64) - 1  # every slot of an empty document's signature

_INT64_MAX = (1 << 63) - 1


# -- validation ----------------------------------------------------------------------------------


def _int_arg(name: str, value: object, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not (isinstance(value, (int, np.integer))):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    v = int(value)
    if v < low or (high is not None and v > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {rng}, got {v}")
    return v


def _int_vector(name: str, x: object) -> np.ndarray:
    if isinstance(x, (list, tuple)) and len(x) == 0:
        x = np.zeros(0, dtype=np.int64)
    if not isinstance(x, np.ndarray):
        if not (hasattr(x, "__array__") or isinstance(x, (list, tuple))):
            raise TypeError(f"{name}: expected a NumPy integer array, got {type(x).__name__}")
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as exc:  # ragged lists and the like
            raise TypeError(f"{name}: expected a 1-D integer array ({exc})") from None
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {x.shape}")
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer array, got dtype {x.dtype}")
    return x


def _corpus(ids: object, offsets: object) -> tuple[np.ndarray, np.ndarray]:
    a = _int_vector("ids", ids)
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            i = int(np.flatnonzero(a < 0)[0])
            raise ValueError(f"ids: token ids must be >= 0; ids[{i}] = {int(a[i])}")
        if hi > _INT64_MAX:
            i = int(np.flatnonzero(a > _INT64_MAX)[0])
            raise ValueError(f"ids: token ids must be < 2**63; ids[{i}] = {int(a[i])}")
    a = np.ascontiguousarray(a, dtype=np.int64)  # values checked: the cast is exact
    o = _int_vector("offsets", offsets)
    if o.shape[0] < 1:
        raise ValueError("offsets: expected length B+1 >= 1 (one boundary more than documents), got 0")
    if o.size and (int(o.min()) < 0 or int(o.max()) > _INT64_MAX):
        raise ValueError(f"offsets: values must lie in [0, {a.shape[0]}]")
    o = np.ascontiguousarray(o, dtype=np.int64)
    if o[0] != 0:
        raise ValueError(f"offsets: must start at 0, got offsets[0] = {int(o[0])}")
    if o[-1] != a.shape[0]:
        raise ValueError(
            f"offsets: must end at the number of ids {a.shape[0]}, got offsets[-1] = {int(o[-1])}"
        )
    dec = np.flatnonzero(np.diff(o) < 0)
    if dec.size:
        i = int(dec[0])
        raise ValueError(
            f"offsets: must be non-decreasing; offsets[{i}] = {int(o[i])} > offsets[{i + 1}] = {int(o[i + 1])}"
        )
    return a, o


def _signatures(name: str, x: object, *, ndim: tuple[int, ...] = (1, 2)) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy uint64 array of signatures, got {type(x).__name__}")
    if x.dtype != np.uint64:
        raise TypeError(f"{name}: expected dtype uint64 (from minhash/simhash), got {x.dtype}")
    if x.ndim not in ndim:
        raise ValueError(f"{name}: expected {' or '.join(f'{d}-D' for d in ndim)} array, got shape {x.shape}")
    return x


# -- signatures ----------------------------------------------------------------------------------


def minhash_permutations(num_perm: int = 128, *, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) uint64 arrays of the ``num_perm`` hash permutations drawn from ``seed``."""
    num_perm = _int_arg("num_perm", num_perm, low=1)
    seed = _int_arg("seed", seed, low=0, high=EMPTY)
    return core().mh_permutations(num_perm, seed)


def minhash(
    ids: object,
    offsets: object,
    *,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 1,
    num_threads: int | None = None,
) -> np.ndarray:
    """MinHash signatures, uint64 [B, num_perm], of the ``ngram``-shingles of each document.

    See the module docstring for the exact hash functions, short and empty documents.
    ``jaccard_estimate`` of two rows estimates the Jaccard similarity of their shingle sets
    (standard error ``sqrt(J (1 - J) / num_perm)``).
    """
    a_ids, off = _corpus(ids, offsets)
    num_perm = _int_arg("num_perm", num_perm, low=1)
    ngram = _int_arg("ngram", ngram, low=1)
    seed = _int_arg("seed", seed, low=0, high=EMPTY)
    nt = resolve_num_threads(num_threads)
    c = core()
    pa, pb = c.mh_permutations(num_perm, seed)
    return c.mh_minhash(a_ids, off, ngram, pa, pb, nt)


def simhash(
    ids: object,
    offsets: object,
    *,
    bits: int = 64,
    ngram: int = 5,
    weights: object = None,
    num_threads: int | None = None,
) -> np.ndarray:
    """Charikar SimHash of each document's shingles: uint64 [B] (the low ``bits`` bits used).

    ``weights``: None (each shingle weighs 1) or one finite float per id (a shingle weighs the
    weight of its first position). Compare with :func:`hamming`.
    """
    a_ids, off = _corpus(ids, offsets)
    bits = _int_arg("bits", bits, low=1, high=64)
    ngram = _int_arg("ngram", ngram, low=1)
    w = None
    if weights is not None:
        w = np.asarray(weights) if isinstance(weights, (list, tuple)) else weights
        if not isinstance(w, np.ndarray):
            raise TypeError(f"weights: expected a NumPy float array or None, got {type(weights).__name__}")
        if w.ndim != 1 or w.shape[0] != a_ids.shape[0]:
            raise ValueError(f"weights: expected shape ({a_ids.shape[0]},) (one per id), got {w.shape}")
        if not np.issubdtype(w.dtype, np.floating) or w.dtype.itemsize > 8:
            raise TypeError(f"weights: expected float16/32/64, got dtype {w.dtype}")
        w = np.ascontiguousarray(w, dtype=np.float64)  # widening is exact
        bad = np.flatnonzero(~np.isfinite(w))
        if bad.size:
            raise ValueError(f"weights: must be finite; weights[{int(bad[0])}] = {w[bad[0]]}")
    nt = resolve_num_threads(num_threads)
    return core().mh_simhash(a_ids, off, ngram, bits, w, nt)


def jaccard_estimate(sig_a: object, sig_b: object) -> np.ndarray | float:
    """Fraction of equal slots of MinHash signatures (rows broadcast against each other).

    ``sig_a``, ``sig_b``: uint64 [num_perm] or [B, num_perm]. Returns a float for two 1-D
    signatures, else float64 [B]. Two empty documents give 1.0, empty vs non-empty 0.0.
    """
    a = _signatures("sig_a", sig_a)
    b = _signatures("sig_b", sig_b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"sig_a and sig_b: different num_perm ({a.shape[-1]} vs {b.shape[-1]})")
    if a.ndim == 2 and b.ndim == 2 and a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(f"sig_a and sig_b: different numbers of rows ({a.shape[0]} vs {b.shape[0]})")
    if a.shape[-1] == 0:
        raise ValueError("sig_a: num_perm is 0")
    r = np.count_nonzero(a == b, axis=-1) / a.shape[-1]
    return float(r) if np.ndim(r) == 0 else r


def hamming(a: object, b: object) -> np.ndarray | int:
    """Number of differing bits of uint64 SimHashes (arrays broadcast); int for two scalars."""
    if isinstance(a, (int, np.integer)) and not isinstance(a, bool):
        a = np.asarray(a, dtype=np.uint64)
    if isinstance(b, (int, np.integer)) and not isinstance(b, bool):
        b = np.asarray(b, dtype=np.uint64)
    x = _signatures("a", a, ndim=(0, 1, 2))
    y = _signatures("b", b, ndim=(0, 1, 2))
    try:
        z = np.bitwise_xor(x, y)
    except ValueError as exc:
        raise ValueError(f"a and b: shapes {x.shape} and {y.shape} do not broadcast") from exc
    r = _popcount64(np.asarray(z, dtype=np.uint64))
    return int(r) if r.ndim == 0 else r


_BYTE_BITS = np.array([i.bit_count() for i in range(256)], dtype=np.int64)


def _popcount64(z: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # NumPy >= 2.0
        return np.bitwise_count(z).astype(np.int64)
    b = np.ascontiguousarray(z).reshape(z.shape + (1,)).view(np.uint8)
    return _BYTE_BITS[b].sum(axis=-1)


# -- LSH -----------------------------------------------------------------------------------------


def _candidate_probability(s: np.ndarray, bands: int, rows: int) -> np.ndarray:
    return 1.0 - (1.0 - s**rows) ** bands


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0)


def lsh_params(num_perm: int, threshold: float) -> tuple[int, int]:
    """(bands, rows) with bands * rows == num_perm for a Jaccard ``threshold``.

    The S-curve P(candidate | s) = 1 - (1 - s^rows)^bands should step at ``threshold``: the
    divisor pair minimising the false-positive area (integral of P over [0, threshold]) plus
    the false-negative area (integral of 1 - P over [threshold, 1]) is chosen (equal weights;
    trapezoid rule on 1,001 points per side; ties go to more bands).
    """
    num_perm = _int_arg("num_perm", num_perm, low=1)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError(f"threshold must be a float, got {type(threshold).__name__}")
    t = float(threshold)
    if not 0.0 < t < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    lo = np.linspace(0.0, t, 1001)
    hi = np.linspace(t, 1.0, 1001)
    best = None
    for rows in range(1, num_perm + 1):
        if num_perm % rows:
            continue
        bands = num_perm // rows
        fp_area = _trapezoid(_candidate_probability(lo, bands, rows), lo)
        fn_area = _trapezoid(1.0 - _candidate_probability(hi, bands, rows), hi)
        err = fp_area + fn_area
        if best is None or err < best[0] - 1e-15:
            best = (err, bands, rows)
    return best[1], best[2]


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64 [n, bands]: a 64-bit hash of each band (mix64 chain over its slots, band index salted)."""
    n = sig.shape[0]
    v = sig.reshape(n, bands, rows)
    h = np.broadcast_to(np.arange(bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15), (n, bands)).copy()
    with np.errstate(over="ignore"):
        for j in range(rows):
            h = _mix64_np(h + v[:, :, j] + np.uint64(0x9E3779B97F4A7C15))
    return h


def _mix64_np(z: np.ndarray) -> np.ndarray:
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


_FORMAT = "fingerprint.MinHashLSH"
_VERSION = 1
_MAGIC = b"FPMHLSH\n"


class MinHashLSH:
    """Banded LSH over MinHash signatures: documents sharing one band exactly are candidates.

    ``MinHashLSH(num_perm, bands=b, rows=r)`` with ``b * r == num_perm``, or
    ``MinHashLSH(num_perm, threshold=t)`` (see :func:`lsh_params`). A pair with Jaccard ``s`` is
    a candidate with probability ``1 - (1 - s**rows)**bands``. Each band is bucketed by a 64-bit
    hash of its slots (a spurious match needs a 64-bit collision). Items carry int64 ids
    (default: 0, 1, 2, ... in insertion order); ids must be unique.
    """

    def __init__(self, num_perm: int, *, bands: int | None = None, rows: int | None = None,
                 threshold: float | None = None) -> None:
        num_perm = _int_arg("num_perm", num_perm, low=1)
        if threshold is not None:
            if bands is not None or rows is not None:
                raise ValueError("pass either threshold or bands and rows, not both")
            bands, rows = lsh_params(num_perm, threshold)
        else:
            if bands is None or rows is None:
                raise ValueError("pass bands and rows (bands * rows == num_perm), or threshold")
            bands = _int_arg("bands", bands, low=1)
            rows = _int_arg("rows", rows, low=1)
            if bands * rows != num_perm:
                raise ValueError(f"bands * rows must equal num_perm: {bands} * {rows} != {num_perm}")
        self.num_perm, self.bands, self.rows = num_perm, int(bands), int(rows)
        self.threshold = None if threshold is None else float(threshold)
        self._sigs: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._id_set: set[int] = set()
        self._next_id = 0
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._id_set)

    def __repr__(self) -> str:
        return f"MinHashLSH(num_perm={self.num_perm}, bands={self.bands}, rows={self.rows}, items={len(self)})"

    # storage
    @property
    def signatures(self) -> np.ndarray:
        """uint64 [n, num_perm], in insertion order."""
        if not self._sigs:
            return np.zeros((0, self.num_perm), dtype=np.uint64)
        if len(self._sigs) > 1:
            self._sigs = [np.concatenate(self._sigs)]
        return self._sigs[0]

    @property
    def ids(self) -> np.ndarray:
        """int64 [n], in insertion order."""
        if not self._ids:
            return np.zeros(0, dtype=np.int64)
        if len(self._ids) > 1:
            self._ids = [np.concatenate(self._ids)]
        return self._ids[0]

    def add(self, signatures: object, ids: Iterable[int] | np.ndarray | None = None) -> np.ndarray:
        """Add signatures (uint64 [n, num_perm] or one [num_perm]); returns their int64 ids."""
        s = _signatures("signatures", signatures)
        if s.ndim == 1:
            s = s[None, :]
        if s.shape[1] != self.num_perm:
            raise ValueError(f"signatures: expected {self.num_perm} slots per row, got {s.shape[1]}")
        n = s.shape[0]
        if ids is None:
            new = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        else:
            if not isinstance(ids, np.ndarray) and isinstance(ids, Iterable):
                ids = list(ids)
            new = _int_vector("ids", ids)
            if new.shape[0] != n:
                raise ValueError(f"ids: expected {n} ids (one per signature), got {new.shape[0]}")
            if new.size and (int(new.min()) < -(1 << 63) or int(new.max()) > _INT64_MAX):
                raise ValueError("ids: must fit in int64")
            new = new.astype(np.int64)
        if np.unique(new).shape[0] != n:
            raise ValueError("ids: contains duplicates")
        clash = [int(i) for i in new if int(i) in self._id_set]
        if clash:
            raise ValueError(f"ids: already in the index: {clash[:5]}")
        self._sigs.append(np.ascontiguousarray(s).copy())
        self._ids.append(new)
        self._id_set.update(int(i) for i in new)
        if n:
            self._next_id = max(self._next_id, int(new.max()) + 1)
        self._index = None
        return new

    def _built(self) -> tuple[np.ndarray, np.ndarray]:
        """Per band: sorted band keys [bands, n] and the row of each ([bands, n])."""
        if self._index is None:
            sig = self.signatures
            keys = _band_keys(sig, self.bands, self.rows).T.copy()  # [bands, n]
            order = np.argsort(keys, axis=1, kind="stable")
            self._index = (np.take_along_axis(keys, order, axis=1), order)
        return self._index

    def query(self, signature: object) -> np.ndarray:
        """Ids (int64, ascending) of the items sharing at least one band with ``signature``."""
        s = _signatures("signature", signature, ndim=(1,))
        if s.shape[0] != self.num_perm:
            raise ValueError(f"signature: expected {self.num_perm} slots, got {s.shape[0]}")
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        skeys, order = self._built()
        q = _band_keys(s[None, :], self.bands, self.rows)[0]
        rows = []
        for j in range(self.bands):
            lo = np.searchsorted(skeys[j], q[j], side="left")
            hi = np.searchsorted(skeys[j], q[j], side="right")
            if hi > lo:
                rows.append(order[j, lo:hi])
        if not rows:
            return np.zeros(0, dtype=np.int64)
        return np.unique(self.ids[np.unique(np.concatenate(rows))])

    def candidate_pairs(self) -> np.ndarray:
        """int64 [m, 2]: each pair of ids sharing a band, once; rows ordered by insertion
        (first column inserted earlier), pairs sorted. Buckets of size k give k(k-1)/2 pairs."""
        n = len(self)
        if n < 2:
            return np.zeros((0, 2), dtype=np.int64)
        skeys, order = self._built()
        codes = []
        for j in range(self.bands):
            k = skeys[j]
            starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
            sizes = np.diff(np.append(starts, n))
            for st, sz in zip(starts[sizes > 1], sizes[sizes > 1]):
                members = np.sort(order[j, st:st + sz])
                iu, ju = np.triu_indices(sz, 1)
                codes.append(members[iu] * n + members[ju])
        if not codes:
            return np.zeros((0, 2), dtype=np.int64)
        u = np.unique(np.concatenate(codes))
        ids = self.ids
        return np.stack([ids[u // n], ids[u % n]], axis=1)

    # persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write one file: magic, header length, JSON header (format, version, parameters, array
        layout), raw little-endian arrays, then the SHA-256 of everything before it."""
        sig = np.ascontiguousarray(self.signatures, dtype="<u8")
        ids = np.ascontiguousarray(self.ids, dtype="<i8")
        header = {
            "format": _FORMAT,
            "version": _VERSION,
            "num_perm": self.num_perm,
            "bands": self.bands,
            "rows": self.rows,
            "threshold": self.threshold,
            "count": int(ids.shape[0]),
            "next_id": self._next_id,
            "arrays": [
                {"name": "signatures", "dtype": "<u8", "shape": list(sig.shape)},
                {"name": "ids", "dtype": "<i8", "shape": list(ids.shape)},
            ],
        }
        hb = json.dumps(header, sort_keys=True).encode("utf-8")
        body = _MAGIC + len(hb).to_bytes(8, "little") + hb + sig.tobytes() + ids.tobytes()
        data = body + hashlib.sha256(body).digest()
        with open(path, "wb") as f:
            f.write(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MinHashLSH:
        """Read a file written by :meth:`save` (never unpickles). Raises ValueError naming the
        problem: not such a file, truncated, corrupted (checksum, header), wrong format/version."""
        with open(path, "rb") as f:
            data = f.read()
        where = f"{os.fspath(path)!s}"
        if len(data) < len(_MAGIC) or data[: len(_MAGIC)] != _MAGIC:
            if _MAGIC.startswith(data):
                raise ValueError(f"{where}: truncated MinHashLSH file ({len(data)} bytes)")
            raise ValueError(f"{where}: not a MinHashLSH file (bad magic bytes)")
        if len(data) < len(_MAGIC) + 8:
            raise ValueError(f"{where}: truncated MinHashLSH file ({len(data)} bytes)")
        hlen = int.from_bytes(data[len(_MAGIC): len(_MAGIC) + 8], "little")
        start = len(_MAGIC) + 8
        if len(data) < start + hlen + 32:
            if hlen > 1 << 30:
                raise ValueError(f"{where}: corrupted MinHashLSH file (header length {hlen})")
            raise ValueError(f"{where}: truncated MinHashLSH file ({len(data)} bytes, header alone needs {start + hlen + 32})")
        try:
            header = json.loads(data[start: start + hlen].decode("utf-8"))
            if not isinstance(header, dict):
                raise ValueError("header is not an object")  # noqa: TRY004 - a corrupt file
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{where}: corrupted MinHashLSH file (unreadable header: {exc})") from None
        if header.get("format") != _FORMAT:
            raise ValueError(f"{where}: wrong format {header.get('format')!r}, expected {_FORMAT!r}")
        if header.get("version") != _VERSION:
            raise ValueError(
                f"{where}: unsupported MinHashLSH file version {header.get('version')!r} (this reads version {_VERSION})"
            )
        try:
            num_perm, bands, rows = (int(header[k]) for k in ("num_perm", "bands", "rows"))
            count = int(header["count"])
            next_id = int(header["next_id"])
            threshold = header["threshold"]
            arrays = {a["name"]: a for a in header["arrays"]}
            sig_shape = tuple(int(d) for d in arrays["signatures"]["shape"])
            ids_shape = tuple(int(d) for d in arrays["ids"]["shape"])
            ok = (
                arrays["signatures"]["dtype"] == "<u8" and arrays["ids"]["dtype"] == "<i8"
                and sig_shape == (count, num_perm) and ids_shape == (count,) and count >= 0
                and num_perm >= 1 and bands >= 1 and rows >= 1 and bands * rows == num_perm
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: corrupted MinHashLSH file (bad header field: {exc})") from None
        if not ok:
            raise ValueError(f"{where}: corrupted MinHashLSH file (inconsistent header)")
        expected = start + hlen + 8 * count * num_perm + 8 * count + 32
        if len(data) < expected:
            raise ValueError(f"{where}: truncated MinHashLSH file ({len(data)} bytes, expected {expected})")
        if len(data) > expected:
            raise ValueError(f"{where}: corrupted MinHashLSH file ({len(data) - expected} unexpected trailing bytes)")
        if hashlib.sha256(data[:-32]).digest() != data[-32:]:
            raise ValueError(f"{where}: corrupted MinHashLSH file (SHA-256 checksum mismatch)")
        p = start + hlen
        sig = np.frombuffer(data, dtype="<u8", count=count * num_perm, offset=p).reshape(count, num_perm)
        ids = np.frombuffer(data, dtype="<i8", count=count, offset=p + 8 * count * num_perm)
        obj = cls(num_perm, bands=bands, rows=rows)
        obj.threshold = None if threshold is None else float(threshold)
        if count:
            obj.add(sig.astype(np.uint64), ids.astype(np.int64))
        obj._next_id = max(obj._next_id, next_id)
        return obj
