"""How long complete forgetting takes on a large memory: `forget.forget` and `forget.scrub`.

    python benchmarks/forget_scrub.py --memories 100000

N synthetic memories (conversation-like sessions of 20 turns, so forgetting also rewrites the
context windows of neighbours; a few facts) go into an encrypted profile database through the
front door (`Assistant.memory.add`, in batches). Then, timed separately:

- forget: one memory in the middle of a session (`assistant.memory.forget.forget`: the plan,
  the deletion with its triggers and cascades, the neighbours' windows rewritten);
- scrub: FTS5 'optimize' of both keyword indexes and a TRUNCATE checkpoint of the WAL;
- the same for a whole session (20 memories) and a second scrub right after (nothing to merge).

No vectors are made (forgetting does not read them). Prints a table; the last line is one JSON
object: {"memories": N, "forget_ms": …, "scrub_ms": …, …} (the single-memory figures first).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import Assistant
from assistant.memory import forget
from assistant.memory.store import NewMemory

SESSION = 20
BATCH = 5_000
SUBJECTS = ["my sister", "the dentist", "our landlord", "the team", "my neighbour", "the coach"]
VERBS = ["moved", "cancelled", "booked", "asked about", "paid for", "forgot", "planned"]
OBJECTS = [
    "the flight to Lisbon",
    "a half marathon in May",
    "the kitchen renovation",
    "cello lessons on Tuesdays",
    "the quarterly tax return",
    "a rescue dog called Biscuit",
    "grandma's lasagne recipe",
    "the broken laptop screen",
]
WHEN = ["yesterday", "last week", "on Friday", "in March", "after lunch", "this morning"]


def sentence(rng: random.Random, number: int) -> str:
    return (
        f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        f"{rng.choice(WHEN)}, note {number}."
    )


def fill(app: Assistant, count: int, seed: int) -> float:
    rng = random.Random(seed)
    started = time.perf_counter()
    done = 0
    while done < count:
        batch = []
        for number in range(done, min(done + BATCH, count)):
            session, position = divmod(number, SESSION)
            is_fact = number % 50 == 49
            batch.append(
                NewMemory(
                    text=sentence(rng, number),
                    kind="fact" if is_fact else "episode",
                    source_type="conversation",
                    source_ref=f"conversation:{session}/message:{number}",
                    trust="user-stated" if position % 2 == 0 else "assistant",
                    speaker="user" if position % 2 == 0 else "assistant",
                    session=None if is_fact else f"conversation:{session}",
                    position=None if is_fact else number,
                )
            )
        app.memory.add(batch)
        done += len(batch)
        print(f"  filled {done:,}/{count:,}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return time.perf_counter() - started


def timed_ms(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mneme-forget-") as home:
        os.environ["MNEME_HOME"] = home
        os.environ["MNEME_DB_KEY"] = secrets.token_hex(32)  # a raw key: no keychain needed
        app = Assistant(home)
        try:
            fill_s = fill(app, args.memories, args.seed)
            database = app._opened_database()
            app.memory.scrub()  # start from a checkpointed, merged state
            db_path = app.paths.database
            wal = db_path.with_name(db_path.name + "-wal")

            middle = (args.memories // SESSION // 2) * SESSION + SESSION // 2
            with database.read() as db:
                (one,) = db.execute(
                    "SELECT id FROM memories WHERE source_ref = ?",
                    [f"conversation:{middle // SESSION}/message:{middle}"],
                ).fetchone()
                session = [
                    int(row[0])
                    for row in db.execute(
                        "SELECT id FROM memories WHERE session = ? AND id != ?",
                        [f"conversation:{middle // SESSION + 1}", one],
                    ).fetchall()
                ]
            reports: list[forget.ForgetReport] = []
            forget_ms = timed_ms(lambda: reports.append(forget.forget(database, [one])))
            wal_before = wal.stat().st_size if wal.exists() else 0
            scrub_ms = timed_ms(lambda: forget.scrub(database))
            wal_after = wal.stat().st_size if wal.exists() else 0
            session_ms = timed_ms(lambda: reports.append(forget.forget(database, session)))
            session_scrub_ms = timed_ms(lambda: forget.scrub(database))
            again_ms = timed_ms(lambda: forget.scrub(database))
            db_mb = db_path.stat().st_size / 2**20
        finally:
            app.close()

    rows = [
        ("fill (memory.add, batches of 5,000)", f"{fill_s:,.1f} s"),
        ("database size", f"{db_mb:,.1f} MB"),
        ("forget 1 memory (forget.forget)", f"{forget_ms:,.1f} ms"),
        ("  rows deleted", str(reports[0].memories)),
        ("  WAL after it", f"{wal_before / 2**10:,.0f} KiB"),
        ("scrub (FTS optimize + WAL truncate)", f"{scrub_ms:,.1f} ms"),
        ("  WAL after it", f"{wal_after / 2**10:,.0f} KiB"),
        (f"forget a session ({len(session)} memories)", f"{session_ms:,.1f} ms"),
        ("scrub after it", f"{session_scrub_ms:,.1f} ms"),
        ("scrub again (nothing new)", f"{again_ms:,.1f} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"forget and scrub with {args.memories:,} memories")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>12}")
    print(
        json.dumps(
            {
                "memories": args.memories,
                "forget_ms": round(forget_ms, 1),
                "scrub_ms": round(scrub_ms, 1),
                "session_forget_ms": round(session_ms, 1),
                "session_scrub_ms": round(session_scrub_ms, 1),
                "scrub_again_ms": round(again_ms, 1),
                "fill_s": round(fill_s, 1),
                "db_mb": round(db_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
