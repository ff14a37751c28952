"""Registry of benchmark timings and the ratios reported at the end of a run (same run only)."""

from __future__ import annotations

RESULTS: dict[str, float] = {}
RATIOS: list[tuple[str, str, str]] = []  # (label, slower key, faster key): reported as slower/faster


def record(name: str, seconds: float) -> None:
    RESULTS[name] = seconds


def record_tokens(benchmark, key: str, tokens: int) -> None:
    """Record a benchmark's median time under ``key`` and print its token throughput."""
    seconds = float(benchmark.stats.stats.median)
    record(key, seconds)
    benchmark.extra_info["tokens_per_s"] = tokens / seconds
    print(f"\n{key}: {seconds * 1e3:.2f} ms, {tokens / seconds:,.0f} tokens/s")


def ratio(label: str, slower: str, faster: str) -> None:
    RATIOS.append((label, slower, faster))


def lines() -> list[str]:
    out = []
    for label, a, b in RATIOS:
        if a in RESULTS and b in RESULTS:
            out.append(
                f"{label}: {RESULTS[a] / RESULTS[b]:.2f}x  "
                f"({a} {RESULTS[a] * 1e3:.1f} ms / {b} {RESULTS[b] * 1e3:.1f} ms)"
            )
    return out
