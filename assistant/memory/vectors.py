"""Filling in the dense vectors of memories that have none yet (their text is searchable already).

Every memory in the pool gets vectors of three variants from the encoder: "text" (the memory
alone), "window" (the memory with its session neighbours, see store.WINDOW) and "sentences" (one
per sentence, float16 in one blob; empty for a memory of one sentence, see sentences.py). New
memories are stored without them, so an import is keyword-searchable at parse speed; `fill`
encodes what is missing in large batches afterwards (MemoryApi.fill_vectors, run in the
background by the UI) and recall encodes a few of the newest inline (MemoryApi.recall).

A window vector is copied from the text vector instead of encoded when encoding it would add
nothing: the memory has no neighbours (its window is its own text), or it is a document/email
chunk. Chunks are passages of up to ~1,000 characters (importers/chunking.py), so the window of five
of them is cut at the encoder's input length (256 word pieces for MiniLM) and its vector would
mostly say what the chunks *before* it say. Skipping them halves the encoding work of an import.

The encoder in use is recorded (pool_state "vectors-encoder"); when it changes, the vectors of the
old one are deleted, so "has a vector" means "has one from this encoder" and the pending count
needs no per-vector check.

Writes are guarded so filling is safe beside forgetting (which runs on another thread): a vector is
stored only if its memory still exists, and a window vector only if the window text it was computed
from is still the memory's window (a neighbour added or forgotten meanwhile rewrote it).

Threading: the database calls go through the EncryptedDatabase lock; `Encoder.encode` is not
re-entrant, so callers serialise `fill` (MemoryApi holds its lock around it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.cancel import CancelToken
from assistant.memory.encoder import Encoder
from assistant.memory.sentences import pack, split_pieces
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase

Progress = Callable[[int, int], None]
ENCODER_STATE = "vectors-encoder"  # pool_state row: the encoder that made the stored vectors

# Existence only, answered from the primary key's index: checking the encoder too would read each
# vector's row (its 1.5 KB blob, decrypted): 2.3 s rather than ~0.1 s at 100k memories. Vectors of
# another encoder are deleted instead, once, when the encoder changes (`use_encoder`).
_HAS = (
    "EXISTS (SELECT 1 FROM memory_vectors v WHERE v.memory_id = m.id AND v.variant = '{variant}')"
)
_HAS_TEXT = _HAS.format(variant="text")
_HAS_WINDOW = _HAS.format(variant="window")
_HAS_SENTENCES = _HAS.format(variant="sentences")
_MISSING = {
    "any": f"(NOT {_HAS_TEXT} OR NOT {_HAS_WINDOW} OR NOT {_HAS_SENTENCES})",
    "text": f"NOT {_HAS_TEXT}",
    "window": f"NOT {_HAS_WINDOW}",
    "sentences": f"NOT {_HAS_SENTENCES}",
}
_STORE = (
    "INSERT OR REPLACE INTO memory_vectors (memory_id, variant, encoder, vector) "
    "SELECT :id, 'text', :encoder, :vector WHERE EXISTS (SELECT 1 FROM memories WHERE id = :id)"
)
_STORE_WINDOW = (
    "INSERT OR REPLACE INTO memory_vectors (memory_id, variant, encoder, vector) "
    "SELECT :id, 'window', :encoder, :vector WHERE EXISTS (SELECT 1 FROM memories WHERE id = :id) "
    "AND NOT EXISTS (SELECT 1 FROM memory_windows WHERE memory_id = :id AND text IS NOT :window)"
)
_STORE_SENTENCES = (
    "INSERT OR REPLACE INTO memory_vectors (memory_id, variant, encoder, vector) "
    "SELECT :id, 'sentences', :encoder, :vector WHERE EXISTS (SELECT 1 FROM memories WHERE id = :id)"
)
_COPY_WINDOW = (
    "INSERT OR REPLACE INTO memory_vectors (memory_id, variant, encoder, vector) "
    "SELECT memory_id, 'window', encoder, vector FROM memory_vectors "
    "WHERE memory_id = ? AND variant = 'text' AND encoder = ?"
)


@dataclass(frozen=True)
class Missing:
    """A memory that lacks one or more of its vectors."""

    id: int
    kind: str
    text: str
    window: str | None  # its window text (None: no window row, the window is the text)
    has_text: bool
    has_window: bool
    has_sentences: bool

    @property
    def window_is_text(self) -> bool:
        """Whether its window vector is a copy of its text vector (see the module docstring)."""
        return self.kind == "chunk" or self.window is None or self.window == self.text


def use_encoder(database: EncryptedDatabase, encoder: str) -> None:
    """Make every stored vector one of `encoder`'s: if the database's vectors were made by another
    (or this is the first time it is asked, for a database from before this record), delete the
    others' vectors so they are encoded again. O(1) when nothing changed."""
    with database.read() as db:
        row = db.execute("SELECT state FROM pool_state WHERE name = ?", [ENCODER_STATE]).fetchone()
    if row is not None and bytes(row[0]) == encoder.encode():
        return
    with database.write() as db:
        db.execute("DELETE FROM memory_vectors WHERE encoder != ?", [encoder])
        db.execute(
            "INSERT OR REPLACE INTO pool_state (name, state, updated_at) VALUES (?, ?, ?)",
            [ENCODER_STATE, encoder.encode(), now_iso()],
        )


