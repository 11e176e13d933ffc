"""Open the profile's SQLCipher database and hand it to sqlite-utils.

Threading: one connection per profile, opened with `check_same_thread=False`; every use goes through
`EncryptedDatabase.read()` / `.write()`, which hold one re-entrant lock, so the UI's worker threads
and the CLI can share it safely. Writes run in one transaction each.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlcipher3
import sqlite_utils

from assistant.errors import DatabaseBusyError, StorageError, WrongKeyError
from assistant.secrets import DatabaseKey
from assistant.storage.migrations import apply_migrations

DEFAULT_BUSY_TIMEOUT_S = 5.0


class EncryptedDatabase:
    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self._db = db
        self.path = path
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        with self._lock, translate_errors(self.path):
            yield self._db

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One transaction: everything inside commits together or not at all."""
        with self._lock, translate_errors(self.path), self._db.atomic():
            yield self._db

    def schema_version(self) -> list[str]:
        with self.read() as db:
            return [row["name"] for row in db.query("SELECT name FROM _migrations ORDER BY id")]

    def close(self) -> None:
        with self._lock:
            self._db.close()


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn driver errors a user can cause into one-line MnemeErrors."""
    try:
        yield
    except sqlcipher3.OperationalError as error:
        message = str(error)
        if "locked" in message or "busy" in message:
            raise DatabaseBusyError(
                f"The database {path} is busy: another Mneme process is writing to it; "
                "close it or try again."
            ) from None
        if "full" in message:
            raise StorageError(f"The disk holding {path} is full.") from None
        raise StorageError(f"The database {path} failed: {message}") from None
    except sqlcipher3.DatabaseError as error:
        raise StorageError(f"The database {path} is damaged or unreadable: {error}") from None


def open_database(
    path: Path, key: DatabaseKey, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S
) -> EncryptedDatabase:
    """Open (or create) the encrypted database at `path` and bring its schema up to date.

    A wrong key raises WrongKeyError before anything is written: the key is checked with a read, and
    the journal mode and migrations come only after it passed.
    """
    existed = path.exists() and path.stat().st_size > 0
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlcipher3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
    except sqlcipher3.Error as error:
        raise StorageError(f"Cannot open the database {path}: {error}") from None
    try:
        # SQLCipher logs decryption failures to stderr itself; Mneme reports them in one line.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = {key.pragma_value}")
        _check_key(conn, path, existed)
        with translate_errors(path):
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL keeps the database consistent through any crash and loses no
            # commit when the app is killed; only a power cut may undo the latest commits. FULL
            # synced every commit to disk (~13 ms each, measured on imports).
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA foreign_keys = ON")
            # 64 MB of decrypted pages (SQLCipher's default is 8 MB), so more of a large FTS5
            # index stays decrypted between recalls. (Not measured on its own: it went in with
            # the other latency changes.)
            conn.execute("PRAGMA cache_size = -65536")
            db = sqlite_utils.Database(conn)
            apply_migrations(db)
    except BaseException:
        conn.close()
        raise
    return EncryptedDatabase(db, path)


def _check_key(conn: sqlcipher3.Connection, path: Path, existed: bool) -> None:
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlcipher3.DatabaseError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise DatabaseBusyError(
                f"The database {path} is locked by another process; try again."
            ) from None
        if existed:
            raise WrongKeyError(
                f"The database {path} cannot be decrypted with this key "
                "(wrong key or passphrase, or not a Mneme database); nothing was changed."
            ) from None
        raise StorageError(f"Cannot create the database {path}: {error}") from None
