"""Pure-Python oracle of SynthID-Text's g-values, masks and mean scores, written from the formulas
(Python integers reduced mod 2**64; slow, for short texts only)."""

from __future__ import annotations

import hashlib

M64 = 2**64 - 1
MUL = 6364136223846793005


def step(h: int, x: int) -> int:
    return ((h + x) * MUL + 1) & M64


def to_signed(x: int) -> int:
    return x - 2**64 if x >> 63 else x


def hash_iv(keys, compat: str) -> int:
    if compat == "transformers":
        return 1
    raw = b"".join(int(k).to_bytes(8, "little", signed=True) for k in keys)
    return int.from_bytes(hashlib.sha256(raw).digest(), "big") % (2**63 - 1)


def sampling_table(draws32, size: int) -> list[int]:
    """torch.randint(0, 2, (size,)) from a generator's 32-bit draws: z % 2."""
    return [int(z) % 2 for z in draws32[:size]]


def g_value(h: int, key: int, compat: str, table=None) -> int:
    k = step(h, key)
    if compat == "transformers":
        return table[to_signed(k) % len(table)]  # Python floor-mod of the int64
    for _ in range(12):
        k = (to_signed(step(k, 1)) >> 5) & M64  # arithmetic shift of the int64
    return (k >> 30) & 1


def g_values(ids, keys, ngram_len: int, compat: str, table=None) -> list[list[int]]:
    iv = hash_iv(keys, compat)
    out = []
    for j in range(len(ids) - ngram_len + 1):
        h = iv
        for t in ids[j : j + ngram_len]:
            h = step(h, t)
        out.append([g_value(h, k, compat, table) for k in keys])
    return out


def context_hashes(ids, keys, ngram_len: int, compat: str) -> list[int]:
    iv = hash_iv(keys, compat)
    out = []
    for j in range(len(ids) - ngram_len + 1):
        h = iv
        for t in ids[j : j + ngram_len - 1]:
            h = step(h, t)
        out.append(h)
    return out


def repetition_mask(ids, keys, ngram_len: int, history: int, compat: str) -> list[int]:
    hist = [0] * history  # most recent first, zero-initialised
    out = []
    for h in context_hashes(ids, keys, ngram_len, compat):
        out.append(0 if h in hist else 1)
        if history:
            hist = [h] + hist[:-1]
    return out


def eos_mask(ids, ngram_len: int, eos) -> list[int]:
    first = len(ids)
    if eos is not None and eos in ids:
        first = ids.index(eos)
    return [1 if j + ngram_len - 1 < first else 0 for j in range(len(ids) - ngram_len + 1)]


def scores(g, mask, depth: int):
    """(mean, weighted mean) with weights linspace(10, 1, depth) rescaled to sum to depth."""
    n = sum(mask)
    if n == 0:
        return float("nan"), float("nan")
    if depth == 1:
        w = [1.0]
    else:
        w = [10.0 - 9.0 * d / (depth - 1) for d in range(depth)]
    tot = sum(w)
    w = [x * depth / tot for x in w]
    s = sum(g[j][d] for j in range(len(g)) if mask[j] for d in range(depth))
    ws = sum(w[d] * g[j][d] for j in range(len(g)) if mask[j] for d in range(depth))
    return s / (depth * n), ws / (depth * n)
