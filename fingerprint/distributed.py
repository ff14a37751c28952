r"""Corpus jobs on Ray Data: the same per-batch functions as the single-machine path, sharded.

A corpus is a list of input shards (Parquet or JSONL files, read by
:func:`fingerprint.sources.readers.iter_batches`). A *batch job* is a picklable object whose
``open()`` builds, once per worker, the per-batch function ``TokenBatch -> pyarrow.Table``
(a watermark detector, a FAISS index or an ONNX session is loaded there, not per batch).

:func:`run_job` runs a job over every shard and writes one Parquet output shard per input shard,
``part-00000.parquet``, ``part-00001.parquet``, ... in input order, so the output read in part
order is row for row and bit for bit the table the in-process path (``engine="local"``) writes:
both call :func:`process_shard`, which streams the shard's batches through the job.

- ``engine="ray"``: ``ray.data.from_items(shards).map_batches(...)`` with W workers of one CPU.
  ``ray_workers="tasks"`` (default): tasks on Ray's pooled worker processes; each process opens
  a job once and keeps it (keyed by its pickle or ``job.cache_key()``) for later tasks and later
  jobs of the session, so a warm session pays no process start or kernel loading per job; the
  shards are grouped into about two tasks per worker, each streaming back one manifest entry per
  shard. ``ray_workers="actors"``: an actor pool per job, each actor calling ``job.open()``
  once. Input and output paths must be visible to every worker (a shared file system); nothing
  but the shard descriptors and manifest entries travel through the object store. The job object
  is pickled to the workers.
- Exactly once: a shard is written to a temporary file in the output directory and renamed to
  its final name only when complete (``os.replace``, atomic on POSIX); the driver then appends
  the shard's entry to ``_manifest.jsonl`` (flushed and fsynced). A run started again with the
  same job and inputs skips the shards in the manifest, discards temporary files and rewrites
  any shard not in it. A Ray worker killed mid-shard has its task retried (tasks:
  ``max_retries=-1``; actors: ``max_restarts=-1``, ``max_task_retries=-1``); its partial
  temporary file is never renamed.

:func:`radioactivity` is :func:`fingerprint.watermark.radioactivity` over a sharded corpus with
corpus-wide de-duplication: the pairs that survive the per-text filters are hash-partitioned on
their de-duplication key (``groupby(partition).map_groups``: every occurrence of a key meets in
one group), each group keeps the first occurrence in corpus order (shard, then position), and the
kept scores are summed sequentially in corpus order (a distributed sort on (shard, position),
streamed to the driver): the counts, score sum, p-values and checkpoints equal the
single-machine call on the concatenated corpus exactly.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ._validate import choice, positive_int

ENGINES: tuple[str, ...] = ("local", "ray")
MANIFEST = "_manifest.jsonl"
_PART = "part-{:05d}.parquet"
_EXTENSIONS = (".parquet", ".pq", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".arrow", ".feather", ".ipc", ".npz")


# -- shards and read options ------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """One input file; ``index`` is its place in the corpus order."""

    index: int
    path: str


def list_shards(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Shard]:
    """The input shards in corpus order: each file as given; a directory contributes its
    Parquet/JSONL files in sorted name order; a glob pattern its matches in sorted order."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError(f"inputs: expected a path or a non-empty list of paths, got {inputs!r}")
    files: list[str] = []
    for item in inputs:
        p = os.fspath(item)
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if f.endswith(_EXTENSIONS) and not f.startswith((".", "_")))
            if not found:
                raise ValueError(f"inputs: directory {p!r} holds no Parquet or JSONL file")
            files.extend(found)
        elif os.path.isfile(p):
            files.append(p)
        elif any(c in p for c in "*?["):
            found = sorted(glob.glob(p))
            if not found:
                raise ValueError(f"inputs: pattern {p!r} matches no file")
            files.extend(found)
        else:
            raise ValueError(f"inputs: {p!r} is not a file, a directory or a glob pattern")
    return [Shard(i, os.path.abspath(f)) for i, f in enumerate(files)]


