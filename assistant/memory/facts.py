"""Storing candidate facts through the write gate (policy.py), with their provenance.

`propose` looks up the facts a candidate may duplicate or contradict, asks `policy.decide`, and
applies the decision in one transaction: a new fact (active, preference or inbox), a merge (the
existing fact gains this source), a supersede (the old fact keeps its history with `valid_to`), or
nothing (a rejection is counted by the caller, its text is not kept).

Threading: database calls only; any thread (the EncryptedDatabase lock serialises writes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from assistant.memory.keywords import fts_query, keyword_words
from assistant.memory.policy import Candidate, Decision, KnownFact, decide
from assistant.memory.statements import Slot
from assistant.memory.store import MemoryStore, NewMemory
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase

_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class FactSource:
    """Where a candidate came from: the memory it was read in (None for a bare `remember`) and
    the fields the new fact copies, plus the quoted span and time qualifiers."""

    memory_id: int | None = None
    source_type: str = "user"
    source_ref: str | None = None
    conversation_id: int | None = None
    message_id: int | None = None
    occurred_at: str | None = None
    quote: tuple[int, int] | None = None
    valid_from: str | None = None
    valid_to: str | None = None


@dataclass(frozen=True)
class Outcome:
    action: str
    reason: str
    fact_id: int | None = None
    existing: int | None = None


def clean_date(value: Any) -> str | None:
    """An ISO date (YYYY, YYYY-MM or YYYY-MM-DD) or None."""
    if isinstance(value, str) and _DATE.match(value.strip()):
        return value.strip()
    return None


def _known_from_row(row: dict[str, Any]) -> KnownFact:
    slot = None
    if row["predicate"]:
        slot = Slot(
            row["subject"] or "user",
            row["predicate"],
            row["object"] or "",
            bool(row["negated"]),
            bool(row["single_valued"]),
        )
    return KnownFact(row["id"], row["text"], row["trust"], row["status"], slot)


def known_facts(db: Any, candidate: Candidate, limit: int = 20) -> list[KnownFact]:
    """Active and inbox facts in the candidate's slot, and those sharing its words (best first)."""
    rows: dict[int, dict[str, Any]] = {}
    columns = "id, text, trust, status, subject, predicate, object, negated, single_valued"
    if candidate.slot is not None:
        for row in db.query(
            f"SELECT {columns} FROM memories WHERE kind = 'fact' AND subject = ? AND predicate = ?"
            " AND status IN ('active', 'inbox') ORDER BY id DESC LIMIT 50",
            [candidate.slot.subject, candidate.slot.predicate],
        ):
            rows[row["id"]] = row
    words = keyword_words(candidate.statement)
    if words:
        for row in db.query(
            f"SELECT {', '.join('m.' + c.strip() for c in columns.split(','))} FROM memories_fts f"
            " JOIN memories m ON m.id = f.rowid WHERE memories_fts MATCH ? AND m.kind = 'fact'"
            " AND m.status IN ('active', 'inbox') ORDER BY f.rank LIMIT ?",
            [fts_query(words), limit],
        ):
            rows.setdefault(row["id"], row)
    return [_known_from_row(row) for row in rows.values()]


def _about_the_user(db: Any, candidate: Candidate) -> Candidate:
    """A candidate whose subject is the user's own name (as the user stated it) is about "user"."""
    if candidate.slot is None or candidate.slot.subject == "user":
        return candidate
    names = {
        row[0]
        for row in db.execute(
            "SELECT object FROM memories WHERE kind = 'fact' AND status = 'active'"
            " AND subject = 'user' AND predicate = 'name' AND trust IN"
            " ('user-stated', 'user-confirmed')"
        ).fetchall()
        if row[0]
    }
    first_names = {name.split()[0] for name in names}
    subject = candidate.slot.subject
    if subject in names or subject in first_names:
        return replace(candidate, slot=replace(candidate.slot, subject="user"))
    return candidate


def propose(database: EncryptedDatabase, candidate: Candidate, source: FactSource) -> Outcome:
    """Apply the write gate to one candidate; returns what happened (ids of changed facts)."""
    store = MemoryStore(database)
    with database.write() as db:
        candidate = _about_the_user(db, candidate)
        decision = decide(candidate, known_facts(db, candidate))
        return _apply(db, store, candidate, source, decision)


def _apply(
    db: Any, store: MemoryStore, candidate: Candidate, source: FactSource, decision: Decision
) -> Outcome:
    stamp = now_iso()
    if decision.action == "reject":
        return Outcome("reject", decision.reason)
    if decision.action == "merge":
        assert decision.existing is not None
        _add_source(db, decision.existing, source, candidate.trust, stamp)
        if decision.status == "active":
            db.execute(
                "UPDATE memories SET status = 'active', trust = ?, conflicts_with = NULL,"
                " valid_from = coalesce(valid_from, ?) WHERE id = ? AND status = 'inbox'",
                [decision.trust, stamp, decision.existing],
            )
        return Outcome("merge", decision.reason, decision.existing, decision.existing)
    valid_from = source.valid_from or (stamp if decision.status == "active" else None)
    if decision.action == "supersede":
        assert decision.existing is not None
        db.execute(
            "UPDATE memories SET status = 'superseded', valid_to = ? WHERE id = ?",
            [source.valid_from or stamp, decision.existing],
        )
    slot = candidate.slot
    (fact_id,) = store.add_many(
        [
            NewMemory(
                text=candidate.statement.strip(),
                kind="fact",
                source_type=source.source_type,
                source_ref=source.source_ref,
                trust=decision.trust or candidate.trust,
                occurred_at=source.occurred_at,
                conversation_id=source.conversation_id,
                message_id=source.message_id,
                speaker="user" if candidate.trust == "user-stated" else None,
                status=decision.status or "inbox",
                subject=slot.subject if slot else None,
                predicate=slot.predicate if slot else None,
                object=slot.object if slot else None,
                negated=slot.negated if slot else False,
                single_valued=slot.single_valued if slot else False,
                facet="preference" if decision.action == "preference" else None,
                confidence=candidate.confidence,
                conflicts_with=decision.existing if decision.action == "inbox" else None,
                updates=decision.existing if decision.action == "supersede" else None,
                valid_from=valid_from,
                valid_to=source.valid_to,
            )
        ]
    )
    _add_source(db, fact_id, source, candidate.trust, stamp)
    return Outcome(decision.action, decision.reason, fact_id, decision.existing)


def _add_source(db: Any, fact_id: int, source: FactSource, trust: str, stamp: str) -> None:
    if source.memory_id is None:
        return
    start, end = source.quote if source.quote else (None, None)
    db.execute(
        "INSERT OR IGNORE INTO fact_sources (fact_id, source_memory_id, trust, quote_start,"
        " quote_end, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [fact_id, source.memory_id, trust, start, end, stamp],
    )


def sources_of(database: EncryptedDatabase, fact_id: int) -> list[dict[str, Any]]:
    """Every memory the fact was read in, oldest first: id, trust, quote span, text excerpt."""
    with database.read() as db:
        return list(
            db.query(
                "SELECT s.source_memory_id AS memory_id, s.trust, s.quote_start, s.quote_end,"
                " s.created_at, m.source_type, m.source_ref, m.conversation_id, m.message_id"
                " FROM fact_sources s JOIN memories m ON m.id = s.source_memory_id"
                " WHERE s.fact_id = ? ORDER BY s.created_at, s.source_memory_id",
                [fact_id],
            )
        )
