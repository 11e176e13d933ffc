"""`mneme memory forget|export|health|inbox|accept|reject|extract|timeline`: facts and forgetting.

Registered by memory_commands under `mneme memory`. Everything goes through `Assistant.memory`
(and `Assistant.extract_facts`); nothing here reads the database itself.

`--json` shapes (stable: other tools read them):
- forget ID: {"forgotten": ID, "memories", "facts", "facts_derived", "facts_kept",
  "messages_redacted", "ids"} (assistant.memory.forget.ForgetReport);
  forget --source/--conversation/--sender: {"source", "conversation", "sender", "type", "memories"}.
- export --out FILE: {"path", "memories", "bytes"}; without --out the export itself is the output.
- health: assistant.memory.health's report. inbox: memories, each with "contradicts" (the fact it
  contradicts, or null). accept: the memory. reject: {"rejected": ID}.
- extract: ExtractionRun.to_json() plus "pending" (jobs still queued). timeline: memories.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from assistant.app import Assistant
from assistant.cli.terminal import open_assistant, print_json
from assistant.errors import MnemeError, NotFoundError
from assistant.types import Memory, MemoryFilter

SOURCE_TYPES = ("conversation", "user", "document", "email", "benchmark")
MAX_LISTED = 10  # items shown per section of the human-readable health report


def register(sub: Any) -> None:
    """Add the fact and forgetting actions to `mneme memory`'s sub-parsers."""
    forget = sub.add_parser(
        "forget",
        help="delete memories completely: one (ID) or everything from a source",
        description="Delete completely: the memories, every version, the facts read only in "
        "them, their index entries, vectors and learning signals, and the conversation text they "
        "were made of. Name exactly one of ID, --source, --conversation, --sender.",
    )
    forget.add_argument("id", type=int, nargs="?", help="a memory id")
    forget.add_argument(
        "--source",
        metavar="REF",
        help="a document path (all its pages), an email Message-ID, or a ChatGPT conversation "
        "(chatgpt:ID)",
    )
    forget.add_argument("--conversation", type=int, metavar="ID", help="a conversation id")
    forget.add_argument("--sender", metavar="ADDR", help="an email sender's address (or speaker)")
    forget.add_argument(
        "--type", choices=SOURCE_TYPES, help="only memories of this source type (with a source)"
    )
    forget.add_argument("--json", action="store_true")
    forget.set_defaults(handler=run_forget)

    export = sub.add_parser(
        "export",
        help="every memory with its provenance as JSON (clear text, not encrypted)",
        description="Write every memory, with where it came from, as one JSON document. The "
        "output is CLEAR TEXT: anyone who can read the file can read your memory. A file is "
        "created readable only by you, written completely before it appears.",
    )
    export.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.add_argument("--json", action="store_true", help="with --out: a JSON summary")
    export.set_defaults(handler=run_export)

    health = sub.add_parser(
        "health", help="duplicates, stale facts, contradictions, inbox, extraction failures"
    )
    health.add_argument("--json", action="store_true")
    health.set_defaults(handler=run_health)

    inbox = sub.add_parser("inbox", help="proposed memories waiting for review")
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=run_inbox)

    accept = sub.add_parser("accept", help="accept a proposed memory from the inbox")
    accept.add_argument("id", type=int)
    accept.add_argument("--text", help="accept it with this text instead")
    accept.add_argument("--json", action="store_true")
    accept.set_defaults(handler=run_accept)

    reject = sub.add_parser("reject", help="delete a proposed memory from the inbox")
    reject.add_argument("id", type=int)
    reject.add_argument("--json", action="store_true")
    reject.set_defaults(handler=run_reject)

    extract = sub.add_parser(
        "extract", help="let the model read queued exchanges for facts (needs a model)"
    )
    extract.add_argument("--limit", type=_positive, default=5, help="most jobs (default 5)")
    extract.add_argument(
        "--retry-failed", action="store_true", help="try failed jobs again as well"
    )
    extract.add_argument("--json", action="store_true")
    extract.set_defaults(handler=run_extract)

    timeline = sub.add_parser("timeline", help="a fact's history: what it updated, what updated it")
    timeline.add_argument("id", type=int)
    timeline.add_argument("--json", action="store_true")
    timeline.set_defaults(handler=run_timeline)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# -- formatting ---------------------------------------------------------------------------------
