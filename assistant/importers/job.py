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
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from assistant.cancel import Cancelled, CancelToken
from assistant.errors import StorageError
from assistant.importers.registry import Importer, ImportFileError, SourceFile, importer_for
from assistant.memory.api import MemoryApi
from assistant.memory.store import NewMemory
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase
from assistant.types import ImportProgress, ImportSummary

ProgressCallback = Callable[[ImportProgress], None]
HASH_BLOCK = 1 << 20
PROGRESS_EVERY = 256  # chunks between progress reports inside one file


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
                elif path.exists():
                    self._consider(path, planned, seen)
                else:
                    self.summary.files_failed.append((str(path), f"{path} does not exist."))
            except OSError as error:
                self.summary.files_failed.append((str(path), _os_message(error)))
        return planned

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
            return
        source = SourceFile(
            path=item.path,
            size=info.st_size,
            mtime=datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="milliseconds"),
            sha256=digest,
        )
        memories: list[NewMemory] = []
        for memory in item.importer.parse(source, self.cancel):
            self.cancel.raise_if_cancelled()
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
        with self.database.read() as db:
            row = db.execute(
                "SELECT id, sha256 FROM imported_files WHERE path = ?", [str(path)]
            ).fetchone()
        return (int(row[0]), str(row[1])) if row is not None else None

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
                self.memory.forget_many(old)
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
    job.summary.elapsed_s = round(time.monotonic() - started, 3)
    return job.summary


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
