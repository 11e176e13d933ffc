"""`mneme memory consolidate|adapters|adapter on|off|use|facts`: facts in the model's weights.

Registered by memory_commands under `mneme memory`. Everything goes through the Assistant's
consolidation methods (`consolidate`, `consolidation_status`, `adapter_versions`, `adapter_facts`,
`set_adapter_enabled`, `use_adapter`); nothing here reads the database or the adapter files.

`consolidate` runs the job on a worker thread so that Ctrl-C can cancel it cleanly: the first
Ctrl-C sets the job's cancel token and waits for it to stop between steps (nothing is kept, the
model is unchanged, exit 130); a second Ctrl-C quits at once. Its progress line goes to stderr.

`--json` shapes (stable: other tools read them; each is `dataclasses.asdict` of a front-door type):
- consolidate: AdapterVersion {"id", "created_at", "status" ('active' | 'inactive' | 'rejected'),
  "facts", "base_model", "seed", "fact_gain", "probe_delta", "reason", "seconds", "size_bytes"}
  (fact_gain and probe_delta in nats per token, or null; reason is null unless rejected).
  A rejected version is a result, not an error: exit 0, "status": "rejected" with its "reason".
- adapters: {"status": ConsolidationStatus, "versions": [AdapterVersion, …] newest first}, where
  ConsolidationStatus is {"enabled", "active" (an AdapterVersion or null), "rebuild_pending",
  "facts_ready", "schedule" ('off' | 'idle'), "last_error"}.
- adapter on|off: ConsolidationStatus after the change.
- adapter use ID: the AdapterVersion now active.
- adapter facts [ID]: [ConsolidatedFact {"memory_id", "text", "question", "answer"}, …]
  (the active version's facts without ID; [] when no version is active).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from assistant.app import Assistant
from assistant.cancel import Cancelled, CancelToken
from assistant.cli.terminal import open_assistant, print_json
from assistant.errors import MnemeError, NotFoundError

if TYPE_CHECKING:
    from assistant.types import (
        AdapterVersion,
        ConsolidatedFact,
        ConsolidationProgress,
        ConsolidationStatus,
    )

EXIT_CANCELLED = 130  # as for any command stopped by Ctrl-C
PHASES = {
    "snapshot": "choosing the facts",
    "training": "training",
    "exporting": "exporting the adapter",
    "checking": "safety check",
    "done": "done",
}
FORGOTTEN = "(forgotten)"  # a ConsolidatedFact's text when its memory was forgotten since
STATUS_WORDS = {"active": "active", "inactive": "kept", "rejected": "rejected"}
T = TypeVar("T")


def register(sub: Any) -> None:
    """Add the consolidation actions to `mneme memory`'s sub-parsers."""
    consolidate = sub.add_parser(
        "consolidate",
        help="train stable facts into the model's weights (a new adapter version)",
        description="Train your stable, trusted facts into a small adapter for the model (a "
        "LoRA), check that general answers did not get worse, and use it if they did not. "
        "Takes minutes on a real model; Ctrl-C cancels and changes nothing.",
    )
    consolidate.add_argument("--json", action="store_true")
    consolidate.set_defaults(handler=run_consolidate)

    adapters = sub.add_parser(
        "adapters", help="the adapter versions, which one is active, and whether it is on"
    )
    adapters.add_argument("--json", action="store_true")
    adapters.set_defaults(handler=run_adapters)

    adapter = sub.add_parser(
        "adapter", help="switch the facts in the weights on or off, roll back, list the facts"
    )
    actions = adapter.add_subparsers(dest="adapter_action", required=True, metavar="ACTION")
    on = actions.add_parser("on", help="use the active adapter version")
    on.add_argument("--json", action="store_true")
    on.set_defaults(handler=run_switch, enabled=True)
    off = actions.add_parser("off", help="answer without any adapter (versions are kept)")
    off.add_argument("--json", action="store_true")
    off.set_defaults(handler=run_switch, enabled=False)
    use = actions.add_parser("use", help="roll back (or forward) to a kept version")
    use.add_argument("id", type=int, help="a version id (mneme memory adapters)")
    use.add_argument("--json", action="store_true")
    use.set_defaults(handler=run_use)
    facts = actions.add_parser(
        "facts", help="the facts a version holds (the active one by default)"
    )
    facts.add_argument("id", type=int, nargs="?", help="a version id (default: the active one)")
    facts.add_argument("--json", action="store_true")
    facts.set_defaults(handler=run_facts)


