"""`mneme memory health`: what needs the user's attention in the memory.

- duplicates: groups of active facts with the same slot and value, or nearly the same words;
- stale facts: active facts whose validity ended, or old ones never recalled;
- contradictions: inbox candidates that contradict an active fact (unresolved until accepted or
  rejected), and pairs of active facts that fill one single-valued slot with different values;
- inbox size, extraction failures, and recall-pool pressure (memories beyond the capacity that
  may not be evicted without asking: pinned memories and user facts).

Threading: database reads only; any thread. Costs one pass over the active facts (pairwise word
overlap on the newest MAX_PAIRWISE of them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from assistant.memory import extract
from assistant.memory.statements import similarity
from assistant.storage.database import EncryptedDatabase

MAX_PAIRWISE = 2000
STALE_AFTER_DAYS = 365
DUPLICATE_SIMILARITY = 0.8


def report(database: EncryptedDatabase, capacity: int | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    today = now.date().isoformat()
    old = (now - timedelta(days=STALE_AFTER_DAYS)).isoformat()
    with database.read() as db:
        facts = list(
            db.query(
                "SELECT id, text, subject, predicate, object, negated, single_valued, valid_to,"
                " created_at, last_accessed_at FROM memories WHERE kind = 'fact'"
                " AND status = 'active' ORDER BY id DESC"
            )
        )
        inbox = db.execute("SELECT count(*) FROM memories WHERE status = 'inbox'").fetchone()[0]
        conflicts = [
            {"candidate": row[0], "contradicts": row[1]}
            for row in db.execute(
                "SELECT c.id, c.conflicts_with FROM memories c JOIN memories f"
                " ON f.id = c.conflicts_with WHERE c.status = 'inbox' AND f.status = 'active'"
                " ORDER BY c.id"
            ).fetchall()
        ]
        protected = db.execute(
            "SELECT count(*) FROM memories WHERE status = 'active' AND (pinned = 1 OR"
            " (kind = 'fact' AND trust IN ('user-stated', 'user-confirmed')))"
        ).fetchone()[0]
        in_pool = db.execute(
            "SELECT count(*) FROM memories WHERE status = 'active' AND in_pool = 1"
        ).fetchone()[0]
    duplicates = _duplicate_groups(facts)
    stale = [
        {"id": f["id"], "why": "validity ended"}
        for f in facts
        if f["valid_to"] and f["valid_to"][:10] < today
    ]
    stale += [
        {"id": f["id"], "why": f"not recalled in {STALE_AFTER_DAYS} days"}
        for f in facts
        if not f["valid_to"]
        and f["created_at"] < old
        and (f["last_accessed_at"] is None or f["last_accessed_at"] < old)
    ]
    extraction = extract.status(database)
    result: dict[str, Any] = {
        "facts_active": len(facts),
        "duplicates": duplicates,
        "stale_facts": stale,
        "contradictions": conflicts + _active_conflicts(facts),
        "inbox": int(inbox),
        "extraction_failed": extraction["failed"],
        "extraction_pending": extraction["pending"],
        "pool": {"in_pool": int(in_pool), "capacity": capacity, "protected": int(protected)},
    }
    result["ok"] = (
        not (duplicates or stale or result["contradictions"] or inbox)
        and not (extraction["failed"])
    )
    return result


def _duplicate_groups(facts: list[dict[str, Any]]) -> list[list[int]]:
    groups: dict[int, set[int]] = {}
    by_value: dict[tuple[Any, ...], int] = {}
    for fact in facts:
        if fact["predicate"]:
            key = (fact["subject"], fact["predicate"], fact["object"], fact["negated"])
            if key in by_value:
                groups.setdefault(by_value[key], {by_value[key]}).add(fact["id"])
            else:
                by_value[key] = fact["id"]
    recent = facts[:MAX_PAIRWISE]
    for index, fact in enumerate(recent):
        for other in recent[index + 1 :]:
            if similarity(fact["text"], other["text"]) >= DUPLICATE_SIMILARITY:
                group = next((g for g in groups.values() if fact["id"] in g), None)
                if group is None:
                    groups[fact["id"]] = {fact["id"], other["id"]}
                else:
                    group.add(other["id"])
    return sorted(sorted(group) for group in groups.values())


def _active_conflicts(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    found = []
    for fact in sorted(facts, key=lambda f: f["id"]):
        if not fact["predicate"] or fact["negated"] or not fact["single_valued"]:
            continue
        key = (fact["subject"], fact["predicate"])
        earlier = seen.get(key)
        if earlier is not None and earlier["object"] != fact["object"]:
            found.append({"fact": fact["id"], "contradicts": earlier["id"]})
        seen[key] = fact
    return found
