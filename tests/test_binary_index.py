"""BinaryIndex (FAISS binary, Hamming) over SimHash / 1-bit MinHash codes; checked save/load."""

from __future__ import annotations

import numpy as np
import pytest

import fingerprint as fp
from fingerprint.binary_index import BinaryIndex, jaccard_from_hamming, minhash_bits, simhash_codes


def _corpus(rng, n=40, length=60):
    base = rng.integers(0, 500, length)
    docs = []
    for i in range(n):
        d = base.copy() if i % 2 == 0 else rng.integers(0, 500, length)
        flip = rng.random(length) < 0.1
        d[flip] = rng.integers(0, 500, int(flip.sum()))
        docs.append(d)
    offs = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    return np.concatenate(docs).astype(np.int64), offs


def test_simhash_search_matches_bruteforce_hamming(rng):
    ids, offs = _corpus(rng)
    sim = fp.minhash.simhash(ids, offs, bits=64, ngram=3)
    codes = simhash_codes(sim)
    idx = BinaryIndex(64)
    idx.add(codes, labels=[f"d{i}" for i in range(len(sim))])
    res = idx.search(codes[:5], k=4)
    for q in range(5):
        brute = np.array([bin(int(a) ^ int(sim[q])).count("1") for a in sim])
        np.testing.assert_array_equal(np.sort(res.scores[q]), np.sort(brute)[:4])
        assert res.scores[q, 0] == 0 and res.labels[q, 0] == f"d{res.ids[q, 0]}"


def test_minhash_bits_estimate_jaccard(rng):
    ids, offs = _corpus(rng)
    sig = fp.minhash.minhash(ids, offs, num_perm=256, ngram=3)
    codes = minhash_bits(sig)
    idx = BinaryIndex(256)
    idx.add(codes)
    res = idx.search(codes[:1], k=40)
    j_exact = fp.minhash.jaccard_estimate(sig[0], sig[res.ids[0]])
    j_bits = jaccard_from_hamming(res.scores[0], 256)
    assert np.max(np.abs(j_bits - j_exact)) < 0.2
    bit_equal = ((sig[0] & 1) == (sig[3] & 1)).mean()
    assert 1 - 2 * (1 - bit_equal) == pytest.approx(jaccard_from_hamming(np.count_nonzero(np.unpackbits(codes[0] ^ codes[3])), 256))


def test_save_load_and_corruption(tmp_path, rng):
    idx = BinaryIndex(16)
    codes = rng.integers(0, 256, (10, 2)).astype(np.uint8)
    idx.add(codes, ids=np.arange(100, 110), labels=[None] * 9 + ["x"], metadata={"kind": "simhash"})
    path = tmp_path / "b.fpbin"
    idx.save(path)
    back = BinaryIndex.load(path)
    assert len(back) == 10 and back.metadata == {"kind": "simhash"} and back.bits == 16
    a, b = idx.search(codes, 3), back.search(codes, 3)
    np.testing.assert_array_equal(a.ids, b.ids)
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum mismatch"):
        BinaryIndex.load(path)
    path.write_bytes(b"FPINDEX\x00" + bytes(20))
    with pytest.raises(ValueError, match="not a BinaryIndex file"):
        BinaryIndex.load(path)


def test_errors():
    with pytest.raises(ValueError, match="multiple of 8"):
        BinaryIndex(12)
    idx = BinaryIndex(8)
    with pytest.raises(TypeError, match="uint8"):
        idx.add(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match=r"\(n, 1\)"):
        idx.add(np.zeros((2, 2), np.uint8))
    with pytest.raises(TypeError, match="uint64"):
        simhash_codes(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="multiple of 8"):
        minhash_bits(np.zeros((2, 12), np.uint64))
