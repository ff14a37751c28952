"""Slow float64 NumPy oracles for every kernel (test-only; never imported by the package)."""
