"""One default thread count shared by the native kernels, Numba and (later) FAISS."""

from __future__ import annotations

import os

_ENV = "FINGERPRINT_NUM_THREADS"


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _from_env() -> int:
    raw = os.environ.get(_ENV)
    if raw is None or raw.strip() == "":
        return _available_cpus()
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{_ENV} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{_ENV} must be a positive integer, got {raw!r}")
    return value


_default: int | None = None


def get_num_threads() -> int:
    """The package default number of threads (``FINGERPRINT_NUM_THREADS`` or the usable CPUs)."""
    global _default
    if _default is None:
        _default = _from_env()
    return _default


def set_num_threads(n: int) -> None:
    """Set the default number of threads used by every batch call that is not given one."""
    global _default
    _default = resolve_num_threads(n)


def resolve_num_threads(num_threads: int | None) -> int:
    """``num_threads`` checked, or the package default when it is None."""
    if num_threads is None:
        return get_num_threads()
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int,)) and not hasattr(num_threads, "__index__"):
        raise TypeError(f"num_threads must be an int or None, got {type(num_threads).__name__}")
    value = int(num_threads)
    if value < 1:
        raise ValueError(f"num_threads must be >= 1, got {value}")
    return value
