"""Top-k bucket panel: the native kernel against a vectorised NumPy implementation.

Headline case: k = 20 (OpenAI's top_logprobs maximum), N = 1,000,000 positions, every field with
targets. Run with pytest-benchmark,

    python -P -m pytest benches/bench_topk.py -s --benchmark-columns=min,mean,rounds

(``-P`` keeps the source tree off sys.path so the installed package with its native module is
imported; FINGERPRINT_BENCH_N=20000 for a quick smoke run), or as a script,
``python -P benches/bench_topk.py [N]``. Both check that the two implementations agree and print
the speed-up (NumPy time / native time with the default thread count).
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from fingerprint.result import ALL_FIELDS
from fingerprint.topk import topk_divergences

N = int(os.environ.get("FINGERPRINT_BENCH_N", "1000000"))  # smaller for a smoke run
K, VOCAB = 20, 100_000
LN2 = math.log(2.0)
_times: dict[str, float] = {}


def make_inputs(n: int = N, k: int = K, vocab: int = VOCAB, seed: int = 0):
    """API-like rows: P and Q rank 1.5k candidate tokens with correlated logits and report their
    own top k (sorted, so the lists overlap partly); the candidates carry 97% of the mass."""
    rng = np.random.default_rng(seed)
    c = k + k // 2
    ids = (rng.integers(0, vocab, size=(n, 1)) + np.arange(c) * 3331) % vocab  # unique per row
    zp = rng.normal(scale=2.0, size=(n, c))
    zq = zp + rng.normal(scale=1.0, size=(n, c))
    out = []
    for z in (zp, zq):
        lp = z - np.log(np.exp(z).sum(1, keepdims=True)) + math.log(0.97)
        top = np.argsort(-z, axis=1)[:, :k]
        out.append(np.take_along_axis(ids, top, 1).astype(np.int64))
        out.append(np.take_along_axis(lp, top, 1))
    targets = ids[np.arange(n), rng.integers(0, c, size=n)].astype(np.int64)
    return (*out, targets)


def numpy_bucket(p_ids, p_lp, q_ids, q_lp, targets):
    """The bucket panel (every field) with NumPy array operations only: broadcast id equality
    [N, kp, kq] pairs the lists; masked sums over [N, k] give the fields."""
    n = p_ids.shape[0]
    rows = np.arange(n)
    vp, vq = p_ids != -1, q_ids != -1
    lp = np.where(vp, p_lp, -np.inf)
    lq = np.where(vq, q_lp, -np.inf)
    P, Q = np.exp(lp), np.exp(lq)
    eq = (p_ids[:, :, None] == q_ids[:, None, :]) & vp[:, :, None]
    shared = eq.any(2)
    col = eq.argmax(2)
    del eq
    Ps = np.where(shared, P, 0.0)
    Qs = np.where(shared, np.take_along_axis(Q, col, 1), 0.0)
    lPs = np.where(shared, lp, -np.inf)
    lQs = np.where(shared, np.take_along_axis(lq, col, 1), -np.inf)
    rp = np.maximum(0.0, 1.0 - Ps.sum(1))
    rq = np.maximum(0.0, 1.0 - Qs.sum(1))
    with np.errstate(divide="ignore", invalid="ignore"):
        lrp, lrq = np.log(rp), np.log(rq)
        mp, mq = Ps > 0, Qs > 0
        out = {}

        def wsum(w, x, m):
            return np.where(m, w * x, 0.0).sum(1)

        kl_pq = wsum(Ps, lPs - lQs, mp) + np.where(rp > 0, rp * (lrp - lrq), 0.0)
        kl_qp = wsum(Qs, lQs - lPs, mq) + np.where(rq > 0, rq * (lrq - lrp), 0.0)
        ce_pq = -wsum(Ps, lQs, mp) - np.where(rp > 0, rp * lrq, 0.0)
        ce_qp = -wsum(Qs, lPs, mq) - np.where(rq > 0, rq * lrp, 0.0)
        lm = np.log(Ps + Qs) - LN2
        lrm = np.log(rp + rq) - LN2
        js = 0.5 * (
            wsum(Ps, lPs - lm, mp) + wsum(Qs, lQs - lm, mq)
            + np.where(rp > 0, rp * (lrp - lrm), 0.0) + np.where(rq > 0, rq * (lrq - lrm), 0.0)
        )  # fmt: skip
        tv = 0.5 * (np.abs(Ps - Qs).sum(1) + np.abs(rp - rq))
        var_qp = wsum(Ps, (lQs + ce_pq[:, None]) ** 2, mp) + np.where(rp > 0, rp * (lrq + ce_pq) ** 2, 0.0)
        var_pq = wsum(Qs, (lPs + ce_qp[:, None]) ** 2, mq) + np.where(rq > 0, rq * (lrp + ce_qp) ** 2, 0.0)
        out["var_logq_p"] = np.where(ce_pq == np.inf, np.inf, var_qp)
        out["var_logp_q"] = np.where(ce_qp == np.inf, np.inf, var_pq)
        for name, W, L, valid in (("p", P, lp, vp), ("q", Q, lq, vq)):
            rest = np.maximum(0.0, 1.0 - W.sum(1))
            lrest = np.log(rest)
            m = W > 0
            mu = wsum(W, L, m) + np.where(rest > 0, rest * lrest, 0.0)
            out[f"entropy_{name}"] = np.maximum(-mu, 0.0)
            out[f"var_log{name}_{name}"] = wsum(W, (L - mu[:, None]) ** 2, m) + np.where(
                rest > 0, rest * (lrest - mu) ** 2, 0.0
            )
            empty = ~valid.any(1)
            hit = (np.where(valid, (p_ids if name == "p" else q_ids), -1) == targets[:, None])
            found = hit.any(1)
            lt = np.where(found, L[rows, hit.argmax(1)], np.nan)
            above = (valid & (L > lt[:, None])).sum(1)
            out[f"logprob_{name}"] = lt
            out[f"rank_{name}"] = np.where(found & ~empty, 1.0 + above, np.nan)
            out[f"entropy_{name}"][empty] = np.nan
            out[f"var_log{name}_{name}"][empty] = np.nan
        best_p = np.where(lp.max(1) == -np.inf, vp.argmax(1), lp.argmax(1))
        best_q = np.where(lq.max(1) == -np.inf, vq.argmax(1), lq.argmax(1))
        top1 = (p_ids[rows, best_p] == q_ids[rows, best_q]).astype(np.float64)
    either_empty = ~vp.any(1) | ~vq.any(1)
    out["top1_agree"] = np.where(either_empty, np.nan, top1)
    out["kl_pq"], out["kl_qp"] = np.maximum(kl_pq, 0.0), np.maximum(kl_qp, 0.0)
    out["cross_entropy_pq"], out["cross_entropy_qp"] = np.maximum(ce_pq, 0.0), np.maximum(ce_qp, 0.0)
    out["js"], out["tv"] = np.clip(js, 0.0, LN2), np.clip(tv, 0.0, 1.0)
    for f in ("kl_pq", "kl_qp", "cross_entropy_pq", "cross_entropy_qp", "js", "tv", "var_logq_p", "var_logp_q"):
        out[f][either_empty] = np.nan
    return {f: out[f] for f in ALL_FIELDS}


def native_bucket(p_ids, p_lp, q_ids, q_lp, targets, num_threads=None):
    return topk_divergences(p_ids, p_lp, q_ids, q_lp, targets=targets, num_threads=num_threads).to_dict()


def check_agree(a, b, rtol=1e-9, atol=1e-12):
    for f in ALL_FIELDS:
        np.testing.assert_allclose(a[f], b[f], rtol=rtol, atol=atol, equal_nan=True, err_msg=f)


def _baseline_rows(n: int) -> int:
    """Rows for the NumPy baseline: all of them unless its [N, k, k] temporaries and ~40 [N, k]
    float64 arrays would exceed 8 GiB (they do not at k = 20, N = 1e6: about 4 GiB)."""
    need = n * (3 * K * K + 40 * K * 8)
    return n if need <= 8 * 2**30 else max(200_000, int(n * 8 * 2**30 / need))


# ---- pytest-benchmark ---------------------------------------------------------------------------

_inputs = None


def _get_inputs():
    global _inputs
    if _inputs is None:
        _inputs = make_inputs()
    return _inputs


def test_agree_small():
    args = make_inputs(n=20_000, seed=1)
    check_agree(native_bucket(*args), numpy_bucket(*args))


def test_numpy_bucket(benchmark):
    args = _get_inputs()
    m = _baseline_rows(N)
    sub = tuple(a[:m] for a in args)
    benchmark.pedantic(numpy_bucket, args=sub, rounds=2, iterations=1, warmup_rounds=0)
    _times["numpy"] = benchmark.stats.stats.min * N / m


def test_native_bucket(benchmark):
    args = _get_inputs()
    res = benchmark.pedantic(native_bucket, args=args, rounds=3, iterations=1, warmup_rounds=1)
    _times["native"] = benchmark.stats.stats.min
    m = min(N, 50_000)
    check_agree(res_slice(res, m), numpy_bucket(*(a[:m] for a in args)))
    if "numpy" in _times:
        print(f"\nbucket panel, k={K}, N={N}: NumPy {_times['numpy']:.3f} s, native {_times['native']:.3f} s, "
              f"speed-up {_times['numpy'] / _times['native']:.1f}x")  # fmt: skip


def res_slice(res, m):
    return {f: v[:m] for f, v in res.items()}


# ---- script ----------------------------------------------------------------------------------------


def _best(fn, args, rounds):
    best = math.inf
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, out


def main(n: int = N) -> None:
    args = make_inputs(n)
    m = _baseline_rows(n)
    t_np, ref = _best(numpy_bucket, tuple(a[:m] for a in args), 1)
    t_np *= n / m
    t_nat, res = _best(native_bucket, args, 3)
    t_one, _ = _best(lambda *a: native_bucket(*a, num_threads=1), args, 2)
    check_agree(res_slice(res, m), ref)
    print(f"bucket panel, k={K}, N={n}: NumPy {t_np:.3f} s; native {t_nat:.3f} s (default threads), "
          f"{t_one:.3f} s (1 thread); speed-up {t_np / t_nat:.1f}x ({t_np / t_one:.1f}x on one thread)")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N)
