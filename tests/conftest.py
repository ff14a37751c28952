from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=None)
def simd_levels():
    import fingerprint

    return fingerprint.simd_info()["supported"]
