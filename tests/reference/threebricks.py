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


def green_set(seed: int, vocab: int, gamma: float) -> set[int]:
    return set(randperm(seed, vocab)[: int(gamma * vocab)])


def pair_score(scheme: str, window, token: int, *, vocab: int, seed: int, gamma: float = 0.25, payload: int = 0) -> float:
    s = hash_seed(seed, window)
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


def radioactivity_pairs(texts, ngram: int, *, prompts=None, filter_windows=None, dedup="window+token",
                        predictions=None):
    """Pairs scored by the radioactivity pipeline (see fingerprint.watermark.radioactivity)."""
    seen = set()
    filt = None if filter_windows is None else {tuple(int(x) for x in w) for w in filter_windows}
    out = []
    for i, ids in enumerate(texts):
        pw = set()
        if prompts is not None:
            p = prompts[i]
            for t in range(ngram, len(p) + 1):
                pw.add(tuple(int(x) for x in p[t - ngram : t]))
        earlier = set()
        for t in range(ngram, len(ids)):
            w = tuple(int(x) for x in ids[t - ngram : t])
            was_earlier = w in earlier
            earlier.add(w)
            if t < ngram + 1:
                continue
            tok = int(ids[t]) if predictions is None else int(predictions[i][t])
            if filt is not None and w not in filt:
                continue
            if w in pw:
                continue
            if predictions is not None and was_earlier:
                continue
            key = w if dedup == "window" else w + (tok,)
            if key in seen:
                continue
            seen.add(key)
            out.append((w, tok))
    return out
