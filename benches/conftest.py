"""Shared helpers for the benchmarks: ratios against baselines measured in the same run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_RESULTS: dict[str, float] = {}


def record(name: str, seconds: float) -> None:
    _RESULTS[name] = seconds


def best(benchmark) -> float:
    return float(benchmark.stats.stats.min)


@pytest.fixture(scope="session")
def results():
    return _RESULTS


def pytest_terminal_summary(terminalreporter):
    if not _RESULTS:
        return
    terminalreporter.section("fingerprint ratios (same run)")
    for line in _ratio_lines():
        terminalreporter.write_line(line)
    out = os.environ.get("FINGERPRINT_BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps({"seconds": _RESULTS, "ratios": _ratio_lines()}, indent=2))


RATIOS: list[tuple[str, str, str]] = []  # (label, numerator key, denominator key): num/den


def ratio(label: str, slower: str, faster: str) -> None:
    RATIOS.append((label, slower, faster))


def _ratio_lines() -> list[str]:
    lines = []
    for label, a, b in RATIOS:
        if a in _RESULTS and b in _RESULTS:
            lines.append(f"{label}: {_RESULTS[a] / _RESULTS[b]:.2f}x  ({a} {_RESULTS[a]*1e3:.1f} ms / {b} {_RESULTS[b]*1e3:.1f} ms)")
    return lines