def pending(database: EncryptedDatabase) -> int:
    """How many memories in the pool lack a text, window or sentences vector (one scan)."""
    with database.read() as db:
        row = db.execute(
            f"SELECT count(*) FROM memories m WHERE m.in_pool = 1 AND {_MISSING['any']}"
        ).fetchone()
    return int(row[0])


def missing(
    database: EncryptedDatabase,
    *,
    lacking: str = "any",
    limit: int,
    newest_first: bool = False,
    after_id: int = 0,
) -> list[Missing]:
    """Up to `limit` memories in the pool lacking a vector (`lacking`: "any", "text", "window" or
    "sentences"), by id (oldest first, from `after_id` on; or newest first)."""
    order = "DESC" if newest_first else "ASC"
    with database.read() as db:
        rows = db.execute(
            f"SELECT m.id, m.kind, m.text, w.text, {_HAS_TEXT}, {_HAS_WINDOW}, {_HAS_SENTENCES} "
            "FROM memories m "
            "LEFT JOIN memory_windows w ON w.memory_id = m.id "
            f"WHERE m.in_pool = 1 AND m.id > :after AND {_MISSING[lacking]} "
            f"ORDER BY m.id {order} LIMIT :limit",
            {"after": after_id, "limit": limit},
        ).fetchall()
    return [Missing(int(r[0]), r[1], r[2], r[3], bool(r[4]), bool(r[5]), bool(r[6])) for r in rows]


def fill(
    database: EncryptedDatabase,
    encoder: Encoder,
    rows: list[Missing],
    *,
    budget: int | None = None,
    progress: Progress | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Encode and store the missing vectors of `rows` with one `encode` call (the encoder batches).

    Text vectors come first, then windows, then sentences; `budget` bounds how many texts are
    encoded (a memory's sentences go all together or wait). Returns how many texts were encoded.
    `progress(encoded, to_encode)` comes from the encoder; `cancel` raises `Cancelled` from inside
    the encoding, and then nothing of the call is stored.
    """
    jobs: list[tuple[str, Missing, list[str]]] = [
        ("text", row, [row.text]) for row in rows if not row.has_text
    ]
    jobs += [
        ("window", row, [row.window or row.text])
        for row in rows
        if not row.has_window and not row.window_is_text
    ]
    # A memory of one sentence stores an empty blob (nothing to encode: its text vector is it).
    for row in rows:
        if not row.has_sentences:
            pieces = split_pieces(row.text)
            jobs.append(("sentences", row, pieces if len(pieces) > 1 else []))
    if budget is not None:
        jobs = _within(jobs, budget)
    encoded = {(variant, row.id) for variant, row, _ in jobs}
    copies = [
        row.id
        for row in rows
        if not row.has_window
        and row.window_is_text
        and (row.has_text or ("text", row.id) in encoded)
    ]
    if not jobs and not copies:
        return 0
    texts = [text for _, _, pieces in jobs for text in pieces]
    # No texts (only empty sentence blobs and window copies): the encoder is not even loaded.
    vectors = (
        encoder.encode(texts, progress=progress, cancel=cancel)
        if texts
        else np.zeros((0, 1), dtype=np.float32)
    )
    name = encoder.name
    plain: list[dict[str, Any]] = []
    windowed: list[dict[str, Any]] = []
    split: list[dict[str, Any]] = []
    at = 0
    for variant, row, pieces in jobs:
        own = vectors[at : at + len(pieces)]
        at += len(pieces)
        if variant == "sentences":  # packs to b"" for a memory of one sentence
            split.append({"id": row.id, "encoder": name, "vector": pack(own)})
            continue
        values = {"id": row.id, "encoder": name, "vector": _blob(own[0])}
        if variant == "text":
            plain.append(values)
        else:
            windowed.append({**values, "window": row.window})
    with database.write() as db:
        if plain:
            db.conn.executemany(_STORE, plain)
        if windowed:
            db.conn.executemany(_STORE_WINDOW, windowed)
        if split:
            db.conn.executemany(_STORE_SENTENCES, split)
        if copies:
            db.conn.executemany(_COPY_WINDOW, [(memory_id, name) for memory_id in copies])
    return len(texts)


def _within(
    jobs: list[tuple[str, Missing, list[str]]], budget: int
) -> list[tuple[str, Missing, list[str]]]:
    """The jobs, in order, whose texts still fit in `budget` when their turn comes (a memory of
    one sentence has nothing to encode: its empty sentences blob always fits)."""
    kept, spent = [], 0
    for job in jobs:
        if spent + len(job[2]) <= budget:
            kept.append(job)
            spent += len(job[2])
    return kept


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()
