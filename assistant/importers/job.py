"""The import job behind `Assistant.import_`: files and folders in, memories out, incrementally.

Each file is hashed (SHA-256) first; a file imported before with the same content is skipped. A new
or changed file is parsed completely, then written in ONE transaction that removes the memories its
previous version produced (through the memory API, so their FTS entries, vectors and learning
signals go too), adds the new ones and records the hash: a file is imported whole or not at all,
and never twice.

Threading: runs on the caller's thread (the UI's import lane). The database lock is held only while
a file is written, not while it is read and parsed, so chat and the inspector keep working.
Cancel: checked between files and between chunks; the file being parsed when it fires is left as it
was, everything finished before stays. Side effects: memory rows, `imported_files` records.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.cancel import Cancelled, CancelToken
from assistant.errors import StorageError
from assistant.importers.registry import (
    Importer,
    ImportFileError,
    ImportUnit,
    SourceFile,
    importer_for,
)
from assistant.memory.api import MemoryApi
from assistant.memory.store import NewMemory
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase
from assistant.types import ImportProgress, ImportSummary

ProgressCallback = Callable[[ImportProgress], None]
HASH_BLOCK = 1 << 20
PROGRESS_EVERY = 256
UNITS_PER_TRANSACTION = 100  # emails or conversations written per transaction
BATCH_SECONDS = 0.5  # ... or fewer, so progress and a resume point come at least this often  # chunks between progress reports inside one file


@dataclass(frozen=True)
class _Planned:
    path: Path
    size: int
    importer: Importer


class _Job:
    def __init__(
        self,
        memory: MemoryApi,
        database: EncryptedDatabase,
        progress: ProgressCallback | None,
        cancel: CancelToken,
    ) -> None:
        self.memory = memory
        self.database = database
        self.progress = progress
        self.cancel = cancel
        self.summary = ImportSummary()
        self.files_total = 0
        self.files_done = 0
        self.bytes_total = 0
        self.bytes_done = 0

    def report(self, current: Path | None, pending_chunks: int = 0) -> None:
        if self.progress is None:
            return
        self.progress(
            ImportProgress(
                files_done=self.files_done,
                files_total=self.files_total,
                chunks=self.summary.chunks_added + pending_chunks,
                bytes_done=self.bytes_done,
                bytes_total=self.bytes_total,
                current=str(current) if current is not None else None,
            )
        )

    # -- planning ---------------------------------------------------------------------------
    def plan(self, paths: Iterable[str | os.PathLike[str]]) -> list[_Planned]:
        """The files to read, in order; missing paths and unsupported files go to the summary."""
        planned: list[_Planned] = []
        seen: set[Path] = set()
        for given in paths:
            path = Path(given).expanduser()
            try:
                if path.is_dir():
                    for found in _walk(path):
                        self._consider(found, planned, seen)
                    self._missing_under(path.resolve(), seen)
                elif path.exists():
                    self._consider(path, planned, seen)
                else:
                    self.summary.files_failed.append((str(path), f"{path} does not exist."))
                    self._missing_under(path.absolute(), seen, alone=True)
            except OSError as error:
                self.summary.files_failed.append((str(path), _os_message(error)))
        return planned

    def _missing_under(self, folder: Path, seen: set[Path], alone: bool = False) -> None:
        """Files imported before under `folder` (or `folder` itself) that are gone now."""
        prefix = str(folder).rstrip(os.sep) + os.sep
        with self.database.read() as db:
            rows = db.execute(
                "SELECT path FROM imported_files WHERE path = ? OR substr(path, 1, ?) = ?",
                [str(folder), len(prefix), prefix],
            ).fetchall()
        for (path,) in rows:
            if (
                (alone or path != str(folder))
                and Path(path) not in seen
                and not Path(path).exists()
                and (path, None) not in self.summary.missing
            ):
                self.summary.missing.append((path, None))

    def _consider(self, path: Path, planned: list[_Planned], seen: set[Path]) -> None:
        try:
            resolved = path.resolve()
            info = resolved.stat()
        except OSError as error:
            self.summary.files_failed.append((str(path), _os_message(error)))
            return
        if resolved in seen:
            return
        seen.add(resolved)
        if not stat.S_ISREG(info.st_mode):
            self.summary.files_failed.append((str(resolved), "It is not a regular file."))
            return
        importer = importer_for(resolved)
        if importer is None:
            kind = f"'{resolved.suffix}'" if resolved.suffix else "without a suffix"
            self.summary.files_unsupported.append(
                (str(resolved), f"Files {kind} are not imported.")
            )
            return
        planned.append(_Planned(resolved, info.st_size, importer))

    # -- running ----------------------------------------------------------------------------
    def run(self, planned: list[_Planned]) -> None:
        self.files_total = len(planned)
        self.bytes_total = sum(item.size for item in planned)
        self.report(None)
        for item in planned:
            if self.cancel.cancelled:
                self.summary.cancelled = True
                break
            self.report(item.path)
            try:
                self.import_file(item)
            except Cancelled:
                self.summary.cancelled = True
                break
            except StorageError:
                raise  # the database itself failed (disk full, busy): the job cannot go on
            except ImportFileError as error:
                self.summary.files_failed.append((str(item.path), str(error)))
            except OSError as error:
                self.summary.files_failed.append((str(item.path), _os_message(error)))
            except (MemoryError, RecursionError):
                self.summary.files_failed.append(
                    (str(item.path), f"{item.path.name} is too large or too deeply nested to read.")
                )
            except Exception as error:  # noqa: BLE001 - one bad file must not end the import
                self.summary.files_failed.append(
                    (str(item.path), f"{item.path.name} could not be read ({error!r}).")
                )
            self.files_done += 1
            self.bytes_done += item.size
            self.report(None)

    def import_file(self, item: _Planned) -> None:
        limit = item.importer.max_bytes
        if limit is not None and item.size > limit:
            raise ImportFileError(
                f"{item.path.name} is {item.size / 2**20:,.1f} MB; {item.importer.name} files "
                f"over {limit / 2**20:,.0f} MB are not imported."
            )
        info = item.path.stat()
        digest = _sha256(item.path, self.cancel)
        previous = self._record(item.path)
        if previous is not None and previous[1] == digest:
            self.summary.files_skipped += 1
            with self.database.read() as db:
                gone = db.execute(
                    "SELECT key FROM imported_units WHERE file_id = ? AND missing = 1",
                    [previous[0]],
                ).fetchall()
            self.summary.missing.extend((str(item.path), str(row[0])) for row in gone)
            return
        source = SourceFile(
            path=item.path,
            size=info.st_size,
            mtime=datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="milliseconds"),
            sha256=digest,
        )
        parsed = iter(item.importer.parse(source, self.cancel))
        first = next(parsed, None)
        if isinstance(first, ImportUnit):
            self._import_units(source, item.importer.name, previous, first, parsed)
            return
        memories: list[NewMemory] = []
        for memory in itertools.chain([first] if first is not None else [], parsed):
            self.cancel.raise_if_cancelled()
            if not isinstance(memory, NewMemory):
                raise ImportFileError(f"{item.path.name}: the importer mixed units and memories.")
            memories.append(memory)
            if len(memories) % PROGRESS_EVERY == 0:
                self.report(item.path, len(memories))
        self.cancel.raise_if_cancelled()
        removed = self._write(source, item.importer.name, previous, memories)
        self.summary.files_imported += 1
        self.summary.files_updated += previous is not None
        self.summary.chunks_added += len(memories)
        self.summary.chunks_removed += removed

    def _record(self, path: Path) -> tuple[int, str] | None:
        """(file id, sha256) of a file imported before; the hash is "" while its units are still
        being written (an interrupted import), so it never matches and the file is read again."""
        with self.database.read() as db:
            row = db.execute(
                "SELECT id, CASE WHEN complete THEN sha256 ELSE '' END FROM imported_files "
                "WHERE path = ?",
                [str(path)],
            ).fetchone()
        return (int(row[0]), str(row[1])) if row is not None else None

    # -- files read in units ---------------------------------------------------------------
    def _import_units(
        self,
        source: SourceFile,
        importer: str,
        previous: tuple[int, str] | None,
        first: ImportUnit,
        rest: Iterator[NewMemory | ImportUnit],
    ) -> None:
        """Write each unit in its own transaction. The file's record says `complete` = 0 until
        the last unit is written, so an interrupted import reads the file again and skips (by
        key and hash) the units it already wrote."""
        path = str(source.path)
        with self.database.write() as db:
            db.execute(
                "INSERT INTO imported_files (path, sha256, size, importer, imported_at, complete) "
                "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT(path) DO UPDATE SET complete = 0",
                [path, source.sha256, source.size, importer, now_iso()],
            )
            file_id = int(
                db.execute("SELECT id FROM imported_files WHERE path = ?", [path]).fetchone()[0]
            )
            known = {
                str(row[0]): (int(row[1]), str(row[2]))
                for row in db.execute(
                    "SELECT key, id, sha256 FROM imported_units WHERE file_id = ?", [file_id]
                ).fetchall()
            }
        seen: set[str] = set()
        # Parsed units wait here and are written together, one transaction per batch: a commit
        # per email cost ~13 ms (measured), more than parsing it. Parsing happens outside the
        # lock, so chat and the inspector only wait for the short writes.
        pending: list[tuple[ImportUnit, tuple[int, str] | None]] = []
        batch_started = time.monotonic()

        def flush() -> None:
            if pending:
                with self.database.write():
                    for waiting, previous_unit in pending:
                        self._write_unit(file_id, waiting, previous_unit)
                pending.clear()

        for count, unit in enumerate(itertools.chain([first], rest), 1):
            if self.cancel.cancelled:
                flush()  # what was parsed completely is kept
                self.cancel.raise_if_cancelled()
            if count % 64 == 0:
                self.report(source.path)
            if not isinstance(unit, ImportUnit):
                raise ImportFileError(f"{source.path.name}: the importer mixed units and memories.")
            for warning in unit.warnings:
                self.summary.items_failed.append((path, unit.key, warning))
            if unit.key in seen:  # the same item twice in one file: written once
                self.summary.items_skipped += 1
                continue
            seen.add(unit.key)
            if unit.error is not None:
                self.summary.items_failed.append((path, unit.key, unit.error))
                continue
            old = known.get(unit.key)
            if old is not None and old[1] == unit.sha256:
                self.summary.items_skipped += 1
                continue
            if not pending:
                batch_started = time.monotonic()
            pending.append((unit, old))
            if (
                len(pending) >= UNITS_PER_TRANSACTION
                or time.monotonic() - batch_started >= BATCH_SECONDS
            ):
                flush()
        flush()
        self.cancel.raise_if_cancelled()
        gone = [key for key in known if key not in seen]
        with self.database.write() as db:
            db.execute("UPDATE imported_units SET missing = 0 WHERE file_id = ?", [file_id])
            db.conn.executemany(
                "UPDATE imported_units SET missing = 1 WHERE file_id = ? AND key = ?",
                [(file_id, key) for key in gone],
            )
            db.execute(
                "UPDATE imported_files SET sha256 = ?, size = ?, importer = ?, imported_at = ?, "
                "complete = 1 WHERE id = ?",
                [source.sha256, source.size, importer, now_iso(), file_id],
            )
        self.summary.missing.extend((path, key) for key in gone)
        self.summary.files_imported += 1
        self.summary.files_updated += previous is not None

    def _write_unit(self, file_id: int, unit: ImportUnit, old: tuple[int, str] | None) -> None:
        """One transaction: the unit's previous memories out, its new ones in, its hash recorded."""
        with self.database.write() as db:
            removed = 0
            if old is not None:
                ids = [
                    int(row[0])
                    for row in db.execute(
                        "SELECT memory_id FROM imported_unit_memories WHERE unit_id = ?", [old[0]]
                    ).fetchall()
                ]
                removed = self.memory.forget_many(ids, scrub=False) if ids else 0
            ids = self.memory.add(list(unit.memories)) if unit.memories else []
            db.execute(
                "INSERT INTO imported_units (file_id, key, sha256, imported_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(file_id, key) DO UPDATE SET sha256 = excluded.sha256,"
                " imported_at = excluded.imported_at, missing = 0",
                [file_id, unit.key, unit.sha256, now_iso()],
            )
            unit_id = db.execute(
                "SELECT id FROM imported_units WHERE file_id = ? AND key = ?", [file_id, unit.key]
            ).fetchone()[0]
            db.conn.executemany(
                "INSERT OR IGNORE INTO imported_unit_memories (unit_id, memory_id) VALUES (?, ?)",
                [(unit_id, memory_id) for memory_id in ids],
            )
        self.summary.items_imported += 1
        self.summary.chunks_added += len(ids)
        self.summary.chunks_removed += removed

    def _write(
        self,
        source: SourceFile,
        importer: str,
        previous: tuple[int, str] | None,
        memories: list[NewMemory],
    ) -> int:
        """One transaction: the old version's memories out, the new ones in, the hash recorded."""
        with self.database.write() as db:
            old: list[int] = []
            if previous is not None:
                old = [
                    int(row[0])
                    for row in db.execute(
                        "SELECT memory_id FROM imported_file_memories WHERE file_id = ?",
                        [previous[0]],
                    ).fetchall()
                ]
            if old:
                self.memory.forget_many(old, scrub=False)
            ids = self.memory.add(memories) if memories else []
            db.execute(
                "INSERT INTO imported_files (path, sha256, size, importer, imported_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256,"
                " size = excluded.size, importer = excluded.importer,"
                " imported_at = excluded.imported_at",
                [str(source.path), source.sha256, source.size, importer, now_iso()],
            )
            file_id = db.execute(
                "SELECT id FROM imported_files WHERE path = ?", [str(source.path)]
            ).fetchone()[0]
            db.conn.executemany(
                "INSERT INTO imported_file_memories (file_id, memory_id) VALUES (?, ?)",
                [(file_id, memory_id) for memory_id in ids],
            )
        return len(old)


