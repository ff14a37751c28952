"""Pure-Python oracle of the three_bricks schemes and of the radioactivity pipeline, written from
the formulas (slow: small vocabularies and short texts only). Uses the torch-generator oracle of
:mod:`tests.reference.kgw`."""

from __future__ import annotations

import math

from .kgw import rand_f32_bits, randperm

M64 = 2**64 - 1


def hash_seed(seed: int, window, salt: int = 35317) -> int:
    s = seed
    for t in window:
        s = (s * salt + int(t)) % M64
    return s


TABLE_SIZE = 1_000_003


def wrap64(x: int) -> int:
    """x as an int64 tensor holds it (two's complement wrap-around)."""
    return (x + 2**63) % 2**64 - 2**63


def table_seed(seeding: str, window, salt: int, table) -> int:
    """three_bricks' min / additive / skip seeds: hashint(x) = table[x mod 1000003] (floor
    modulo) of int64 products salt * x (min over the window's tokens, of the window's sum, of its
    first token)."""
    def hashint(x):
        return int(table[wrap64(salt * int(x)) % TABLE_SIZE])

    w = [int(x) for x in window]
    if seeding == "min":
        return min(hashint(x) for x in w)
    if seeding == "additive":
        return hashint(sum(w))
    if seeding == "skip":
        return hashint(w[0])
    raise ValueError(seeding)


def green_set(seed: int, vocab: int, gamma: float) -> set[int]:
    return set(randperm(seed, vocab)[: int(gamma * vocab)])


def pair_score(scheme: str, window, token: int, *, vocab: int, seed: int, gamma: float = 0.25, payload: int = 0,
               window_seed=None) -> float:
    """Score of one pair; ``window_seed``: the seed of the window (default: the hash seeding)."""
    s = hash_seed(seed, window) if window_seed is None else window_seed
    t = (int(token) + payload) % vocab
    if scheme == "maryland":
        return 1.0 if t in green_set(s, vocab, gamma) else 0.0
    r = rand_f32_bits(s, t + 1)[t]
    return -math.log1p(-r)


def scored(ids, ngram: int, scoring: str):
    """(window, token) pairs scored in one text, in order."""
    seen = set()
    out = []
    for t in range(ngram + 1, len(ids)):
        w = tuple(int(x) for x in ids[t - ngram : t])
        key = w if scoring == "v1" else w + (int(ids[t]),)
        if scoring != "none":
            if key in seen:
                continue
            seen.add(key)
        out.append((w, int(ids[t])))
    return out


def trials(pairs, window_seed):
    """The pairs whose (seed mod 2**32, token) did not occur at an earlier pair."""
    seen, out = set(), []
    for w, t in pairs:
        key = (window_seed(w) & 0xFFFFFFFF, t)
        if key not in seen:
            seen.add(key)
            out.append((w, t))
    return out


def radioactivity_pairs(texts, ngram: int, *, prompts=None, filter_windows=None, dedup="window+token",
                        predictions=None, context=None):
    """Pairs scored by the radioactivity pipeline (see fingerprint.watermark.radioactivity).
    ``context(window)``: what prompt exclusion, reading-mode context and de-duplication compare
    (default: the window itself; the seed for three_bricks' table seedings)."""
    ctx = context if context is not None else (lambda w: w)
    seen = set()
    filt = None if filter_windows is None else {tuple(int(x) for x in w) for w in filter_windows}
    out = []
    for i, ids in enumerate(texts):
        pw = set()
        if prompts is not None:
            p = prompts[i]
            for t in range(ngram, len(p) + 1):
                pw.add(ctx(tuple(int(x) for x in p[t - ngram : t])))
        earlier = set()
        for t in range(ngram, len(ids)):
            w = tuple(int(x) for x in ids[t - ngram : t])
            c = ctx(w)
            was_earlier = c in earlier
            earlier.add(c)
            if t < ngram + 1:
                continue
            tok = int(ids[t]) if predictions is None else int(predictions[i][t])
            if filt is not None and w not in filt:
                continue
            if c in pw:
                continue
            if predictions is not None and was_earlier:
                continue
            key = (c,) if dedup == "window" else (c, tok)
            if key in seen:
                continue
            seen.add(key)
            out.append((w, tok))
    return out
