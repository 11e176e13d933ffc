"""Email: mbox files (any size, streamed) and .eml files, one ImportUnit per message.

An mbox is split on "From " lines here, reading the file line by line through a buffer with a line
length cap — never `mailbox.mbox`, which indexes the whole file — so a 1 GB mbox never sits in
memory: one message at a time does (at most email_parse.MAX_MESSAGE_BYTES; a bigger one is hashed
as it streams by and reported as an error without being kept). mboxrd escaping (">From ") is undone.
A message's key is its Message-ID (a second, different message with the same id gets "#2"…; an
exact duplicate shares the key and is written once); without one, its content hash.

See email_parse for what a message becomes. Cancel is checked between messages and inside them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from assistant.cancel import CancelToken
from assistant.importers.email_parse import MAX_MESSAGE_BYTES, message_key, parse_message
from assistant.importers.registry import MB, Importer, ImportUnit, SourceFile, register

MAX_LINE = 1 * MB  # a longer physical line is read in pieces of this size
MAX_EML_BYTES = MAX_MESSAGE_BYTES
MAX_HEAD_KEPT = 64 * 1024  # of a message too large to import: where its Message-ID is
_ESCAPED_FROM = re.compile(rb"^>+From ")


def mbox_messages(source: SourceFile, cancel: CancelToken) -> Iterator[tuple[bytes, str | None]]:
    """(raw message, None) for each message of an mbox, or (its first bytes, sha256) for one too
    large to keep (its content hashed as it streamed by). The "From " line is not included."""
    with source.path.open("rb") as handle:
        pieces: list[bytes] = []
        size = 0
        oversized: Any = None  # a hashlib object
        started = False
        at_line_start = True
        count = 0
        while True:
            line = handle.readline(MAX_LINE)
            is_separator = at_line_start and line.startswith(b"From ")
            if not line or is_separator:
                if started or pieces:
                    count += 1
                    if count % 64 == 0:
                        cancel.raise_if_cancelled()
                    if oversized is not None:
                        yield b"".join(pieces), oversized.hexdigest()
                    else:
                        yield b"".join(pieces), None
                if not line:
                    return
                pieces, size, oversized, started = [], 0, None, True
                at_line_start = line.endswith(b"\n")
                while not at_line_start:  # the rest of an overlong separator line
                    line = handle.readline(MAX_LINE)
                    at_line_start = not line or line.endswith(b"\n")
                continue
            if at_line_start and line.startswith(b">") and _ESCAPED_FROM.match(line):
                line = line[1:]
            at_line_start = line.endswith(b"\n")
            if not started and not pieces and not line.strip():
                continue  # blank lines before the first separator
            size += len(line)
            if oversized is not None:
                oversized.update(line)
            elif size > MAX_MESSAGE_BYTES:
                oversized = hashlib.sha256()
                for piece in pieces:
                    oversized.update(piece)
                oversized.update(line)
                pieces = [b"".join(pieces)[:MAX_HEAD_KEPT]]  # enough to find its Message-ID
            else:
                pieces.append(line)


def parse_mbox(source: SourceFile, cancel: CancelToken) -> Iterator[ImportUnit]:
    seen: dict[str, list[str]] = {}
    for ordinal, (raw, big_digest) in enumerate(mbox_messages(source, cancel), 1):
        cancel.raise_if_cancelled()
        if big_digest is not None:
            key = message_key(raw)[0] if b"\n\n" in raw else f"sha256:{big_digest[:32]}"
            yield ImportUnit(
                _unique(key, big_digest, seen),
                big_digest,
                (),
                error=f"Message {ordinal} is over {MAX_MESSAGE_BYTES / MB:,.0f} MB; "
                "it is not imported.",
            )
            continue
        key, digest = message_key(raw)
        yield parse_message(raw, source, ordinal, cancel, _unique(key, digest, seen), digest)


def _unique(key: str, digest: str, seen: dict[str, list[str]]) -> str:
    """The key, numbered when another message of the file with different content had it."""
    digests = seen.setdefault(key, [])
    if digest not in digests:
        digests.append(digest)
    number = digests.index(digest) + 1
    return key if number == 1 else f"{key}#{number}"


def parse_eml(source: SourceFile, cancel: CancelToken) -> Iterator[ImportUnit]:
    raw = source.read_bytes(MAX_EML_BYTES)
    key, digest = message_key(raw)
    yield parse_message(raw, source, 1, cancel, key, digest)


MBOX = register(Importer("mbox", (".mbox", ".mbx"), parse_mbox, None, names=("mbox",)))
EML = register(Importer("eml", (".eml",), parse_eml, MAX_EML_BYTES))
