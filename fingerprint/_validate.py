"""Input coercion and error messages, in one place.

Every public function validates its arguments here once, then hands the native code arrays it
can use without copying. Errors name the argument, what was expected and what arrived.
Nothing is silently altered: values are never rounded or cast to a lower precision; a copy is
made only to change memory layout or byte order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

# dtype codes shared with csrc/divergence.hpp
DT_F32, DT_F16, DT_BF16 = 0, 1, 2


def _describe(x: object) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__}"


def _as_array(name: str, x: object) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__array__") or isinstance(x, (list, tuple)):
        try:
            return np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name}: expected an array, got {_describe(x)} ({exc})") from None
    raise TypeError(f"{name}: expected a NumPy array, got {_describe(x)}")


def logit_matrix(name: str, x: object, *, bfloat16_bits: bool = False) -> tuple[np.ndarray, int]:
    """A 2-D float32/float16/bfloat16 matrix with a contiguous last axis, and its dtype code."""
    a = _as_array(name, x)
    if a.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array [positions, vocab], got shape {a.shape}"
            + (" (add a leading axis with x[None, :] for one position)" if a.ndim == 1 else "")
        )
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))  # byte order only; values unchanged
    dt = a.dtype
    if dt == np.float32:
        code = DT_F32
    elif dt == np.float16:
        code = DT_F16
    elif dt.name == "bfloat16":  # ml_dtypes.bfloat16, recognised without importing ml_dtypes
        code = DT_BF16
    elif dt == np.uint16 and bfloat16_bits:
        code = DT_BF16
    elif dt == np.uint16:
        raise TypeError(
            f"{name}: got uint16; if these are bfloat16 bit patterns pass bfloat16_bits=True"
        )
    elif dt == np.float64:
        raise TypeError(
            f"{name}: expected float32, float16 or bfloat16, got float64; pass "
            f"{name}.astype(np.float32) (the kernels compute in float32 and accumulate in float64)"
        )
    else:
        raise TypeError(f"{name}: expected float32, float16 or bfloat16, got {dt}")
    if a.shape[1] == 0:
        raise ValueError(f"{name}: vocabulary axis is empty (shape {a.shape}); need at least 1 column")
    if a.shape[1] > 1 and a.strides[1] != a.itemsize:
        a = np.ascontiguousarray(a)  # layout only (Fortran order, strided columns)
    if a.shape[0] > 1 and a.strides[0] % a.itemsize != 0:
        a = np.ascontiguousarray(a)
    if code == DT_BF16 and dt != np.uint16:
        a = a.view(np.uint16)
    return a, code


def index_vector(
    name: str, x: object, *, length: int | None = None, upper: int | None = None
) -> np.ndarray:
    """A 1-D int64 array (copied only if its dtype or layout differ), values in [0, upper)."""
    if isinstance(x, (list, tuple)) and len(x) == 0:
        x = np.zeros(0, dtype=np.int64)  # an empty list has no dtype; NumPy would say float64
    a = _as_array(name, x)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {a.shape}")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer array, got dtype {a.dtype}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name}: expected length {length} (one per position), got {a.shape[0]}")
    if a.size and upper is not None:
        bad = np.flatnonzero((a < 0) | (a >= upper))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{name}: values must lie in [0, {upper}); {name}[{i}] = {int(a[i])}"
                f" ({bad.size} value(s) out of range)"
            )
    return np.ascontiguousarray(a, dtype=np.int64)


def offsets_vector(name: str, x: object, n: int) -> np.ndarray:
    """Sequence boundaries: int64, length B+1, starts at 0, ends at n, non-decreasing."""
    a = _as_array(name, x)
    if a.ndim != 1 or a.shape[0] < 1:
        raise ValueError(f"{name}: expected a 1-D array of length B+1 >= 1, got shape {a.shape}")
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer array, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.int64)
    if a[0] != 0:
        raise ValueError(f"{name}: must start at 0, got {name}[0] = {int(a[0])}")
    if a[-1] != n:
        raise ValueError(f"{name}: must end at the number of positions {n}, got {name}[-1] = {int(a[-1])}")
    dec = np.flatnonzero(np.diff(a) < 0)
    if dec.size:
        i = int(dec[0])
        raise ValueError(
            f"{name}: must be non-decreasing; {name}[{i}] = {int(a[i])} > {name}[{i + 1}] = {int(a[i + 1])}"
        )
    return a


def float_vector(name: str, x: object, *, length: int | None = None, allow_nan: bool = True) -> np.ndarray:
    """A 1-D float64 array (float16/32 widened exactly)."""
    a = _as_array(name, x)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name}: expected a floating-point array, got dtype {a.dtype}")
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name}: expected length {length}, got {a.shape[0]}")
    if a.dtype.itemsize > 8:
        raise TypeError(f"{name}: expected float16/32/64, got {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not allow_nan and np.isnan(a).any():
        i = int(np.flatnonzero(np.isnan(a))[0])
        raise ValueError(f"{name}: contains NaN at index {i}")
    return a


def field_list(name: str, fields: Iterable[str] | str | None, valid: Sequence[str]) -> list[str]:
    """The requested output fields (all when None), in canonical order."""
    if fields is None:
        return list(valid)
    if isinstance(fields, str):
        fields = [fields]
    requested = list(fields)
    for f in requested:
        if not isinstance(f, str):
            raise TypeError(f"{name}: expected field names (str), got {type(f).__name__}")
        if f not in valid:
            raise ValueError(f"{name}: unknown field {f!r}; valid fields are: {', '.join(valid)}")
    if not requested:
        raise ValueError(f"{name}: empty; name at least one of: {', '.join(valid)}")
    want = set(requested)
    return [f for f in valid if f in want]


def panel_fields(
    fields: Iterable[str] | str | None,
    valid: Sequence[str],
    target_fields: Iterable[str],
    have_targets: bool,
    n: int,
) -> list[str]:
    """Fields a panel computes: all (those needing targets only if given) when ``fields`` is None."""
    need = set(target_fields)
    if fields is None:
        return [f for f in valid if have_targets or f not in need]
    names = field_list("fields", fields, valid)
    missing = [f for f in names if f in need]
    if missing and not have_targets:
        raise ValueError(f"fields {missing} need the observed tokens: pass targets= (length {n})")
    return names


def where_position(offsets: np.ndarray | None, i: int) -> str:
    """" (sequence s, position j)" for row ``i`` when ``offsets`` are known, else ""."""
    if offsets is None or offsets.shape[0] < 2:
        return ""
    seq = int(np.searchsorted(offsets, i, side="right")) - 1
    return f" (sequence {seq}, position {i - int(offsets[seq])})"


def readonly_view(a: np.ndarray) -> np.ndarray:
    """``a`` as an aligned, read-only view (a copy only if it is misaligned).

    The Numba kernels are compiled for one array type (read-only, C-contiguous, aligned); a
    read-only view of a writeable array costs nothing and keeps them monomorphic.
    """
    if not a.flags.aligned:
        a = a.copy()
    v = a.view()
    v.flags.writeable = False
    return v


def position_values(
    name: str,
    a: np.ndarray,
    offsets: np.ndarray | None = None,
    *,
    neginf: bool = True,
    posinf: bool = False,
    nonnegative: bool = False,
    why: str = "",
) -> None:
    """Check the values of a float64 per-position vector: never NaN; +-inf and negatives as allowed.

    Errors name the first offending index and, with ``offsets``, its sequence and position.
    One reduction when every value is finite (the common case); a detailed pass otherwise.
    """
    if a.size == 0:
        return
    total = float(np.add.reduce(a))
    if not np.isfinite(total):  # some NaN or inf (or an overflowing sum): find out which
        nan = np.flatnonzero(np.isnan(a))
        if nan.size:
            i = int(nan[0])
            raise ValueError(
                f"{name}: contains NaN at index {i}{where_position(offsets, i)}"
                f" ({nan.size} NaN value(s)){why}"
            )
        for sign, allowed in ((1.0, posinf), (-1.0, neginf)):
            if allowed:
                continue
            bad = np.flatnonzero(a == sign * np.inf)
            if bad.size:
                i = int(bad[0])
                raise ValueError(
                    f"{name}: {'+' if sign > 0 else '-'}inf at index {i}{where_position(offsets, i)}"
                    f" ({bad.size} such value(s)){why}"
                )
    if nonnegative:
        if float(np.min(a)) < 0:
            neg = np.flatnonzero(a < 0)
            i = int(neg[0])
            raise ValueError(
                f"{name}: expected values >= 0, got {name}[{i}] = {float(a[i])!r}"
                f"{where_position(offsets, i)} ({neg.size} negative value(s)){why}"
            )

# ---- top-k inputs (fingerprint.topk) ----------------------------------------------------------


def _layout_ok(a: np.ndarray) -> bool:
    """Strides (any order, any sign) whole multiples of the item size and aligned data."""
    return a.flags.aligned and all(s % a.itemsize == 0 for s in a.strides)


def topk_ids(name: str, x: object) -> np.ndarray:
    """A 2-D [positions, k] id matrix: int32/int64 kept as they are, other integers widened to int64.

    -1 marks padding; other values are checked by the kernel (row by row, with the message built
    by the caller). Any strides are accepted; a copy is made only for byte order or alignment.
    """
    a = _as_array(name, x)
    if a.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array [positions, k], got shape {a.shape}"
            + (" (add a leading axis with x[None, :] for one position)" if a.ndim == 1 else "")
        )
    dt = a.dtype
    if dt == np.bool_ or not np.issubdtype(dt, np.integer):
        raise TypeError(f"{name}: expected an integer array of token ids, got dtype {dt}")
    if dt.kind == "u" and dt.itemsize == 8 and a.size and int(a.max()) > np.iinfo(np.int64).max:
        bad = np.unravel_index(int(np.argmax(a)), a.shape)
        raise ValueError(
            f"{name}: id {int(a[bad])} at {tuple(int(b) for b in bad)} does not fit in int64"
        )
    if dt.kind == "i" and dt.itemsize in (4, 8):
        if not dt.isnative:
            a = a.astype(dt.newbyteorder("="))
    else:
        a = a.astype(np.int64)  # widening: int8/16, uint8/16/32, and uint64 checked above
    if not _layout_ok(a):
        a = np.ascontiguousarray(a)
    return a


def topk_logprobs(name: str, x: object) -> np.ndarray:
    """A 2-D float32/float64 log-prob matrix; float16 and bfloat16 are widened exactly to float32."""
    a = _as_array(name, x)
    if a.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array [positions, k], got shape {a.shape}"
            + (" (add a leading axis with x[None, :] for one position)" if a.ndim == 1 else "")
        )
    dt = a.dtype
    if dt.kind == "f" and dt.itemsize in (4, 8):
        if not dt.isnative:
            a = a.astype(dt.newbyteorder("="))
    elif (dt.kind == "f" and dt.itemsize == 2) or dt.name == "bfloat16":
        a = a.astype(np.float32)  # exact
    else:
        raise TypeError(f"{name}: expected float32 or float64 log-probabilities, got dtype {dt}")
    if not _layout_ok(a):
        a = np.ascontiguousarray(a)
    return a


def choice(name: str, value: object, valid: Sequence[str]) -> str:
    """One of the strings `valid`."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {', '.join(map(repr, valid))}, got {type(value).__name__}")
    if value not in valid:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, valid))}, got {value!r}")
    return value


