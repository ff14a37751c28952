"""fingerprint.distributed on a local Ray (num_cpus=2, one session for the module): the Ray path
writes the single-machine CLI's outputs row for row and bit for bit, radioactivity with the
cross-worker de-duplication shuffle equals fp.watermark.radioactivity, a run killed midway and
started again writes every row exactly once, and a Ray worker killed mid-run loses and doubles
no row."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from fingerprint import cli  # noqa: E402
from fingerprint import distributed as dist  # noqa: E402
from fingerprint import distributed_radioactivity as dr  # noqa: E402
from fingerprint.sources.records import TokenBatch  # noqa: E402
from fingerprint.sources.writers import write_table  # noqa: E402
from fingerprint.watermark import KGW, Aaronson, Maryland, radioactivity  # noqa: E402

V = 1000
K = 5


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    # start Ray outside the checkout: workers import the installed package (with _core), not the
    # source tree the driver's working directory would put on their sys.path
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray"))
    try:
        if not ray.is_initialized():
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        dist.ray_session()
    finally:
        os.chdir(here)
    yield ray
    ray.shutdown()


def _records(rng, n, shard, bank, *, prompts=True):
    """n records with tokens (half of them from a bank of repeated phrases), API-style top-k
    log-probs and, optionally, prompts."""
    toks, lens, pt, pl, texts = [], [], [], [], []
    for _ in range(n):
        parts = [bank[rng.integers(len(bank))] if rng.random() < 0.5 else rng.integers(0, V, 4)
                 for _ in range(int(rng.integers(1, 14)))]
        t = np.concatenate(parts).astype(np.int64)
        toks.append(t)
        lens.append(len(t))
        p = bank[rng.integers(len(bank))]
        pt.append(p)
        pl.append(len(p))
        texts.append(" ".join(map(str, t[:8])))
    tokens = np.concatenate(toks)
    N = tokens.shape[0]
    # the observed token is the most likely; the other alternatives are distinct ids near it
    off = np.argsort(rng.random((N, 50)), axis=1)[:, : K - 1] + 1
    top_ids = np.concatenate([tokens[:, None], (tokens[:, None] + off) % V], axis=1)
    prob = np.sort(rng.dirichlet(np.ones(K + 1), N)[:, :K], axis=1)[:, ::-1] * 0.95
    top_lp = np.log(prob)
    offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    kw = {}
    if prompts:
        kw = {"prompt_tokens": np.concatenate(pt), "prompt_offsets": np.concatenate([[0], np.cumsum(pl)])}
    return TokenBatch(ids=[f"s{shard}-r{i}" for i in range(n)], tokens=tokens, offsets=offs, logprobs=top_lp[:, 0].copy(),
                      top_ids=top_ids, top_logprobs=top_lp, texts=texts, **kw)


def _write_corpus(d, *, shards=6, records=40, seed=0, jsonl=True):
    rng = np.random.default_rng(seed)
    bank = [rng.integers(0, V, 6) for _ in range(15)]
    os.makedirs(d, exist_ok=True)
    for s in range(shards):
        ext = "jsonl" if jsonl and s == 2 else "parquet"
        write_table(os.path.join(d, f"shard-{s:03d}.{ext}"), _records(rng, records, s, bank))
    return d


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return _write_corpus(str(tmp_path_factory.mktemp("corpus")))


def _files(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if not f.startswith((".", "_")))


# -- the Ray path equals the single-machine CLI ---------------------------------------------------


@pytest.mark.parametrize("mode", ["tasks", "actors"])
def test_score_cli_ray_equals_local(ray_session, corpus, tmp_path, capsys, mode):
    inputs = _files(corpus)
    local, remote = str(tmp_path / "local.parquet"), str(tmp_path / "ray_out")
    assert cli.main(["score", *inputs, "--out", local, "--batch-rows", "16", "--json"]) == 0
    assert cli.main(["score", *inputs, "--out", remote, "--batch-rows", "16", "--engine", "ray", "--json",
                     "--ray-workers", mode]) == 0
    capsys.readouterr()
    a, b = pq.read_table(local), dist.read_output(remote)
    assert a.num_rows == 6 * 40 and a.schema == b.schema
    assert a.equals(b)  # row for row, bit for bit (floats compared exactly)
    summary = json.load(open(remote + ".summary.json"))
    assert summary["engine"] == "ray" and summary["rows"] == a.num_rows and summary["files"] == 6


def test_detect_and_index_query_cli_ray_equal_local(ray_session, corpus, tmp_path, capsys):
    inputs = _files(corpus)
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"scheme": "kgw", "vocab_size": V, "gamma": 0.25, "hash_key": 15485863}))
    local, remote = str(tmp_path / "d.parquet"), str(tmp_path / "d_ray")
    assert cli.main(["watermark", "detect", *inputs, "--key", str(key), "--out", local, "--json"]) == 0
    assert cli.main(["watermark", "detect", *inputs, "--key", str(key), "--out", remote, "--engine", "ray",
                     "--num-workers", "2", "--json"]) == 0
    assert pq.read_table(local).equals(dist.read_output(remote))
    s_local = json.load(open(local + ".summary.json"))
    s_ray = json.load(open(remote + ".summary.json"))
    for k in ("rows", "records_below_alpha", "min_p_value_exact"):
        assert s_local[k] == s_ray[k]
    index = str(tmp_path / "mh.index")
    assert cli.main(["index", "build", *inputs[:3], "--kind", "minhash", "--ngram", "3", "--out", index]) == 0
    local, remote = str(tmp_path / "q.parquet"), str(tmp_path / "q_ray")
    assert cli.main(["index", "query", *inputs, "--index", index, "--k", "3", "--out", local]) == 0
    assert cli.main(["index", "query", *inputs, "--index", index, "--k", "3", "--out", remote, "--engine", "ray"]) == 0
    capsys.readouterr()
    a = pq.read_table(local)
    assert a.num_rows > 0 and a.equals(dist.read_output(remote))


def test_vector_index_query_cli_ray_equals_local(ray_session, tmp_path, capsys):
    rng = np.random.default_rng(9)
    d = tmp_path / "vec"
    d.mkdir()
    for s in range(3):
        v = rng.standard_normal((50, 16)).astype(np.float32)
        pq.write_table(pa.table({"id": [f"v{s}-{i}" for i in range(50)],
                                 "vector": pa.array(list(v), type=pa.list_(pa.float32()))}), str(d / f"v{s}.parquet"))
    inputs = sorted(str(x) for x in d.iterdir())
    index = str(tmp_path / "flat.index")
    assert cli.main(["index", "build", *inputs[:2], "--kind", "vectors", "--out", index]) == 0
    local, remote = str(tmp_path / "q.parquet"), str(tmp_path / "q_ray")
    assert cli.main(["index", "query", *inputs, "--index", index, "--k", "4", "--out", local]) == 0
    assert cli.main(["index", "query", *inputs, "--index", index, "--k", "4", "--out", remote, "--engine", "ray"]) == 0
    capsys.readouterr()
    a = pq.read_table(local)
    assert a.num_rows == 150 * 4 and a.equals(dist.read_output(remote))


# -- radioactivity: the dedup shuffle across workers --------------------------------------------


def _reference(det, corpus, **kw):
    """fp.watermark.radioactivity on the concatenated corpus, built independently here."""
    from fingerprint.sources.readers import iter_batches

    b = TokenBatch.concat([x for f in _files(corpus) for x in iter_batches(f)])
    return radioactivity(det, b.tokens, b.offsets, prompts=b.prompt_tokens, prompt_offsets=b.prompt_offsets, **kw)


_FIELDS = ("p_value", "p_value_exact", "z_score", "num_tokens_scored", "num_candidates", "num_filtered",
           "num_in_prompt", "num_in_context", "num_duplicates", "checkpoints", "checkpoint_p_values",
           "scored_positions")


@pytest.mark.parametrize("det", [Aaronson(V, ngram=2, seed=7), Maryland(V, ngram=3, seed=3),
                                 KGW(V, seeding="lefthash")], ids=["aaronson", "maryland", "kgw"])
@pytest.mark.parametrize("dedup", ["window+token", "window"])
def test_radioactivity_ray_equals_single_machine(ray_session, corpus, det, dedup):
    ref = _reference(det, corpus, dedup=dedup)
    got = dr.radioactivity(det, corpus, dedup=dedup, use_prompts=True, engine="ray", num_partitions=5)
    assert ref.num_duplicates > 0 and ref.num_in_prompt > 0  # the corpus exercises both
    for f in _FIELDS:
        assert np.array_equal(getattr(ref, f), getattr(got, f), equal_nan=True), f
    if isinstance(det, Aaronson):
        assert got.score_sum == ref.score_sum  # bit for bit: the same sequential additions
    else:
        assert got.num_green_tokens == ref.num_green_tokens


def test_radioactivity_cli_ray_equals_local(ray_session, corpus, tmp_path, capsys):
    key = tmp_path / "keys.json"
    key.write_text(json.dumps([{"scheme": "aaronson", "vocab_size": V, "ngram": 2, "seed": 1},
                               {"scheme": "maryland", "vocab_size": V, "ngram": 2, "seed": 2}]))
    inputs = _files(corpus)
    local, remote = str(tmp_path / "r.json"), str(tmp_path / "r_ray.json")
    assert cli.main(["watermark", "radioactivity", *inputs, "--key", str(key), "--out", local, "--mode", "reading"]) == 0
    assert cli.main(["watermark", "radioactivity", *inputs, "--key", str(key), "--out", remote, "--mode", "reading",
                     "--engine", "ray"]) == 0
    capsys.readouterr()
    a, b = json.load(open(local)), json.load(open(remote))
    for k in ("num_records", "num_tokens", "used_prompts", "p_bonferroni", "p_holm", "p_value", "best", "detectors"):
        assert a[k] == b[k], k


def test_radioactivity_filter_windows_and_reading_topk(ray_session, corpus):
    det = Maryland(V, ngram=2, seed=5)
    from fingerprint.sources.readers import iter_batches

    b = TokenBatch.concat([x for f in _files(corpus) for x in iter_batches(f)])
    filt = np.stack([b.tokens[i:i + 2] for i in range(0, 4000, 7)])
    ref = radioactivity(det, b.tokens, b.offsets, filter_windows=filt, scoring_mode="reading",
                        predictions=b.top_ids[:, :3])
    got = dr.radioactivity(det, corpus, filter_windows=filt, scoring_mode="reading", topk=3, engine="ray")
    assert ref.num_filtered > 0 and ref.num_in_context >= 0
    for f in _FIELDS:
        assert np.array_equal(getattr(ref, f), getattr(got, f), equal_nan=True), f


# -- exactly once: a killed driver, a killed worker --------------------------------------------


_KILL_RUN = """
import sys
from fingerprint import distributed as dist
job = dist.DetectJob({"scheme": "kgw", "vocab_size": %d, "gamma": 0.25, "hash_key": 15485863})
dist.run_job(job, sys.argv[1], sys.argv[2], engine="local", read=dist.ReadOptions(batch_rows=8))
"""


def _manifest_entries(out):
    path = os.path.join(out, dist.MANIFEST)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [x for x in f.read().split("\n") if x.strip()]
    out_lines = []
    for x in lines[1:]:
        try:
            out_lines.append(json.loads(x))
        except json.JSONDecodeError:
            pass
    return out_lines


def test_killed_run_resumes_exactly_once(tmp_path):
    src = _write_corpus(str(tmp_path / "in"), shards=30, records=60, seed=3, jsonl=False)
    out = str(tmp_path / "out")
    proc = subprocess.Popen([sys.executable, "-c", _KILL_RUN % V, src, out], cwd=str(tmp_path))
    deadline = time.time() + 120
    while time.time() < deadline and len(_manifest_entries(out)) < 3 and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(_manifest_entries(out))
    assert 3 <= done_before < 30, done_before  # killed midway
    job = dist.DetectJob({"scheme": "kgw", "vocab_size": V, "gamma": 0.25, "hash_key": 15485863})
    rep = dist.run_job(job, src, out, engine="local", read=dist.ReadOptions(batch_rows=8))
    assert rep.shards_resumed >= done_before and rep.shards_resumed + rep.shards_run == 30
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]  # partial shards discarded
    got = dist.read_output(out)
    ref = dist.run_job(job, src, str(tmp_path / "clean"), engine="local", read=dist.ReadOptions(batch_rows=8))
    want = dist.read_output(ref.output_dir)
    assert got.num_rows == want.num_rows == 30 * 60 == rep.rows
    assert got.equals(want)
    ids = got.column("id").to_pylist()
    assert len(set(ids)) == len(ids)  # every row exactly once
    again = dist.run_job(job, src, out, engine="local", read=dist.ReadOptions(batch_rows=8))
    assert again.shards_run == 0 and again.shards_resumed == 30


def test_ray_run_killed_resumes_exactly_once(ray_session, tmp_path):
    """The whole Ray job (driver, its local Ray and the workers: one process group) is killed
    midway; the command started again finishes the shards not in the manifest."""
    src = _write_corpus(str(tmp_path / "in"), shards=24, records=100, seed=5, jsonl=False)
    out = str(tmp_path / "out")
    args = ["score", src, "--out", out, "--engine", "ray", "--num-workers", "1", "--batch-rows", "8"]
    proc = subprocess.Popen([sys.executable, "-m", "fingerprint", *args], cwd=str(tmp_path), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 150
    while time.time() < deadline and len(_manifest_entries(out)) < 2 and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(_manifest_entries(out))
    assert 2 <= done_before < 24, done_before
    assert cli.main(args) == 0
    got = dist.read_output(out)
    want = dist.read_output(dist.run_job(dist.ScoreJob(k=0.2), src, str(tmp_path / "clean"), engine="local",
                                         read=dist.ReadOptions(batch_rows=8)).output_dir)
    assert got.num_rows == 24 * 100 and got.equals(want)
    summary = json.load(open(out + ".summary.json"))
    assert summary["shards_resumed"] >= done_before and summary["shards_resumed"] + summary["shards_run"] == 24


@pytest.mark.parametrize("mode", ["tasks", "actors"])
def test_ray_worker_killed_loses_and_doubles_no_row(ray_session, tmp_path, mode):
    src = _write_corpus(str(tmp_path / "in"), shards=16, records=120, seed=4, jsonl=False)
    out = str(tmp_path / "out")
    job = dist.ScoreJob(k=0.2)
    result = {}

    def run():
        result["report"] = dist.run_job(job, src, out, engine="ray", num_workers=2, read=dist.ReadOptions(batch_rows=8),
                                        ray_workers=mode)

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.time() + 180
    me = f"{socket.gethostname()}:{os.getpid()}"
    while t.is_alive() and time.time() < deadline and killed is None:
        for e in _manifest_entries(out):
            if e["worker"] != me and len(_manifest_entries(out)) < 14:
                killed = int(e["worker"].rsplit(":", 1)[1])
                os.kill(killed, signal.SIGKILL)  # the worker (actor or task) process, busy with its next shard
                break
        time.sleep(0.01)
    t.join(timeout=300)
    assert killed is not None, "no worker finished a shard before the run ended"
    rep = result["report"]
    workers = {e["worker"] for e in _manifest_entries(out)}
    assert len(workers) >= 2
    got = dist.read_output(out)
    want = dist.read_output(dist.run_job(job, src, str(tmp_path / "local"), engine="local",
                                         read=dist.ReadOptions(batch_rows=8)).output_dir)
    assert rep.rows == got.num_rows == want.num_rows == 16 * 120
    assert got.equals(want)
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def _task_pids(title):
    """Pids of Ray worker processes currently running a task (Ray sets the process title)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [int(line.split(None, 1)[0]) for line in out.splitlines() if title in line]


