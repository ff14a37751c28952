"""Package-level promises: a light import, thread settings, SIMD selection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fingerprint as fp


def _run(code, tmp_path, **env):
    # run outside the checkout so the installed package (with its native module) is imported
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=tmp_path, env={**os.environ, **env},
    )
    return out.stdout


def test_import_is_light_and_fast(tmp_path):
    code = (
        "import sys, time; t = time.perf_counter(); import fingerprint; dt = time.perf_counter() - t;"
        "heavy = [m for m in ('numba', 'faiss', 'onnxruntime', 'onnx', 'gguf', 'tokenizers', 'torch', 'ray', 'scipy', 'fingerprint._core')"
        " if m in sys.modules]; print(dt); print(','.join(heavy))"
    )
    lines = _run(code, tmp_path).splitlines()
    seconds, heavy = lines[0], lines[1:]
    assert float(seconds) < 0.5
    assert heavy in ([], [""]), heavy


def test_public_api_is_explicit():
    assert "token_divergences" in fp.__all__
    for name in fp.__all__:
        assert hasattr(fp, name), name


def test_num_threads_default_and_setter():
    old = fp.get_num_threads()
    try:
        fp.set_num_threads(3)
        assert fp.get_num_threads() == 3
        with pytest.raises(ValueError, match="num_threads must be >= 1"):
            fp.set_num_threads(0)
    finally:
        fp.set_num_threads(old)





def test_simd_selection():
    info = fp.simd_info()
    assert info["supported"][0] == "generic"
    assert info["active"] in info["supported"]
    with pytest.raises(ValueError, match="SIMD level must be one of generic, avx2, avx512"):
        fp.set_simd("sse9")
    unsupported = [lv for lv in ("avx2", "avx512") if lv not in info["supported"]]
    for lv in unsupported:
        with pytest.raises(ValueError, match="not supported by this CPU"):
            fp.set_simd(lv)
    fp.set_simd(info["active"])


def test_env_simd_override(tmp_path):
    out = _run("import fingerprint; print(fingerprint.simd_info()['active'])", tmp_path, FINGERPRINT_SIMD="generic")
    assert out.strip() == "generic"
