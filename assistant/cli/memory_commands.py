"""`mneme memory list|search|show|remember|pin|status|reset-learning|learn|feedback|retrain`.

Forgetting, export, health, the review inbox, extraction and timelines are in fact_commands;
consolidation into the model's weights (consolidate, adapters, adapter …) in consolidate_commands.
"""

from __future__ import annotations

import argparse
from typing import Any

from assistant.cli import consolidate_commands, fact_commands
from assistant.cli.fact_commands import describe
from assistant.cli.terminal import open_assistant, print_json
from assistant.types import RecalledMemory


def register(commands: Any) -> None:
    memory = commands.add_parser("memory", help="see, search, add and forget memories")
    sub = memory.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = sub.add_parser("list", help="memories, facts first, newest first")
    listing.add_argument("--kind", choices=["episode", "fact", "chunk"])
    listing.add_argument("--status", choices=["active", "inbox", "superseded"], default="active")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    search = sub.add_parser("search", help="recall memories for a query, with reasons")
    search.add_argument("query", nargs="+")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--keywords", action="store_true", help="keyword index only (fast)")
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=run_search)

    show = sub.add_parser("show", help="one memory with its provenance")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)

    remember = sub.add_parser("remember", help="store something you state as a fact")
    remember.add_argument("text", nargs="+")
    remember.add_argument("--pin", action="store_true", help="always keep it")
    remember.add_argument("--json", action="store_true")
    remember.set_defaults(handler=run_remember)

    pin = sub.add_parser("pin", help="pin a memory (--off to unpin)")
    pin.add_argument("id", type=int)
    pin.add_argument("--off", action="store_true")
    pin.add_argument("--json", action="store_true")
    pin.set_defaults(handler=run_pin)

    fact_commands.register(sub)

    status = sub.add_parser("status", help="counts, pending vectors, fact extraction, learning")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=run_status)

    reset = sub.add_parser("reset-learning", help="forget what recall learned (signals stay)")
    reset.add_argument("--json", action="store_true")
    reset.set_defaults(handler=run_reset)

    learn = sub.add_parser(
        "learn", help="score recent replies' memories with the model, then retrain recall"
    )
    learn.add_argument("--replies", type=int, default=20, help="most replies to score")
    learn.add_argument("--json", action="store_true")
    learn.set_defaults(handler=run_learn)

    feedback = sub.add_parser("feedback", help="say whether a reply (message id) was helpful")
    feedback.add_argument("message_id", type=int)
    feedback.add_argument("verdict", choices=["up", "down"])
    feedback.set_defaults(handler=run_feedback)

    retrain = sub.add_parser("retrain", help="train recall again from the stored signals")
    retrain.add_argument("--seed", type=int, default=0)
    retrain.add_argument("--json", action="store_true")
    retrain.set_defaults(handler=run_retrain)

    consolidate_commands.register(sub)


def describe_recalled(item: RecalledMemory) -> str:
    reasons = "; ".join(item.reasons)
    return f"{describe(item.memory)}\n        score {item.score:.3f}  {reasons}"


def run_list(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        memories = assistant.memory.browse(
            kind=args.kind, status=args.status, limit=args.limit, offset=args.offset
        )
    if args.json:
        print_json([m.to_json() for m in memories])
    else:
        for memory in memories:
            print(describe(memory))
    return 0


def run_search(args: argparse.Namespace) -> int:
    query = " ".join(args.query)
    with open_assistant() as assistant:
        if args.keywords:
            found = assistant.memory.search(query, args.limit)
            if args.json:
                print_json([m.to_json() for m in found])
            else:
                for memory in found:
                    print(describe(memory))
            return 0
        recalled = assistant.memory.recall(query, args.limit, touch=False)
    if args.json:
        print_json([r.to_json() for r in recalled])
    else:
        for item in recalled:
            print(describe_recalled(item))
    return 0


def run_show(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        memory = assistant.memory.get(args.id)
    if args.json:
        print_json(memory.to_json())
        return 0
    print(f"memory {memory.id} · {memory.kind} · {memory.status} · trust {memory.trust}")
    print(f"when: {memory.occurred_at}  (stored {memory.created_at})")
    print(f"source: {memory.source_type} {memory.source_ref or ''}")
    if memory.pinned:
        print("pinned")
    print(f"recalled {memory.access_count} times, last {memory.last_accessed_at or 'never'}")
    print()
    print(memory.text)
    return 0


def run_remember(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        memory = assistant.memory.remember(" ".join(args.text), pinned=args.pin)
    if args.json:
        print_json(memory.to_json())
    else:
        print(f"remembered: {describe(memory)}")
    return 0


def run_pin(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        memory = assistant.memory.pin(args.id, not args.off)
    if args.json:
        print_json(memory.to_json())
    else:
        print(("unpinned: " if args.off else "pinned: ") + describe(memory))
    return 0


def run_status(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        status = assistant.memory.status()
        status["extraction"] = assistant.memory.extraction_status()
    if args.json:
        print_json(status)
        return 0
    counts = ", ".join(f"{n} {s}" for s, n in sorted(status["memories"].items())) or "none"
    print(f"memories: {counts}")
    print(f"vectors still to compute: {status['vectors_pending']}")
    print(f"learning signals: {status['signals']}")
    print(f"recall last trained: {status['learned_at'] or 'never (default weights)'}")
    extraction = status["extraction"]
    outcomes = ", ".join(f"{n} {a}" for a, n in sorted(extraction["outcomes"].items()))
    print(
        f"fact extraction: {extraction['pending']} pending, {extraction['done']} done, "
        f"{extraction['failed']} failed; proposals: {outcomes or 'none yet'}"
    )
    failure = extraction["last_failure"]
    if failure is not None:
        print(
            f"  last failure {failure['at'][:19]}: {failure['error']} "
            "(mneme memory extract --retry-failed)"
        )
    return 0


def run_reset(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        assistant.memory.reset_learning()
    if args.json:
        print_json({"reset": True})
    else:
        print("recall is back to its default weights; the signals are kept (mneme memory retrain)")
    return 0


def run_retrain(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        report = assistant.memory.retrain(seed=args.seed)
    result = {
        "signals": report.signals,
        "examples": report.examples,
        "steps": report.steps,
        "seconds": round(report.seconds, 2),
        "loss_before": round(report.loss_before, 4),
        "loss_after": round(report.loss_after, 4),
    }
    if args.json:
        print_json(result)
    else:
        print(
            f"trained on {report.examples} examples from {report.signals} signals in "
            f"{report.steps} steps ({report.seconds:.1f} s): loss {report.loss_before:.3f} → "
            f"{report.loss_after:.3f}"
        )
    return 0


def run_learn(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        run = assistant.learn(replies=args.replies)
    result = {
        "replies": run.replies,
        "gains": run.gains,
        "signals": run.signals,
        "trained_examples": run.trained_examples,
    }
    if args.json:
        print_json(result)
    else:
        print(
            f"scored {run.gains} memories in {run.replies} replies, {run.signals} new signals; "
            f"recall trained on {run.trained_examples} examples"
        )
    return 0


def run_feedback(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        assistant.feedback(args.message_id, 1 if args.verdict == "up" else -1)
    print(
        f"noted: reply {args.message_id} was {'helpful' if args.verdict == 'up' else 'not helpful'}"
    )
    return 0
