"""Forgetting, completely: a memory and everything derived from it.

`plan` widens what the user named: every version of each memory (edits), and every fact whose
sources were all among them (a fact also read elsewhere only loses this provenance). `forget`
then deletes in one transaction — the rows; through triggers and cascades their FTS entries,
vectors, context windows (neighbours' windows are rewritten without them), reply links, review
links, extraction jobs and the learning signals naming them — and redacts the conversation
messages the forgotten episodes were made of (their text, a title made from it, and learning
signals whose question was that text), since a transcript would otherwise keep what the user
asked to forget. So too the chat commands about a forgotten fact: each "remember that …" that
stated it (again) and Mneme's answers, which quote it. Stored learned recall weights go when
signals went (retraining on the remaining signals rebuilds them). `scrub` afterwards merges the
keyword indexes ('optimize') and truncates the write-ahead log: with PRAGMA secure_delete on,
freed pages are zeroed, so the deleted text is nowhere in the database file. The caller drops
cached prompt states (the model's KV cache), marks the pool for a rebuild and resets the learned
weights it holds in memory when `signals` > 0 (see MemoryApi.forget_completely).

Threading: database work only; any thread. `scrub` costs up to about 0.7 s per 100k memories
(measured: benchmarks/forget_scrub.py; merging the window index a forget rewrote): run it off the
UI thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from assistant.memory import browse, commands
from assistant.memory.signals import POOL_STATE_NAME
from assistant.memory.statements import parse_first_person
from assistant.memory.store import MemoryStore
from assistant.storage.conversations import title_from_text
from assistant.storage.database import EncryptedDatabase

FORGOTTEN_MESSAGE = "(forgotten)"
FORGOTTEN_TITLE = "Forgotten conversation"
# The model name Assistant._run_command stores on its answers to chat commands ("Noted. I'll
# remember: “…”"): those answers quote the fact, so they go with it.
COMMAND_MODEL = "mneme"
_CHUNK = 500


@dataclass
class ForgetReport:
    memories: int = 0  # rows deleted (versions and derived facts included)
    facts: int = 0  # of which facts (every version counted)
    facts_derived: int = 0  # facts deleted because every source of theirs went
    facts_kept: int = 0  # facts that lost a source but are still supported elsewhere
    messages_redacted: int = 0
    signals: int = 0  # learning signals deleted (the stored learned weights went with them)
    ids: list[int] = field(default_factory=list)


def _chunks(ids: list[int]) -> Iterable[tuple[list[int], str]]:
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def derived_facts(db: Any, ids: set[int]) -> tuple[set[int], set[int]]:
    """(facts all of whose sources are in `ids`, facts that lose some sources but keep others)."""
    touched: set[int] = set()
    for chunk, marks in _chunks(sorted(ids)):
        touched.update(
            int(row[0])
            for row in db.execute(
                f"SELECT DISTINCT fact_id FROM fact_sources WHERE source_memory_id IN ({marks})",
                chunk,
            ).fetchall()
        )
    touched -= ids
    orphaned: set[int] = set()
    kept: set[int] = set()
    for fact_id in touched:
        sources = {
            int(row[0])
            for row in db.execute(
                "SELECT source_memory_id FROM fact_sources WHERE fact_id = ?", [fact_id]
            ).fetchall()
        }
        (orphaned if sources <= ids else kept).add(fact_id)
    return orphaned, kept


def plan(database: EncryptedDatabase, ids: Iterable[int]) -> tuple[list[int], int, list[int]]:
    """(every memory id to delete, how many are derived facts, facts that only lose sources)."""
    wanted = set(browse.ids_with_versions(database, ids))
    derived: set[int] = set()
    kept: set[int] = set()
    with database.read() as db:
        while True:  # a derived fact's versions may support further facts: go to a fixpoint
            orphaned, still = derived_facts(db, wanted)
            kept |= still
            new = set(browse.ids_with_versions(database, orphaned)) - wanted
            if not new:
                break
            derived |= new
            wanted |= new
    return sorted(wanted), len(derived), sorted(kept - wanted)


def source_ids(database: EncryptedDatabase, **criteria: Any) -> list[int]:
    """Memories from one source (see browse.source_ids), except facts that were read in other
    sources as well: those are judged by their provenance in `plan`, not by the source columns
    that name the first place they were read."""
    ids = browse.source_ids(database, **criteria)
    if not ids:
        return []
    with database.read() as db:
        with_provenance: set[int] = set()
        for chunk, marks in _chunks(ids):
            with_provenance.update(
                int(row[0])
                for row in db.execute(
                    f"SELECT DISTINCT fact_id FROM fact_sources WHERE fact_id IN ({marks})", chunk
                ).fetchall()
            )
    return [i for i in ids if i not in with_provenance]


def forget(database: EncryptedDatabase, ids: Iterable[int]) -> ForgetReport:
    """Delete the memories `plan` finds, in one transaction. Unknown ids are skipped."""
    everything, derived, kept = plan(database, ids)
    report = ForgetReport(ids=everything, facts_derived=derived, facts_kept=len(kept))
    if not everything:
        return report
    store = MemoryStore(database)
    with database.write() as db:
        signals_before = _count(db, "learning_signals")
        messages = _episode_messages(db, everything)
        statements = _fact_statements(db, everything)
        report.facts = len(statements)
        report.memories = store.delete_many(everything)
        messages += _command_messages(db, statements)
        report.messages_redacted = _redact_messages(db, messages)
        for fact_id in kept:
            _repoint_source(db, fact_id)
        report.signals = signals_before - _count(db, "learning_signals")
        if report.signals:
            db.execute("DELETE FROM pool_state WHERE name = ?", [POOL_STATE_NAME])
    return report


def _count(db: Any, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@dataclass(frozen=True)
class _Statement:
    text: str  # case-folded
    slot: tuple[str, str, str, bool] | None  # (subject, predicate, object, negated)


def _fact_statements(db: Any, ids: list[int]) -> list[_Statement]:
    """The text and slot of every fact among `ids` (every version counted)."""
    found: list[_Statement] = []
    for chunk, marks in _chunks(ids):
        for text, subject, predicate, value, negated in db.execute(
            f"SELECT text, subject, predicate, object, negated FROM memories"
            f" WHERE id IN ({marks}) AND kind = 'fact'",
            chunk,
        ).fetchall():
            slot = (subject, predicate, value or "", bool(negated)) if predicate else None
            found.append(_Statement(str(text).casefold(), slot))
    return found


def _command_messages(db: Any, statements: list[_Statement]) -> list[int]:
    """Chat commands about the forgotten facts: each confirmation that quotes one of them, and
    each "remember that …" message (with its confirmation) that stated one, the first time or
    again (a repeat merges into the fact without a link to its message, so only its words tell).
    Run after the deletion: what a remaining fact also says (the same text, the same slot and
    value) is no trace of the forgotten one, and a remaining memory's own message stays.

    Reads every command confirmation (a scan of the messages table): only when facts go.
    """
    texts = {s.text for s in statements if s.text and not _fact_with_text(db, s.text)}
    slots = {s.slot for s in statements if s.slot is not None and not _fact_in_slot(db, s.slot)}
    if not texts and not slots:
        return []
    found: list[int] = []
    rows = db.execute(
        "SELECT a.id, a.content, (SELECT max(p.id) FROM messages p WHERE"
        " p.conversation_id = a.conversation_id AND p.id < a.id AND p.role = 'user')"
        " FROM messages a WHERE a.role = 'assistant' AND a.model = ?",
        [COMMAND_MODEL],
    ).fetchall()
    for answer_id, answer, asked_id in rows:
        if any(text in str(answer).casefold() for text in texts):
            found.append(int(answer_id))
        if (
            asked_id is None
            or db.execute("SELECT 1 FROM memories WHERE message_id = ?", [asked_id]).fetchone()
        ):
            continue
        asked = db.execute("SELECT content FROM messages WHERE id = ?", [asked_id]).fetchone()
        command = commands.parse(str(asked[0])) if asked is not None else None
        if command is None or command.action != "remember":
            continue
        statement = commands.first_person(command.body)
        parsed = parse_first_person(statement)
        same_slot = parsed is not None and (
            (parsed.subject, parsed.predicate, parsed.object, parsed.negated) in slots
        )
        if same_slot or statement.casefold() in texts:
            found += [int(asked_id), int(answer_id)]
    return found


def _fact_with_text(db: Any, text: str) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM memories WHERE kind = 'fact' AND text = ? COLLATE NOCASE LIMIT 1", [text]
        ).fetchone()
        is not None
    )


def _fact_in_slot(db: Any, slot: tuple[str, str, str, bool]) -> bool:
    subject, predicate, value, negated = slot
    return (
        db.execute(
            "SELECT 1 FROM memories WHERE kind = 'fact' AND subject = ? AND predicate = ?"
            " AND object = ? AND negated = ? LIMIT 1",
            [subject, predicate, value, int(negated)],
        ).fetchone()
        is not None
    )


def _episode_messages(db: Any, ids: list[int]) -> list[int]:
    found: list[int] = []
    for chunk, marks in _chunks(ids):
        found += [
            int(row[0])
            for row in db.execute(
                # Episodes are their message's text; so is a fact the user stated in a message
                # ("remember that …"), which has no fact_sources (an extracted fact has some,
                # and forgetting it leaves the message it was read in).
                f"SELECT DISTINCT message_id FROM memories m WHERE id IN ({marks})"
                " AND source_type = 'conversation' AND message_id IS NOT NULL AND (kind = 'episode'"
                " OR (kind = 'fact' AND NOT EXISTS"
                " (SELECT 1 FROM fact_sources s WHERE s.fact_id = m.id)))",
                chunk,
            ).fetchall()
        ]
    return found


def _redact_messages(db: Any, message_ids: list[int]) -> int:
    """Write FORGOTTEN_MESSAGE over each message (and over Mneme's answer to it, when it was a
    chat command: the answer quotes it). Returns how many messages changed."""
    redacted = 0
    for message_id in dict.fromkeys(message_ids + _command_answers(db, message_ids)):
        row = db.execute(
            "SELECT m.content, m.conversation_id, c.title FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?",
            [message_id],
        ).fetchone()
        if row is None or row[0] == FORGOTTEN_MESSAGE:
            continue
        content, conversation_id, title = row
        db.execute("UPDATE messages SET content = ? WHERE id = ?", [FORGOTTEN_MESSAGE, message_id])
        # A question's text is also the query of the learning signals made from its reply.
        db.execute("DELETE FROM learning_signals WHERE query = ?", [content])
        if title == title_from_text(content):
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                [FORGOTTEN_TITLE, conversation_id],
            )
        redacted += 1
    return redacted


def _command_answers(db: Any, message_ids: list[int]) -> list[int]:
    """Mneme's answer to each message that was a chat command (the next message, if Mneme's)."""
    found: list[int] = []
    for message_id in message_ids:
        row = db.execute(
            "SELECT n.id, n.role, n.model FROM messages m JOIN messages n"
            " ON n.conversation_id = m.conversation_id AND n.id > m.id"
            " WHERE m.id = ? ORDER BY n.id LIMIT 1",
            [message_id],
        ).fetchone()
        if row is not None and row[1] == "assistant" and row[2] == COMMAND_MODEL:
            found.append(int(row[0]))
    return found


def _repoint_source(db: Any, fact_id: int) -> None:
    """A fact that keeps other sources names its oldest remaining one in its source columns."""
    row = db.execute(
        "SELECT m.source_type, m.source_ref, m.conversation_id, m.message_id FROM fact_sources s"
        " JOIN memories m ON m.id = s.source_memory_id WHERE s.fact_id = ?"
        " ORDER BY s.created_at, s.source_memory_id LIMIT 1",
        [fact_id],
    ).fetchone()
    if row is None:
        return
    db.execute(
        "UPDATE memories SET source_type = ?, source_ref = ?, conversation_id = ?, message_id = ?"
        " WHERE id = ?",
        [*row, fact_id],
    )


def scrub(database: EncryptedDatabase) -> bool:
    """Leave no deleted text in the files: merge the FTS5 indexes and empty the WAL.

    Secure-delete (PRAGMA and FTS5's own option) zeroes what deletions free; 'optimize' rewrites
    each index as one segment, so no old segment keeps a deleted document's tokens; the
    TRUNCATE checkpoint copies the WAL into the database and cuts the WAL file to zero bytes.

    Returns False when another connection (the CLI beside the app) was still reading, so the
    WAL could not be emptied within the busy timeout: its old frames may then hold deleted text
    until the next checkpoint (call again later). True otherwise.
    """
    with database.write() as db:
        for table in ("memories_fts", "memory_windows_fts"):
            db.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")
    with database.read() as db:
        busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    return not busy
