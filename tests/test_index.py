"""FingerprintIndex against brute-force NumPy float64 nearest neighbours, persistence, errors.

Recall@10 against brute force on clustered data (n=20,000, dim=64, 200 clusters, 200 queries,
cosine), measured when this suite was written: ivf (nlist=128, nprobe default 8) 1.000;
hnsw (M=32, ef_search default 64) 1.000; ivfpq (m=16 x 4 bits trained on 4,000 rows, nprobe=16)
0.184 (8 bytes per 64-dim vector: coarse codes, ranking within a cluster is mostly lost).
The asserted floors sit below these. (FAISS's PQ training is slow on small sub-spaces, hence
the small codebooks here.)
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from fingerprint.index import FORMAT_VERSION, MAGIC, FingerprintIndex  # noqa: E402

DIM = 32
KINDS = ("flat", "ivf", "hnsw", "ivfpq")
METRICS = ("cosine", "l2", "ip")


def _brute(base, queries, k, metric):
    b = base.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    if metric == "l2":
        s = (q * q).sum(1)[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]
        order = np.argsort(s, axis=1, kind="stable")[:, :k]
    else:
        s = q @ b.T
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, 1), order


def _make(kind, metric="cosine", dim=DIM, data=None, **kw):
    if kind in ("ivf", "ivfpq"):
        kw.setdefault("nlist", 16)
    if kind == "ivfpq":
        kw.setdefault("m", 8)
        kw.setdefault("nbits", 4)
    ix = FingerprintIndex(dim, metric=metric, kind=kind, **kw)
    if data is not None:
        if not ix.is_trained:
            ix.train(data)
        ix.add(data, labels=[f"v{i}" for i in range(len(data))])
    return ix


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((1500, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def clustered():
    rng = np.random.default_rng(11)
    dim, n, c = 64, 20_000, 200
    centres = rng.standard_normal((c, dim)).astype(np.float32) * 3
    base = centres[rng.integers(0, c, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    queries = centres[rng.integers(0, c, 200)] + rng.standard_normal((200, dim)).astype(np.float32)
    return base.astype(np.float32), queries.astype(np.float32)


# -- import ---------------------------------------------------------------------------------------


def test_import_does_not_import_faiss(tmp_path):
    code = "import sys, fingerprint, fingerprint.index; print('faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"


# -- exactness ------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_flat_matches_brute_force(data, metric):
    ix = _make("flat", metric, data=data)
    q = data[:40] + 0.1
    res = ix.search(q, 10)
    ref_s, ref_i = _brute(data, q, 10, metric)
    np.testing.assert_array_equal(res.ids, ref_i)
    np.testing.assert_allclose(res.scores, ref_s, rtol=1e-5, atol=1e-5)
    assert res.scores.shape == res.ids.shape == res.labels.shape == (40, 10)
    assert res.labels[0, 0] == f"v{ref_i[0, 0]}"


def test_cosine_scores_are_similarities_l2_are_distances(data):
    assert _make("flat", "cosine", data=data).search(data[:1], 1).scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert _make("flat", "l2", data=data).search(data[:1], 1).scores[0, 0] == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize(
    "kind,kw,floor",
    [("ivf", {"nlist": 128}, 0.95), ("hnsw", {}, 0.95), ("ivfpq", {"nlist": 128, "m": 16, "nbits": 4, "nprobe": 16}, 0.12)],
)
def test_recall_against_brute_force(clustered, kind, kw, floor):
    base, queries = clustered
    ix = FingerprintIndex(64, metric="cosine", kind=kind, **kw)
    if not ix.is_trained:
        ix.train(base[:4000])  # FAISS's PQ training is slow on small sub-spaces: a sample
    ix.add(base)
    res = ix.search(queries, 10)
    _, ref = _brute(base, queries, 10, "cosine")
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res.ids, ref)])
    print(f"{kind} recall@10 = {recall:.3f}")
    assert recall >= floor


def test_nprobe_and_ef_search_settable(clustered):
    base, queries = clustered
    ivf = FingerprintIndex(64, kind="ivf", nlist=64)
    ivf.train(base[:5000])
    ivf.add(base[:5000])
    assert ivf.nprobe == 4
    ivf.nprobe = 64  # all cells: exact
    _, ref = _brute(base[:5000], queries, 10, "cosine")
    np.testing.assert_array_equal(ivf.search(queries, 10).ids, ref)
    h = FingerprintIndex(64, kind="hnsw", ef_search=20)
    assert h.ef_search == 20
    h.ef_search = 128
    assert h.ef_search == 128
    with pytest.raises(ValueError, match="nprobe: only used by IVF"):
        FingerprintIndex(8).nprobe = 3
    with pytest.raises(ValueError, match="ef_search: only used by HNSW"):
        ivf.ef_search = 3


# -- add / remove ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_remove(data, kind):
    ix = _make(kind, "l2", data=data)
    assert len(ix) == len(data)
    gone = np.arange(0, 1500, 3)
    assert ix.remove(gone) == gone.size
    assert ix.remove([0, 3]) == 0  # already gone
    assert len(ix) == 1000
    res = ix.search(data[:30], 10)
    assert not np.isin(res.ids, gone).any()
    assert res.ids[1, 0] == 1 and res.labels[1, 0] == "v1"
    if kind == "flat":
        keep = np.setdiff1d(np.arange(1500), gone)
        _, ref = _brute(data[keep], data[:30], 10, "l2")
        np.testing.assert_array_equal(res.ids, keep[ref])
    ix.add(data[[0, 3, 6]], ids=[0, 3, 6])  # removed ids can be reused
    assert ix.search(data[3:4], 1).ids[0, 0] == 3


def test_ids_labels_metadata(data):
    ix = FingerprintIndex(DIM, metric="ip")
    ids = ix.add(data[:5], ids=[10, 20, 30, 40, 50], labels=list("abcde"), metadata=[{"model": "x"}, None, {}, None, None])
    assert ids.dtype == np.int64 and ids.tolist() == [10, 20, 30, 40, 50]
    assert ix.add(data[5:7]).tolist() == [51, 52]  # auto ids continue after the largest
    ix.add(data[7:8], metadata={"probe_set": "default-v1"})
    assert ix.metadata == {"probe_set": "default-v1"}
    assert ix.labels_of([20, 51]) == ["b", None]
    assert ix.vector_metadata([10, 20]) == [{"model": "x"}, None]
    assert ix.search(data[1:2], 1).labels[0, 0] == "b"


@pytest.mark.parametrize("kind", KINDS)
def test_add_untrained_or_train_needed(data, kind):
    ix = _make(kind)
    if kind in ("ivf", "ivfpq"):
        with pytest.raises(RuntimeError, match="must be trained first: call index.train"):
            ix.add(data)
    else:
        ix.add(data)


# -- search edge cases ----------------------------------------------------------------------------


def test_empty_index_and_k_larger_than_ntotal(data):
    ix = FingerprintIndex(DIM, metric="l2")
    res = ix.search(data[:2], 3)
    assert res.ids.tolist() == [[-1] * 3] * 2 and np.isnan(res.scores).all()
    ix.add(data[:2], labels=["a", "b"])
    res = ix.search(data[:1], 5)
    assert res.ids[0].tolist()[:2] == [0, 1] and res.ids[0, 2:].tolist() == [-1, -1, -1]
    assert np.isnan(res.scores[0, 2:]).all() and res.labels[0].tolist() == ["a", "b", None, None, None]
    assert ix.search(np.zeros((0, DIM), np.float32), 4).ids.shape == (0, 4)


def test_readonly_fortran_float64_inputs_unaltered(data):
    ref = _make("flat", "cosine", data=data).search(data[:20], 5)
    for variant in (data.copy(order="F"), data.astype(np.float64), _readonly(data)):
        before = variant.copy()
        ix = _make("flat", "cosine", data=variant)
        res = ix.search(variant[:20], 5)
        np.testing.assert_array_equal(res.ids, ref.ids)
        np.testing.assert_allclose(res.scores, ref.scores, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(variant, before)  # never normalised in place
    half = data.astype(np.float16)
    ix = _make("flat", "l2", data=half)
    assert ix.search(half[:3], 1).ids[:, 0].tolist() == [0, 1, 2]


def test_float32_is_not_copied(data):
    from fingerprint._validate import finite_float32_matrix

    assert finite_float32_matrix("vectors", data, DIM) is data
    ro = _readonly(data)
    assert np.shares_memory(finite_float32_matrix("vectors", ro, DIM), ro)


def _readonly(a):
    v = a.copy()
    v.flags.writeable = False
    return v


def test_thread_count_invariance(data):
    ix = _make("flat", "ip", data=data)
    a = ix.search(data[:200], 10, num_threads=1)
    b = ix.search(data[:200], 10, num_threads=2)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    before = faiss.omp_get_max_threads()
    ix.search(data[:2], 1, num_threads=1)
    assert faiss.omp_get_max_threads() == before  # restored after the call


# -- persistence ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*KINDS, "IVF8,SQ8", "PQ4x4"])
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_save_load_round_trip(tmp_path, data, kind, metric):
    ix = _make(kind, metric, data=data)
    ix.metadata["probe_set"] = "p1"
    ix.remove([5, 6])
    path = tmp_path / "ix.fpi"
    ix.save(path)
    back = FingerprintIndex.load(path)
    a, b = ix.search(data[:50], 10), back.search(data[:50], 10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (len(back), back.kind, back.metric, back.dim) == (len(ix), ix.kind, metric, DIM)
    assert back.metadata == {"probe_set": "p1"} and back.nprobe == ix.nprobe
    back.add(data[:1], ids=[10_000])  # still usable
    assert back.search(data[:1], 1).ids[0, 0] in (0, 10_000)


def test_untrained_index_round_trip(tmp_path, data):
    ix = FingerprintIndex(DIM, kind="ivf")
    ix.save(tmp_path / "u.fpi")
    back = FingerprintIndex.load(tmp_path / "u.fpi")
    assert not back.is_trained
    back.train(data)
    back.add(data)
    assert len(back) == len(data)


@pytest.fixture
def saved(tmp_path, data):
    path = tmp_path / "ix.fpi"
    _make("flat", data=data[:100]).save(path)
    return path


def test_corrupted_byte_is_a_checksum_error(saved):
    raw = bytearray(saved.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum mismatch"):
        FingerprintIndex.load(saved)


def test_truncated_file(saved):
    raw = saved.read_bytes()
    for cut in (len(raw) - 1, 100, 10):
        saved.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="truncated"):
            FingerprintIndex.load(saved)


def test_wrong_magic_and_version(saved):
    raw = saved.read_bytes()
    saved.write_bytes(b"NOTANIDX" + raw[8:])
    with pytest.raises(ValueError, match="bad magic"):
        FingerprintIndex.load(saved)
    saved.write_bytes(MAGIC + struct.pack("<I", FORMAT_VERSION + 1) + raw[12:])
    with pytest.raises(ValueError, match=f"unsupported format version {FORMAT_VERSION + 1}"):
        FingerprintIndex.load(saved)


def test_load_uses_no_pickle(saved, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("pickle used on load")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    assert len(FingerprintIndex.load(saved)) == 100
    head = saved.read_bytes()[:200]
    assert head.startswith(MAGIC) and b'"format": "fingerprint.FingerprintIndex"' in head


# -- validation messages --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"dim": 0}, ValueError, r"dim: expected a positive integer, got 0"),
        ({"dim": 8.0}, TypeError, "dim: expected a positive integer, got float"),
        ({"dim": 8, "metric": "cos"}, ValueError, "metric: expected one of 'cosine', 'l2', 'ip', got 'cos'"),
        ({"dim": 8, "kind": ""}, ValueError, "kind: expected one of flat, ivf, hnsw, ivfpq or a FAISS factory"),
        ({"dim": 8, "kind": "IVFx,Flat"}, ValueError, r"kind: FAISS rejected .*'IVFx,Flat'.*could not parse.*Valid examples: 'Flat'"),
        ({"dim": 10, "kind": "PQ3"}, ValueError, r"kind: FAISS rejected .*multiple of the number of subquantizers.*Valid examples"),
        ({"dim": 8, "kind": "IDMap2,Flat"}, ValueError, "kind: leave 'IDMap'"),
        ({"dim": 8, "kind": "ivfpq", "m": 3}, ValueError, r"m: must divide dim=8 .*got m=3; divisors of 8: \[1, 2, 4, 8\]"),
        ({"dim": 8, "kind": "ivfpq", "nbits": 20}, ValueError, "nbits: expected 1..16"),
        ({"dim": 8, "kind": "flat", "nlist": 4}, ValueError, "nlist: only used by kind='ivf' or 'ivfpq'"),
        ({"dim": 8, "kind": "flat", "m": 4}, ValueError, "m: only used by kind='ivfpq'"),
        ({"dim": 8, "kind": "hnsw", "nprobe": 4}, ValueError, "nprobe: only used by IVF kinds"),
        ({"dim": 8, "kind": "ivf", "ef_search": 4}, ValueError, "ef_search: only used by kind='hnsw'"),
        ({"dim": 8, "kind": "hnsw", "hnsw_m": 0}, ValueError, "hnsw_m: expected a positive integer"),
        ({"dim": 8, "kind": "IVF4,Flat", "nlist": 4}, ValueError, "nlist/m: give them inside the FAISS factory string"),
    ],
)
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        FingerprintIndex(kwargs.pop("dim"), **kwargs)


def test_input_errors(data):
    ix = FingerprintIndex(DIM)
    with pytest.raises(ValueError, match=r"vectors: expected shape \(n, dim\) = \(n, 32\), got shape \(5, 31\)"):
        ix.add(data[:5, :31])
    with pytest.raises(ValueError, match=r"got shape \(32,\) \(add a leading axis"):
        ix.add(data[0])
    with pytest.raises(TypeError, match="vectors: expected float32 .* got dtype int64"):
        ix.add(np.ones((2, DIM), np.int64))
    bad = data[:5].copy()
    bad[3, 7] = np.nan
    with pytest.raises(ValueError, match=r"vectors: row 3 contains NaN or inf"):
        ix.add(bad)
    bad[3, 7] = np.inf
    with pytest.raises(ValueError, match=r"queries: row 3 contains NaN or inf"):
        ix.search(bad, 1)
    with pytest.raises(ValueError, match="vectors: row 1 has zero norm"):
        ix.add(np.vstack([data[:1], np.zeros((1, DIM), np.float32)]))
    with pytest.raises(ValueError, match="ids: expected 5 ids"):
        ix.add(data[:5], ids=[1, 2])
    with pytest.raises(TypeError, match="ids: expected integers"):
        ix.add(data[:2], ids=[1.0, 2.0])
    with pytest.raises(ValueError, match="ids: duplicates are refused; id 1 appears 2 times"):
        ix.add(data[:2], ids=[1, 1])
    with pytest.raises(ValueError, match="ids: -1 is reserved"):
        ix.add(data[:2], ids=[1, -1])
    with pytest.raises(ValueError, match="labels: expected 2 labels"):
        ix.add(data[:2], labels=["a"])
    with pytest.raises(TypeError, match=r"labels: expected str or None, labels\[1\] is int"):
        ix.add(data[:2], labels=["a", 3])
    with pytest.raises(TypeError, match="metadata: must be JSON-serialisable"):
        ix.add(data[:2], metadata={"x": object()})
    with pytest.raises(TypeError, match=r"metadata\[0\]: expected a dict"):
        ix.add(data[:2], metadata=["a", None])
    assert len(ix) == 0  # nothing half-added
    ix.add(data[:2], ids=[1, 2])
    with pytest.raises(ValueError, match="ids: duplicates are refused; id 2 is already in the index"):
        ix.add(data[:2], ids=[2, 3])
    with pytest.raises(ValueError, match=r"k: expected a positive integer, got 0"):
        ix.search(data[:1], 0)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        ix.search(data[:1], 1, num_threads=0)
    with pytest.raises(ValueError, match="ids: id 99 is not in the index"):
        ix.labels_of([99])


def test_train_errors(data):
    ix = FingerprintIndex(DIM, kind="ivf", nlist=64)
    with pytest.raises(ValueError, match="vectors: training needs at least nlist=64 rows, got 10"):
        ix.train(data[:10])
    pq = FingerprintIndex(DIM, kind="ivfpq", nlist=4, m=8, nbits=8)
    with pytest.raises(ValueError, match=r"vectors: ivfpq training needs at least 2\*\*nbits=256 rows, got 100"):
        pq.train(data[:100])
    ix = FingerprintIndex(DIM, kind="ivf", nlist=4)
    ix.train(data)
    ix.add(data)
    with pytest.raises(RuntimeError, match="train: the index already holds vectors"):
        ix.train(data)


def test_not_a_file(tmp_path):
    p = tmp_path / "x.fpi"
    p.write_bytes(b"")
    with pytest.raises(ValueError, match="truncated"):
        FingerprintIndex.load(p)
    assert not os.path.exists(tmp_path / "missing.fpi")
