"""Memories in the encrypted database: rows, FTS5 keyword index (kept in sync by triggers), vectors.

Threading: all access goes through the EncryptedDatabase lock; call from any thread.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.errors import MnemeError, NotFoundError
from assistant.memory.keywords import WordCounts, affordable_words, fts_query, keyword_words
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase
from assistant.types import TRUST_LEVELS, Memory

KINDS = ("episode", "fact", "chunk")
WINDOW = 2  # turns either side that make a memory's context window


@dataclass(frozen=True)
class NewMemory:
    text: str
    kind: str = "episode"
    source_type: str = "user"
    source_ref: str | None = None
    trust: str = "user-stated"
    occurred_at: str | None = None
    conversation_id: int | None = None
    message_id: int | None = None
    speaker: str | None = None
    session: str | None = None
    position: int | None = None
    pinned: bool = False
    status: str = "active"
    # Facts only (see assistant.memory.facts): slot, value and review links.
    subject: str | None = None
    predicate: str | None = None
    object: str | None = None
    negated: bool = False
    single_valued: bool = False
    facet: str | None = None
    confidence: float | None = None
    conflicts_with: int | None = None
    updates: int | None = None
    valid_from: str | None = None
    valid_to: str | None = None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise MnemeError(f"'{self.kind}' is not a memory kind ({', '.join(KINDS)}).")
        if self.trust not in TRUST_LEVELS:
            raise MnemeError(f"'{self.trust}' is not a trust level ({', '.join(TRUST_LEVELS)}).")
        if not self.text.strip():
            raise MnemeError("A memory cannot be empty.")


# Which of some memories recall may use. The unary + keeps SQLite on rowid lookups: with the status
# index it scanned every active memory instead (232 ms rather than 0.2 ms at a million memories).
USABLE_AMONG = (
    "SELECT id FROM memories WHERE id IN ({marks}) AND +status = 'active' AND +in_pool = 1"
)


class MemoryStore:
    def __init__(self, database: EncryptedDatabase) -> None:
        self._database = database
        self._word_counts = WordCounts()

    # -- rows -------------------------------------------------------------------------------
    def add(self, memory: NewMemory) -> Memory:
        (new_id,) = self.add_many([memory])
        return self.get(new_id)

    def add_many(self, memories: Sequence[NewMemory]) -> list[int]:
        """Insert in one transaction: all of them or none."""
        for memory in memories:
            memory.check()
        stamp = now_iso()
        ids: list[int] = []
        with self._database.write() as db:
            self._word_counts.rows_changed(added=len(memories))
            for memory in memories:
                cursor = db.execute(
                    "INSERT INTO memories (kind, text, source_type, source_ref, conversation_id,"
                    " message_id, speaker, trust, session, position, created_at, occurred_at,"
                    " pinned, status, subject, predicate, object, negated, single_valued, facet,"
                    " confidence, conflicts_with, updates, valid_from, valid_to)"
                    f" VALUES ({', '.join('?' * 25)})",
                    [
                        memory.kind,
                        memory.text,
                        memory.source_type,
                        memory.source_ref,
                        memory.conversation_id,
                        memory.message_id,
                        memory.speaker,
                        memory.trust,
                        memory.session,
                        memory.position,
                        stamp,
                        memory.occurred_at or stamp,
                        int(memory.pinned),
                        memory.status,
                        memory.subject,
                        memory.predicate,
                        memory.object,
                        int(memory.negated),
                        int(memory.single_valued),
                        memory.facet,
                        memory.confidence,
                        memory.conflicts_with,
                        memory.updates,
                        memory.valid_from,
                        memory.valid_to,
                    ],
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            self._refresh_windows(db, ids, [m.session for m in memories])
        return ids

    def _refresh_windows(
        self, db: Any, new_ids: Sequence[int], sessions: Sequence[str | None]
    ) -> None:
        """Write the window text of each new memory and of the turns whose window it enters.

        A window is the memory with up to WINDOW turns before and after it in its session. A
        changed window also loses its window vector, so the next sync re-encodes it.
        """
        changed: set[int] = set()
        by_session: dict[str, list[int]] = {}
        for memory_id, session in zip(new_ids, sessions, strict=True):
            if session is None:
                changed.add(memory_id)
            else:
                by_session.setdefault(session, []).append(memory_id)
        texts: dict[int, str] = {}
        for session, members in by_session.items():
            turns = db.execute(
                "SELECT id, text FROM memories WHERE session = ? ORDER BY position, id", [session]
            ).fetchall()
            order = [row[0] for row in turns]
            where = {memory_id: index for index, memory_id in enumerate(order)}
            for memory_id in members:
                index = where[memory_id]
                for other in order[max(0, index - WINDOW) : index + WINDOW + 1]:
                    changed.add(other)
            for index, (memory_id, _) in enumerate(turns):
                if memory_id in changed:
                    around = turns[max(0, index - WINDOW) : index + WINDOW + 1]
                    texts[memory_id] = " ".join(text for _, text in around)
        for memory_id in changed:
            if memory_id not in texts:
                texts[memory_id] = db.execute(
                    "SELECT text FROM memories WHERE id = ?", [memory_id]
                ).fetchone()[0]
        db.conn.executemany(
            "INSERT INTO memory_windows (memory_id, text) VALUES (?, ?) "
            "ON CONFLICT(memory_id) DO UPDATE SET text = excluded.text",
            list(texts.items()),
        )
        added = set(new_ids)
        stale = [i for i in changed if i not in added]
        for start in range(0, len(stale), 500):
            chunk = stale[start : start + 500]
            db.execute(
                "DELETE FROM memory_vectors WHERE variant = 'window' AND memory_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )

    def get(self, memory_id: int) -> Memory:
        found = self.get_many([memory_id])
        if memory_id not in found:
            raise NotFoundError(f"There is no memory {memory_id}.")
        return found[memory_id]

    def get_many(self, ids: Iterable[int]) -> dict[int, Memory]:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        found: dict[int, Memory] = {}
        with self._database.read() as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in db.query(f"SELECT * FROM memories WHERE id IN ({marks})", chunk):
                    found[row["id"]] = memory_from_row(row)
        return found

    def rows(
        self,
        *,
        kind: str | None = None,
        status: str | None = "active",
        limit: int = 100,
        offset: int = 0,
    ) -> list[Memory]:
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._database.read() as db:
            rows = db.query(
                f"SELECT * FROM memories {clause} "
                "ORDER BY kind = 'fact' DESC, occurred_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            return [memory_from_row(row) for row in rows]

    def has_active(self) -> bool:
        with self._database.read() as db:
            return (
                db.execute("SELECT 1 FROM memories WHERE status = 'active' LIMIT 1").fetchone()
                is not None
            )

    def count(self) -> dict[str, int]:
        with self._database.read() as db:
            rows = db.execute("SELECT status, count(*) FROM memories GROUP BY status").fetchall()
        return {status: count for status, count in rows}

    def set_pinned(self, memory_id: int, pinned: bool) -> Memory:
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE memories SET pinned = ? WHERE id = ?", [int(pinned), memory_id]
            )
            if pinned:  # a pinned memory is never evicted: an evicted one comes back
                db.execute(
                    "UPDATE memories SET in_pool = 1, evicted_at = NULL WHERE id = ?", [memory_id]
                )
        if cursor.rowcount == 0:
            raise NotFoundError(f"There is no memory {memory_id}.")
        return self.get(memory_id)

    def delete(self, memory_id: int) -> None:
        """Remove the row; triggers and cascades remove its FTS entry, vectors and signals."""
        with self._database.write() as db:
            self._word_counts.rows_changed(removed=True)
            cursor = db.execute("DELETE FROM memories WHERE id = ?", [memory_id])
        if cursor.rowcount == 0:
            raise NotFoundError(f"There is no memory {memory_id}.")

    def delete_many(self, ids: Iterable[int]) -> int:
        """Remove rows in one transaction; returns how many existed.

        Triggers and cascades remove their FTS entries, vectors, windows, reply links and the
        learning signals naming them; the context windows of their session neighbours (which quote
        their text) are rewritten without them and lose their window vectors.
        """
        wanted = list(dict.fromkeys(int(i) for i in ids))
        if not wanted:
            return 0
        gone = set(wanted)
        removed = 0
        with self._database.write() as db:
            affected: dict[str, set[int]] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sessions = db.execute(
                    f"SELECT DISTINCT session FROM memories WHERE id IN ({marks})"
                    " AND session IS NOT NULL",
                    chunk,
                ).fetchall()
                for (session,) in sessions:
                    if session in affected:
                        continue
                    order = _session_order(db, session)
                    near: set[int] = set()
                    for index, memory_id in enumerate(order):
                        if memory_id in gone:
                            near.update(order[max(0, index - WINDOW) : index + WINDOW + 1])
                    affected[session] = near - gone
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                cursor = db.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)
                removed += max(cursor.rowcount, 0)
            self._word_counts.rows_changed(removed=True)
            for session, near in affected.items():
                if near:
                    self._rewrite_windows(db, session, near)
        return removed

    def _rewrite_windows(self, db: Any, session: str, ids: set[int]) -> None:
        turns = db.execute(
            "SELECT id, text FROM memories WHERE session = ? ORDER BY position, id", [session]
        ).fetchall()
        texts = []
        for index, (memory_id, _) in enumerate(turns):
            if memory_id in ids:
                around = turns[max(0, index - WINDOW) : index + WINDOW + 1]
                texts.append((" ".join(text for _, text in around), memory_id))
        db.conn.executemany("UPDATE memory_windows SET text = ? WHERE memory_id = ?", texts)
        db.conn.executemany(
            "DELETE FROM memory_vectors WHERE variant = 'window' AND memory_id = ?",
            [(memory_id,) for _, memory_id in texts],
        )

    def touch(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        stamp = now_iso()
        marks = ",".join("?" * len(ids))
        with self._database.write() as db:
            db.execute(
                "UPDATE memories SET access_count = access_count + 1, last_accessed_at = ?"
                f" WHERE id IN ({marks})",
                [stamp, *ids],
            )

    def set_in_pool(self, ids: Sequence[int], in_pool: bool) -> None:
        """Take memories out of recall (evicted: `evicted_at` records when) or bring them back."""
        stamp = None if in_pool else now_iso()
        with self._database.write() as db:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                db.execute(
                    f"UPDATE memories SET in_pool = ?, evicted_at = ? WHERE id IN ({marks})",
                    [int(in_pool), stamp, *chunk],
                )

    # -- keyword search -------------------------------------------------------------------------
    def keyword_search(
        self,
        text: str,
        limit: int = 100,
        *,
        active_ids: Container[int] | None = None,
        windows: bool = False,
        doc_budget: int | None = None,
    ) -> list[tuple[int, float]]:
        """(memory id, BM25 score ≥ 0, higher is better) for active memories in the pool.

        `active_ids` (the pool's ids) lets the caller skip the status lookup for known memories:
        the FTS5 ranking then runs alone, without a join, which keeps it fast at a million rows.
        `windows` searches the memories' context windows instead of the memories alone.
        `doc_budget` bounds the work: see `keywords.affordable_words`.
        """
        table = "memory_windows_fts" if windows else "memories_fts"
        words = keyword_words(text)
        if not words:
            return []
        with self._database.read() as db:
            if doc_budget is not None:
                words = affordable_words(db, table, words, doc_budget, self._word_counts)
                if not words:
                    return []
            rows = db.execute(
                f"SELECT rowid, -bm25({table}) FROM {table} WHERE {table} MATCH ? "
                f"ORDER BY bm25({table}) LIMIT ?",
                [fts_query(words), limit * 2],
            ).fetchall()
            hits = [(int(memory_id), float(score)) for memory_id, score in rows]
            unknown = {i for i, _ in hits if active_ids is None or i not in active_ids}
            if unknown:
                marks = ",".join("?" * len(unknown))
                usable = {
                    row[0]
                    for row in db.execute(
                        USABLE_AMONG.format(marks=marks),
                        list(unknown),
                    ).fetchall()
                }
                hits = [(i, score) for i, score in hits if i in usable or i not in unknown]
        return hits[:limit]

    # -- vectors --------------------------------------------------------------------------------
    def texts_missing_vectors(
        self, variant: str, encoder: str, limit: int = 10_000
    ) -> list[tuple[int, str]]:
        """Memories (in the pool) without a `variant` vector from `encoder`, with the text to encode.

        Variant "text" is the memory alone; "window" adds its neighbours in the same session.
        """
        with self._database.read() as db:
            rows = db.execute(
                "SELECT m.id, m.text, m.session, m.position FROM memories m "
                "LEFT JOIN memory_vectors v ON v.memory_id = m.id AND v.variant = ? "
                "AND v.encoder = ? WHERE v.memory_id IS NULL AND m.in_pool = 1 "
                "ORDER BY m.id LIMIT ?",
                [variant, encoder, limit],
            ).fetchall()
            if variant == "text":
                return [(int(r[0]), r[1]) for r in rows]
            windows = (
                dict(
                    db.execute(
                        "SELECT memory_id, text FROM memory_windows WHERE memory_id IN "
                        f"({','.join('?' * len(rows))})",
                        [r[0] for r in rows],
                    ).fetchall()
                )
                if rows
                else {}
            )
            return [(int(r[0]), windows.get(r[0], r[1])) for r in rows]

    def put_vectors(
        self, variant: str, encoder: str, ids: Sequence[int], vectors: np.ndarray
    ) -> None:
        with self._database.write() as db:
            db.conn.executemany(
                "INSERT OR REPLACE INTO memory_vectors (memory_id, variant, encoder, vector)"
                " VALUES (?, ?, ?, ?)",
                [
                    (int(i), variant, encoder, np.asarray(v, dtype=np.float32).tobytes())
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )

    def sentence_blobs(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored "sentences" blobs of these memories (see sentences.unpack); a memory whose
        sentences are not encoded yet is left out. One indexed lookup per memory."""
        found: dict[int, bytes] = {}
        wanted = [int(i) for i in ids]
        with self._database.read() as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(
                    (int(memory_id), bytes(blob))
                    for memory_id, blob in db.execute(
                        "SELECT memory_id, vector FROM memory_vectors WHERE variant = 'sentences' "
                        f"AND memory_id IN ({','.join('?' * len(chunk))})",
                        chunk,
                    ).fetchall()
                )
        return found

    def pool_rows(self, encoder: str) -> list[dict[str, Any]]:
        """Everything the pool keeps in memory, for active in-pool memories with a text vector.

        Each row's text is replaced by its word count ("words"): the pool keeps no text."""
        with self._database.read() as db:
            rows = list(
                db.query(
                    "SELECT m.id, m.session, m.position, m.occurred_at, m.trust, m.pinned, m.speaker,"
                    " m.access_count, m.text, t.vector AS text_vector, w.vector AS window_vector "
                    "FROM memories m JOIN memory_vectors t ON t.memory_id = m.id "
                    "AND t.variant = 'text' AND t.encoder = ? "
                    "LEFT JOIN memory_vectors w ON w.memory_id = m.id "
                    "AND w.variant = 'window' AND w.encoder = ? "
                    "WHERE m.status = 'active' AND m.in_pool = 1 "
                    "ORDER BY m.session, m.position, m.id",
                    [encoder, encoder],
                )
            )
        for row in rows:
            row["words"] = len(row.pop("text").split())
        return rows


def _session_order(db: Any, session: str) -> list[int]:
    rows = db.execute(
        "SELECT id FROM memories WHERE session = ? ORDER BY position, id", [session]
    ).fetchall()
    return [int(row[0]) for row in rows]


def memory_from_row(row: dict[str, Any]) -> Memory:
    return Memory(
        id=row["id"],
        kind=row["kind"],
        text=row["text"],
        source_type=row["source_type"],
        source_ref=row["source_ref"],
        trust=row["trust"],
        occurred_at=row["occurred_at"],
        created_at=row["created_at"],
        conversation_id=row["conversation_id"],
        message_id=row["message_id"],
        speaker=row["speaker"],
        session=row["session"],
        position=row["position"],
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        pinned=bool(row["pinned"]),
        status=row["status"],
        access_count=row["access_count"],
        last_accessed_at=row["last_accessed_at"],
        supersedes=row.get("supersedes"),
        subject=row.get("subject"),
        predicate=row.get("predicate"),
        object=row.get("object"),
        negated=bool(row.get("negated") or 0),
        facet=row.get("facet"),
        confidence=row.get("confidence"),
        conflicts_with=row.get("conflicts_with"),
        updates=row.get("updates"),
        evicted_at=row.get("evicted_at"),
    )
