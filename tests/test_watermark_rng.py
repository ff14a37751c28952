"""The torch-compatible CPU generator against vectors produced with torch (tests/data/watermark)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from reference import kgw as ref

import fingerprint as fp
from fingerprint.watermark import torch_rand, torch_randperm, torch_random32

DATA = Path(__file__).parent / "data" / "watermark"


@pytest.fixture(scope="module")
def vectors():
    return json.loads((DATA / "torch_rng.json").read_text())


@pytest.fixture(params=None)
def every_simd_level():
    levels = fp.simd_info()["supported"]
    yield levels
    fp.set_simd(levels[-1])


def _sha_i64(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<i8").tobytes()).hexdigest()


def test_randperm_matches_torch(vectors, every_simd_level):
    for level in every_simd_level:
        fp.set_simd(level)
        for v in vectors["randperm"]:
            p = torch_randperm(v["seed"], v["n"])
            assert p[:24].tolist() == v["prefix"], (level, v["n"], v["seed"])
            assert _sha_i64(p) == v["sha256"], (level, v["n"], v["seed"])
    sizes = {v["n"] for v in vectors["randperm"]}
    assert {1000, 32000, 50257, 128256} <= sizes
    assert any(v["seed"] >= 2**32 for v in vectors["randperm"])


def test_green_lists_match_torch(vectors):
    for v in vectors["green_lists"]:
        head = torch_randperm(v["seed"], v["n"], v["k"])
        assert _sha_i64(head) == v["sha256_head"], v
        full = torch_randperm(v["seed"], v["n"])
        assert _sha_i64(full[v["n"] - v["k"] :]) == v["sha256_tail"], v


def test_rand_matches_torch(vectors):
    for v in vectors["rand"]:
        r = torch_rand(v["seed"], v["n"])
        assert r.dtype == np.float32
        assert [float(x).hex() for x in r[:12]] == v["first"], v
        assert hashlib.sha256(np.ascontiguousarray(r, dtype="<f4").tobytes()).hexdigest() == v["sha256"], v


@pytest.mark.parametrize("seed", [0, 5489, 2**32 - 1, 2**32 + 3, 2**64 - 1])
def test_draws_match_python_oracle(seed):
    np.testing.assert_array_equal(torch_random32(seed, 1500), ref.mt_draws(seed, 1500))
    np.testing.assert_array_equal(torch_rand(seed, 700), np.float32(ref.rand_f32_bits(seed, 700)))
    np.testing.assert_array_equal(torch_randperm(seed, 997), ref.randperm(seed, 997))


def test_only_low_32_bits_of_the_seed_matter():
    a = torch_randperm(12345, 5000)
    for s in (12345 + 2**32, 12345 + 2**40, 12345 + 2**63, 12345 - 2**32):
        np.testing.assert_array_equal(torch_randperm(s, 5000), a)


def test_prefix_equals_full_permutation_prefix():
    full = torch_randperm(99, 50257)
    for k in (0, 1, 623, 624, 625, 12564, 50256, 50257):
        np.testing.assert_array_equal(torch_randperm(99, 50257, k), full[:k])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"^n: .*\[1, 214748364\)"):
        torch_randperm(0, 0)
    with pytest.raises(ValueError, match=r"^n: "):
        torch_randperm(0, 214_748_364)
    with pytest.raises(ValueError, match=r"^k: "):
        torch_randperm(0, 10, 11)
    with pytest.raises(ValueError, match=r"^seed: "):
        torch_randperm(2**64, 10)
    with pytest.raises(TypeError, match=r"^seed: "):
        torch_rand(1.5, 10)
    with pytest.raises(TypeError, match=r"^n: "):
        torch_rand(0, True)
