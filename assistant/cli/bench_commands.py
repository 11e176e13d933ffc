"""`mneme bench locomo --data PATH [--conversations IDS] [--train-on IDS] [--json OUT]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    bench = commands.add_parser("bench", help="measure recall on evaluation data you provide")
    sub = bench.add_subparsers(dest="suite", required=True, metavar="SUITE")
    locomo = sub.add_parser("locomo", help="turn-level evidence recall on LoCoMo conversations")
    locomo.add_argument("--data", type=Path, required=True, help="the LoCoMo JSON file")
    locomo.add_argument("--conversations", type=_ids, help="sample ids to evaluate (default all)")
    locomo.add_argument("--train-on", type=_ids, help="sample ids to train recall on first")
    locomo.add_argument("--json", type=Path, dest="json_out", help="also write the result here")
    locomo.set_defaults(handler=run_locomo_command)


def _ids(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise argparse.ArgumentTypeError("give one or more ids separated by commas")
    return ids


def run_locomo_command(args: argparse.Namespace) -> int:
    from assistant.bench.locomo import run_locomo

    result = run_locomo(
        args.data,
        conversations=args.conversations,
        train_on=args.train_on,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"{'':14}{'R@5':>8}{'R@10':>8}")
    for name, figures in result["by_category"].items():
        print(
            f"{name:14}{figures['recall@5']:>8.1f}{figures['recall@10']:>8.1f}   ({figures['n']} q)"
        )
    print(
        f"{'all':14}{result['recall@5']:>8.1f}{result['recall@10']:>8.1f}   "
        f"R@25 {result['recall@25']:.1f} · MRR {result['mrr']:.1f} · nDCG@10 {result['ndcg@10']:.1f}"
        f" · recall p50 {result['latency_ms']['p50']} ms, p95 {result['latency_ms']['p95']} ms"
    )
    line = json.dumps(result)
    if args.json_out:
        args.json_out.write_text(line + "\n", encoding="utf-8")
    print(line)
    return 0
