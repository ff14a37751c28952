"""Document fingerprints: MinHash / SimHash kernels vs the pure-Python oracle, estimator accuracy,
LSH banding, persistence and error messages."""

from __future__ import annotations

import hashlib
import importlib
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import minhash as ref

import fingerprint as fp

mh = importlib.import_module("fingerprint.minhash")  # the module, whatever the package re-exports


def ragged(rng, n_docs, max_len, vocab=50):
    lens = rng.integers(0, max_len + 1, n_docs)
    offsets = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
    ids = rng.integers(0, vocab, int(offsets[-1])).astype(np.int64)
    return ids, offsets


@pytest.fixture
def every_simd_level():
    levels = fp.simd_info()["supported"]
    active = fp.simd_info()["active"]
    yield levels
    fp.set_simd(active)


@st.composite
def corpora(draw):
    lens = draw(st.lists(st.integers(0, 12), min_size=0, max_size=6))
    big = draw(st.booleans())
    hi = (1 << 63) - 1 if big else 6
    ids = draw(st.lists(st.integers(0, hi), min_size=sum(lens), max_size=sum(lens)))
    offsets = np.concatenate(([0], np.cumsum(lens))).astype(np.int64)
    return np.array(ids, dtype=np.int64), offsets


# -- kernel vs reference -------------------------------------------------------------------------


def test_permutations_match_reference():
    a, b = mh.minhash_permutations(37, seed=12345)
    ra, rb = ref.permutations(37, 12345)
    assert a.tolist() == ra and b.tolist() == rb
    assert ((a >= 1) & (a < mh.MERSENNE_PRIME)).all() and (b < mh.MERSENNE_PRIME).all()
    a2, _ = mh.minhash_permutations(37, seed=(1 << 64) - 1)
    assert a2.tolist() == ref.permutations(37, (1 << 64) - 1)[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corpus=corpora(), num_perm=st.sampled_from([1, 3, 4, 8, 13]), ngram=st.integers(1, 4),
       seed=st.integers(0, (1 << 64) - 1))
def test_minhash_matches_reference(corpus, num_perm, ngram, seed):
    ids, offsets = corpus
    want = ref.minhash(ids, offsets, num_perm=num_perm, ngram=ngram, seed=seed)
    active = fp.simd_info()["active"]
    try:
        for level in fp.simd_info()["supported"]:
            fp.set_simd(level)
            got = mh.minhash(ids, offsets, num_perm=num_perm, ngram=ngram, seed=seed, num_threads=2)
            assert got.dtype == np.uint64 and got.shape == (len(offsets) - 1, num_perm)
            np.testing.assert_array_equal(got, want, err_msg=level)
    finally:
        fp.set_simd(active)


def test_minhash_larger_corpus_matches_reference(rng, every_simd_level):
    ids, offsets = ragged(rng, 25, 60, vocab=1000)
    want = ref.minhash(ids, offsets, num_perm=37, ngram=3, seed=7)  # 16 + 16 + 4 + 1 slots
    for level in every_simd_level:
        fp.set_simd(level)
        np.testing.assert_array_equal(mh.minhash(ids, offsets, num_perm=37, ngram=3, seed=7), want)


@settings(max_examples=60, deadline=None)
@given(corpus=corpora(), bits=st.sampled_from([1, 7, 32, 64]), ngram=st.integers(1, 4),
       weighted=st.booleans(), data=st.data())
def test_simhash_matches_reference(corpus, bits, ngram, weighted, data):
    ids, offsets = corpus
    w = None
    if weighted:
        w = np.array(data.draw(st.lists(st.floats(-4, 4, allow_nan=False), min_size=len(ids),
                                        max_size=len(ids))), dtype=np.float64)
    got = mh.simhash(ids, offsets, bits=bits, ngram=ngram, weights=w, num_threads=2)
    np.testing.assert_array_equal(got, ref.simhash(ids, offsets, bits=bits, ngram=ngram, weights=w))
    assert (got >> np.uint64(bits) == 0).all() if bits < 64 else True


