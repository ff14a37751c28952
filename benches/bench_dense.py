"""Dense divergence panel: fingerprint vs PyTorch (CPU) and vs the memory-read bound, same run.

Run: pytest benches/bench_dense.py   (needs the `bench` extra: torch, ml_dtypes)
Sizes follow the engine issue: N = 512 positions, V = 128,256 (Llama-3 vocabulary), 2 threads.
"""

from __future__ import annotations

import numpy as np
import pytest
from ratios import ratio, record

import fingerprint as fp

N, V = 512, 128_256
THREADS = 2
ROUNDS = 5


@pytest.fixture(scope="module")
def logits():
    rng = np.random.default_rng(0)
    p = rng.standard_normal((N, V), dtype=np.float32) * 2
    q = p + rng.standard_normal((N, V), dtype=np.float32)
    t = rng.integers(0, V, N)
    return p, q, t


def _run(benchmark, key, fn, rounds=ROUNDS):
    benchmark.group = key.split("/")[0]
    benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    record(key, float(benchmark.stats.stats.min))


# -- full panel vs PyTorch ---------------------------------------------------------------------


def torch_panel(torch, P, Q, t):
    """What a PyTorch user writes for the same panel (log_softmax, softmax, reductions)."""
    lp, lq = torch.log_softmax(P, -1), torch.log_softmax(Q, -1)
    p, q = lp.exp(), lq.exp()
    out = {
        "entropy_p": -(p * lp).sum(-1), "entropy_q": -(q * lq).sum(-1),
        "cross_entropy_pq": -(p * lq).sum(-1), "cross_entropy_qp": -(q * lp).sum(-1),
        "kl_pq": (p * (lp - lq)).sum(-1), "kl_qp": (q * (lq - lp)).sum(-1),
        "tv": 0.5 * (p - q).abs().sum(-1),
        "top1_agree": (P.argmax(-1) == Q.argmax(-1)).double(),
        "logprob_p": lp.gather(1, t[:, None])[:, 0], "logprob_q": lq.gather(1, t[:, None])[:, 0],
        "rank_p": 1 + (P > P.gather(1, t[:, None])).sum(-1), "rank_q": 1 + (Q > Q.gather(1, t[:, None])).sum(-1),
    }  # fmt: skip
    lm = (0.5 * (p + q)).log()
    out["js"] = 0.5 * (p * (lp - lm)).sum(-1) + 0.5 * (q * (lq - lm)).sum(-1)
    for name, w, l, mu in (
        ("var_logp_p", p, lp, -out["entropy_p"]), ("var_logq_p", p, lq, -out["cross_entropy_pq"]),
        ("var_logq_q", q, lq, -out["entropy_q"]), ("var_logp_q", q, lp, -out["cross_entropy_qp"]),
    ):  # fmt: skip
        out[name] = (w * (l - mu[:, None]) ** 2).sum(-1)
    return out


def test_full_panel_fingerprint(benchmark, logits):
    p, q, t = logits
    _run(benchmark, "full_panel/fingerprint", lambda: fp.token_divergences(p, q, targets=t, num_threads=THREADS))


def test_full_panel_torch(benchmark, logits):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    p, q, t = logits
    P, Q, T = torch.from_numpy(p), torch.from_numpy(q), torch.from_numpy(t)
    ours = fp.token_divergences(p, q, targets=t)
    with torch.inference_mode():
        theirs = torch_panel(torch, P, Q, T)
        for name, v in theirs.items():  # same panel, so the comparison is fair
            np.testing.assert_allclose(ours[name], v.double().numpy(), rtol=2e-3, atol=2e-4, err_msg=name)
        _run(benchmark, "full_panel/torch", lambda: torch_panel(torch, P, Q, T), rounds=2)


ratio("full panel f32, fingerprint vs PyTorch (speed-up)", "full_panel/torch", "full_panel/fingerprint")

# -- kl_pq alone vs the read-bandwidth bound ---------------------------------------------------


def test_kl_fingerprint(benchmark, logits):
    p, q, _ = logits
    _run(benchmark, "kl_pq/fingerprint_f32", lambda: fp.token_divergences(p, q, fields="kl_pq", num_threads=THREADS))


def test_kl_numpy_read_bound(benchmark, logits):
    """Time NumPy takes to sum both arrays once: 2*N*V*4 bytes read."""
    p, q, _ = logits
    _run(benchmark, "kl_pq/numpy_sum_read", lambda: (p.sum(), q.sum()))


def test_kl_torch(benchmark, logits):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(THREADS)
    p, q, _ = logits
    P, Q = torch.from_numpy(p), torch.from_numpy(q)

    def kl():
        lp, lq = torch.log_softmax(P, -1), torch.log_softmax(Q, -1)
        return (lp.exp() * (lp - lq)).sum(-1)

    with torch.inference_mode():
        _run(benchmark, "kl_pq/torch", kl, rounds=5)


ratio("kl_pq: fraction of the read-bandwidth bound (numpy sum time / kl time)", "kl_pq/numpy_sum_read", "kl_pq/fingerprint_f32")
ratio("kl_pq f32, fingerprint vs PyTorch (speed-up)", "kl_pq/torch", "kl_pq/fingerprint_f32")

# -- half-precision inputs ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("fields", ["kl_pq", "full"])
def test_half_precision(benchmark, logits, dtype, fields):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    p, q, t = logits
    dt = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    ph, qh = p.astype(dt), q.astype(dt)
    f = "kl_pq" if fields == "kl_pq" else None
    _run(benchmark, f"{fields}/fingerprint_{dtype}", lambda: fp.token_divergences(ph, qh, targets=t, fields=f, num_threads=THREADS))


ratio("kl_pq float16 vs float32 throughput", "kl_pq/fingerprint_f32", "kl_pq/fingerprint_float16")
ratio("kl_pq bfloat16 vs float32 throughput", "kl_pq/fingerprint_f32", "kl_pq/fingerprint_bfloat16")
ratio("full panel float16 vs float32 throughput", "full_panel/fingerprint", "full/fingerprint_float16")
ratio("full panel bfloat16 vs float32 throughput", "full_panel/fingerprint", "full/fingerprint_bfloat16")

# -- thread scaling ----------------------------------------------------------------------------


def test_full_panel_one_thread(benchmark, logits):
    p, q, t = logits
    _run(benchmark, "full_panel/fingerprint_1thread", lambda: fp.token_divergences(p, q, targets=t, num_threads=1), rounds=5)


def test_kl_one_thread(benchmark, logits):
    p, q, _ = logits
    _run(benchmark, "kl_pq/fingerprint_1thread", lambda: fp.token_divergences(p, q, fields="kl_pq", num_threads=1), rounds=5)


ratio("full panel, 2 threads vs 1 thread", "full_panel/fingerprint_1thread", "full_panel/fingerprint")
ratio("kl_pq, 2 threads vs 1 thread", "kl_pq/fingerprint_1thread", "kl_pq/fingerprint_f32")
