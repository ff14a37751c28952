"""PyTorch's CPU random generator, reproduced natively (no torch needed).

After ``g = torch.Generator(); g.manual_seed(seed)`` torch runs a 32-bit Mersenne Twister seeded
with ``seed mod 2**32`` (the high bits of a 64-bit seed are discarded). These functions return
what torch returns from such a freshly seeded CPU generator.
"""

from __future__ import annotations

import numpy as np

from .. import _native
from .._validate import integer

#: torch.randperm uses the algorithm reproduced here for n below this bound (2**32 // 20).
RANDPERM_LIMIT = 214_748_364


def _seed(seed: object) -> int:
    # torch.Generator.manual_seed accepts [-2**63, 2**64); negative seeds wrap to two's complement.
    return integer("seed", seed, lo=-(2**63), hi=2**64) % 2**64


def torch_randperm(seed: int, n: int, k: int | None = None) -> np.ndarray:
    """``torch.randperm(n, generator=g)[:k]`` after ``g.manual_seed(seed)`` on a CPU generator (int64).

    ``n`` must be in [1, 214748364): larger n takes a different path in torch, not reproduced.
    """
    s = _seed(seed)
    n = integer("n", n, lo=1, hi=RANDPERM_LIMIT)
    k = n if k is None else integer("k", k, lo=0, hi=n + 1)
    return _native.core().torch_randperm(s, n, k)


def torch_rand(seed: int, n: int) -> np.ndarray:
    """``torch.rand(n, generator=g)`` (float32) after ``g.manual_seed(seed)`` on a CPU generator.

    Each value is ``(z & 0xFFFFFF) * 2**-24`` for the generator's next 32-bit output z.
    """
    s = _seed(seed)
    n = integer("n", n, lo=0)
    return _native.core().torch_rand(s, n)


def torch_random32(seed: int, n: int) -> np.ndarray:
    """The first n 32-bit outputs (uint32) of a CPU generator after ``manual_seed(seed)``."""
    s = _seed(seed)
    n = integer("n", n, lo=0)
    return _native.core().torch_draws(s, n)


def torch_randint(seed: int, low: int, high: int, n: int) -> np.ndarray:
    """``torch.randint(low, high, (n,), generator=g)`` (int64) after ``g.manual_seed(seed)`` on a CPU generator.

    Each value is ``low + z % (high - low)`` for the generator's next 32-bit output z. Only ranges
    ``high - low`` in [1, 2**32] are reproduced (torch draws 64-bit values for wider ranges).
    """
    s = _seed(seed)
    lo = integer("low", low, lo=-(2**63), hi=2**63)
    hi = integer("high", high, lo=-(2**63), hi=2**63 + 1)
    span = hi - lo
    if not 1 <= span <= 2**32:
        raise ValueError(f"high - low: expected a range in [1, 2**32], got {span} (low={lo}, high={hi})")
    if lo + span - 1 >= 2**63:
        raise ValueError(f"high: values must fit in int64, got high={hi}")
    n = integer("n", n, lo=0)
    z = _native.core().torch_draws(s, n).astype(np.int64)
    return (z % span + lo).astype(np.int64)
