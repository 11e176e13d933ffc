"""The SQLCipher database: encrypted at rest, wrong keys refused without harm, busy is clear."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
import sqlcipher3

from assistant import Assistant
from assistant.errors import DatabaseBusyError, WrongKeyError
from assistant.secrets import key_from_environment, passphrase_key
from assistant.storage.database import open_database
from assistant.storage.migrations import MIGRATIONS

SECRET = "My bank PIN is 4921 and my sister lives at 12 Quiet Lane"


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_stored_messages_are_not_plaintext_anywhere_on_disk(mneme_home: Path) -> None:
    with Assistant() as assistant:
        conversation = assistant.new_conversation("private")
        assistant._store.add_message(conversation.id, "user", SECRET)
        # Check the live WAL file as well as the main file, before and after a checkpoint.
        on_disk = files_of(assistant.paths.data_dir)
        assert any(name.endswith("-wal") for name in on_disk)
        for name, data in on_disk.items():
            assert SECRET.encode() not in data, name
            assert b"Quiet Lane" not in data, name
            assert SECRET.encode("utf-16-le") not in data, name
        with assistant._database.write() as db:  # type: ignore[union-attr]
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for name, data in files_of(mneme_home / "data").items():
        assert b"Quiet Lane" not in data, name
        assert b"conversations" not in data, name  # even the schema is encrypted


def test_plain_sqlite_cannot_open_the_database(mneme_home: Path) -> None:
    with Assistant() as assistant:
        assistant.new_conversation("hello")
        path = assistant.paths.database
    plain = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        plain.execute("SELECT * FROM sqlite_master").fetchall()
    plain.close()


def test_a_wrong_key_is_a_clear_error_and_changes_no_byte(mneme_home: Path) -> None:
    with Assistant() as assistant:
        assistant.new_conversation("hello")
        path = assistant.paths.database
    before = {
        name: hashlib.sha256(data).hexdigest() for name, data in files_of(path.parent).items()
    }
    mtime = path.stat().st_mtime_ns
    for wrong in (passphrase_key("not the key"), key_from_environment("ab" * 32)):
        with pytest.raises(WrongKeyError, match="cannot be decrypted"):
            open_database(path, wrong)
    after = {name: hashlib.sha256(data).hexdigest() for name, data in files_of(path.parent).items()}
    assert after == before
    assert path.stat().st_mtime_ns == mtime


def test_schema_pragmas_and_recorded_migrations(mneme_home: Path) -> None:
    with Assistant() as assistant:
        assistant.open()
        database = assistant._database
        assert database is not None
        assert database.schema_version() == [m.__name__ for m in MIGRATIONS]
        with database.read() as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
            assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert db.execute("PRAGMA cipher_version").fetchone()[0]
    # Reopening applies nothing twice.
    with Assistant() as again:
        again.open()
        assert again._database is not None
        assert again._database.schema_version() == [m.__name__ for m in MIGRATIONS]


def test_deleting_a_conversation_deletes_its_messages(mneme_home: Path) -> None:
    with Assistant() as assistant:
        conversation = assistant.new_conversation("to delete")
        assistant._store.add_message(conversation.id, "user", "hello")
        keep = assistant.new_conversation("to keep")
        assistant._store.add_message(keep.id, "user", "stays")
        assistant.delete_conversation(conversation.id)
        assert assistant.database_counts() == {"conversations": 1, "messages": 1}
        assert [c.title for c in assistant.conversations()] == ["to keep"]


def test_a_busy_database_is_a_clear_error(mneme_home: Path, memory_keyring) -> None:
    with Assistant(busy_timeout=0.2) as assistant:
        conversation = assistant.new_conversation("busy")
        path = assistant.paths.database
        (secret,) = memory_keyring.secrets.values()
        blocker = sqlcipher3.connect(str(path), timeout=0.1, isolation_level=None)
        blocker.execute(f"PRAGMA key = \"x'{secret}'\"")
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute(
            "INSERT INTO conversations (title, created_at, updated_at) VALUES ('x','1','1')"
        )
        try:
            with pytest.raises(DatabaseBusyError, match="busy"):
                assistant._store.add_message(conversation.id, "user", "blocked write")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        # Once the other writer is gone, the same write succeeds and nothing was half-written.
        assistant._store.add_message(conversation.id, "user", "now it works")
        assert [m.content for m in assistant.messages(conversation.id)] == ["now it works"]
