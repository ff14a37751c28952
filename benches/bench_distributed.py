"""Corpus scoring on Ray Data (fingerprint.distributed) vs the in-process CLI path, same run.

Run: pytest benches/bench_distributed.py -s   (needs fingerprint[ray] and pytest-benchmark)
Job: ``fingerprint score`` (loss, perplexity, Min-K%, Min-K%++ from top-5 log-probs, zlib ratio)
over FINGERPRINT_DIST_TOKENS token positions (default 1,048,576) in 16 Parquet shards of
API-style records (256 tokens each, top-5 alternatives per position). Baseline: the in-process
CLI path (``fingerprint score`` without --engine: one process, the package's threads, one output
file). Ray: ``--engine ray`` on one machine with 1 and 2 workers (1 worker uses the package's
threads; 2 workers one thread each), against a Ray session started before timing (as a running
cluster would be), in both worker modes: ``tasks`` (the default: Ray's pooled worker processes,
the job opened once per process and kept) and ``actors`` (an actor pool per job). Each path runs
once untimed (the in-process path loads its Numba kernels; a tasks-mode Ray session starts and
warms its worker processes: that cold first job is printed), then FINGERPRINT_DIST_ROUNDS timed
rounds (median reported); each timed run includes Ray Data's executor start, (actors: the
actors' creation and job.open()), reading, scoring and writing the Parquet parts and the
manifest. Outputs are checked equal to the baseline's.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest
from ratios import ratio, record

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

from fingerprint import cli  # noqa: E402
from fingerprint import distributed as dist  # noqa: E402
from fingerprint.sources.records import TokenBatch  # noqa: E402
from fingerprint.sources.writers import write_table  # noqa: E402

TOKENS = int(os.environ.get("FINGERPRINT_DIST_TOKENS", str(1 << 20)))
SHARDS, LENGTH, K, V = 16, 256, 5, 50_000
ROUNDS = int(os.environ.get("FINGERPRINT_DIST_ROUNDS", "5"))
FIGURES: dict[str, tuple[float, int, int]] = {}
OUTPUTS: dict[str, str] = {}


def _shard(rng, s, n_rec):
    n = n_rec * LENGTH
    tokens = rng.integers(0, V, n).astype(np.int64)
    off = np.argsort(rng.random((n, 40)), axis=1)[:, : K - 1] + 1
    top_ids = np.concatenate([tokens[:, None], (tokens[:, None] + off) % V], axis=1)
    prob = np.sort(rng.dirichlet(np.ones(K + 1), n)[:, :K], axis=1)[:, ::-1] * 0.95
    top_lp = np.log(prob)
    return TokenBatch(ids=[f"s{s}-r{i}" for i in range(n_rec)], tokens=tokens,
                      offsets=np.arange(0, n + 1, LENGTH, dtype=np.int64), logprobs=top_lp[:, 0].copy(),
                      top_ids=top_ids, top_logprobs=top_lp, texts=[f"record {s}-{i}" for i in range(n_rec)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("dist_corpus")
    rng = np.random.default_rng(0)
    per = max(1, TOKENS // (SHARDS * LENGTH))
    for s in range(SHARDS):
        write_table(str(d / f"shard-{s:03d}.parquet"), _shard(rng, s, per))
    here = os.getcwd()
    os.chdir(d)  # workers import the installed package, not a source tree in the driver's cwd
    try:
        if not ray.is_initialized():
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        dist.ray_session()
    finally:
        os.chdir(here)
    return str(d), per * SHARDS, per * SHARDS * LENGTH


def _timed(benchmark, fn, key, records, tokens):
    t0 = time.perf_counter()
    fn()  # untimed first run
    print(f"\n{key}: first (cold) run {time.perf_counter() - t0:.2f} s")
    benchmark.pedantic(fn, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    sec = float(benchmark.stats.stats.median)
    record(key, sec)
    FIGURES[key] = (sec, records, tokens)
    benchmark.extra_info.update(rows_per_s=records / sec, tokens_per_s=tokens / sec)
    print(f"\n{key}: {sec:.2f} s, {records / sec:,.0f} rows/s, {tokens / sec:,.0f} tokens/s")


def test_local_cli(benchmark, corpus, tmp_path):
    d, records, tokens = corpus
    out = str(tmp_path / "local.parquet")
    inputs = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".parquet"))
    _timed(benchmark, lambda: cli.main(["score", *inputs, "--out", out, "--json"]), "score local (in-process)",
           records, tokens)
    OUTPUTS["local"] = out


@pytest.mark.parametrize("mode", ["tasks", "actors"])
@pytest.mark.parametrize("workers", [1, 2])
def test_ray(benchmark, corpus, tmp_path, workers, mode):
    import pyarrow.parquet as pq

    d, records, tokens = corpus
    out = str(tmp_path / f"ray{workers}-{mode}")

    def run():
        shutil.rmtree(out, ignore_errors=True)  # a fresh job each round (no resume)
        t0 = time.perf_counter()
        rep = dist.run_job(dist.ScoreJob(k=0.2), d, out, engine="ray", num_workers=workers, ray_workers=mode)
        assert rep.rows == records
        return time.perf_counter() - t0

    key = f"score ray {mode} {workers} worker(s)"
    _timed(benchmark, run, key, records, tokens)
    if "local" in OUTPUTS:  # the same table, row for row and bit for bit
        assert pq.read_table(OUTPUTS["local"]).equals(dist.read_output(out))
    ratio(f"ray {mode} {workers} worker(s) / in-process (time)", key, "score local (in-process)")