def test_radioactivity_worker_killed_same_result(ray_session, tmp_path):
    src = _write_corpus(str(tmp_path / "in"), shards=12, records=400, seed=6, jsonl=False)
    det = Aaronson(V, ngram=2, seed=11)
    ref = _reference(det, src, dedup="window+token")
    result, killed = {}, []

    def run():
        result["r"] = dr.radioactivity(det, src, use_prompts=True, engine="ray", read=dist.ReadOptions(batch_rows=4))

    t = threading.Thread(target=run)
    t.start()
    deadline = time.time() + 120
    while t.is_alive() and time.time() < deadline and not killed:
        for pid in _task_pids("ray::_map_task"):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            break
        time.sleep(0.005)
    t.join(timeout=300)
    if not killed:
        pytest.skip("no map task was caught running (the run was too quick)")
    got = result["r"]
    for f in _FIELDS:
        assert np.array_equal(getattr(ref, f), getattr(got, f), equal_nan=True), f
    assert got.score_sum == ref.score_sum


# -- pieces ---------------------------------------------------------------------------------------


def test_manifest_torn_tail_and_other_job(tmp_path):
    out = str(tmp_path)
    m = dist.Manifest(out, {"job": "a"})
    (tmp_path / "part-00000.parquet").write_bytes(b"x")
    m.add({"shard": 0, "output": "part-00000.parquet", "rows": 1})
    with open(m.path, "a") as f:
        f.write('{"shard": 1, "outp')  # a driver killed while appending
    again = dist.Manifest(out, {"job": "a"})
    assert list(again.done) == [0]
    with pytest.raises(ValueError, match="output_dir: .* another job"):
        dist.Manifest(out, {"job": "b"})