def positive_int(name: str, x: object) -> int:
    """A Python int >= 1 (bools rejected)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive integer, got {type(x).__name__}")
    value = int(x)
    if value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value}")
    return value


def logprob_vector(name: str, x: object, *, length: int, tol: float) -> np.ndarray:
    """1-D float64 log-probs of length `length`: NaN (unknown) and -inf allowed, none above `tol`."""
    a = float_vector(name, x, length=length)
    bad = np.flatnonzero(a > tol)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}: log-probabilities must be <= 0 (rounding up to {tol:g} is accepted); "
            f"{name}[{i}] = {float(a[i])!r}"
        )
    return a
# -- scalars (watermark parameters and the like) -------------------------------------------------


def integer(name: str, x: object, *, lo: int | None = None, hi: int | None = None) -> int:
    """A Python int (bool refused) with lo <= x < hi when given."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {_describe(x)}")
    v = int(x)
    if (lo is not None and v < lo) or (hi is not None and v >= hi):
        lo_s = "-inf" if lo is None else str(lo)
        hi_s = "inf" if hi is None else str(hi)
        raise ValueError(f"{name}: expected an integer in [{lo_s}, {hi_s}), got {v}")
    return v


def real_open(name: str, x: object, lo: float, hi: float) -> float:
    """A finite float strictly between lo and hi (ints accepted, bool refused)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {_describe(x)}")
    v = float(x)
    if not (lo < v < hi):
        raise ValueError(f"{name}: expected a number strictly between {lo} and {hi}, got {v!r}")
    return v


def real_finite(name: str, x: object) -> float:
    """A finite float (ints accepted, bool refused)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {_describe(x)}")
    v = float(x)
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    return v


def boolean(name: str, x: object) -> bool:
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {x!r}")
    return bool(x)


# -- nearest-neighbour index (fingerprint.index) -------------------------------------------------


def finite_float32_matrix(name: str, x: object, dim: int) -> np.ndarray:
    """A C-contiguous float32 (n, dim) matrix with finite values.

    float32 C-contiguous input is returned as it is (no copy; read-only arrays are fine);
    float64 and float16 are converted to float32 explicitly (float64 values are rounded to the
    nearest float32); other layouts are copied for layout only. NaN/inf rows are refused.
    """
    a = _as_array(name, x)
    if a.ndim != 2 or a.shape[1] != dim:
        hint = " (add a leading axis with x[None, :] for one vector)" if a.ndim == 1 and a.shape[0] == dim else ""
        raise ValueError(f"{name}: expected shape (n, dim) = (n, {dim}), got shape {a.shape}{hint}")
    if a.dtype not in (np.float32, np.float64, np.float16):
        raise TypeError(f"{name}: expected float32 (or float64/float16, converted to float32), got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float32)  # no copy for C-contiguous native float32
    if a.size:
        finite = np.isfinite(a).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(f"{name}: row {int(bad[0])} contains NaN or inf ({bad.size} such row(s))")
    return a