def run_import(
    paths: Iterable[str | os.PathLike[str]],
    memory: MemoryApi,
    database: EncryptedDatabase,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImportSummary:
    """Import files and folders (recursively) into memory. See the module docstring."""
    started = time.monotonic()
    job = _Job(memory, database, progress, cancel or CancelToken())
    job.run(job.plan(paths))
    if job.summary.chunks_removed:
        memory.scrub()  # replaced chunks' text leaves the index and the WAL, once per import
    job.summary.elapsed_s = round(time.monotonic() - started, 3)
    return job.summary


def forget_missing(
    memory: MemoryApi, database: EncryptedDatabase, items: Sequence[tuple[str, str | None]]
) -> int:
    """Forget what missing files (key None) or missing units of a file produced, and their import
    records, in one transaction. Returns how many memory rows went."""
    with database.write() as db:
        ids: list[int] = []
        files: list[int] = []
        units: list[int] = []
        for path, key in items:
            row = db.execute("SELECT id FROM imported_files WHERE path = ?", [path]).fetchone()
            if row is None:
                continue
            file_id = int(row[0])
            if key is None:
                files.append(file_id)
                ids += [
                    int(r[0])
                    for r in db.execute(
                        "SELECT memory_id FROM imported_file_memories WHERE file_id = ? UNION "
                        "SELECT m.memory_id FROM imported_unit_memories m JOIN imported_units u "
                        "ON u.id = m.unit_id WHERE u.file_id = ?",
                        [file_id, file_id],
                    ).fetchall()
                ]
                continue
            unit = db.execute(
                "SELECT id FROM imported_units WHERE file_id = ? AND key = ?", [file_id, key]
            ).fetchone()
            if unit is not None:
                units.append(int(unit[0]))
                ids += [
                    int(r[0])
                    for r in db.execute(
                        "SELECT memory_id FROM imported_unit_memories WHERE unit_id = ?", [unit[0]]
                    ).fetchall()
                ]
        removed = memory.forget_many(ids, scrub=False) if ids else 0
        db.conn.executemany("DELETE FROM imported_units WHERE id = ?", [(u,) for u in units])
        db.conn.executemany("DELETE FROM imported_files WHERE id = ?", [(f,) for f in files])
    if removed:
        memory.scrub()
    return removed


def _walk(folder: Path) -> Iterable[Path]:
    """Files under `folder`, sorted, skipping hidden files and folders; symlinked folders are not
    followed (no loops)."""
    for root, folders, files in os.walk(folder, followlinks=False):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(root) / name


def _sha256(path: Path, cancel: CancelToken) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            cancel.raise_if_cancelled()
            digest.update(block)
    return digest.hexdigest()


def _os_message(error: OSError) -> str:
    name = Path(error.filename).name if error.filename else "The file"
    return f"{name} cannot be read: {error.strerror or error}."