@dataclass(frozen=True)
class ReadOptions:
    """Keyword arguments of :func:`fingerprint.sources.readers.iter_batches` for every shard
    (``vocab``: a ``tokenizer.json`` path, a ``{token: id}`` dict or a Vocabulary; it is pickled
    to every worker)."""

    format: str = "auto"
    batch_rows: int = 1024
    on_error: str = "fail"
    vocab: Any = None
    columns: Any = None
    top_k: int | None = None
    include_prompt: bool = False
    retokenize: bool = False

    def __post_init__(self) -> None:
        choice("on_error", self.on_error, ("fail", "skip"))
        positive_int("batch_rows", self.batch_rows)

    def kwargs(self) -> dict:
        return {"format": self.format, "batch_rows": self.batch_rows, "on_error": self.on_error, "vocab": self.vocab,
                "columns": self.columns, "top_k": self.top_k, "include_prompt": self.include_prompt,
                "retokenize": self.retokenize}

    def describe(self) -> dict:
        d = self.kwargs()
        v = d["vocab"]
        d["vocab"] = v if v is None or isinstance(v, str) else f"<{type(v).__name__} {getattr(v, 'name', '')}>"
        d["columns"] = dict(d["columns"]) if d["columns"] else None
        return d


def iter_shard(shard: Shard, read: ReadOptions, stats: Any = None):
    """The TokenBatch stream of one shard (the readers of fingerprint.sources)."""
    from .sources.readers import iter_batches  # noqa: PLC0415 - pyarrow is loaded lazily

    return iter_batches(shard.path, stats=stats, **read.kwargs())


def _new_stats():
    from .sources.records import ReadStats  # noqa: PLC0415

    return ReadStats()


# -- one shard, both engines --------------------------------------------------------------------


def process_shard(job, fn: Callable, shard: Shard, output_dir: str, read: ReadOptions) -> dict:
    """Stream one shard through ``fn`` (the function ``job.open()`` returned: TokenBatch ->
    pyarrow.Table) into ``output_dir/part-<index>.parquet``, atomically
    (fingerprint.sources.writers.TableWriter: a temporary file renamed when complete). A job may
    read its shards itself (``job.batches(shard, read, stats)``). Returns the shard's manifest
    entry (rows written, records and tokens read, records skipped by reason)."""
    from .sources.writers import TableWriter  # noqa: PLC0415

    started, t0 = time.time(), time.perf_counter()
    final = os.path.join(output_dir, _PART.format(shard.index))
    stats = _new_stats()
    records = tokens = 0
    reader = getattr(job, "batches", None)
    with TableWriter(final, format="parquet") as w:
        for batch in (reader(shard, read, stats) if reader is not None else iter_shard(shard, read, stats)):
            if len(batch) == 0:
                continue
            records += len(batch)
            tokens += getattr(batch, "num_tokens", 0)
            w.write(fn(batch))
    return {"shard": shard.index, "input": shard.path, "output": os.path.basename(final), "rows": w.rows,
            "records": records, "tokens": tokens, "skipped": stats.to_dict(),
            "worker": f"{socket.gethostname()}:{os.getpid()}", "started": round(started, 4),
            "seconds": round(time.perf_counter() - t0, 4)}


# -- the corpus jobs of the CLI ---------------------------------------------------------------


class ScoreJob:
    """:func:`fingerprint.jobs.score_batch` with fixed keyword arguments."""

    def __init__(self, **score_kwargs: Any) -> None:
        self.kwargs = score_kwargs

    def describe(self) -> dict:
        return {"job": "score", **self.kwargs}

    def open(self):
        from .jobs import score_batch  # noqa: PLC0415

        return functools.partial(score_batch, **self.kwargs)


class DetectJob:
    """:class:`fingerprint.jobs.WatermarkDetectJob` (the detector is built once per worker)."""

    def __init__(self, spec: dict, **detect_kwargs: Any) -> None:
        self.spec, self.kwargs = dict(spec), detect_kwargs

    def describe(self) -> dict:
        return {"job": "watermark detect", "spec": self.spec, **self.kwargs}

    def open(self):
        from .jobs import WatermarkDetectJob  # noqa: PLC0415

        return WatermarkDetectJob(self.spec, **self.kwargs)


class _Vectors:
    """A chunk of query vectors (ids, float matrix) read from a table."""

    num_tokens = 0

    def __init__(self, ids: list, vectors: np.ndarray) -> None:
        self.ids, self.vectors = ids, vectors

    def __len__(self) -> int:
        return len(self.ids)