def test_list_shards_and_errors(tmp_path, corpus):
    shards = dist.list_shards(corpus)
    assert [s.index for s in shards] == list(range(6)) and shards[2].path.endswith(".jsonl")
    assert [s.path for s in dist.list_shards(os.path.join(corpus, "*.parquet"))] == [s.path for s in shards if s.path.endswith(".parquet")]
    with pytest.raises(ValueError, match="inputs: .* matches no file"):
        dist.list_shards(str(tmp_path / "none-*.parquet"))
    with pytest.raises(ValueError, match="inputs: .* is not a file"):
        dist.list_shards(str(tmp_path / "missing.parquet"))
    with pytest.raises(ValueError, match="inputs: expected a path"):
        dist.list_shards([])
    with pytest.raises(ValueError, match="engine"):
        dist.run_job(dist.ScoreJob(), corpus, str(tmp_path / "o"), engine="spark")
    with pytest.raises(ValueError, match="on_error"):
        dist.ReadOptions(on_error="ignore")
    with pytest.raises(ValueError, match="num_workers"):
        dist.run_job(dist.ScoreJob(), corpus, str(tmp_path / "o"), num_workers=0)


def test_partition_is_deterministic_and_spreads():
    keys = np.arange(30000, dtype=np.int64).reshape(10000, 3)
    p = dr.partition_of(keys, 7)
    assert np.array_equal(p, dr.partition_of(keys.copy(), 7))
    assert p.min() >= 0 and p.max() < 7
    assert np.bincount(p, minlength=7).min() > 10000 / 7 * 0.8