def one_line(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def describe(memory: Memory) -> str:
    pin = "📌 " if memory.pinned else ""
    return (
        f"{memory.id:6}  {memory.occurred_at[:10]}  {memory.kind:7} {memory.trust:14} "
        f"{pin}{one_line(memory.text)}"
    )


def shown(text: str, width: int = 120) -> str:
    """User input echoed safely on one line: control characters and lone surrogates escaped."""
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"


# -- forget -------------------------------------------------------------------------------------
def _checked_text(value: str, what: str) -> str:
    if not value.strip():
        raise MnemeError(f"The {what} is empty; say which one to forget.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MnemeError(f"The {what} is not valid UTF-8 text, so nothing comes from it.") from None
    return value


def _sender_address(value: str) -> str:
    """Email senders are stored as their lower-case address: accept "Name <addr>" as well."""
    value = value.strip()
    if "@" not in value:
        return value  # a speaker name ("user", a benchmark speaker): as stored
    return (parseaddr(value)[1] or value).lower()


def run_forget(args: argparse.Namespace) -> int:
    named = [
        name
        for name, value in (
            ("ID", args.id),
            ("--source", args.source),
            ("--conversation", args.conversation),
            ("--sender", args.sender),
        )
        if value is not None
    ]
    if len(named) != 1:
        which = "none" if not named else " and ".join(named)
        raise MnemeError(
            f"Name exactly one of ID, --source, --conversation or --sender to forget (got {which})."
        )
    if args.id is not None:
        if args.type is not None:
            raise MnemeError("--type goes with --source, --conversation or --sender, not an ID.")
        return _forget_one(args)
    source = _checked_text(args.source, "source") if args.source is not None else None
    sender = None
    if args.sender is not None:
        sender = _sender_address(_checked_text(args.sender, "sender"))
    with open_assistant() as assistant:
        count = assistant.memory.forget_source(
            conversation_id=args.conversation,
            source_type=args.type,
            source_ref=source,
            speaker=sender,
        )
        absolute = _absolute(source) if count == 0 and source is not None else None
        if absolute is not None and absolute != source:
            # Documents are stored under their absolute path: try what the user typed from here.
            count = assistant.memory.forget_source(
                conversation_id=args.conversation, source_type=args.type, source_ref=absolute
            )
            source = absolute if count else source
    what = _source_words(source, args.conversation, sender, args.type)
    if count == 0:
        raise MnemeError(f"No memory comes from {what}; nothing was forgotten.")
    if args.json:
        print_json(
            {
                "source": source,
                "conversation": args.conversation,
                "sender": sender,
                "type": args.type,
                "memories": count,
            }
        )
    else:
        print(f"forgot {_plural(count, 'memory', 'memories')} from {what}")
    return 0


def _absolute(source: str) -> str | None:
    try:
        return os.path.abspath(os.path.expanduser(source))
    except ValueError:  # "~" with a NUL byte: no such user, no such path
        return None


def _source_words(
    source: str | None, conversation: int | None, sender: str | None, source_type: str | None
) -> str:
    if source is not None:
        words = f"source '{shown(source)}'"
    elif conversation is not None:
        words = f"conversation {conversation}"
    else:
        words = f"sender '{shown(sender or '')}'"
    return words + (f" (type {source_type})" if source_type else "")


def _forget_one(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        report = assistant.memory.forget(args.id)
    if args.json:
        print_json(
            {
                "forgotten": args.id,
                "memories": report.memories,
                "facts": report.facts,
                "facts_derived": report.facts_derived,
                "facts_kept": report.facts_kept,
                "messages_redacted": report.messages_redacted,
                "ids": report.ids,
            }
        )
        return 0
    details = []
    if report.memories > 1:
        details.append(f"{report.memories} rows with versions and derived facts")
    if report.facts_kept:
        details.append(f"{_plural(report.facts_kept, 'fact')} kept (known from other sources)")
    if report.messages_redacted:
        details.append(f"{_plural(report.messages_redacted, 'message')} redacted")
    extra = f" ({'; '.join(details)})" if details else ""
    print(f"forgot memory {args.id} and everything derived from it{extra}")
    return 0


# -- export -------------------------------------------------------------------------------------
def run_export(args: argparse.Namespace) -> int:
    if args.out is None or args.out == "-":
        with open_assistant() as assistant:
            for piece in assistant.memory.export():
                sys.stdout.write(piece)
        sys.stdout.flush()
        return 0
    target = Path(args.out).expanduser()
    if target.is_dir():
        raise MnemeError(f"{shown(str(target))} is a folder; name a file to write.")
    if not target.parent.is_dir():
        raise MnemeError(f"The folder {shown(str(target.parent))} does not exist.")
    if target.exists() and not args.force:
        raise MnemeError(f"{shown(str(target))} already exists; add --force to replace it.")
    with open_assistant() as assistant:
        count = assistant.memory.count(MemoryFilter())
        size = _write_beside(target, assistant, force=args.force)
    if args.json:
        print_json({"path": str(target), "memories": count, "bytes": size})
    else:
        memories = _plural(count, "memory", "memories")
        print(
            f"exported {memories} to {shown(str(target))} ({size:,} bytes). "
            "It is clear text: keep it somewhere private."
        )
    return 0


def _write_beside(target: Path, assistant: Assistant, *, force: bool) -> int:
    """Write the export to a temporary file in the target's folder (owner-only, as mkstemp
    makes it), then move it into place: an error or Ctrl-C leaves no partial file, and without
    `force` an existing file is never replaced, even one that appeared meanwhile."""
    try:
        handle, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as error:
        raise MnemeError(
            f"Cannot write in {shown(str(target.parent))}: {error.strerror}."
        ) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            for piece in assistant.memory.export():
                stream.write(piece)
            stream.flush()
            os.fsync(stream.fileno())
            size = stream.tell()
        if force:
            os.replace(temporary, target)
        else:
            _move_without_replacing(Path(temporary), target)
    except OSError as error:
        raise MnemeError(f"Cannot write {shown(str(target))}: {error.strerror or error}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return size


def _move_without_replacing(temporary: Path, target: Path) -> None:
    try:
        os.link(temporary, target)  # fails if the target exists: an atomic "create only"
    except FileExistsError:
        raise MnemeError(
            f"{shown(str(target))} already exists; add --force to replace it."
        ) from None
    except OSError:
        # No hard links on this file system: check, then move (a small window, nothing better).
        if target.exists():
            raise MnemeError(
                f"{shown(str(target))} already exists; add --force to replace it."
            ) from None
        os.replace(temporary, target)


# -- health -------------------------------------------------------------------------------------
def run_health(args: argparse.Namespace) -> int:
    """A report, not a check: exit 0 whatever it finds."""
    with open_assistant() as assistant:
        report = assistant.memory.health()
        if args.json:
            print_json(report)
            return 0
        texts = _texts(assistant, _health_ids(report))
    groups, stale = report["duplicates"], report["stale_facts"]
    conflicts, inbox = report["contradictions"], report["inbox"]
    failed = report["extraction_failed"]
    issues = len(groups) + len(stale) + len(conflicts) + inbox + failed
    print(
        "memory health: "
        + (f"{_plural(issues, 'thing')} to look at" if issues else "nothing needs attention")
    )
    print(f"active facts: {report['facts_active']}")
    print(f"duplicates: {_plural(len(groups), 'group')}")
    for group in groups[:MAX_LISTED]:
        print("  " + " = ".join(f"[{i}] {texts.get(i, '?')}" for i in group))
    print(f"stale facts: {len(stale)}")
    for item in stale[:MAX_LISTED]:
        print(f"  [{item['id']}] {texts.get(item['id'], '?')} ({item['why']})")
    print(f"contradictions: {len(conflicts)}")
    for item in conflicts[:MAX_LISTED]:
        label = "candidate" if "candidate" in item else "fact"
        first, other = item[label], item["contradicts"]
        print(
            f"  {label} [{first}] {texts.get(first, '?')}  ⟂  fact [{other}] "
            f"{texts.get(other, '?')}"
        )
    print(f"review inbox: {inbox} waiting" + (" (mneme memory inbox)" if inbox else ""))
    retry = " (mneme memory extract --retry-failed)" if failed else ""
    print(f"fact extraction: {failed} failed{retry}, {report['extraction_pending']} pending")
    pool = report["pool"]
    capacity = f"{pool['capacity']:,}" if pool["capacity"] is not None else "unbounded"
    print(
        f"recall pool: {_plural(pool['in_pool'], 'memory', 'memories')}, capacity {capacity}, "
        f"{pool['protected']:,} protected (pinned or your own facts)"
    )
    return 0


def _health_ids(report: dict[str, Any]) -> set[int]:
    ids = {i for group in report["duplicates"][:MAX_LISTED] for i in group}
    ids |= {item["id"] for item in report["stale_facts"][:MAX_LISTED]}
    for item in report["contradictions"][:MAX_LISTED]:
        ids |= {v for v in item.values() if isinstance(v, int)}
    return ids


def _texts(assistant: Assistant, ids: set[int]) -> dict[int, str]:
    found = {}
    for memory_id in ids:
        with contextlib.suppress(NotFoundError):
            found[memory_id] = one_line(assistant.memory.get(memory_id).text, 60)
    return found


# -- the review inbox ---------------------------------------------------------------------------
def run_inbox(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        waiting = assistant.memory.inbox()
        contradicted: dict[int, Memory | None] = {}
        for memory in waiting:
            if memory.conflicts_with is not None and memory.conflicts_with not in contradicted:
                try:
                    contradicted[memory.conflicts_with] = assistant.memory.get(
                        memory.conflicts_with
                    )
                except NotFoundError:
                    contradicted[memory.conflicts_with] = None
    if args.json:
        print_json(
            [
                {
                    **memory.to_json(),
                    "contradicts": _json_or_none(contradicted.get(memory.conflicts_with))
                    if memory.conflicts_with is not None
                    else None,
                }
                for memory in waiting
            ]
        )
        return 0
    if not waiting:
        print("the review inbox is empty")
        return 0
    for memory in waiting:
        print(describe(memory))
        if memory.conflicts_with is not None:
            other = contradicted.get(memory.conflicts_with)
            said = (
                one_line(other.text, 70) + f" ({other.trust}, {other.status})"
                if other
                else "(gone)"
            )
            print(f"        contradicts [{memory.conflicts_with}] {said}")
    print(
        f"{_plural(len(waiting), 'proposal')}: mneme memory accept ID [--text NEW] "
        "or mneme memory reject ID"
    )
    return 0


def _json_or_none(memory: Memory | None) -> dict[str, Any] | None:
    return memory.to_json() if memory is not None else None


def run_accept(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        # Check first: accepting with --text edits before it accepts, and an edit of a memory
        # that is not in the inbox must not happen on the way to the error.
        if assistant.memory.get(args.id).status != "inbox":
            raise MnemeError(f"Memory {args.id} is not waiting in the review inbox.")
        memory = assistant.memory.accept(args.id, args.text)
    if args.json:
        print_json(memory.to_json())
    else:
        print(f"accepted: {describe(memory)}")
    return 0


def run_reject(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        assistant.memory.reject(args.id)
    if args.json:
        print_json({"rejected": args.id})
    else:
        print(f"rejected memory {args.id}: it is deleted completely")
    return 0


# -- extraction and history ---------------------------------------------------------------------
def run_extract(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        assistant.models.require_active()  # the same one-line error as every model command
        if not assistant.settings.fact_extraction:
            raise MnemeError(
                "Fact extraction is off: set fact_extraction to true in "
                f"{assistant.paths.config_file}."
            )
        run = assistant.extract_facts(limit=args.limit, retry_failed=args.retry_failed)
        pending = assistant.memory.extraction_status()["pending"]
    if args.json:
        print_json({**run.to_json(), "pending": pending})
        return 0
    print(describe_run(run.to_json()) + f"; {pending} still queued")
    return 0


def describe_run(run: dict[str, Any]) -> str:
    """One line about an ExtractionRun (its to_json())."""
    if not run["jobs"]:
        return "fact extraction: nothing to read"
    outcomes = ", ".join(f"{n} {action}" for action, n in sorted(run["outcomes"].items()))
    return (
        f"fact extraction: {_plural(run['jobs'], 'job')} ({run['done']} done, "
        f"{run['failed']} failed, {_plural(run['attempts'], 'attempt')}); "
        f"proposals: {outcomes or 'none'}; facts stored: {len(run['fact_ids'])}"
    )


def run_timeline(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        history = assistant.memory.timeline(args.id)
    if args.json:
        print_json([m.to_json() for m in history])
        return 0
    for memory in history:
        print(f"{memory.id:6}  {memory.status:10}  {_span(memory):26}  {one_line(memory.text, 70)}")
    return 0


def _span(memory: Memory) -> str:
    start = (memory.valid_from or "")[:10]
    end = (memory.valid_to or "")[:10]
    if start and end:
        return f"{start} until {end}"
    if end:
        return f"until {end}"
    return f"since {start}" if start else ""
