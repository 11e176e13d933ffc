"""Schema migrations: decorated functions applied in order, each recorded in `_migrations`.

Add a migration by appending a new decorated function; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    MIGRATIONS.append(function)
    return function


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Apply the pending migrations, each in its own transaction. Returns the names applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        "id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, applied_at TEXT NOT NULL)"
    )
    db.conn.commit()
    done = {row["name"] for row in db.query("SELECT name FROM _migrations")}
    applied = []
    for function in MIGRATIONS:
        if function.__name__ in done:
            continue
        with db.atomic():
            function(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                [function.__name__, datetime.now(UTC).isoformat()],
            )
        applied.append(function.__name__)
    return applied


@migration
def m001_conversations(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            incognito INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL
                REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            created_at TEXT NOT NULL,
            model TEXT,
            finish_reason TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER
        )
        """
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, id)")


@migration
def m002_memories(db: sqlite_utils.Database) -> None:
    """Memories (episodes, facts, chunks) with provenance, trust, validity and access statistics;
    their FTS5 index kept in sync by triggers; their vectors; learning signals; pool weights."""
    db.execute(
        """
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('episode', 'fact', 'chunk')),
            text TEXT NOT NULL,
            source_type TEXT NOT NULL,
            source_ref TEXT,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            speaker TEXT,
            trust TEXT NOT NULL
                CHECK (trust IN ('user-stated', 'user-confirmed', 'imported', 'assistant')),
            session TEXT,
            position INTEGER,
            created_at TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            valid_from TEXT,
            valid_to TEXT,
            pinned INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'inbox', 'superseded')),
            access_count INTEGER NOT NULL DEFAULT 0,
            last_accessed_at TEXT,
            in_pool INTEGER NOT NULL DEFAULT 1
        )
        """
    )
    db.execute("CREATE INDEX memories_by_session ON memories(session, position)")
    db.execute("CREATE INDEX memories_by_message ON memories(message_id)")
    db.execute("CREATE INDEX memories_by_status ON memories(status, kind)")
    db.execute(
        "CREATE VIRTUAL TABLE memories_fts USING fts5("
        "text, content='memories', content_rowid='id', tokenize='porter unicode61')"
    )
    db.execute(
        "CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN "
        "INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text); END"
    )
    db.execute(
        "CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN "
        "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
    )
    db.execute(
        "CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN "
        "INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text); "
        "INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text); END"
    )
    db.execute(
        """
        CREATE TABLE memory_vectors (
            memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            variant TEXT NOT NULL,
            encoder TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (memory_id, variant)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE learning_signals (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            query TEXT NOT NULL,
            created_at TEXT NOT NULL,
            as_of TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE signal_memories (
            signal_id INTEGER NOT NULL REFERENCES learning_signals(id) ON DELETE CASCADE,
            memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            label REAL NOT NULL,
            PRIMARY KEY (signal_id, memory_id)
        )
        """
    )
    db.execute("CREATE INDEX signal_memories_by_memory ON signal_memories(memory_id)")
    # A signal is about the memories it names: when one of them is deleted, the whole signal goes.
    db.execute(
        "CREATE TRIGGER signals_forget_memory BEFORE DELETE ON memories BEGIN "
        "DELETE FROM learning_signals WHERE id IN "
        "(SELECT signal_id FROM signal_memories WHERE memory_id = old.id); END"
    )
    db.execute(
        """
        CREATE TABLE pool_state (
            name TEXT PRIMARY KEY,
            state BLOB NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )


@migration
def m003_reply_memories(db: sqlite_utils.Database) -> None:
    """Which memories went into each reply, and (once computed in the background) how much each
    raised the model's log-likelihood of the reply it gave, in nats per reply token."""
    db.execute(
        """
        CREATE TABLE reply_memories (
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,
            score REAL NOT NULL,
            gain REAL,
            PRIMARY KEY (message_id, memory_id)
        )
        """
    )
    db.execute("CREATE INDEX reply_memories_by_memory ON reply_memories(memory_id)")


@migration
def m004_memory_windows(db: sqlite_utils.Database) -> None:
    """Each memory with its session neighbours (two turns either side), keyword-indexed: a question
    often shares words with a turn's context rather than with the turn itself."""
    db.execute(
        """
        CREATE TABLE memory_windows (
            memory_id INTEGER PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE,
            text TEXT NOT NULL
        )
        """
    )
    db.execute(
        "CREATE VIRTUAL TABLE memory_windows_fts USING fts5("
        "text, content='memory_windows', content_rowid='memory_id', tokenize='porter unicode61')"
    )
    db.execute(
        "CREATE TRIGGER memory_windows_fts_insert AFTER INSERT ON memory_windows BEGIN "
        "INSERT INTO memory_windows_fts(rowid, text) VALUES (new.memory_id, new.text); END"
    )
    db.execute(
        "CREATE TRIGGER memory_windows_fts_delete AFTER DELETE ON memory_windows BEGIN "
        "INSERT INTO memory_windows_fts(memory_windows_fts, rowid, text) "
        "VALUES ('delete', old.memory_id, old.text); END"
    )
    db.execute(
        "CREATE TRIGGER memory_windows_fts_update AFTER UPDATE OF text ON memory_windows BEGIN "
        "INSERT INTO memory_windows_fts(memory_windows_fts, rowid, text) "
        "VALUES ('delete', old.memory_id, old.text); "
        "INSERT INTO memory_windows_fts(rowid, text) VALUES (new.memory_id, new.text); END"
    )


@migration
def m005_memory_browse(db: sqlite_utils.Database) -> None:
    """The memory inspector: versions of an edited memory (`supersedes` names the version it
    replaced), why each memory was recalled for a reply, and indexes for browsing with facts first.
    """
    db.execute("ALTER TABLE memories ADD COLUMN supersedes INTEGER")
    db.execute("CREATE INDEX memories_by_supersedes ON memories(supersedes)")
    db.execute("ALTER TABLE reply_memories ADD COLUMN reasons TEXT")
    # Browsing sorts by (kind = 'fact') first, then a date: these let a page of the newest
    # memories come from the index instead of sorting every row.
    db.execute("CREATE INDEX memories_by_fact_occurred ON memories((kind = 'fact'), occurred_at)")
    db.execute("CREATE INDEX memories_by_fact_created ON memories((kind = 'fact'), created_at)")
    db.execute(
        "CREATE INDEX memories_by_status_fact_occurred "
        "ON memories(status, (kind = 'fact'), occurred_at)"
    )
    db.execute("CREATE INDEX memories_by_created ON memories(created_at)")
    db.execute("CREATE INDEX memories_by_conversation ON memories(conversation_id)")
    db.execute("CREATE INDEX memories_by_source ON memories(source_ref)")


@migration
def m006_imported_files(db: sqlite_utils.Database) -> None:
    """Files imported into memory, with the content hash that makes re-import incremental, and
    which memories each produced (so a changed file's old chunks are replaced, never duplicated).
    A memory deleted by other means drops out of `imported_file_memories` by the cascade."""
    db.execute(
        """
        CREATE TABLE imported_files (
            id INTEGER PRIMARY KEY,
            path TEXT UNIQUE NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            importer TEXT NOT NULL,
            imported_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE imported_file_memories (
            file_id INTEGER NOT NULL REFERENCES imported_files(id) ON DELETE CASCADE,
            memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            PRIMARY KEY (file_id, memory_id)
        )
        """
    )
    db.execute("CREATE INDEX imported_file_memories_by_memory ON imported_file_memories(memory_id)")


@migration
def m008_imported_units(db: sqlite_utils.Database) -> None:
    """Parts of a file imported one at a time (an email of an mbox, a conversation of an export):
    each unit's content hash and the memories it produced, so re-import skips unchanged units,
    replaces changed ones and an interrupted import resumes after the last unit written. A file
    whose units are still being written has `complete` = 0 (its hash does not yet mark it done);
    `missing` marks a unit that a later version of its file no longer holds (offered for removal,
    never deleted silently)."""
    db.execute("ALTER TABLE imported_files ADD COLUMN complete INTEGER NOT NULL DEFAULT 1")
    db.execute(
        """
        CREATE TABLE imported_units (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES imported_files(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            missing INTEGER NOT NULL DEFAULT 0,
            UNIQUE (file_id, key)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE imported_unit_memories (
            unit_id INTEGER NOT NULL REFERENCES imported_units(id) ON DELETE CASCADE,
            memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            PRIMARY KEY (unit_id, memory_id)
        )
        """
    )
    db.execute("CREATE INDEX imported_unit_memories_by_memory ON imported_unit_memories(memory_id)")


@migration
def m009_facts(db: sqlite_utils.Database) -> None:
    """Semantic facts learned from conversations and imports, behind the write gate.

    A fact is a memory of kind 'fact' with a slot (subject, predicate) and a value (object,
    negated) that contradictions and duplicates are judged by; `facet` 'preference' marks a
    user's wish about how to answer (stored as data, never as an instruction); `conflicts_with`
    names the active fact an inbox candidate contradicts; `updates` the older fact a user's update
    superseded (its history: "lived in Berlin until …"); `evicted_at` when capacity took it out
    of recall. `fact_sources` holds every memory a fact was extracted from (duplicates merge,
    keeping all of them): a fact whose sources are all forgotten is forgotten with them.
    `extraction_jobs` queues the memories (user turns, optionally imports) the model extracts
    facts from, with visible failures; `outcome` holds counts only, never text.
    """
    for column in (
        "subject TEXT",
        "predicate TEXT",
        "object TEXT",
        "negated INTEGER NOT NULL DEFAULT 0",
        "single_valued INTEGER NOT NULL DEFAULT 0",
        "facet TEXT",
        "confidence REAL",
        "conflicts_with INTEGER REFERENCES memories(id) ON DELETE SET NULL",
        "updates INTEGER REFERENCES memories(id) ON DELETE SET NULL",
        "evicted_at TEXT",
    ):
        db.execute(f"ALTER TABLE memories ADD COLUMN {column}")
    db.execute("CREATE INDEX memories_by_slot ON memories(subject, predicate) WHERE kind = 'fact'")
    db.execute("CREATE INDEX memories_by_conflict ON memories(conflicts_with)")
    db.execute("CREATE INDEX memories_by_updates ON memories(updates)")
    db.execute("CREATE INDEX memories_by_evicted ON memories(evicted_at)")
    db.execute(
        """
        CREATE TABLE fact_sources (
            fact_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            source_memory_id INTEGER NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            trust TEXT NOT NULL,
            quote_start INTEGER,
            quote_end INTEGER,
            created_at TEXT NOT NULL,
            PRIMARY KEY (fact_id, source_memory_id)
        )
        """
    )
    db.execute("CREATE INDEX fact_sources_by_source ON fact_sources(source_memory_id)")
    db.execute(
        """
        CREATE TABLE extraction_jobs (
            memory_id INTEGER PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE,
            context_memory_id INTEGER REFERENCES memories(id) ON DELETE SET NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            outcome TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX extraction_jobs_by_status ON extraction_jobs(status, memory_id)")
    # FTS5's own secure-delete: a deleted row's tokens leave the index at once, not at the next
    # merge (forgetting then also runs 'optimize', and PRAGMA secure_delete zeroes freed pages).
    for table in ("memories_fts", "memory_windows_fts"):
        db.execute(f"INSERT INTO {table}({table}, rank) VALUES ('secure-delete', 1)")


@migration
def m010_pinned_index(db: sqlite_utils.Database) -> None:
    """Pinned memories form the profile at the start of every prompt: read without a scan."""
    db.execute("CREATE INDEX memories_pinned ON memories(id) WHERE pinned = 1")


@migration
def m011_adapters(db: sqlite_utils.Database) -> None:
    """LoRA adapters consolidated from facts (assistant.memory.consolidate), with their manifests.

    `data` holds the adapter's GGUF bytes: weights trained on the user's facts hold those facts,
    so they live here, encrypted, and nowhere else. `adapter_facts` names the facts each adapter
    was trained on. Deleting any of them deletes every adapter trained on it (its weights would
    keep it) and marks a rebuild pending; a fact of an adapter that stops being active
    (superseded, moved to the inbox) also marks a rebuild pending, so the adapter is switched
    off until a rebuild without it is done. Ids are never reused (AUTOINCREMENT): a version
    number names one adapter for good. `consolidation_state` holds the off switch, the
    pending rebuild and the last run's error.
    """
    db.execute(
        """
        CREATE TABLE adapters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'rejected')),
            base_model TEXT NOT NULL,
            base_fingerprint TEXT NOT NULL,
            seed INTEGER NOT NULL,
            manifest TEXT NOT NULL,
            fact_gain REAL,
            probe_delta REAL,
            reason TEXT,
            seconds REAL NOT NULL,
            data BLOB
        )
        """
    )
    db.execute(
        """
        CREATE TABLE adapter_facts (
            adapter_id INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,
            memory_id INTEGER NOT NULL,
            PRIMARY KEY (adapter_id, memory_id)
        )
        """
    )
    db.execute("CREATE INDEX adapter_facts_by_memory ON adapter_facts(memory_id)")
    db.execute("CREATE TABLE consolidation_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TRIGGER adapters_forget_fact AFTER DELETE ON memories"
        " WHEN EXISTS (SELECT 1 FROM adapter_facts WHERE memory_id = old.id) BEGIN"
        " INSERT OR REPLACE INTO consolidation_state(name, value) VALUES ('rebuild_pending', '1');"
        " DELETE FROM adapters WHERE id IN"
        " (SELECT adapter_id FROM adapter_facts WHERE memory_id = old.id);"
        " END"
    )
    db.execute(
        "CREATE TRIGGER adapters_fact_changed AFTER UPDATE OF status ON memories"
        " WHEN old.status = 'active' AND new.status != 'active' AND EXISTS"
        " (SELECT 1 FROM adapter_facts f JOIN adapters a ON a.id = f.adapter_id"
        " WHERE f.memory_id = old.id AND a.status = 'active') BEGIN"
        " INSERT OR REPLACE INTO consolidation_state(name, value) VALUES ('rebuild_pending', '1');"
        " END"
    )