class _CountingJob:
    opened = 0

    def __init__(self, tag):
        self.tag = tag

    def open(self):
        type(self).opened += 1
        return lambda batch: batch


def test_tasks_mode_opens_a_job_once_per_process(tmp_path):
    """Tasks mode keeps opened jobs in the worker process (a few, least recently used first out),
    keyed by the job's pickle or its cache_key(); an index job's key follows the index file."""
    dist._OPENED.clear()
    a, b = _CountingJob("a"), _CountingJob("b")
    fa = dist._opened(a)[1]
    assert dist._opened(_CountingJob("a"))[1] is fa and _CountingJob.opened == 1  # same pickle: reused
    dist._opened(b)
    assert _CountingJob.opened == 2
    for i in range(dist._OPENED_MAX):
        dist._opened(_CountingJob(i))
    assert len(dist._OPENED) == dist._OPENED_MAX
    dist._opened(a)
    assert _CountingJob.opened == 3 + dist._OPENED_MAX  # evicted, opened again
    idx = tmp_path / "i.fpmh"
    from fingerprint.minhash import MinHashLSH

    lsh = MinHashLSH(16, bands=4, rows=4)
    lsh.save(str(idx))
    (tmp_path / "i.fpmh.ids.json").write_text('{"ids": []}')
    job = dist.IndexQueryJob(str(idx), k=3)
    k1 = dist._job_key(job)
    assert dist._job_key(dist.IndexQueryJob(str(idx), k=3)) == k1
    os.utime(idx, ns=(1, 1))  # the file changed: a new key, so the index is loaded again
    assert dist._job_key(job) != k1
    dist._OPENED.clear()
