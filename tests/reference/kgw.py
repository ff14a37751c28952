"""Pure-Python oracle of the torch CPU generator and of KGW seeding/detection, written from the
formulas for clarity (slow: for small vocabularies and short texts only)."""

from __future__ import annotations

from collections import Counter

MASK32 = 0xFFFFFFFF
M64 = 2**64 - 1
TABLE_SIZE = 1_000_003


# -- MT19937 as torch's CPU generator runs it --------------------------------------------------


def mt_draws(seed: int, n: int) -> list[int]:
    s = [0] * 624
    s[0] = seed & MASK32
    for j in range(1, 624):
        s[j] = (1812433253 * (s[j - 1] ^ (s[j - 1] >> 30)) + j) & MASK32
    out: list[int] = []
    idx = 624
    while len(out) < n:
        if idx == 624:
            for k in range(624):
                y = (s[k] & 0x80000000) | (s[(k + 1) % 624] & 0x7FFFFFFF)
                s[k] = s[(k + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
            idx = 0
        y = s[idx]
        idx += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        out.append(y)
    return out


def randperm(seed: int, n: int) -> list[int]:
    z = mt_draws(seed, max(n - 1, 0))
    r = list(range(n))
    for i in range(n - 1):
        j = i + z[i] % (n - i)
        r[i], r[j] = r[j], r[i]
    return r


def rand_f32_bits(seed: int, n: int) -> list[float]:
    return [(z & 0xFFFFFF) / 16777216.0 for z in mt_draws(seed, n)]


# -- int64 tensor arithmetic ---------------------------------------------------------------------


def i64(x: int) -> int:
    """Wrap to a signed 64-bit value (what torch's int64 ops do)."""
    x &= 2**64 - 1
    return x - 2**64 if x >= 2**63 else x


def hashint(table: list[int], x: int) -> int:
    return table[x % TABLE_SIZE] + 1  # Python's % is a floor modulo, like torch's on int64


def prf(name: str, w: list[int], key: int, table: list[int] | None) -> int:
    """The Python integer each PRF returns (before ``% (2**64 - 1)``)."""
    if name == "additive_prf":
        return key * i64(sum(w))
    if name == "multiplicative_prf":
        p = 1
        for x in w:
            p = i64(p * x)
        return key * p
    if name == "minfunc_prf":
        return key * min(w)
    if name == "simple_skip_prf":
        p = 1
        for x in w[::2]:
            p = i64(p * hashint(table, i64(key * x)))
        return p
    if name == "skipgram_prf":
        return hashint(table, i64(key * w[0]))
    if name == "anchored_skipgram_prf":
        return i64(hashint(table, i64(key * w[0])) * hashint(table, i64(key * w[-1])))
    if name == "minhash_prf":
        return min(hashint(table, i64(key * x)) for x in w)
    if name == "anchored_minhash_prf":
        b = hashint(table, w[-1])
        return min(i64(i64(key * hashint(table, x)) * b) for x in w)
    if name == "minskipgram_prf":
        hs = [hashint(table, i64(key * x)) for x in w]
        return min(i64(hs[i] * hs[j]) for i in range(len(hs)) for j in range(i + 1, len(hs)))
    if name == "noncomm_prf":
        k = key
        for x in w:
            k = i64(k * hashint(table, i64(k * x)))
            k %= 2**32
        return k
    if name == "position_prf":
        s = 0
        for i, x in enumerate(w):
            s = i64(s + i64(i64(key * x) * (i + 1)))
        return s
    raise ValueError(name)


def seed(name: str, w: list[int], key: int, table: list[int] | None) -> int:
    return prf(name, w, key, table) % M64


# -- detection as the libraries count ----------------------------------------------------------


def detect(
    ids: list[int],
    *,
    vocab: int,
    gamma: float,
    prf_name: str,
    prf_width: int,
    ngram_len: int,
    self_salt: bool,
    key: int,
    table: list[int] | None,
    ignore_repeated: bool,
    select_head: bool = True,
) -> dict[str, object]:
    """Counts (T, G), distinct (seed, token) trials, and the per-n-gram green flags."""
    k = int(vocab * gamma)
    perms: dict[int, set[int]] = {}

    def green(prefix: tuple[int, ...], target: int) -> tuple[bool, int]:
        s = seed(prf_name, list(prefix[-prf_width:]), key, table) & MASK32
        if s not in perms:
            p = randperm(s, vocab)
            perms[s] = set(p[:k] if select_head else p[vocab - k :])
        return target in perms[s], s

    grams = [tuple(ids[i : i + ngram_len]) for i in range(len(ids) - ngram_len + 1)]
    freq = Counter(grams)
    look = {}
    for g in freq:
        prefix = g if self_salt else g[:-1]
        look[g] = green(prefix, g[-1])
    if ignore_repeated:
        T, G = len(freq), sum(int(look[g][0]) for g in freq)
    else:
        T, G = sum(freq.values()), sum(freq[g] * int(look[g][0]) for g in freq)
    pairs = {}
    for g in grams:
        pairs[(look[g][1], g[-1])] = look[g][0]
    if ignore_repeated:
        trials, gtrials = len(pairs), sum(pairs.values())
    else:
        trials, gtrials = len(grams), sum(int(look[g][0]) for g in grams)
    return {
        "num_tokens_scored": T,
        "num_green_tokens": G,
        "num_trials": trials,
        "num_green_trials": gtrials,
        "green_per_position": [int(look[g][0]) for g in grams],
    }
