r"""Radioactivity over a sharded corpus with corpus-wide de-duplication across workers.

Same test as :func:`fingerprint.watermark.radioactivity` on the concatenation of the shards (in
:func:`fingerprint.distributed.list_shards` order), as a two-level shuffle of Ray tasks (the
plan, holding the detector and ``filter_windows``, is broadcast once with ``ray.put``):

1. *map* (one task per shard): :meth:`RadioactivityPlan.candidate_pairs` on each batch (every
   per-text filter only looks at its own text), the pair's score, its de-duplication key (window,
   or window + token) and its partition ``h(key) mod P`` (a 64-bit mix of the key's columns, used
   only to route rows, never to compare them); the task returns P pieces (``num_returns``);
2. *reduce* (one task per partition): all occurrences of a key meet in one partition, which keeps
   the first occurrence in corpus order (smallest (shard, sequence number)) by exact comparison
   of the whole key, and routes the kept rows to G contiguous shard groups;
3. *ordered sum* (driver): group by group (one group in memory at a time), the kept rows sorted
   on (shard, sequence number), the scores accumulated sequentially with the running sum folded
   into the first element of each block: the same additions in the same order as ``np.cumsum``
   over the single-machine array, so ``score_sum`` and every checkpoint are bit-identical.

Tasks run with ``max_retries=-1``: a task whose worker dies is run again (its outputs are a pure
function of the shard), and lost objects are rebuilt from lineage.

With ``dedup="window"`` the kept token is the one of the first occurrence, as in the
single-machine function; with ``"window+token"`` any occurrence gives the same score, but the
corpus order still fixes the checkpoints.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .distributed import ReadOptions, iter_shard, list_shards, ray_session
from .watermark.radioactivity import RadioactivityMultiResult, RadioactivityPlan
from .watermark.threebricks import first_occurrence

_SUMMARY = ("tokens", "pairs", "num_candidates", "num_filtered", "num_in_prompt", "num_in_context",
            "records", "batches_with_prompts", "batches_without_prompts")
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (uint64 arithmetic wraps)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def partition_of(keys: np.ndarray, num_partitions: int) -> np.ndarray:
    """int64 partition in [0, P) of each key row (deterministic on every machine)."""
    h = np.full(keys.shape[0], 0x9E3779B97F4A7C15, dtype=np.uint64)
    for j in range(keys.shape[1]):
        h = _mix(h ^ keys[:, j].astype(np.uint64))
    return (h % np.uint64(num_partitions)).astype(np.int64)


def reading_predictions(batch, topk: int = 1) -> np.ndarray:
    """The suspect's predictions for reading mode: column 0 (or the first ``topk`` columns) of
    the records' ``top_ids``. A record's first position is never scored (its entry may be
    missing); a missing prediction anywhere else is an error naming the record."""
    if batch.top_ids is None or batch.k < topk:
        raise ValueError(f"batch: reading mode needs the suspect's predictions (top_ids, {topk} per position) in "
                         f"{batch.source}; it has {batch.k}")
    pred = batch.top_ids[:, :topk].copy()
    first = batch.offsets[:-1][np.diff(batch.offsets) > 0]
    pred[first] = np.maximum(pred[first], 0)  # never scored
    bad = np.flatnonzero((pred < 0).any(axis=1))
    if bad.size:
        p = int(bad[0])
        r = int(np.searchsorted(batch.offsets, p, side="right")) - 1
        raise ValueError(f"{batch.where(r)}: top_ids[{p - int(batch.offsets[r])}]: no prediction at this position "
                         "(reading mode needs the suspect's top-1 at every position)")
    return pred[:, 0] if topk == 1 else pred


def _batch_inputs(batch, plan: RadioactivityPlan, use_prompts: bool, topk: int) -> dict:
    kw: dict = {}
    if use_prompts and batch.prompt_tokens is not None:
        kw["prompts"], kw["prompt_offsets"] = batch.prompt_tokens, batch.prompt_offsets
    if plan.scoring_mode == "reading":
        kw["predictions"] = reading_predictions(batch, topk)
    return kw


def shard_candidates(plan: RadioactivityPlan, shard, read: ReadOptions, use_prompts: bool, topk: int):
    """Map side, one shard: (columns of the surviving pairs: shard, seq, pos, score, key columns;
    summary counts). ``seq`` numbers the shard's pairs in corpus order, ``pos`` is the position in
    the shard's concatenated tokens."""
    parts, seq, base = [], 0, 0
    totals = dict.fromkeys(_SUMMARY, 0)
    for batch in iter_shard(shard, read):
        pos, win, tok, counts = plan.candidate_pairs(batch.tokens, batch.offsets,
                                                     **_batch_inputs(batch, plan, use_prompts, topk))
        for k, v in counts.items():
            totals[k] += v
        totals["tokens"] += batch.num_tokens
        totals["records"] += len(batch)
        totals["batches_with_prompts" if batch.prompt_tokens is not None else "batches_without_prompts"] += 1
        n = pos.shape[0]
        totals["pairs"] += n
        if n:
            parts.append((np.arange(seq, seq + n, dtype=np.int64), pos + base, plan.scores(win, tok, 1),
                          plan.dedup_keys(win, tok)))
        seq += n
        base += batch.num_tokens
    kw = plan.key_width
    cols = {
        "seq": np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64),
        "pos": np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64),
        "score": np.concatenate([p[2] for p in parts]) if parts else np.zeros(0),
        "key": np.concatenate([p[3] for p in parts]) if parts else np.zeros((0, kw), np.int64),
    }
    cols["shard"] = np.full(cols["seq"].shape[0], shard.index, np.int64)
    return cols, totals