def test_empty_and_short_documents():
    ids = np.array([5, 6, 7, 5, 6, 7, 8, 9], dtype=np.int64)
    offsets = np.array([0, 0, 3, 3, 8], dtype=np.int64)  # empty, short (3 < 5), empty, full (5)
    sig = mh.minhash(ids, offsets, num_perm=16, ngram=5)
    assert (sig[0] == mh.EMPTY).all() and (sig[2] == mh.EMPTY).all()
    assert (sig[1] < mh.MERSENNE_PRIME).all() and (sig[3] < mh.MERSENNE_PRIME).all()
    np.testing.assert_array_equal(sig, ref.minhash(ids, offsets, num_perm=16, ngram=5))
    # a short document is one shingle of all its ids: the same as that n-gram with ngram = len
    np.testing.assert_array_equal(sig[1], mh.minhash(ids[:3], [0, 3], num_perm=16, ngram=3)[0])
    assert mh.jaccard_estimate(sig[0], sig[2]) == 1.0  # two empty documents
    assert mh.jaccard_estimate(sig[0], sig[1]) == 0.0
    assert mh.simhash(ids, offsets)[0] == 0
    # no documents at all
    assert mh.minhash(np.zeros(0, np.int64), [0], num_perm=4).shape == (0, 4)
    assert mh.simhash([], [0]).shape == (0,)


def test_thread_invariance(every_simd_level):
    ids, offsets = ragged(np.random.default_rng(3), 401, 300, vocab=30000)
    w = np.random.default_rng(4).standard_normal(ids.shape[0])
    base = mh.minhash(ids, offsets, num_perm=64, num_threads=1)
    sbase = mh.simhash(ids, offsets, weights=w, num_threads=1)
    for level in every_simd_level:
        fp.set_simd(level)
        for t in (1, 2, 3, 8, 1000):
            np.testing.assert_array_equal(mh.minhash(ids, offsets, num_perm=64, num_threads=t), base)
            np.testing.assert_array_equal(mh.simhash(ids, offsets, weights=w, num_threads=t), sbase)


def test_seed_and_order_properties(rng):
    ids, offsets = ragged(rng, 10, 40, vocab=100)
    s1 = mh.minhash(ids, offsets, num_perm=32, seed=1)
    assert not np.array_equal(s1, mh.minhash(ids, offsets, num_perm=32, seed=2))
    # a document's signature does not depend on its neighbours
    for d in range(10):
        one = mh.minhash(ids[offsets[d]:offsets[d + 1]], [0, offsets[d + 1] - offsets[d]], num_perm=32)
        np.testing.assert_array_equal(one[0], s1[d])
    # any integer dtype gives the same result as int64
    np.testing.assert_array_equal(mh.minhash(ids.astype(np.uint16), offsets.astype(np.int32), num_perm=32), s1)


# -- estimators ------------------------------------------------------------------------------------


def test_jaccard_estimate_accuracy():
    rng = np.random.default_rng(11)
    num_perm, ngram = 256, 5
    docs_a, docs_b, truth = [], [], []
    for _ in range(60):
        length = int(rng.integers(30, 200))
        base = rng.integers(0, 10**6, length)
        other = base.copy()
        k = int(rng.integers(0, length + 1))  # replace a random number of positions
        pos = rng.choice(length, k, replace=False)
        other[pos] = rng.integers(0, 10**6, k)
        docs_a.append(base)
        docs_b.append(other)
        truth.append(ref.jaccard(base.tolist(), other.tolist(), ngram))

    def corpus(docs):
        return np.concatenate(docs), np.concatenate(([0], np.cumsum([len(d) for d in docs])))

    sa = mh.minhash(*corpus(docs_a), num_perm=num_perm, ngram=ngram)
    sb = mh.minhash(*corpus(docs_b), num_perm=num_perm, ngram=ngram)
    est = mh.jaccard_estimate(sa, sb)
    truth = np.array(truth)
    assert est.shape == (60,)
    assert np.abs(est - truth).max() <= 3 / np.sqrt(num_perm), np.abs(est - truth).max()
    assert truth.min() < 0.2 and truth.max() > 0.8  # the pairs span the range
    # broadcasting one signature against many
    np.testing.assert_array_equal(mh.jaccard_estimate(sa[0], sb), (sa[0] == sb).mean(axis=1))
    assert mh.jaccard_estimate(sa[3], sa[3]) == 1.0