class IndexQueryJob:
    """:func:`fingerprint.jobs.query_index` against an index file loaded once per worker: queries
    are records (MinHash index) or rows of a vector table (FAISS index)."""

    def __init__(self, index_path: str, *, k: int = 10, vector_column: str = "vector", id_column: str = "id") -> None:
        self.index_path = os.path.abspath(os.fspath(index_path))
        self.k, self.vector_column, self.id_column = k, vector_column, id_column
        from .jobs import load_index  # noqa: PLC0415

        self.kind = load_index(self.index_path)[0]

    def describe(self) -> dict:
        return {"job": "index query", "index": self.index_path, "k": self.k, "kind": self.kind,
                "columns": [self.vector_column, self.id_column]}

    def cache_key(self) -> tuple:
        """The job and the size and modification time of the index file (and of a MinHash
        index's ids file): a worker keeps the loaded index for later jobs only while they are
        unchanged."""
        files = [p for p in (self.index_path, self.index_path + ".ids.json") if os.path.exists(p)]
        return (self.describe(), [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in files])

    def batches(self, shard: Shard, read: ReadOptions, stats: Any):
        if self.kind != "vectors":
            yield from iter_shard(shard, read, stats)
            return
        from .jobs import vectors_of  # noqa: PLC0415
        from .sources.readers import iter_tables  # noqa: PLC0415

        for first, t in iter_tables(shard.path, format=read.format, batch_rows=read.batch_rows,
                                    columns=[self.id_column, self.vector_column]):
            yield _Vectors(*vectors_of(t, column=self.vector_column, id_column=self.id_column, source=shard.path,
                                       first_row=first))

    def open(self):
        from .jobs import load_index, query_index  # noqa: PLC0415

        kind, index, labels, params = load_index(self.index_path)
        if kind == "vectors":
            return lambda q: query_index(index, (q.ids, q.vectors), k=self.k)
        return lambda b: query_index(index, b, k=self.k, labels=labels, params=params)


# -- manifest ----------------------------------------------------------------------------------