def _split(cols: dict, which: np.ndarray, n: int) -> list[dict]:
    """Rows of ``cols`` routed to ``n`` outputs by ``which`` (stable: order kept in each)."""
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(n + 1))
    return [{k: v[order[bounds[i]:bounds[i + 1]]] for k, v in cols.items()} for i in range(n)]


def _concat(pieces: Sequence[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}


def _map_task(plan, shard, read, use_prompts, topk, P):
    cols, totals = shard_candidates(plan, shard, read, use_prompts, topk)
    return (*_split(cols, partition_of(cols["key"], P), P), totals)


def _reduce_task(groups_of_shard, G, *pieces):
    """One partition: the first occurrence (smallest (shard, seq)) of each key, routed to the
    G contiguous shard groups for the ordered sum."""
    b = _concat(pieces)
    order = np.lexsort((b["seq"], b["shard"]))
    keep = order[first_occurrence(np.ascontiguousarray(b["key"][order]))]
    kept = {k: b[k][keep] for k in ("shard", "seq", "pos", "score")}
    out = _split(kept, np.asarray(groups_of_shard)[kept["shard"]], G)
    return (*out, np.array([o["score"].shape[0] for o in out], dtype=np.int64))


def radioactivity(detector, inputs, *, dedup: str = "window+token", scoring_mode: str = "outputs",
                  filter_windows: object = None, use_prompts: bool = False, topk: int = 1,
                  checkpoints: object = None, engine: str = "ray", ray_address: str | None = None,
                  num_workers: int | None = None, num_partitions: int | None = None,
                  read: ReadOptions | None = None):
    """:func:`fingerprint.watermark.radioactivity` over the records of ``inputs`` (Parquet/JSONL
    shards; the corpus is their concatenation in :func:`list_shards` order). ``use_prompts``:
    exclude windows of each record's ``prompt_ids``. ``scoring_mode="reading"`` takes the suspect's
    ``topk`` predictions from the records' ``top_ids``. ``engine="local"`` concatenates the corpus
    in this process and calls the single-machine function; ``"ray"`` runs the three stages of the
    module documentation with ``num_partitions`` shuffle partitions (default 4 per worker). A
    sequence of detectors gives a :class:`RadioactivityMultiResult` (one pass per detector)."""
    from ._validate import boolean, choice, positive_int  # noqa: PLC0415

    if isinstance(detector, (list, tuple)):
        if len(detector) == 0:
            raise ValueError("detector: expected at least one detector, got an empty sequence")
        return RadioactivityMultiResult([
            radioactivity(d, inputs, dedup=dedup, scoring_mode=scoring_mode, filter_windows=filter_windows,
                          use_prompts=use_prompts, topk=topk, checkpoints=checkpoints, engine=engine,
                          ray_address=ray_address, num_workers=num_workers, num_partitions=num_partitions,
                          read=read) for d in detector])
    engine = choice("engine", engine, ("local", "ray"))
    use_prompts = boolean("use_prompts", use_prompts)
    topk = positive_int("topk", topk)
    plan = RadioactivityPlan(detector, dedup=dedup, scoring_mode=scoring_mode, filter_windows=filter_windows)
    read = read or ReadOptions()
    shards = list_shards(inputs)
    if engine == "local":
        return _local(plan, detector, shards, read, use_prompts, topk, checkpoints)
    res = _ray(plan, shards, read, use_prompts, topk, checkpoints, ray_address, num_workers, num_partitions)
    if res is None:  # some batches lack prompts: as one stream, the corpus has none (TokenBatch.concat)
        res = _ray(plan, shards, read, False, topk, checkpoints, ray_address, num_workers, num_partitions)
    return res


def _ray(plan, shards, read, use_prompts, topk, checkpoints, ray_address, num_workers, num_partitions):
    from ._validate import positive_int  # noqa: PLC0415

    ray = ray_session(ray_address)
    workers = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    P = positive_int("num_partitions", num_partitions) if num_partitions is not None else 4 * workers
    S = len(shards)
    G = min(S, P)  # shard groups: the sum visits them in order, one group in driver memory at a time
    group = (np.arange(S, dtype=np.int64) * G) // S
    opts = {"num_cpus": 1, "max_retries": -1}  # a task on a killed worker is run again
    map_task = ray.remote(_map_task).options(num_returns=P + 1, **opts)
    reduce_task = ray.remote(_reduce_task).options(num_returns=G + 1, **opts)
    plan_ref, read_ref = ray.put(plan), ray.put(read)  # broadcast once
    maps = [map_task.remote(plan_ref, s, read_ref, use_prompts, topk, P) for s in shards]
    reduces = [reduce_task.remote(group, G, *[m[p] for m in maps]) for p in range(P)]
    summary = ray.get([m[P] for m in maps])
    counts = {k: sum(t[k] for t in summary) for k in _SUMMARY}
    if use_prompts and counts["batches_with_prompts"] and counts["batches_without_prompts"]:
        return None
    tokens = np.array([t["tokens"] for t in summary], dtype=np.int64)
    base = np.zeros(S, dtype=np.int64)
    np.cumsum(tokens[:-1], out=base[1:])
    # pass 1: N (needed for the default checkpoints) from the group sizes; pass 2: the ordered sum
    N = int(sum(int(x.sum()) for x in ray.get([r[G] for r in reduces])))
    cps = plan.checkpoints(checkpoints, N)
    stat_cp = np.zeros(cps.shape[0])
    positions = np.empty(N, dtype=np.int64)
    carry, seen, c = 0.0, 0, 0
    for g in range(G):
        b = _concat(ray.get([r[g] for r in reduces]))
        n = b["score"].shape[0]
        if n == 0:
            continue
        order = np.lexsort((b["seq"], b["shard"]))
        sc = b["score"][order]
        sc[0] += carry  # the running sum enters the block as in one sequential np.cumsum
        cum = np.cumsum(sc)
        carry = float(cum[-1])
        positions[seen:seen + n] = base[b["shard"][order]] + b["pos"][order]
        while c < cps.shape[0] and cps[c] <= seen + n:
            stat_cp[c] = cum[cps[c] - seen - 1]
            c += 1
        seen += n
    total = carry if N else 0.0
    res = plan.result(N, total, cps, stat_cp, positions, counts, counts["pairs"] - N)
    res.used_prompts = bool(use_prompts and counts["batches_with_prompts"] and not counts["batches_without_prompts"])
    res.num_records, res.num_tokens = int(counts["records"]), int(counts["tokens"])
    return res


def _local(plan, detector, shards, read, use_prompts, topk, checkpoints):
    """The single-machine reference: the whole corpus in one call."""
    from .sources.records import TokenBatch  # noqa: PLC0415
    from .watermark.radioactivity import radioactivity as one  # noqa: PLC0415

    batch = TokenBatch.concat([b for s in shards for b in iter_shard(s, read)])
    kw = _batch_inputs(batch, plan, use_prompts, topk)
    res = one(detector, batch.tokens, batch.offsets, dedup=plan.dedup, scoring_mode=plan.scoring_mode,
              filter_windows=plan.filter, checkpoints=checkpoints, **kw)
    res.used_prompts = "prompts" in kw
    res.num_records, res.num_tokens = len(batch), batch.num_tokens
    return res
