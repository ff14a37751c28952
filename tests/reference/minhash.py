"""Slow pure-Python oracle for fingerprint.minhash (exact integers; test-only).

Written from the definitions in fingerprint/minhash.py's docstring, not from the C++ code.
"""

from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1
P61 = (1 << 61) - 1
GOLDEN = 0x9E3779B97F4A7C15
EMPTY = M64


def mix64(z: int) -> int:
    z &= M64
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def permutations(num_perm: int, seed: int) -> tuple[list[int], list[int]]:
    s = seed
    a, b = [], []
    for _ in range(num_perm):
        s = (s + GOLDEN) & M64
        a.append(1 + mix64(s) % (P61 - 1))
        s = (s + GOLDEN) & M64
        b.append(mix64(s) % P61)
    return a, b


def shingles(doc: list[int], ngram: int) -> list[int]:
    if len(doc) == 0:
        return []
    grams = [doc[i:i + ngram] for i in range(len(doc) - ngram + 1)] if len(doc) >= ngram else [doc]
    out = []
    for g in grams:
        h = 0
        for x in g:
            h = mix64(h + int(x) + GOLDEN)
        out.append(h)
    return out


def docs(ids, offsets):
    ids = [int(x) for x in ids]
    offsets = [int(x) for x in offsets]
    return [ids[offsets[d]:offsets[d + 1]] for d in range(len(offsets) - 1)]


def minhash(ids, offsets, num_perm=128, ngram=5, seed=1) -> np.ndarray:
    a, b = permutations(num_perm, seed)
    ds = docs(ids, offsets)
    out = np.full((len(ds), num_perm), EMPTY, dtype=np.uint64)
    for d, doc in enumerate(ds):
        hs = [h >> 3 for h in shingles(doc, ngram)]
        if not hs:
            continue
        for k in range(num_perm):
            out[d, k] = min((a[k] * x + b[k]) % P61 for x in hs)
    return out


def simhash(ids, offsets, bits=64, ngram=5, weights=None) -> np.ndarray:
    ds = docs(ids, offsets)
    offsets = [int(x) for x in offsets]
    out = np.zeros(len(ds), dtype=np.uint64)
    for d, doc in enumerate(ds):
        hs = shingles(doc, ngram)
        v = [0.0 if weights is not None else 0] * bits
        for i, h in enumerate(hs):
            w = float(weights[offsets[d] + i]) if weights is not None else 1
            for j in range(bits):
                if (h >> j) & 1:
                    v[j] += w
                else:
                    v[j] -= w
        r = 0
        for j in range(bits):
            if v[j] > 0:
                r |= 1 << j
        out[d] = r
    return out


def jaccard(doc_a, doc_b, ngram) -> float:
    sa, sb = set(shingles(doc_a, ngram)), set(shingles(doc_b, ngram))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)
