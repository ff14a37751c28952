"""Benchmarks print the ratios against their baselines measured in the same run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import ratios  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    lines = ratios.lines()
    if not lines:
        return
    terminalreporter.section("fingerprint ratios (same run)")
    for line in lines:
        terminalreporter.write_line(line)
    out = os.environ.get("FINGERPRINT_BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps({"seconds": ratios.RESULTS, "ratios": lines}, indent=2))
