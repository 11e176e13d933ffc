"""Which importer reads which file: a small registry keyed by file suffix.

An importer turns one file into memories. It gets a `SourceFile` (the path, its size, mtime and
content hash, computed by the job) and yields `NewMemory` rows; the job stores them all in one
transaction with the file's record, so a file is imported completely or not at all. Importers
raise `ImportFileError` for a file they cannot read (binary junk, too large, malformed): the job
records the message against that file and goes on with the next one.

Imported text is data: importers only ever turn it into memory text, never into instructions.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from assistant.cancel import CancelToken
from assistant.errors import MnemeError
from assistant.memory.store import NewMemory

MB = 1024 * 1024


class ImportFileError(MnemeError):
    """One file cannot be imported; the message says why (the rest of the import goes on)."""


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute, resolved
    size: int
    mtime: str  # ISO 8601, UTC: the memories' occurred_at
    sha256: str
    # In-memory content (an email attachment): then `path` is only a name and nothing is read
    # from disk. Importers read through `read_bytes`, which serves either.
    data: bytes | None = None

    def read_bytes(self, limit: int) -> bytes:
        """The whole file, refusing one over `limit` bytes (checked before reading)."""
        if self.size > limit:
            raise ImportFileError(
                f"{self.path.name} is {self.size / MB:,.1f} MB; files over {limit / MB:,.0f} MB "
                "of text are not imported."
            )
        if self.data is not None:
            return self.data
        with self.path.open("rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:  # it grew since it was measured
            raise ImportFileError(f"{self.path.name} is larger than {limit / MB:,.0f} MB.")
        return data

    def open(self) -> BinaryIO:
        """The file as a binary stream, for an importer that parses any size without loading it
        whole (a ChatGPT export). The caller closes it."""
        if self.data is not None:
            return io.BytesIO(self.data)
        return self.path.open("rb")


@dataclass(frozen=True)
class ImportUnit:
    """A part of a file that is imported on its own: one email of an mbox, one conversation of a
    ChatGPT export. Its memories are written in one transaction and recorded under `key` (stable
    across re-imports: a Message-ID, a conversation id) with `sha256` (of the unit's content), so an
    interrupted import resumes after the last unit written, an unchanged unit is skipped, a changed
    one replaced, and no unit is ever written twice. An importer yields either plain NewMemory rows
    (the whole file is one unit) or ImportUnit objects, not both."""

    key: str
    sha256: str
    memories: tuple[NewMemory, ...]
    error: str | None = None  # a malformed item: reported per item, the rest goes on
    # Parts that could not be read (an attachment) while the unit itself was: reported per item.
    warnings: tuple[str, ...] = ()


Parse = Callable[[SourceFile, CancelToken], Iterator[NewMemory | ImportUnit]]


@dataclass(frozen=True)
class Importer:
    """`parse` may check `cancel` itself; the job also checks it between the memories it yields.
    `max_bytes` (None: the importer streams any size) lets the job refuse a file before hashing it."""

    name: str
    suffixes: tuple[str, ...]
    parse: Parse
    max_bytes: int | None = 50 * MB
    names: tuple[str, ...] = ()  # whole names it reads, whatever the suffix: "conversations.json"


_BY_SUFFIX: dict[str, Importer] = {}
_BY_NAME: dict[str, Importer] = {}


def register(importer: Importer) -> Importer:
    """Make `importer` the reader of its suffixes (lower case, with the dot: ".md"). A later
    registration for the same suffix replaces the earlier one."""
    for suffix in importer.suffixes:
        _BY_SUFFIX[suffix.lower()] = importer
    for name in importer.names:
        _BY_NAME[name.lower()] = importer
    return importer


def importer_for(path: Path) -> Importer | None:
    """The importer of a file: by its whole name first (`conversations.json`), then its suffix."""
    return _BY_NAME.get(path.name.lower()) or _BY_SUFFIX.get(path.suffix.lower())


def supported_suffixes() -> list[str]:
    return sorted(_BY_SUFFIX)