# -- formatting ---------------------------------------------------------------------------------
def _nats(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def describe_version(version: AdapterVersion) -> str:
    """One line about a run's result."""
    if version.status == "rejected":
        return (
            f"version {version.id} was rejected by the safety check and is not used: "
            f"{version.reason or 'no reason given'}"
        )
    return (
        f"version {version.id} is {STATUS_WORDS.get(version.status, version.status)}: "
        f"{_plural(version.facts, 'fact')} in the weights (answers {_nats(version.fact_gain)} "
        f"nats/token; general questions {_nats(version.probe_delta)} nats/token against the "
        f"base model; {version.seconds:.0f} s)"
    )


def describe_status(status: ConsolidationStatus) -> str:
    parts = [f"consolidation: {'on' if status.enabled else 'off'}"]
    active = status.active
    parts.append(
        f"version {active.id} active ({_plural(active.facts, 'fact')})"
        if active is not None
        else "no version active"
    )
    parts.append(f"{_plural(status.facts_ready, 'fact')} ready for the next run")
    parts.append("runs when idle" if status.schedule == "idle" else "runs when you ask")
    line = " · ".join(parts)
    if status.rebuild_pending:
        line += (
            "\nrebuild pending: a fact in the weights was forgotten or changed, so the adapter "
            "is off until the next run (mneme memory consolidate)"
        )
    if status.last_error:
        line += f"\nlast run: {status.last_error}"
    return line


class PhaseLine:
    """The job's progress on stderr: one line redrawn in a terminal, a line per phase otherwise.

    Called from the job's worker thread; `finish()` on the main thread once the job has ended.
    """

    def __init__(self) -> None:
        self._interactive = sys.stderr.isatty()
        self._drawn = 0.0
        self._last: tuple[str, int, int] | None = None
        self._width = 0

    def __call__(self, progress: ConsolidationProgress) -> None:
        phase, done, total = progress.phase, progress.done, progress.total
        words = PHASES.get(phase, phase)
        line = f"consolidating: {words} {done}/{total}" if total else f"consolidating: {words}"
        changed = self._last is None or self._last[0] != phase
        if self._interactive:
            now = time.monotonic()
            if not changed and done < total and now - self._drawn < 0.1:
                return
            self._drawn = now
            print("\r" + line.ljust(self._width), end="", file=sys.stderr, flush=True)
            self._width = len(line)
        elif changed or (done == total and self._last != (phase, done, total)):
            print(line, file=sys.stderr, flush=True)
        self._last = (phase, done, total)

    def finish(self) -> None:
        if self._interactive and self._width:
            print(file=sys.stderr, flush=True)
            self._width = 0


def cancellable(work: Callable[[CancelToken], T]) -> T:
    """Run `work(cancel)` on a worker thread; Ctrl-C on this (the main) thread cancels the token
    and waits for the work to stop, which then raises `Cancelled` (or finishes, if it was already
    done). A second Ctrl-C raises KeyboardInterrupt at once (the daemon worker dies with the
    process). Whatever the work raises is raised here."""
    cancel = CancelToken()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(cancel)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = error

    worker = threading.Thread(target=target, name="mneme-consolidate", daemon=True)
    try:
        worker.start()
        _join(worker)
    except KeyboardInterrupt:
        if not worker.is_alive() and not outcome:
            raise  # interrupted before the work began: nothing to stop
        cancel.cancel()
        print(
            "\nmneme: stopping the consolidation (Ctrl-C again to quit at once)…",
            file=sys.stderr,
            flush=True,
        )
        _join(worker)
    if "error" in outcome:
        raise outcome["error"]
    result: T = outcome["value"]
    return result


def _join(worker: threading.Thread) -> None:
    # A join with a timeout, so Ctrl-C is seen at once on every platform (on Windows a join
    # without one cannot be interrupted).
    while worker.is_alive():
        worker.join(0.2)


# -- commands -----------------------------------------------------------------------------------
def run_consolidate(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        progress = None if args.json else PhaseLine()
        version: AdapterVersion | None = None
        try:
            version = cancellable(
                lambda cancel: assistant.consolidate(progress=progress, cancel=cancel)
            )
        except Cancelled:
            pass  # said below, once the progress line is finished
        finally:
            if progress is not None:
                progress.finish()
        if version is None:
            print(
                "mneme: consolidation cancelled; nothing was kept and the model is unchanged.",
                file=sys.stderr,
            )
            return EXIT_CANCELLED
        status = assistant.consolidation_status()
    if args.json:
        print_json(dataclasses.asdict(version))
        return 0
    print(describe_version(version))
    if version.status == "rejected":
        active = status.active
        print(
            f"the model stays as it was (version {active.id} stays active)"
            if active is not None
            else "the model stays as it was (no adapter)"
        )
    elif not status.enabled:
        print("consolidation is off, so it is not applied yet: mneme memory adapter on")
    return 0


def run_adapters(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        status = assistant.consolidation_status()
        versions = assistant.adapter_versions()
    if args.json:
        print_json(
            {
                "status": dataclasses.asdict(status),
                "versions": [dataclasses.asdict(v) for v in versions],
            }
        )
        return 0
    print(describe_status(status))
    if not versions:
        print("no adapter versions yet: mneme memory consolidate")
        return 0
    active_id = status.active.id if status.active is not None else None
    print(f"  {'id':>5}  {'created':16}  {'status':8}  {'facts':>5}  {'gain':>7}  {'probe Δ':>7}")
    for version in versions:
        mark = "*" if version.id == active_id else " "
        print(
            f"{mark} {version.id:5}  {_when(version.created_at):16}  "
            f"{STATUS_WORDS.get(version.status, version.status):8}  {version.facts:5}  "
            f"{_nats(version.fact_gain):>7}  {_nats(version.probe_delta):>7}"
        )
        if version.reason:
            print(f"         {version.reason}")
    if active_id is not None:
        print("* active" + ("" if status.enabled else " (but consolidation is off)"))
    return 0


def run_switch(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        assistant.set_adapter_enabled(args.enabled)
        status = assistant.consolidation_status()
    if args.json:
        print_json(dataclasses.asdict(status))
        return 0
    active = status.active
    if not status.enabled:
        print(
            "consolidation is off: the model answers without any adapter "
            "(the versions are kept: mneme memory adapter on)"
        )
    elif status.rebuild_pending:
        print(
            "consolidation is on; the adapter stays off until a rebuild, because a fact in it "
            "was forgotten or changed (mneme memory consolidate)"
        )
    elif active is None:
        print("consolidation is on, but there is no version yet (mneme memory consolidate)")
    else:
        print(
            f"consolidation is on: version {active.id} ({_plural(active.facts, 'fact')}) is used "
            "from the next reply"
        )
    return 0


def _version(assistant: Assistant, version_id: int) -> AdapterVersion:
    """The version with this id, or a one-line error that says where to find the ids."""
    for version in assistant.adapter_versions():
        if version.id == version_id:
            return version
    raise NotFoundError(
        f"There is no adapter version {version_id}; mneme memory adapters lists them."
    )


def run_use(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        version = _version(assistant, args.id)
        if version.status == "rejected":
            raise MnemeError(
                f"Version {args.id} failed the safety check, so it cannot be used; "
                "mneme memory adapters shows why."
            )
        version = assistant.use_adapter(args.id)
        enabled = assistant.consolidation_status().enabled
    if args.json:
        print_json(dataclasses.asdict(version))
        return 0
    print(f"version {version.id} is active ({_plural(version.facts, 'fact')})")
    if not enabled:
        print("consolidation is off, so it is not applied yet: mneme memory adapter on")
    return 0


def run_facts(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        if args.id is not None:
            version: AdapterVersion | None = _version(assistant, args.id)
        else:
            version = assistant.consolidation_status().active
        facts: list[ConsolidatedFact] = (
            assistant.adapter_facts(args.id) if version is not None else []
        )
    if args.json:
        print_json([dataclasses.asdict(fact) for fact in facts])
        return 0
    if version is None:
        print("no version is active, so no fact is in the weights (mneme memory consolidate)")
        return 0
    state = STATUS_WORDS.get(version.status, version.status)
    print(f"version {version.id} ({state}) holds {_plural(len(facts), 'fact')}:")
    for fact in facts:
        gone = " (forgotten: gone at the next rebuild)" if fact.text == FORGOTTEN else ""
        print(f"  [{fact.memory_id}] {_flat(fact.question)} → {_flat(fact.answer)}{gone}")
    return 0


def _flat(text: str) -> str:
    return " ".join(text.split())
