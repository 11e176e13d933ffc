"""Browsing and curating memories: filtered pages, counts, versions, provenance, inbox, sources.

The queries behind `Assistant.memory.query/count/history/provenance/...`. They are plain database
reads and writes: call from any thread (every access goes through the EncryptedDatabase lock).
Pages are cheap on large sets: the filters use the status, conversation and source indexes, the
text search goes through `memories_fts`, and the default order (facts first, newest first) comes
from an index, so a page of 100k memories costs milliseconds, not a sort of every row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import unquote

from assistant.errors import MnemeError, NotFoundError
from assistant.memory.statements import parse_first_person, single_valued
from assistant.memory.store import KINDS, MemoryStore, NewMemory, memory_from_row
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase
from assistant.types import MEMORY_SORT_COLUMNS, TRUST_LEVELS, Memory, MemoryFilter

STATUSES = ("active", "inbox", "superseded")
_WORD = re.compile(r"\w+", re.UNICODE)
# A date bound compares as text: '~' sorts after every character of an ISO timestamp, so
# "YYYY-MM-DD~" is just above every moment of that day (and works for date.max too).
_END_OF_DAY = "~"


def _bound(value: date | datetime, *, upper: bool) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    return value.isoformat() + (_END_OF_DAY if upper else "")


def match_query(text: str) -> str | None:
    """An FTS5 query where every word of `text` must match (the last as a prefix, for typing).

    Each word is quoted, so nothing the user types is FTS5 syntax; None when `text` has no words.
    """
    words = _WORD.findall(text.lower())[:32]
    if not words:
        return None
    quoted = [f'"{word}"' for word in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def where_clause(query: MemoryFilter) -> tuple[str, list[Any]]:
    """SQL conditions (on `m`, the memories table) and their parameters for a filter."""
    conditions: list[str] = []
    params: list[Any] = []
    for column in ("kind", "source_type", "trust", "status", "speaker"):
        value = getattr(query, column)
        if value is not None:
            conditions.append(f"m.{column} = ?")
            params.append(value)
    if query.since is not None:
        conditions.append("m.occurred_at >= ?")
        params.append(_bound(query.since, upper=False))
    if query.until is not None:
        conditions.append("m.occurred_at <= ?")
        params.append(_bound(query.until, upper=True))
    if query.text is not None and query.text.strip():
        match = match_query(query.text)
        if match is None:
            conditions.append("0")  # only punctuation: nothing can match it
        else:
            conditions.append("m.id IN (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ?)")
            params.append(match)
    clause = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return clause, params


def order_clause(query: MemoryFilter) -> str:
    if query.sort not in MEMORY_SORT_COLUMNS:
        raise MnemeError(
            f"Memories cannot be sorted by '{query.sort}' ({', '.join(MEMORY_SORT_COLUMNS)})."
        )
    direction = "DESC" if query.descending else "ASC"
    column = "m.text COLLATE NOCASE" if query.sort == "text" else f"m.{query.sort}"
    parts = ["(m.kind = 'fact') DESC"] if query.facts_first else []
    parts.append(f"{column} {direction}")
    if query.sort != "id":
        parts.append(f"m.id {direction}")
    return "ORDER BY " + ", ".join(parts)


def query(
    database: EncryptedDatabase, memory_filter: MemoryFilter, limit: int, offset: int
) -> list[Memory]:
    clause, params = where_clause(memory_filter)
    order = order_clause(memory_filter)
    with database.read() as db:
        rows = db.query(
            f"SELECT m.* FROM memories m {clause} {order} LIMIT ? OFFSET ?",
            [*params, max(0, int(limit)), max(0, int(offset))],
        )
        return [memory_from_row(row) for row in rows]


def count(database: EncryptedDatabase, memory_filter: MemoryFilter) -> int:
    clause, params = where_clause(memory_filter)
    with database.read() as db:
        return int(db.execute(f"SELECT count(*) FROM memories m {clause}", params).fetchone()[0])


# -- versions ---------------------------------------------------------------------------------
def chain_ids(db: Any, memory_id: int) -> list[int]:
    """Every version of the memory `memory_id` belongs to (older and newer), newest first."""
    older: list[int] = []
    current: int | None = memory_id
    seen: set[int] = set()
    while current is not None and current not in seen:
        row = db.execute("SELECT supersedes FROM memories WHERE id = ?", [current]).fetchone()
        if row is None:
            break
        seen.add(current)
        older.append(current)
        current = row[0]
    newer: list[int] = []
    frontier = [memory_id]
    while frontier:
        found = [
            int(row[0])
            for row in db.execute(
                f"SELECT id FROM memories WHERE supersedes IN ({','.join('?' * len(frontier))})",
                frontier,
            ).fetchall()
            if row[0] not in seen
        ]
        seen.update(found)
        newer.extend(found)
        frontier = found
    return sorted(set(older) | set(newer), reverse=True)


def history(database: EncryptedDatabase, memory_id: int) -> list[Memory]:
    with database.read() as db:
        ids = chain_ids(db, memory_id)
    if not ids:
        raise NotFoundError(f"There is no memory {memory_id}.")
    found = MemoryStore(database).get_many(ids)
    return [found[i] for i in ids if i in found]


def _fact_fields(old: Memory, text: str) -> dict[str, Any]:
    """A fact's slot and review links for its edited version: the slot of the new text when it
    is a plain first-person statement, the old slot if the old value is still in the text, else
    none (an edit the slot no longer describes must not supersede or contradict by it)."""
    if old.kind != "fact":
        return {}
    fields: dict[str, Any] = {
        "facet": old.facet,
        "confidence": old.confidence,
        "conflicts_with": old.conflicts_with,
        "updates": old.updates,
    }
    parsed = parse_first_person(text)
    if parsed is not None:
        fields.update(
            subject=parsed.subject,
            predicate=parsed.predicate,
            object=parsed.object,
            negated=parsed.negated,
            single_valued=parsed.single_valued,
        )
    elif old.predicate and old.object and old.object in text.lower():
        fields.update(
            subject=old.subject,
            predicate=old.predicate,
            object=old.object,
            negated=old.negated,
            single_valued=single_valued(old.predicate),
        )
    return fields


def edit(database: EncryptedDatabase, memory_id: int, text: str) -> Memory:
    """A new version with `text`; the old one stays as `superseded` with its validity closed."""
    if not text.strip():
        raise MnemeError("A memory cannot be empty.")
    store = MemoryStore(database)
    with database.write() as db:
        old = store.get(memory_id)
        if old.status == "superseded":
            raise MnemeError(f"Memory {memory_id} is an old version; edit the current one instead.")
        stamp = now_iso()
        # A correction by the user is at least user-confirmed, whatever the source said.
        trust = old.trust if old.trust in TRUST_LEVELS[:2] else "user-confirmed"
        db.execute(
            "UPDATE memories SET status = 'superseded', valid_to = ? WHERE id = ?",
            [stamp, memory_id],
        )
        (new_id,) = store.add_many(
            [
                NewMemory(
                    text=text.strip(),
                    kind=old.kind,
                    source_type=old.source_type,
                    source_ref=old.source_ref,
                    trust=trust,
                    occurred_at=old.occurred_at,
                    conversation_id=old.conversation_id,
                    message_id=old.message_id,
                    speaker=old.speaker,
                    session=old.session,
                    position=old.position,
                    pinned=old.pinned,
                    status=old.status,
                    **_fact_fields(old, text.strip()),
                )
            ]
        )
        # The new version was read in the same places as the old one.
        db.execute(
            "INSERT OR IGNORE INTO fact_sources (fact_id, source_memory_id, trust, quote_start,"
            " quote_end, created_at) SELECT ?, source_memory_id, trust, quote_start, quote_end,"
            " created_at FROM fact_sources WHERE fact_id = ?",
            [new_id, memory_id],
        )
        db.execute(
            "UPDATE memories SET supersedes = ?, valid_from = ? WHERE id = ?",
            [memory_id, stamp, new_id],
        )
    return store.get(new_id)


def timeline(database: EncryptedDatabase, memory_id: int) -> list[Memory]:
    """A fact and the facts it updated or was updated by (`updates` links), newest first: the
    history of one slot, e.g. "lives in Lisbon (since 2025-03)", "lives in Berlin (until 2025-03)".
    """
    seen: set[int] = set()
    with database.read() as db:
        frontier = [memory_id]
        while frontier:
            current = frontier.pop()
            if current in seen:
                continue
            seen.add(current)
            row = db.execute("SELECT updates FROM memories WHERE id = ?", [current]).fetchone()
            if row is None:
                continue
            if row[0] is not None:
                frontier.append(int(row[0]))
            frontier += [
                int(r[0])
                for r in db.execute(
                    "SELECT id FROM memories WHERE updates = ?", [current]
                ).fetchall()
            ]
    found = MemoryStore(database).get_many(seen)
    if memory_id not in found:
        raise NotFoundError(f"There is no memory {memory_id}.")
    return sorted(found.values(), key=lambda m: (m.valid_from or m.created_at, m.id), reverse=True)


# -- inbox ------------------------------------------------------------------------------------
def accept(database: EncryptedDatabase, memory_id: int) -> Memory:
    store = MemoryStore(database)
    with database.write() as db:
        memory = store.get(memory_id)
        if memory.status != "inbox":
            raise MnemeError(f"Memory {memory_id} is not waiting in the review inbox.")
        stamp = now_iso()
        updates = None
        if memory.conflicts_with is not None:
            # The user chose the candidate over the fact it contradicts: that fact becomes
            # history (valid until now), as when the user states an update.
            cursor = db.execute(
                "UPDATE memories SET status = 'superseded', valid_to = ? WHERE id = ?"
                " AND status = 'active'",
                [stamp, memory.conflicts_with],
            )
            updates = memory.conflicts_with if cursor.rowcount else None
        db.execute(
            "UPDATE memories SET status = 'active', trust = 'user-confirmed', valid_from = ?,"
            " conflicts_with = NULL, updates = coalesce(?, updates) WHERE id = ?",
            [stamp, updates, memory_id],
        )
    return store.get(memory_id)


# -- forgetting -------------------------------------------------------------------------------
def ids_with_versions(database: EncryptedDatabase, ids: Iterable[int]) -> list[int]:
    """`ids` and every other version of them (a forgotten memory's history goes with it)."""
    result: set[int] = set()
    with database.read() as db:
        for memory_id in ids:
            if int(memory_id) not in result:
                result.update(chain_ids(db, int(memory_id)))
    return sorted(result)


def source_ids(
    database: EncryptedDatabase,
    *,
    conversation_id: int | None = None,
    source_type: str | None = None,
    source_ref: str | None = None,
    speaker: str | None = None,
) -> list[int]:
    """Memories from one source. A document path also matches its pages ("path#page=3")."""
    conditions: list[str] = []
    params: list[Any] = []
    if conversation_id is not None:
        conditions.append("conversation_id = ?")
        params.append(int(conversation_id))
    if source_type is not None:
        conditions.append("source_type = ?")
        params.append(source_type)
    if source_ref is not None:
        if not source_ref.strip():
            raise MnemeError("Say which source to forget: the source is empty.")
        try:
            source_ref.encode("utf-8")
        except UnicodeEncodeError:
            raise MnemeError("The source is not valid text.") from None
        conditions.append("(source_ref = ? OR substr(source_ref, 1, ?) = ?)")
        params += [source_ref, len(source_ref) + 1, source_ref + "#"]
    if speaker is not None:
        conditions.append("speaker = ?")
        params.append(speaker)
    if not conditions:
        raise MnemeError("Say which source to forget: a conversation, a source, or a speaker.")
    with database.read() as db:
        rows = db.execute(
            f"SELECT id FROM memories WHERE {' AND '.join(conditions)}", params
        ).fetchall()
    return [int(row[0]) for row in rows]


# -- reading about one memory -------------------------------------------------------------------
def learned_since(
    database: EncryptedDatabase, when: datetime, limit: int | None = None
) -> list[Memory]:
    """Current memories (active or in the inbox) added, edited or accepted since `when`."""
    stamp = _bound(when if when.tzinfo else when.astimezone(), upper=False)
    with database.read() as db:
        rows = db.query(
            "SELECT * FROM memories WHERE status != 'superseded' AND id IN "
            "(SELECT id FROM memories WHERE created_at >= ? "
            "UNION SELECT id FROM memories WHERE valid_from >= ?) "
            "ORDER BY (kind = 'fact') DESC, created_at DESC, id DESC LIMIT ?",
            [stamp, stamp, -1 if limit is None else limit],
        )
        return [memory_from_row(row) for row in rows]


def evicted_since(
    database: EncryptedDatabase, when: datetime, limit: int | None = None
) -> list[Memory]:
    """Memories taken out of recall by the capacity bound since `when`, newest first."""
    stamp = _bound(when if when.tzinfo else when.astimezone(), upper=False)
    with database.read() as db:
        rows = db.query(
            "SELECT * FROM memories WHERE evicted_at >= ? ORDER BY evicted_at DESC, id DESC"
            " LIMIT ?",
            [stamp, -1 if limit is None else limit],
        )
        return [memory_from_row(row) for row in rows]


def last_recall(database: EncryptedDatabase, memory_id: int) -> dict[str, Any] | None:
    """The newest reply this memory went into, with its rank, score and recall's reasons."""
    with database.read() as db:
        row = db.execute(
            "SELECT r.message_id, m.conversation_id, r.rank, r.score, r.reasons, m.created_at "
            "FROM reply_memories r JOIN messages m ON m.id = r.message_id "
            "WHERE r.memory_id = ? ORDER BY r.message_id DESC LIMIT 1",
            [memory_id],
        ).fetchone()
    if row is None:
        return None
    return {
        "message_id": row[0],
        "conversation_id": row[1],
        "rank": row[2],
        "score": row[3],
        "reasons": list(json.loads(row[4])) if row[4] else [],
        "created_at": row[5],
    }


_PAGE = re.compile(r"(?:^|[&;])page=(\d+)")
_CHUNK_REF = re.compile(r"^(.*)#(\d+)-(\d+)(?: § (.*))?$", re.DOTALL)
_OFFSETS = re.compile(r"(?:^|[&;])(?:chars|offsets)=(\d+)-(\d+)")


def provenance(database: EncryptedDatabase, memory: Memory) -> dict[str, Any]:
    """Where a memory came from, in words the inspector can show and open.

    Keys: source_type, source_ref, speaker, trust, and as they apply: conversation_id,
    conversation_title, message_id (a conversation); path, page, offsets, headings (a document
    whose ref reads "path#10-200 § A > B" as the importer writes it, or "path#page=3&chars=10-200");
    message_id_header (an email's Message-ID).
    """
    info: dict[str, Any] = {
        "source_type": memory.source_type,
        "source_ref": memory.source_ref,
        "speaker": memory.speaker,
        "trust": memory.trust,
    }
    if memory.conversation_id is not None:
        info["conversation_id"] = memory.conversation_id
        info["message_id"] = memory.message_id
        with database.read() as db:
            row = db.execute(
                "SELECT title FROM conversations WHERE id = ?", [memory.conversation_id]
            ).fetchone()
        info["conversation_title"] = row[0] if row else None
    ref = memory.source_ref or ""
    chunk = _CHUNK_REF.match(ref)
    if memory.source_type == "document" and chunk is not None:
        # The document importer's form: "path#start-end", then " § A > B" (the headings).
        info["path"] = chunk.group(1)
        info["page"] = None
        info["offsets"] = (int(chunk.group(2)), int(chunk.group(3)))
        info["headings"] = chunk.group(4).split(" > ") if chunk.group(4) else []
    elif memory.source_type == "document" and ref:
        path, _, fragment = ref.partition("#")
        info["path"] = path
        page = _PAGE.search(fragment)
        info["page"] = int(page.group(1)) if page else None
        offsets = _OFFSETS.search(fragment)
        info["offsets"] = (int(offsets.group(1)), int(offsets.group(2))) if offsets else None
    elif memory.source_type == "email" and ref:
        # The email importer's form: "<Message-ID>", "<id>#chunk=2", or for an attachment
        # "<id>#attachment=<%-quoted name>" followed by the attachment's own chunk ref.
        message_id, _, fragment = ref.partition("#")
        info["message_id_header"] = message_id
        if fragment.startswith("attachment="):
            name, _, where = fragment[len("attachment=") :].partition("#")
            info["attachment"] = unquote(name)
            info["attachment_ref"] = where or None
    return info


def check_filter(memory_filter: MemoryFilter) -> None:
    """A clear error for a filter value that names nothing (rather than an empty list)."""
    choices = {"kind": KINDS, "trust": TRUST_LEVELS, "status": STATUSES}
    for name, allowed in choices.items():
        value = getattr(memory_filter, name)
        if value is not None and value not in allowed:
            raise MnemeError(f"'{value}' is not a memory {name} ({', '.join(allowed)}).")