class Manifest:
    """``_manifest.jsonl`` of an output directory: a header line (the job's identity) then one
    line per finished shard. A torn last line (a driver killed while appending) is ignored."""

    def __init__(self, output_dir: str, identity: dict) -> None:
        self.path = os.path.join(output_dir, MANIFEST)
        self.identity = identity
        self.done: dict[int, dict] = {}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            entries = []
            for line in lines:
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # torn tail
            if not entries or entries[0].get("header") != identity:
                got = entries[0].get("header") if entries else None
                raise ValueError(
                    f"output_dir: {output_dir!r} holds the output of another job or input list "
                    f"(manifest header {got!r}, this job {identity!r}); use another directory")
            for e in entries[1:]:
                if os.path.exists(os.path.join(output_dir, e["output"])):
                    self.done[int(e["shard"])] = e
            # rewrite without the torn tail, so later appends start on a line boundary
            self._write_all([{"header": identity}, *self.done.values()])
        else:
            self._write_all([{"header": identity}])

    def _write_all(self, entries: list[dict]) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for e in entries:
                f.write(json.dumps(e, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def add(self, entry: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done[int(entry["shard"])] = entry


def _clean_temporaries(output_dir: str) -> None:
    for name in os.listdir(output_dir):
        if name.startswith(".part-") and name.endswith(".tmp"):  # TableWriter's temporaries
            os.unlink(os.path.join(output_dir, name))


@dataclass
class JobReport:
    """What :func:`run_job` did: the output files in corpus order, rows written, records and
    tokens read, skipped records by reason, and how many shards this call ran or found done."""

    output_dir: str
    files: list[str]
    rows: int
    records: int
    tokens: int
    skipped: dict = field(default_factory=dict)
    shards_run: int = 0
    shards_resumed: int = 0
    engine: str = "local"

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("output_dir", "files", "rows", "records", "tokens", "skipped",
                                                "shards_run", "shards_resumed", "engine")}


def _merge_skipped(entries: Iterable[dict]) -> dict:
    total: dict = {}
    for e in entries:
        for k, v in (e.get("skipped") or {}).items():
            if isinstance(v, dict):
                d = total.setdefault(k, {})
                for r, n in v.items():
                    d[r] = d.get(r, 0) + n
            elif isinstance(v, list):
                total[k] = (total.get(k, []) + v)[:20]
            elif isinstance(v, (int, float)):
                total[k] = total.get(k, 0) + v
    return total


def read_output(output_dir: str):
    """The output of :func:`run_job` as one ``pyarrow.Table`` (parts in corpus order, only the
    shards the manifest lists as finished)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    path = os.path.join(output_dir, MANIFEST)
    if not os.path.exists(path):
        raise ValueError(f"output_dir: {output_dir!r} has no {MANIFEST} (not written by run_job)")
    with open(path, encoding="utf-8") as f:
        entries = [json.loads(x) for x in f if x.strip()][1:]
    tables = [pq.read_table(os.path.join(output_dir, e["output"])) for e in sorted(entries, key=lambda e: e["shard"])]
    tables = [t for t in tables if t.num_columns]
    return pa.concat_tables(tables) if tables else pa.table({})


# -- Ray ----------------------------------------------------------------------------------------


def ray_session(address: str | None = None, num_cpus: int | None = None):
    """The ``ray`` module with a session: the one already initialised, else ``ray.init(address)``
    (``None`` starts a local Ray with ``num_cpus`` CPUs; ``"auto"`` joins a running cluster)."""
    try:
        import ray  # noqa: PLC0415
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("engine='ray' needs Ray Data: pip install 'fingerprint[ray]'") from e
    if not ray.is_initialized():
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            kw["num_cpus"] = num_cpus
        ray.init(address=address, **kw)
    import ray.data  # noqa: PLC0415

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    return ray


def _actor_args(workers: int) -> dict:
    import ray  # noqa: PLC0415

    # an actor killed mid-shard is restarted and its shard retried (the rename makes it idempotent)
    return {"compute": ray.data.ActorPoolStrategy(size=workers), "num_cpus": 1, "max_restarts": -1,
            "max_task_retries": -1}


class _ShardWorker:
    """Ray actor: opens the job once, then processes whole shards (one per call)."""

    def __init__(self, job, output_dir: str, read: ReadOptions, threads: int) -> None:
        _worker_threads(threads)
        self.job, self.fn = job, job.open()
        self.output_dir = output_dir
        self.read = read

    def __call__(self, batch: dict):
        yield from _shard_entries(self.job, self.fn, batch, self.output_dir, self.read)


# Jobs opened in this worker process (tasks mode): Ray reuses its pooled worker processes for
# later tasks and later jobs of the same driver, so a job is opened once per process, and the
# imports and Numba kernels loaded by the first shard stay loaded. A few jobs are kept (LRU).
_OPENED: dict[str, tuple[Any, Callable]] = {}
_OPENED_MAX = 4


def _job_key(job) -> str:
    """What identifies an opened job: ``job.cache_key()`` if it has one (e.g. an index file's
    path, size and modification time), else the SHA-256 of its pickle."""
    import hashlib  # noqa: PLC0415
    import pickle  # noqa: PLC0415

    key = getattr(job, "cache_key", None)
    data = repr(key()).encode() if callable(key) else pickle.dumps(job, protocol=5)
    return f"{type(job).__module__}.{type(job).__qualname__}:{hashlib.sha256(data).hexdigest()}"


def _opened(job):
    k = _job_key(job)
    hit = _OPENED.pop(k, None)
    if hit is None:
        hit = (job, job.open())
        while len(_OPENED) >= _OPENED_MAX:
            _OPENED.pop(next(iter(_OPENED)))
    _OPENED[k] = hit  # most recently used last
    return hit


def _worker_threads(threads: int) -> None:
    """The package's threads and Arrow's CPU pool of a Ray worker process: Ray sets
    OMP_NUM_THREADS=1 in its workers, which Arrow follows, so a lone worker would read and
    write Parquet on one thread where the in-process path uses all CPUs."""
    import pyarrow as pa  # noqa: PLC0415

    from ._threads import set_num_threads  # noqa: PLC0415

    set_num_threads(threads)
    if pa.cpu_count() != threads:
        pa.set_cpu_count(threads)


def _shard_task(batch: dict, output_dir: str, read: ReadOptions, threads: int, job):
    """Ray Data task (tasks mode): processes its shards, one after the other, with the job opened
    in this process, and streams each shard's manifest entry back as soon as it is written."""
    _worker_threads(threads)
    opened, fn = _opened(job)
    yield from _shard_entries(opened, fn, batch, output_dir, read)


def _shard_entries(job, fn: Callable, batch: dict, output_dir: str, read: ReadOptions):
    """Processes a batch of shard descriptors in order, yielding each shard's manifest entry as
    soon as its part is written (both worker modes)."""
    for i, p in zip(batch["index"].tolist(), batch["path"].tolist()):
        entry = process_shard(job, fn, Shard(int(i), str(p)), output_dir, read)
        yield {"entry": np.array([json.dumps(entry)], dtype=object)}


WORKER_MODES: tuple[str, ...] = ("tasks", "actors")
# tasks mode: shards are grouped into about this many tasks per worker (Ray Data's per-task
# scheduling costs tens of milliseconds; a task streams back each shard's entry as it finishes)
TASKS_PER_WORKER = 2


class _NoOperatorReservation:
    """Ray Data reserves by default half of the cluster's resources per operator of a pipeline,
    which caps a one-operator job like ours at about half the workers; within this block the
    reservation is off, so ``workers`` tasks run at once (restored afterwards: other pipelines
    of the driver keep the default)."""

    def __enter__(self):
        import ray.data  # noqa: PLC0415

        self.ctx = ray.data.DataContext.get_current()
        self.saved = self.ctx.op_resource_reservation_enabled
        self.ctx.op_resource_reservation_enabled = False
        return self

    def __exit__(self, *exc) -> None:
        self.ctx.op_resource_reservation_enabled = self.saved


def _identity(job, shards: list[Shard], read: ReadOptions) -> dict:
    describe = getattr(job, "describe", None)
    return {"job": describe() if callable(describe) else type(job).__name__,
            "inputs": [s.path for s in shards], "read": read.describe()}


def run_job(job, inputs, output_dir: str | os.PathLike, *, engine: str = "local", ray_address: str | None = None,
            num_workers: int | None = None, read: ReadOptions | None = None,
            ray_workers: str = "tasks") -> JobReport:
    """Run a batch job (``job.open() -> fn(TokenBatch) -> pyarrow.Table``) over the input shards,
    writing ``output_dir/part-<shard>.parquet`` per shard and resuming from the manifest (see the
    module documentation). ``engine``: ``"local"`` (in this process) or ``"ray"`` (Ray Data;
    ``ray_address`` None starts a local Ray, ``num_workers`` workers, default one per CPU;
    ``ray_workers``: ``"tasks"`` on Ray's pooled worker processes, each keeping the opened job,
    or ``"actors"``, an actor pool per job)."""
    engine = choice("engine", engine, ENGINES)
    ray_workers = choice("ray_workers", ray_workers, WORKER_MODES)
    read = read or ReadOptions()
    if num_workers is not None:
        num_workers = positive_int("num_workers", num_workers)
    shards = list_shards(inputs)
    out = os.path.abspath(os.fspath(output_dir))
    os.makedirs(out, exist_ok=True)
    manifest = Manifest(out, _identity(job, shards, read))
    _clean_temporaries(out)
    todo = [s for s in shards if s.index not in manifest.done]
    resumed = len(shards) - len(todo)
    if todo and engine == "local":
        fn = job.open()
        for s in todo:
            manifest.add(process_shard(job, fn, s, out, read))
    elif todo:
        ray = ray_session(ray_address)
        _run_ray(ray, job, todo, out, read, num_workers, ray_workers, manifest)
    entries = [manifest.done[s.index] for s in shards]
    return JobReport(output_dir=out, files=[os.path.join(out, e["output"]) for e in entries],
                     rows=sum(e["rows"] for e in entries), records=sum(e["records"] for e in entries),
                     tokens=sum(e["tokens"] for e in entries), skipped=_merge_skipped(entries),
                     shards_run=len(todo), shards_resumed=resumed, engine=engine)


def _run_ray(ray, job, todo: list[Shard], out: str, read: ReadOptions, num_workers: int | None, ray_workers: str,
             manifest: Manifest) -> None:
    from ._threads import get_num_threads  # noqa: PLC0415

    workers = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    threads = 1 if workers > 1 else get_num_threads()
    with _NoOperatorReservation():
        items = [{"index": s.index, "path": s.path} for s in todo]
        per_task = 1 if ray_workers == "actors" else -(-len(todo) // (TASKS_PER_WORKER * workers))
        ds = ray.data.from_items(items, override_num_blocks=-(-len(todo) // per_task))
        if ray_workers == "actors":
            res = ds.map_batches(_ShardWorker, batch_size=1, batch_format="numpy",
                                 fn_constructor_args=(job, out, read, threads), **_actor_args(workers))
        else:  # a task killed mid-shard is retried (the rename makes it idempotent)
            res = ds.map_batches(_shard_task, batch_size=per_task, batch_format="numpy",
                                 fn_args=(out, read, threads, job),
                                 compute=ray.data.TaskPoolStrategy(size=workers), num_cpus=1, max_retries=-1)
        for batch in res.iter_batches(batch_size=1, batch_format="numpy"):
            for e in batch["entry"].tolist():
                manifest.add(json.loads(e))
    _clean_temporaries(out)  # temporaries of attempts that died


__all__ = ["DetectJob", "ENGINES", "IndexQueryJob", "JobReport", "MANIFEST", "Manifest", "ReadOptions", "ScoreJob",
           "Shard", "list_shards", "process_shard", "radioactivity", "ray_session", "read_output", "run_job"]


def __getattr__(name: str):
    """``radioactivity`` lives in fingerprint.distributed_radioactivity (which imports this module)."""
    if name == "radioactivity":
        from .distributed_radioactivity import radioactivity  # noqa: PLC0415

        return radioactivity
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
