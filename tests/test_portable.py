"""The portable build on a CPU without AVX: QEMU user-mode emulates a Nehalem (SSE4.2, no AVX)
and the installed package must pick its generic kernels and still agree with the reference.

Skipped where qemu-x86_64 is not installed (CI installs Debian's qemu-user) or off x86-64.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

QEMU = shutil.which("qemu-x86_64")

pytestmark = pytest.mark.skipif(
    QEMU is None or platform.machine() not in ("x86_64", "AMD64"),
    reason="needs qemu-x86_64 (Debian: qemu-user) on an x86-64 host",
)

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np, fingerprint as fp
    from reference import dense
    info = fp.simd_info()
    assert info == {{"active": "generic", "supported": ["generic"]}}, info
    rng = np.random.default_rng(0)
    p = (rng.standard_normal((5, 301)) * 3).astype(np.float32)
    q = (p + rng.standard_normal((5, 301))).astype(np.float32)
    t = rng.integers(0, 301, 5)
    res = fp.token_divergences(p, q, targets=t)
    ref = dense.panel(p.astype(np.float64), q.astype(np.float64), t)
    for k in res.fields:
        np.testing.assert_allclose(res[k], ref[k], rtol=1e-5, atol=1e-7, err_msg=k)
    ids = np.array([[1, 2, 3, -1]] * 3)
    lp = np.log(np.array([[0.5, 0.2, 0.1, 1.0]] * 3))
    kl = fp.topk_divergences(ids, lp, ids, lp, fields="kl_pq").kl_pq
    np.testing.assert_allclose(kl, 0, atol=1e-12)
    from fingerprint.watermark import KGW
    z = KGW(1000, gamma=0.25).detect(rng.integers(0, 1000, 50)).z_score
    assert np.isfinite(z)
    print("generic-ok")
    """
)


def test_runs_on_a_cpu_without_avx(tmp_path):
    script = tmp_path / "portable.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    exe = os.path.realpath(sys.executable)
    out = subprocess.run(
        [QEMU, "-cpu", "Nehalem", exe, str(script)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
        env={**os.environ, "FINGERPRINT_SIMD": ""},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "generic-ok" in out.stdout
