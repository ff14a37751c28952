"""The ``fingerprint`` command."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLES = """examples:
  fingerprint audit --demo              # the distillation audit on the built-in demo (SmolLM2 teacher)
  fingerprint demo                      # teacher vs distilled student vs independent model
  fingerprint demo --vocab 128256 --json
  fingerprint bench labelled.parquet --watermark kgw:gamma=0.25 --vocab-size 49152 --json bench.json
  fingerprint info                      # version, SIMD kernels in use, default threads
"""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fingerprint",
        description="Statistical evidence of distillation between language models.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in demo", epilog=EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--sequences", type=_positive, default=16)
    demo.add_argument("--length", type=_positive, default=64, help="positions per sequence")
    demo.add_argument("--vocab", type=_positive, default=32_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--num-threads", type=_positive, default=None)
    demo.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub.add_parser("info", help="version, SIMD kernel set and default thread count")
    from .audit.cli import add_parser as add_audit

    add_audit(sub)
    from .detector_bench import add_parser as add_bench

    add_bench(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "run"):
        try:
            return args.run(args)
        except (ValueError, TypeError, FileNotFoundError, ModuleNotFoundError) as e:
            print(f"fingerprint {args.command}: error: {e}", file=sys.stderr)
            return 2
    if args.command == "info":
        import fingerprint

        info = {"version": fingerprint.__version__, "simd": fingerprint.simd_info(),
                "num_threads": fingerprint.get_num_threads()}
        print(json.dumps(info, indent=2))
        return 0
    from .demo import format_summary, run_demo

    summary = run_demo(args.sequences, args.length, args.vocab, args.seed, args.num_threads)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
