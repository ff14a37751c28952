"""The one place that imports the native module ``fingerprint._core``.

It is imported on first use, so ``import fingerprint`` loads no native code. The SIMD kernel set
is chosen by the CPU; ``FINGERPRINT_SIMD=generic|avx2|avx512`` (read at first use) or
:func:`set_simd` lowers it, e.g. to compare kernel sets or to rule one out when debugging.
"""

from __future__ import annotations

import os
from types import ModuleType

_LEVELS = ("generic", "avx2", "avx512")
_core: ModuleType | None = None


def core() -> ModuleType:
    global _core
    if _core is None:
        from . import _core as mod  # noqa: PLC0415 - deliberately lazy

        _core = mod
        requested = os.environ.get("FINGERPRINT_SIMD", "").strip().lower()
        if requested:
            set_simd(requested)
    return _core


def simd_info() -> dict[str, object]:
    """The SIMD kernel sets this CPU supports and the one in use."""
    c = core()
    supported = c.simd_supported()
    return {
        "active": c.simd_name(c.simd_level()),
        "supported": [c.simd_name(i) for i in range(supported + 1)],
    }


def set_simd(level: str) -> None:
    """Use kernel set ``level`` ("generic", "avx2" or "avx512"); it must be supported here."""
    if level not in _LEVELS:
        raise ValueError(f"SIMD level must be one of {', '.join(_LEVELS)}; got {level!r}")
    c = _core if _core is not None else core()
    if not c.set_simd_level(_LEVELS.index(level)):
        best = c.simd_name(c.simd_supported())
        raise ValueError(
            f"SIMD level {level!r} is not supported by this CPU/build (best available: {best!r})"
        )