def test_hamming_without_numpy_bitwise_count(monkeypatch):
    z = np.array([0, 1, 3, (1 << 64) - 1, 0x8000000000000001], dtype=np.uint64)
    want = [0, 1, 2, 64, 2]
    assert mh.hamming(z, np.uint64(0)).tolist() == want
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert mh.hamming(z, np.uint64(0)).tolist() == want
    assert mh.hamming(z.reshape(5, 1), z).shape == (5, 5)


def test_simhash_and_hamming(rng):
    base = rng.integers(0, 10**6, 400)
    near = base.copy()
    near[:10] = rng.integers(0, 10**6, 10)
    far = rng.integers(0, 10**6, 400)
    ids = np.concatenate([base, near, far])
    h = mh.simhash(ids, [0, 400, 800, 1200])
    assert mh.hamming(h[0], h[1]) < 12 < mh.hamming(h[0], h[2])
    assert isinstance(mh.hamming(h[0], h[1]), int)
    np.testing.assert_array_equal(mh.hamming(h, h[0]), [(int(x) ^ int(h[0])).bit_count() for x in h])
    assert mh.hamming(np.uint64(0), (1 << 64) - 1) == 64


# -- LSH -------------------------------------------------------------------------------------------


def near_duplicate_corpus(seed=5, n_base=60, length=300):
    rng = np.random.default_rng(seed)
    docs = [rng.integers(0, 10**6, length) for _ in range(n_base)]
    dups = []
    for i in range(0, n_base, 2):  # every other document gets a near-duplicate (about 90% shared)
        d = docs[i].copy()
        pos = rng.choice(length, 3, replace=False)
        d[pos] = rng.integers(0, 10**6, 3)
        dups.append((i, len(docs)))
        docs.append(d)
    ids = np.concatenate(docs)
    offsets = np.concatenate(([0], np.cumsum([len(d) for d in docs])))
    return docs, ids, offsets, dups


def test_lsh_finds_near_duplicates_only():
    docs, ids, offsets, dups = near_duplicate_corpus()
    for d_i, d_j in dups:
        assert ref.jaccard(docs[d_i].tolist(), docs[d_j].tolist(), 5) > 0.85
    sig = mh.minhash(ids, offsets, num_perm=128)
    lsh = mh.MinHashLSH(128, threshold=0.5)
    assert lsh.bands * lsh.rows == 128
    lsh.add(sig)
    pairs = {tuple(p) for p in lsh.candidate_pairs().tolist()}
    assert set(dups) <= pairs
    assert len(pairs - set(dups)) <= 1  # unrelated documents (Jaccard 0) are rarely candidates
    for d_i, d_j in dups:
        q = lsh.query(sig[d_i])
        assert d_i in q and d_j in q
    assert len(lsh) == sig.shape[0]


def test_lsh_probability_curve():
    b, r = mh.lsh_params(128, 0.5)
    assert b * r == 128
    s = np.array([0.2, 0.8])
    p = 1 - (1 - s**r) ** b
    assert p[0] < 0.2 and p[1] > 0.95
    assert mh.lsh_params(128, 0.9)[1] > mh.lsh_params(128, 0.3)[1]  # higher threshold: longer bands


def test_lsh_ids_and_incremental_add(rng):
    ids, offsets = ragged(rng, 6, 30, vocab=5)
    sig = mh.minhash(ids, offsets, num_perm=16)
    lsh = mh.MinHashLSH(16, bands=8, rows=2)
    got = lsh.add(sig[:3], ids=[100, 7, 42])
    assert got.tolist() == [100, 7, 42]
    assert lsh.add(sig[3:]).tolist() == [101, 102, 103]
    assert 42 in lsh.query(sig[2]) and 103 in lsh.query(sig[5])
    with pytest.raises(ValueError, match="ids: already in the index"):
        lsh.add(sig[:1], ids=[7])
    with pytest.raises(ValueError, match="ids: contains duplicates"):
        lsh.add(sig[:2], ids=[1, 1])
    with pytest.raises(ValueError, match="expected 16 slots per row, got 8"):
        lsh.add(sig[:, :8])
    assert mh.MinHashLSH(16, bands=4, rows=4).query(sig[0]).size == 0


# -- persistence -----------------------------------------------------------------------------------


def saved(tmp_path):
    _, ids, offsets, _ = near_duplicate_corpus(n_base=20)
    sig = mh.minhash(ids, offsets, num_perm=64)
    lsh = mh.MinHashLSH(64, bands=16, rows=4)
    lsh.add(sig, ids=np.arange(sig.shape[0]) * 3 + 1)
    path = tmp_path / "index.fplsh"
    lsh.save(path)
    return lsh, sig, path


