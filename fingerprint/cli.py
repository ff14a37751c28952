"""The ``fingerprint`` command.

Each subcommand lives in one ``_add_<name>(sub)`` registration function (its arguments and its
``_run_<name>(args)``); :data:`COMMANDS` lists them. Exit codes: 0 success, 2 bad usage or bad
input (one line on stderr naming the file, line/row and field), 1 an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

EXAMPLES = """examples:
  fingerprint audit --demo              # the distillation audit on the built-in demo (SmolLM2 teacher)
  fingerprint audit --teacher t.gguf --suspect s.npz --panel a.npz --panel b.npz --out report/
  fingerprint demo                      # teacher vs distilled student vs independent model
  fingerprint demo --vocab 128256 --json
  fingerprint bench labelled.parquet --watermark kgw:gamma=0.25 --vocab-size 49152 --json bench.json
  fingerprint info                      # version, SIMD kernels in use, default threads
  fingerprint score responses.jsonl --tokenizer tokenizer.json --out scores.parquet
  fingerprint score suspect.parquet --reference teacher.parquet --out div.jsonl
  fingerprint watermark detect 'shards/*.parquet' --key key.json --out wm.parquet
  fingerprint watermark radioactivity suspect.jsonl --key key.json --out radio.json
  fingerprint index build vectors.parquet --out fp.index
  fingerprint index query queries.parquet --index fp.index --k 5 --out hits.jsonl
