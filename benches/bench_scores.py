"""Per-sequence detector scores: batched Numba kernels vs the per-sequence NumPy loop a user writes.

Run: pytest benches/bench_scores.py   (needs pytest-benchmark)
Data: 100,000 sequences of 1..199 tokens (about 10M positions), float64. The Numba side is the
public API (validation included) after a warm-up call (JIT compile / cache load); the baseline
is a Python loop over sequences with NumPy on each slice. Ratios print in the terminal summary.
``FINGERPRINT_BENCH_SEQS`` changes the number of sequences.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fingerprint import scores as S

B = int(os.environ.get("FINGERPRINT_BENCH_SEQS", "100000"))
K = 0.2
ROUNDS = 3
_SECONDS: dict[tuple[str, str], float] = {}
_EXPECTED: dict[str, np.ndarray] = {}
_POSITIONS = 0


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=B)
    offs = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    n = int(offs[-1])
    global _POSITIONS
    _POSITIONS = n
    lp = np.log(rng.random(n))  # log-probs of observed tokens
    mu = -rng.random(n) * 5.0  # expected log-probs (-entropy or -cross-entropy)
    var = rng.random(n) * 10.0  # variances; doubles as a cross-entropy (>= 0)
    return lp, mu, var, offs


class _Report:
    """Prints the ratios in the terminal summary (registered as a plugin by the fixture below)."""

    def pytest_terminal_summary(self, terminalreporter):
        if not _SECONDS:
            return
        tr = terminalreporter
        tr.section("fingerprint scores: NumPy loop time / batched Numba time (same run)")
        tr.write_line(f"{B} sequences, {_POSITIONS} positions; min of {ROUNDS} rounds after a warm-up call")
        for name in dict.fromkeys(k for k, _ in _SECONDS):
            if name == "loss_reduceat":
                fast = _SECONDS.get(("loss", "numba"))
                red = _SECONDS[(name, "numpy")]
                tail = f"   (numba loss {fast * 1e3:.1f} ms: {red / fast:.2f}x)" if fast else ""
                tr.write_line(f"  {'loss':16s} {'np.add.reduceat':14s} {red * 1e3:9.1f} ms{tail}")
                continue
            loop = _SECONDS.get((name, "numpy_loop"))
            for impl in ("numba", "numba_1thread"):
                fast = _SECONDS.get((name, impl))
                if loop and fast:
                    tr.write_line(
                        f"  {name:16s} {impl:14s} {fast * 1e3:9.1f} ms   loop {loop * 1e3:9.1f} ms"
                        f"   {loop / fast:7.1f}x"
                    )


@pytest.fixture(scope="module", autouse=True)
def report(request):
    plugin = _Report()
    if not request.config.pluginmanager.is_registered(plugin):
        request.config.pluginmanager.register(plugin, "fingerprint-bench-scores-report")
    yield


# -- what a user would otherwise write: a loop over sequences, NumPy on each slice ----------------


def _spans(offs):
    return zip(offs[:-1].tolist(), offs[1:].tolist())


def loop_loss(lp, mu, var, offs):
    return np.array([-lp[s:e].mean() for s, e in _spans(offs)])


def loop_min_k(lp, mu, var, offs):
    return np.array([-np.sort(lp[s:e])[: max(1, int((e - s) * K))].mean() for s, e in _spans(offs)])


def loop_min_k_plus_plus(lp, mu, var, offs):
    z = (lp - mu) / np.sqrt(var)
    return np.array([-np.sort(z[s:e])[: max(1, int((e - s) * K))].mean() for s, e in _spans(offs)])


def loop_fast_detectgpt(lp, mu, var, offs):
    return np.array([(lp[s:e].sum() - mu[s:e].sum()) / np.sqrt(var[s:e].sum()) for s, e in _spans(offs)])


def loop_binoculars(lp, mu, var, offs):
    return np.array([-lp[s:e].mean() / var[s:e].mean() for s, e in _spans(offs)])


def loop_reference_ratio(lp, mu, var, offs):
    return np.array([lp[s:e].mean() / mu[s:e].mean() for s, e in _spans(offs)])


def reduceat_loss(lp, mu, var, offs):
    """A vectorised alternative for plain sums (no empty sequences here): np.add.reduceat."""
    return -np.add.reduceat(lp, offs[:-1]) / np.diff(offs)


CASES = {
    "loss": (lambda lp, mu, var, offs, **kw: S.loss(lp, offs, **kw), loop_loss),
    "min_k": (lambda lp, mu, var, offs, **kw: S.min_k(lp, offs, K, **kw), loop_min_k),
    "min_k_plus_plus": (
        lambda lp, mu, var, offs, **kw: S.min_k_plus_plus(lp, mu, var, offs, K, **kw),
        loop_min_k_plus_plus,
    ),
    "fast_detectgpt": (lambda lp, mu, var, offs, **kw: S.fast_detectgpt(lp, mu, var, offs, **kw), loop_fast_detectgpt),
    "binoculars": (lambda lp, mu, var, offs, **kw: S.binoculars(lp, var, offs, **kw), loop_binoculars),
    "reference_ratio": (lambda lp, mu, var, offs, **kw: S.reference_ratio(lp, mu, offs, **kw), loop_reference_ratio),
}


@pytest.mark.parametrize("impl", ["numba", "numba_1thread", "numpy_loop"])
@pytest.mark.parametrize("name", list(CASES))
def test_scores(benchmark, data, name, impl):
    fast, slow = CASES[name]
    if impl == "numpy_loop":
        fn = lambda: slow(*data)  # noqa: E731
    else:
        threads = 1 if impl == "numba_1thread" else None
        fn = lambda: fast(*data, num_threads=threads)  # noqa: E731
    fn()  # warm-up: JIT compile or cache load
    benchmark.group = name
    out = benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    if benchmark.stats is not None:  # None with --benchmark-disable
        _SECONDS[(name, impl)] = float(benchmark.stats.stats.min)
    if name not in _EXPECTED:
        _EXPECTED[name] = out if impl == "numpy_loop" else slow(*data)
    np.testing.assert_allclose(out, _EXPECTED[name], rtol=1e-9)


def test_loss_reduceat(benchmark, data):
    """For reference: the vectorised np.add.reduceat form of the loss (sums only, no sorting)."""
    reduceat_loss(*data)
    benchmark.group = "loss"
    benchmark.pedantic(reduceat_loss, args=data, rounds=ROUNDS, iterations=1)
    if benchmark.stats is not None:
        _SECONDS[("loss_reduceat", "numpy")] = float(benchmark.stats.stats.min)