def test_save_load_round_trip(tmp_path):
    lsh, sig, path = saved(tmp_path)
    back = mh.MinHashLSH.load(path)
    assert (back.num_perm, back.bands, back.rows, len(back)) == (64, 16, 4, len(lsh))
    np.testing.assert_array_equal(back.signatures, lsh.signatures)
    np.testing.assert_array_equal(back.ids, lsh.ids)
    np.testing.assert_array_equal(back.candidate_pairs(), lsh.candidate_pairs())
    np.testing.assert_array_equal(back.query(sig[0]), lsh.query(sig[0]))
    assert back.add(sig[:1]).tolist() == [lsh.ids.max() + 1]
    empty = tmp_path / "empty.fplsh"
    mh.MinHashLSH(8, threshold=0.7).save(empty)
    e = mh.MinHashLSH.load(empty)
    assert len(e) == 0 and e.threshold == 0.7


def rewrite_header(path, **changes):
    data = path.read_bytes()
    hlen = int.from_bytes(data[8:16], "little")
    header = json.loads(data[16:16 + hlen])
    header.update(changes)
    hb = json.dumps(header).encode()
    body = data[:8] + len(hb).to_bytes(8, "little") + hb + data[16 + hlen:-32]
    path.write_bytes(body + hashlib.sha256(body).digest())


def test_load_rejects_bad_files(tmp_path):
    _, _, path = saved(tmp_path)
    good = path.read_bytes()
    bad = tmp_path / "bad"
    bad.write_bytes(good[:-100])
    with pytest.raises(ValueError, match="truncated"):
        mh.MinHashLSH.load(bad)
    bad.write_bytes(good[:12])
    with pytest.raises(ValueError, match="truncated"):
        mh.MinHashLSH.load(bad)
    flipped = bytearray(good)
    flipped[len(good) - 500] ^= 0x01
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupted.*SHA-256 checksum mismatch"):
        mh.MinHashLSH.load(bad)
    flipped = bytearray(good)
    flipped[20] = 0xFF  # inside the JSON header
    bad.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupted"):
        mh.MinHashLSH.load(bad)
    bad.write_bytes(good + b"x")
    with pytest.raises(ValueError, match="corrupted.*trailing"):
        mh.MinHashLSH.load(bad)
    bad.write_bytes(b"PK\x03\x04 not an index at all" * 4)
    with pytest.raises(ValueError, match="not a MinHashLSH file"):
        mh.MinHashLSH.load(bad)
    bad.write_bytes(good)
    rewrite_header(bad, version=2)
    with pytest.raises(ValueError, match="unsupported MinHashLSH file version 2"):
        mh.MinHashLSH.load(bad)
    bad.write_bytes(good)
    rewrite_header(bad, format="something.else")
    with pytest.raises(ValueError, match="wrong format 'something.else'"):
        mh.MinHashLSH.load(bad)
    bad.write_bytes(good)
    rewrite_header(bad, bands=3)
    with pytest.raises(ValueError, match="inconsistent header"):
        mh.MinHashLSH.load(bad)


def test_load_never_unpickles(tmp_path, monkeypatch):
    import pickle

    _, _, path = saved(tmp_path)

    def boom(*args, **kwargs):
        raise AssertionError("pickle used on load")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(np, "load", boom)
    assert len(mh.MinHashLSH.load(path)) > 0
    # a pickle payload in place of the file is rejected, not executed
    bad = tmp_path / "pickled"
    bad.write_bytes(pickle.dumps({"format": "fingerprint.MinHashLSH"}))
    with pytest.raises(ValueError, match="not a MinHashLSH file"):
        mh.MinHashLSH.load(bad)


# -- errors ----------------------------------------------------------------------------------------