"""


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def _sub(sub, name: str, help: str, epilog: str = EXAMPLES) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help.replace("%", "%%"), description=help, epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


# ---------------------------------------------------------------------------------------------
# shared options


def _input_options(p: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        p.add_argument("inputs", nargs="+", help="input files or glob patterns (JSONL/JSON responses, Parquet, Arrow, .npz)")
    g = p.add_argument_group("input")
    g.add_argument("--format", default="auto", choices=["auto", "jsonl", "json", "parquet", "arrow", "npz"])
    g.add_argument("--tokenizer", help="tokenizer.json mapping API token strings/bytes to ids")
    g.add_argument("--vocab", help="JSON {token: id} mapping (alternative to --tokenizer)")
    g.add_argument("--vocab-encoding", default="text", choices=["text", "byte_level", "sentencepiece"],
                   help="how the --vocab keys spell the bytes (default: text)")
    g.add_argument("--columns", default=None, help="canonical=file column names, e.g. token_ids=input_ids,id=doc")
    g.add_argument("--top-k", type=_positive, default=None, help="pad top-k rows to this width")
    g.add_argument("--include-prompt", action="store_true", help="vLLM prompt_logprobs: score the prompt too")
    g.add_argument("--retokenize", action="store_true",
                   help="the responses come from a model with another tokenizer: re-tokenise them with --tokenizer "
                        "and align the log-probs by bytes (exact where tokens coincide, grouped otherwise)")
    g.add_argument("--batch-rows", type=_positive, default=1024, help="records per batch (memory bound)")
    g.add_argument("--on-error", choices=["fail", "skip"], default="fail",
                   help="malformed record: stop with its file:line:field (fail) or skip and count it")


def _output_options(p: argparse.ArgumentParser, *, table: bool = True) -> None:
    g = p.add_argument_group("output")
    if table:
        g.add_argument("--out", required=True, help="output table (.parquet or .jsonl), written atomically")
        g.add_argument("--summary", default=None, help="JSON summary file (default: <out>.summary.json)")
    g.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    g.add_argument("--num-threads", type=_positive, default=None)


def _columns(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise CLIError(f"--columns: expected canonical=name pairs separated by commas, got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _vocabulary(args):
    from .sources.vocab import Vocabulary  # noqa: PLC0415

    if args.tokenizer and args.vocab:
        raise CLIError("--tokenizer and --vocab: give one of them")
    if args.tokenizer:
        return Vocabulary.from_tokenizer(args.tokenizer)
    if args.vocab:
        try:
            with open(args.vocab, encoding="utf-8") as fh:
                mapping = json.load(fh)
        except FileNotFoundError:
            raise CLIError(f"--vocab: no such file {args.vocab!r}") from None
        except json.JSONDecodeError as exc:
            raise CLIError(f"--vocab: {args.vocab}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        return Vocabulary.from_mapping(mapping, encoding=args.vocab_encoding)
    return None


def _reader(args, inputs=None):
    """(iterator of TokenBatch over every input, stats)."""
    from .sources.readers import expand_paths, iter_batches  # noqa: PLC0415
    from .sources.records import ReadStats  # noqa: PLC0415

    paths = expand_paths(inputs if inputs is not None else args.inputs)
    stats = ReadStats()
    vocab = _vocabulary(args)
    kw = dict(format=args.format, batch_rows=args.batch_rows, on_error=args.on_error, stats=stats, vocab=vocab,
              columns=_columns(args.columns), top_k=args.top_k, include_prompt=args.include_prompt,
              retokenize=args.retokenize)

    def gen():
        show = sys.stderr.isatty()
        for p in paths:
            for b in iter_batches(p, **kw):
                if show:
                    print(f"\r{os.path.basename(p)}: {stats.records} records read, {stats.num_skipped} skipped",
                          end="", file=sys.stderr, flush=True)
                yield b
        if show:
            print(file=sys.stderr)

    return gen(), stats, paths


def _set_threads(args) -> None:
    if getattr(args, "num_threads", None):
        from ._threads import set_num_threads  # noqa: PLC0415

        set_num_threads(args.num_threads)


def _finish(args, summary: dict, t0: float, *, write_summary: bool = True) -> int:
    from .sources.writers import write_json  # noqa: PLC0415

    summary["seconds"] = round(time.perf_counter() - t0, 3)
    if write_summary and getattr(args, "out", None):
        path = args.summary or (args.out + ".summary.json")
        summary.setdefault("summary_path", path)
        write_json(path, summary)
    if args.json:
        print(json.dumps(_jsonable(summary), indent=2, allow_nan=True))
    else:
        print(_table_text(summary))
    return 0


def _jsonable(x):
    import math  # noqa: PLC0415

    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    return x


def _table_text(summary: dict) -> str:
    """A human summary: one 'key  value' line per scalar, nested dicts indented."""
    lines = []

    def walk(d, indent):
        for k, v in d.items():
            if isinstance(v, dict):
                lines.append(" " * indent + f"{k}:")
                walk(v, indent + 2)
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                for i, e in enumerate(v):
                    lines.append(" " * indent + f"{k}[{i}]:")
                    walk(e, indent + 2)
            elif isinstance(v, list) and len(v) > 8:
                lines.append(" " * indent + f"{k:<24} [{len(v)} values]")
            else:
                lines.append(" " * indent + f"{k:<24} {_fmt(v)}")

    walk(summary, 0)
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _column_summary(table, names) -> dict:
    import numpy as np  # noqa: PLC0415

    out = {}
    for n in names:
        if n not in table.column_names:
            continue
        v = np.asarray(table.column(n).to_numpy(zero_copy_only=False), dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            out[n] = {"mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
                      "count": int(v.size)}
    return out


# ---------------------------------------------------------------------------------------------
# demo, info (unchanged behaviour)


def _add_demo(sub) -> None:
    demo = _sub(sub, "demo", "the kernel-only demo on synthetic logits (the audit demo is: fingerprint audit --demo)")
    demo.add_argument("--sequences", type=_positive, default=16)
    demo.add_argument("--length", type=_positive, default=64, help="positions per sequence")
    demo.add_argument("--vocab", type=_positive, default=32_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--num-threads", type=_positive, default=None)
    demo.add_argument("--json", action="store_true", help="print machine-readable JSON")
    demo.set_defaults(func=_run_demo)


def _run_demo(args) -> int:
    from .demo import format_summary, run_demo  # noqa: PLC0415

    summary = run_demo(args.sequences, args.length, args.vocab, args.seed, args.num_threads)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _add_info(sub) -> None:
    p = _sub(sub, "info", "version, SIMD kernel set and default thread count")
    p.set_defaults(func=_run_info)


def _run_info(args) -> int:
    import fingerprint  # noqa: PLC0415

    info = {"version": fingerprint.__version__, "simd": fingerprint.simd_info(),
            "num_threads": fingerprint.get_num_threads()}
    print(json.dumps(info, indent=2))
    return 0


# ---------------------------------------------------------------------------------------------
# score


def _add_score(sub) -> None:
    p = _sub(sub, "score", "per-record detector scores (loss, perplexity, Min-K%, Min-K%++, zlib) from recorded "
             "log-probs; with --reference, top-k divergences against a second record set aligned by id")
    _input_options(p)
    g = p.add_argument_group("scores")
    g.add_argument("--k", type=_fraction, default=0.2, help="Min-K%% fraction (default 0.2)")
    g.add_argument("--scores", default=None, help="comma-separated subset of loss,perplexity,min_k,min_k_plus_plus,zlib_ratio")
    g.add_argument("--tail", default="bucket", choices=["bucket", "ignore", "renormalize", "geometric"],
                   help="top-k tail policy for Min-K%%++ moments and --reference divergences")
    g.add_argument("--vocab-size", type=_positive, default=None, help="vocabulary size (needed by --tail geometric)")
    g.add_argument("--reference", nargs="+", default=None,
                   help="records of a second model (same ids, same tokens; held in memory): adds mean_<field> columns")
    _output_options(p)
    p.set_defaults(func=_run_score)


def _run_score(args) -> int:
    import pyarrow as pa  # noqa: PLC0415

    from .jobs import align_by_id, score_batch, topk_divergence_batch  # noqa: PLC0415
    from .sources.records import TokenBatch  # noqa: PLC0415
    from .sources.writers import TableWriter  # noqa: PLC0415

    t0 = time.perf_counter()
    _set_threads(args)
    scores = None if args.scores is None else [s.strip() for s in args.scores.split(",") if s.strip()]
    ref = None
    ref_stats = None
    if args.reference:
        it, ref_stats, _ = _reader(args, args.reference)
        ref = TokenBatch.concat(list(it))
    batches, stats, paths = _reader(args)
    missing = 0
    with TableWriter(args.out) as w:
        for b in batches:
            if len(b) == 0:
                continue
            t = score_batch(b, k=args.k, tail=args.tail, vocab_size=args.vocab_size, scores=scores, num_threads=args.num_threads)
            if ref is not None:
                bp, bq, miss = align_by_id(b, ref)
                missing += len(miss)
                if miss:
                    gone = set(miss)
                    keep = [i for i, rid in enumerate(b.ids) if rid not in gone]
                    t = t.take(pa.array(keep, pa.int64()))
                d = topk_divergence_batch(bp, bq, tail=args.tail, vocab_size=args.vocab_size, num_threads=args.num_threads)
                for name in d.column_names[2:]:
                    t = t.append_column(name, d.column(name))
            w.write(t)
    out_rows = w.rows
    summary = {"command": "score", "inputs": paths, "out": args.out, "rows": out_rows, "read": stats.to_dict()}
    if ref is not None:
        summary["reference"] = {"records": len(ref), "read": ref_stats.to_dict(), "records_without_reference": missing}
    import pyarrow.parquet as pq  # noqa: PLC0415

    if out_rows and args.out.endswith((".parquet", ".pq")):
        table = pq.read_table(args.out)
        summary["columns"] = _column_summary(table, [c for c in table.column_names if c not in ("id", "label")])
    return _finish(args, summary, t0)


# ---------------------------------------------------------------------------------------------
# watermark detect / radioactivity


def _key_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("watermark key")
    g.add_argument("--key", required=True, help='JSON spec file, e.g. {"scheme": "kgw", "vocab_size": 49152, '
                   '"gamma": 0.25, "hash_key": 15485863}; a list of specs for several keys (radioactivity)')


def _add_watermark(sub) -> None:
    wm = _sub(sub, "watermark", "watermark detection and radioactivity")
    wsub = wm.add_subparsers(dest="watermark_command", required=True)
    d = _sub(wsub, "detect", "per-record watermark detection (KGW, Unigram, SynthID, Maryland, Aaronson)")
    _input_options(d)
    _key_options(d)
    d.add_argument("--alpha", type=float, default=1e-3, help="count records with p_value_exact below this (summary)")
    _output_options(d)
    d.set_defaults(func=_run_watermark_detect)
    r = _sub(wsub, "radioactivity", "corpus-level radioactivity test (was the suspect trained on watermarked text?)")
    _input_options(r)
    _key_options(r)
    r.add_argument("--mode", default="outputs", choices=["outputs", "reading"],
                   help="outputs: the records are the suspect's texts; reading: the teacher's texts with the "
                        "suspect's top-1 predictions in top_ids")
    r.add_argument("--dedup", default="window+token", choices=["window+token", "window"])
    r.add_argument("--no-prompts", action="store_true", help="do not exclude windows of the records' prompts")
    g = r.add_argument_group("output")
    g.add_argument("--out", required=True, help="JSON result file")
    g.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    g.add_argument("--num-threads", type=_positive, default=None)
    r.set_defaults(func=_run_watermark_radioactivity)


def _load_key(path: str):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise CLIError(f"--key: no such file {path!r}") from None
    except json.JSONDecodeError as exc:
        raise CLIError(f"--key: {path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def _run_watermark_detect(args) -> int:
    import numpy as np  # noqa: PLC0415

    from .jobs import WatermarkDetectJob  # noqa: PLC0415
    from .sources.writers import TableWriter  # noqa: PLC0415

    t0 = time.perf_counter()
    _set_threads(args)
    spec = _load_key(args.key)
    if isinstance(spec, list):
        raise CLIError("--key: detect takes one spec (an object), got a list")
    job = WatermarkDetectJob(spec, num_threads=args.num_threads)
    batches, stats, paths = _reader(args)
    n_below = 0
    p_min = 1.0
    with TableWriter(args.out) as w:
        for b in batches:
            if len(b) == 0:
                continue
            t = job(b)
            p = np.asarray(t.column("p_value_exact").to_numpy(zero_copy_only=False), dtype=np.float64)
            n_below += int((p < args.alpha).sum())
            if p.size:
                p_min = min(p_min, float(np.nanmin(p)))
            w.write(t)
    summary = {"command": "watermark detect", "inputs": paths, "out": args.out, "detector": repr(job.detector),
               "rows": w.rows, "alpha": args.alpha, "records_below_alpha": n_below, "min_p_value_exact": p_min,
               "read": stats.to_dict()}
    return _finish(args, summary, t0)


def _finish_radioactivity(args, summary: dict, t0: float) -> int:
    """Write the radioactivity summary and print it (a table of the detectors, or --json)."""
    from .sources.writers import write_json  # noqa: PLC0415

    summary["seconds"] = round(time.perf_counter() - t0, 3)
    write_json(args.out, summary)
    short = {k: v for k, v in summary.items() if k != "detectors"}
    short["detectors"] = [{k: d[k] for k in ("detector", "p_value_exact", "p_value", "num_tokens_scored") if k in d}
                          for d in summary["detectors"]]
    print(json.dumps(_jsonable(summary), indent=2) if args.json else _table_text(short))
    return 0


def _run_watermark_radioactivity(args) -> int:
    from .jobs import RadioactivityAccumulator  # noqa: PLC0415

    t0 = time.perf_counter()
    _set_threads(args)
    acc = RadioactivityAccumulator(_load_key(args.key), dedup=args.dedup, scoring_mode=args.mode,
                                   use_prompts=not args.no_prompts, num_threads=args.num_threads)
    batches, stats, paths = _reader(args)
    for b in batches:
        acc.add(b)
    res = acc.result()
    summary = {"command": "watermark radioactivity", "inputs": paths, "out": args.out, **res, "read": stats.to_dict()}
    return _finish_radioactivity(args, summary, t0)


# ---------------------------------------------------------------------------------------------
# index build / query


def _add_index(sub) -> None:
    ix = _sub(sub, "index", "build or query a fingerprint index (FAISS vectors or MinHash LSH)")
    isub = ix.add_subparsers(dest="index_command", required=True)
    b = _sub(isub, "build", "build an index from vectors (a table with id and vector columns) or from records "
             "(MinHash signatures of their token n-grams)")
    _input_options(b)
    b.add_argument("--kind", default="vectors", choices=["vectors", "minhash"])
    b.add_argument("--vector-column", default="vector")
    b.add_argument("--id-column", default="id")
    b.add_argument("--metric", default="cosine", choices=["cosine", "l2", "ip"])
    b.add_argument("--index-kind", default="flat", help="flat, ivf, hnsw, ivfpq or a FAISS factory string")
    b.add_argument("--num-perm", type=_positive, default=128)
    b.add_argument("--ngram", type=_positive, default=5)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--threshold", type=_fraction, default=0.5, help="MinHash LSH Jaccard threshold")
    g = b.add_argument_group("output")
    g.add_argument("--out", required=True, help="index file")
    g.add_argument("--json", action="store_true")
    g.add_argument("--num-threads", type=_positive, default=None)
    b.set_defaults(func=_run_index_build)
    q = _sub(isub, "query", "nearest stored records of each query")
    _input_options(q)
    q.add_argument("--index", required=True, help="index file written by 'fingerprint index build'")
    q.add_argument("--k", type=_positive, default=10)
    q.add_argument("--vector-column", default="vector")
    q.add_argument("--id-column", default="id")
    _output_options(q)
    q.set_defaults(func=_run_index_query)


def _vector_chunks(args):
    from .jobs import vectors_of  # noqa: PLC0415
    from .sources.readers import expand_paths, iter_tables  # noqa: PLC0415

    paths = expand_paths(args.inputs)
    cols = [args.id_column, args.vector_column]

    def gen():
        for p in paths:
            for first, t in iter_tables(p, format=args.format, batch_rows=args.batch_rows, columns=cols):
                yield vectors_of(t, column=args.vector_column, id_column=args.id_column, source=p, first_row=first)

    return gen(), paths


def _run_index_build(args) -> int:
    from .jobs import IndexBuilder  # noqa: PLC0415

    t0 = time.perf_counter()
    _set_threads(args)
    builder = IndexBuilder(args.kind, metric=args.metric, index_kind=args.index_kind, num_perm=args.num_perm,
                           ngram=args.ngram, seed=args.seed, threshold=args.threshold, num_threads=args.num_threads)
    read = None
    if args.kind == "vectors":
        chunks, paths = _vector_chunks(args)
        for ids, vec in chunks:
            if len(ids):
                builder.add_vectors(ids, vec)
    else:
        batches, stats, paths = _reader(args)
        for b in batches:
            builder.add(b)
        read = stats.to_dict()
    info = builder.save(args.out)
    summary = {"command": "index build", "inputs": paths, **info}
    if read is not None:
        summary["read"] = read
    return _finish(args, summary, t0, write_summary=False)


def _run_index_query(args) -> int:
    from .jobs import load_index, query_index  # noqa: PLC0415
    from .sources.writers import TableWriter  # noqa: PLC0415

    t0 = time.perf_counter()
    _set_threads(args)
    kind, index, labels, params = load_index(args.index)
    read = None
    with TableWriter(args.out) as w:
        if kind == "vectors":
            chunks, paths = _vector_chunks(args)
            for ids, vec in chunks:
                w.write(query_index(index, (ids, vec), k=args.k, num_threads=args.num_threads))
        else:
            batches, stats, paths = _reader(args)
            for b in batches:
                w.write(query_index(index, b, k=args.k, labels=labels, params=params, num_threads=args.num_threads))
            read = stats.to_dict()
    summary = {"command": "index query", "index": args.index, "kind": kind, "inputs": paths, "out": args.out, "rows": w.rows}
    if read is not None:
        summary["read"] = read
    return _finish(args, summary, t0)


# ---------------------------------------------------------------------------------------------
# --engine ray: the corpus commands on Ray Data (fingerprint.distributed)


def _subcommand(sub, *names):
    """The parser of a (nested) subcommand, e.g. ("watermark", "detect")."""
    p = sub.choices[names[0]]
    for name in names[1:]:
        action = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = action.choices[name]
    return p


def _add_engine(sub) -> None:
    """--engine / --ray-address / --num-workers on score, watermark detect|radioactivity, index query."""
    for names, ray_run in ((("score",), _run_score_ray), (("watermark", "detect"), _run_detect_ray),
                           (("watermark", "radioactivity"), _run_radioactivity_ray),
                           (("index", "query"), _run_index_query_ray)):
        p = _subcommand(sub, *names)
        g = p.add_argument_group("engine")
        g.add_argument("--engine", default="local", choices=["local", "ray"],
                       help="local: this process; ray: Ray Data workers (--out is then a directory of Parquet "
                            "parts, resumable; see README 'Beyond one machine')")
        g.add_argument("--ray-address", default=None,
                       help="Ray cluster to join ('auto' or ray://host:10001; default: start a local Ray)")
        g.add_argument("--num-workers", type=_positive, default=None, help="Ray workers (default: one per CPU)")
        if ray_run is not _run_radioactivity_ray:  # radioactivity's map and reduce steps are always tasks
            g.add_argument("--ray-workers", default="tasks", choices=["tasks", "actors"],
                           help="tasks: Ray's pooled worker processes, each opening the job once and keeping "
                                "it for later jobs of the session (default); actors: an actor pool per job")
        local = p.get_default("func")
        p.set_defaults(func=lambda args, _local=local, _ray=ray_run: (_ray if args.engine == "ray" else _local)(args))


def _read_options(args):
    from .distributed import ReadOptions  # noqa: PLC0415

    return ReadOptions(format=args.format, batch_rows=args.batch_rows, on_error=args.on_error, vocab=_vocabulary(args),
                       columns=_columns(args.columns) or None, top_k=args.top_k, include_prompt=args.include_prompt,
                       retokenize=args.retokenize)


def _run_job_ray(args, job, command: str):
    from .distributed import run_job  # noqa: PLC0415

    t0 = time.perf_counter()
    if os.path.isfile(args.out):
        raise CLIError(f"--out: with --engine ray, --out is a directory of Parquet parts; {args.out!r} is a file")
    rep = run_job(job, args.inputs, args.out, engine="ray", ray_address=args.ray_address,
                  num_workers=args.num_workers, read=_read_options(args), ray_workers=args.ray_workers)
    summary = {"command": command, "engine": "ray", "inputs": [os.path.abspath(p) for p in args.inputs],
               "out": args.out, "rows": rep.rows, "files": len(rep.files), "shards_run": rep.shards_run,
               "shards_resumed": rep.shards_resumed, "read": {"records": rep.records, **rep.skipped}}
    return rep, summary, t0


def _run_score_ray(args) -> int:
    from .distributed import ScoreJob  # noqa: PLC0415

    if args.reference:
        raise CLIError("--reference: not available with --engine ray (the reference set would be held by every worker)")
    scores = None if args.scores is None else [s.strip() for s in args.scores.split(",") if s.strip()]
    job = ScoreJob(k=args.k, tail=args.tail, vocab_size=args.vocab_size, scores=scores)
    _, summary, t0 = _run_job_ray(args, job, "score")
    return _finish(args, summary, t0)


def _run_detect_ray(args) -> int:
    import numpy as np  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from .distributed import DetectJob  # noqa: PLC0415

    spec = _load_key(args.key)
    if isinstance(spec, list):
        raise CLIError("--key: detect takes one spec (an object), got a list")
    job = DetectJob(spec)
    rep, summary, t0 = _run_job_ray(args, job, "watermark detect")
    n_below, p_min = 0, 1.0
    for f in rep.files:
        if "p_value_exact" not in pq.read_schema(f).names:  # a shard without records
            continue
        t = pq.read_table(f, columns=["p_value_exact"])
        p = np.asarray(t.column("p_value_exact").to_numpy(zero_copy_only=False), dtype=np.float64)
        n_below += int((p < args.alpha).sum())
        p_min = min(p_min, float(np.nanmin(p)))
    summary.update({"alpha": args.alpha, "records_below_alpha": n_below, "min_p_value_exact": p_min})
    return _finish(args, summary, t0)


def _run_radioactivity_ray(args) -> int:
    import numpy as np  # noqa: PLC0415

    from .distributed_radioactivity import radioactivity  # noqa: PLC0415
    from .jobs import build_detector  # noqa: PLC0415

    t0 = time.perf_counter()
    spec = _load_key(args.key)
    specs = spec if isinstance(spec, list) else [spec]
    dets = [build_detector(s) for s in specs]
    res = radioactivity(dets if len(dets) > 1 else dets[0], args.inputs, dedup=args.dedup, scoring_mode=args.mode,
                        use_prompts=not args.no_prompts, engine="ray", ray_address=args.ray_address,
                        num_workers=args.num_workers, read=_read_options(args))
    results = res.results if len(dets) > 1 else [res]
    out = {"num_records": results[0].num_records, "num_tokens": results[0].num_tokens,
           "used_prompts": results[0].used_prompts, "detectors": []}
    for d, r in zip(dets, results):
        e = {k: v for k, v in vars(r).items() if k not in ("scored_positions", "used_prompts", "num_records", "num_tokens")}
        e = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in e.items()}
        e["detector"] = repr(d)
        out["detectors"].append(e)
    if len(dets) > 1:
        out.update(p_bonferroni=res.p_bonferroni.tolist(), p_holm=res.p_holm.tolist(), p_value=res.p_value, best=res.best)
    else:
        out["p_value"] = results[0].p_value_exact
    summary = {"command": "watermark radioactivity", "engine": "ray", "inputs": [os.path.abspath(p) for p in args.inputs],
               "out": args.out, **out}
    return _finish_radioactivity(args, summary, t0)


def _run_index_query_ray(args) -> int:
    from .distributed import IndexQueryJob  # noqa: PLC0415

    job = IndexQueryJob(args.index, k=args.k, vector_column=args.vector_column, id_column=args.id_column)
    _, summary, t0 = _run_job_ray(args, job, "index query")
    summary.update({"index": args.index, "kind": job.kind})
    return _finish(args, summary, t0)


# ---------------------------------------------------------------------------------------------

def _add_audit(sub) -> None:
    from .audit.cli import add_parser  # noqa: PLC0415

    add_parser(sub)


def _add_bench(sub) -> None:
    from .detector_bench import add_parser  # noqa: PLC0415

    add_parser(sub)


#: Registration functions, one per subcommand (add new commands here).
COMMANDS = [_add_audit, _add_bench, _add_demo, _add_info, _add_score, _add_watermark, _add_index, _add_engine]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fingerprint",
        description="Statistical evidence of distillation between language models.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .sources.records import RecordError  # noqa: PLC0415

    try:
        return args.func(args)
    except (CLIError, RecordError, ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError,
            ModuleNotFoundError) as exc:
        if os.environ.get("FINGERPRINT_TRACEBACK"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"fingerprint {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("fingerprint: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