def test_argument_errors():
    ids = np.arange(10, dtype=np.int64)
    off = np.array([0, 4, 10])
    with pytest.raises(TypeError, match="ids: expected an integer array, got dtype float64"):
        mh.minhash(ids.astype(float), off)
    with pytest.raises(ValueError, match=r"ids: token ids must be >= 0; ids\[3\] = -1"):
        mh.minhash(np.array([1, 2, 3, -1]), [0, 4])
    with pytest.raises(ValueError, match=r"ids: token ids must be < 2\*\*63"):
        mh.minhash(np.array([1, 2**63], dtype=np.uint64), [0, 2])
    with pytest.raises(ValueError, match="ids: expected a 1-D array"):
        mh.minhash(ids.reshape(2, 5), off)
    with pytest.raises(ValueError, match="offsets: must start at 0"):
        mh.minhash(ids, [1, 10])
    with pytest.raises(ValueError, match="offsets: must end at the number of ids 10"):
        mh.minhash(ids, [0, 9])
    with pytest.raises(ValueError, match=r"offsets: must be non-decreasing; offsets\[1\] = 6 > offsets\[2\] = 4"):
        mh.minhash(ids, [0, 6, 4, 10])
    with pytest.raises(ValueError, match="offsets: expected length B\\+1 >= 1"):
        mh.minhash(ids, np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="num_perm must be >= 1, got 0"):
        mh.minhash(ids, off, num_perm=0)
    with pytest.raises(ValueError, match="ngram must be >= 1, got 0"):
        mh.minhash(ids, off, ngram=0)
    with pytest.raises(TypeError, match="ngram must be an int, got float"):
        mh.minhash(ids, off, ngram=2.0)
    with pytest.raises(ValueError, match="seed must be in"):
        mh.minhash(ids, off, seed=-1)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        mh.minhash(ids, off, num_threads=0)
    with pytest.raises(ValueError, match="bits must be in \\[1, 64\\], got 65"):
        mh.simhash(ids, off, bits=65)
    with pytest.raises(ValueError, match=r"weights: expected shape \(10,\)"):
        mh.simhash(ids, off, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"weights: must be finite; weights\[2\]"):
        mh.simhash(ids, off, weights=np.array([1, 1, np.nan] + [1] * 7))
    with pytest.raises(TypeError, match="weights: expected float16/32/64, got dtype int64"):
        mh.simhash(ids, off, weights=np.ones(10, dtype=np.int64))
    with pytest.raises(ValueError, match=r"bands \* rows must equal num_perm: 4 \* 4 != 32"):
        mh.MinHashLSH(32, bands=4, rows=4)
    with pytest.raises(ValueError, match="pass bands and rows"):
        mh.MinHashLSH(32, bands=4)
    with pytest.raises(ValueError, match="pass either threshold or bands and rows"):
        mh.MinHashLSH(32, bands=4, rows=8, threshold=0.5)
    with pytest.raises(ValueError, match="threshold must be in \\(0, 1\\)"):
        mh.MinHashLSH(32, threshold=1.5)
    s = mh.minhash(ids, off, num_perm=8)
    with pytest.raises(TypeError, match="sig_b: expected dtype uint64"):
        mh.jaccard_estimate(s, s.astype(np.int64))
    with pytest.raises(ValueError, match="sig_a and sig_b: different num_perm"):
        mh.jaccard_estimate(s, s[:, :4])
    with pytest.raises(TypeError, match="signature: expected a NumPy uint64 array"):
        mh.MinHashLSH(8, bands=2, rows=4).query([1, 2])


def test_native_rechecks_bounds():
    c = fp._native.core()
    a, b = c.mh_permutations(4, 1)
    ids = np.array([1, 2, 3], dtype=np.int64)
    with pytest.raises(ValueError, match="offsets must end at the number of ids"):
        c.mh_minhash(ids, np.array([0, 5], dtype=np.int64), 2, a, b, 1)
    with pytest.raises(ValueError, match="offsets must be non-decreasing"):
        c.mh_minhash(ids, np.array([0, 3, 1, 3], dtype=np.int64), 2, a, b, 1)
    with pytest.raises(ValueError, match="ids must be >= 0"):
        c.mh_minhash(np.array([1, -2, 3], dtype=np.int64), np.array([0, 3], dtype=np.int64), 2, a, b, 1)
    with pytest.raises(ValueError, match="permutation parameters out of range"):
        c.mh_minhash(ids, np.array([0, 3], dtype=np.int64), 2, a * 0, b, 1)
    with pytest.raises(ValueError, match="ids: unexpected dtype"):
        c.mh_minhash(ids.astype(np.int32), np.array([0, 3], dtype=np.int64), 2, a, b, 1)

