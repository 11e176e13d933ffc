"""One email message (raw bytes) into memories: headers, a clean body, its attachments.

Parsing uses the standard library (`email`, policy.compat32) on input made bounded first: a message
over MAX_MESSAGE_BYTES is refused, header lines are cut to MAX_HEADER_LINE and the header block to
MAX_HEADER_BYTES (pathological headers are where the parser is slow), and at most MAX_PARTS parts
are visited — so every message is parsed in bounded time without killing threads.

The memory text of an email is one header line ("From … · To … · Cc … · Subject … · Date …") and
the body without quoted replies and signature, chunked when long (every chunk carries the header
line, so each is found by sender and subject). Provenance (`source_ref`) is the Message-ID; a
chunk after the first adds "#chunk=N", an attachment "#attachment=<name, %-quoted><its ref>".
Threads: `session` is "email:" + the thread's root Message-ID (the first of References, else
In-Reply-To, else its own), `position` the date (epoch seconds), so a session reads in date order.
`speaker` is the sender's address (lower case): `forget_source(speaker=addr)` forgets a sender.
"""

from __future__ import annotations

import codecs
import email
import hashlib
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

from assistant.cancel import Cancelled, CancelToken
from assistant.importers.chunking import chunk_blocks
from assistant.importers.documents import text_blocks
from assistant.importers.html_text import html_to_text
from assistant.importers.registry import MB, ImportFileError, ImportUnit, SourceFile, importer_for
from assistant.memory.store import NewMemory

MAX_MESSAGE_BYTES = 32 * MB
MAX_HEADER_BYTES = 256 * 1024
MAX_HEADER_LINE = 2048  # bytes of one header, continuation lines included
MAX_PARTS = 200
MAX_BODY_CHARS = 2_000_000  # of one text part, after decoding
MAX_ATTACHMENT_BYTES = 20 * MB
MAX_HEADER_FIELD = 300  # characters of one field in the memory's header line
CHUNK_CHARS = 1000
ATTACHMENT_SUFFIXES = (".pdf", ".docx", ".txt", ".md", ".html", ".htm")
_ID = re.compile(r"<[^<>\s]{1,500}>")
_WROTE = re.compile(
    r"^\s*(On\b.{0,400}\bwrote:|Am\b.{0,400}\bschrieb.{0,40}:|Le\b.{0,400}\ba écrit\s?:)\s*$"
)
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(Original Message|Forwarded message)\s*-{2,}\s*$", re.I)


def message_key(raw: bytes) -> tuple[str, str]:
    """(key, sha256) of a raw message: its Message-ID if it has one, else its content hash."""
    digest = hashlib.sha256(raw).hexdigest()
    head = raw[: raw.find(b"\n\n") if b"\n\n" in raw else MAX_HEADER_BYTES][:MAX_HEADER_BYTES]
    match = re.search(rb"(?im)^message-id:[ \t]*(<[^<>\s]{1,500}>)", head)
    key = match.group(1).decode("ascii", "replace") if match else f"sha256:{digest[:32]}"
    return key, digest


def bounded(raw: bytes) -> bytes:
    """The message with its header block cut to size: each header (with its continuation lines)
    to MAX_HEADER_LINE bytes, the block to MAX_HEADER_BYTES. The standard parser's structured
    headers take super-linear time on long values; cut, every header parses quickly."""
    split = re.search(rb"\r?\n\r?\n", raw[: MAX_HEADER_BYTES * 4])
    end = split.start() if split is not None else min(len(raw), MAX_HEADER_BYTES * 4)
    head, body = raw[:end], raw[end:]
    kept: list[bytes] = []
    size = field = 0
    for line in head.split(b"\n"):
        field = field + len(line) if line[:1] in (b" ", b"\t") else len(line)
        if field > MAX_HEADER_LINE:
            continue  # the rest of an overlong header
        size += len(line) + 1
        if size > MAX_HEADER_BYTES:
            break
        kept.append(line)
    return b"\n".join(kept) + body


def parse_message(
    raw: bytes, source: SourceFile, ordinal: int, cancel: CancelToken, key: str, digest: str
) -> ImportUnit:
    """The unit of one message; a message that cannot be read becomes a unit with `error`."""
    if len(raw) > MAX_MESSAGE_BYTES:
        return ImportUnit(
            key,
            digest,
            (),
            error=f"Message {ordinal} is {len(raw) / MB:,.1f} MB; messages over "
            f"{MAX_MESSAGE_BYTES / MB:,.0f} MB are not imported.",
        )
    try:
        memories, warnings = _memories(raw, source, cancel, key)
    except Cancelled:
        raise
    except (MemoryError, RecursionError):
        return ImportUnit(key, digest, (), error=f"Message {ordinal} is too deeply nested.")
    except Exception as error:  # noqa: BLE001 - one bad message must not end the import
        return ImportUnit(
            key, digest, (), error=f"Message {ordinal} could not be read ({type(error).__name__})."
        )
    if not memories:
        return ImportUnit(key, digest, (), error=f"Message {ordinal} has no text.")
    return ImportUnit(key, digest, tuple(memories), warnings=tuple(warnings))


def _memories(
    raw: bytes, source: SourceFile, cancel: CancelToken, key: str
) -> tuple[list[NewMemory], list[str]]:
    # compat32 for the MIME structure: policy.default parses every structured header on access
    # (7 ms of 8 per message, measured); headers are read raw and decoded by _header anyway.
    message = email.message_from_bytes(bounded(raw), policy=policy.compat32)
    message_id = _first_id(_header(message, "Message-ID")) or key
    sender = parseaddr(_header(message, "From"))[1].strip().lower()[:MAX_HEADER_FIELD] or None
    when = _date(_header(message, "Date")) or datetime.fromisoformat(source.mtime)
    references = _ID.findall(_header(message, "References"))
    reply_to = _first_id(_header(message, "In-Reply-To"))
    root = references[0] if references else reply_to or message_id
    header = _header_line(message, when)
    common: dict[str, object] = {
        "kind": "chunk",
        "source_type": "email",
        "trust": "imported",
        "occurred_at": when.astimezone(UTC).isoformat(timespec="seconds"),
        "speaker": sender,
        "session": f"email:{root}",
        "position": int(when.timestamp()),
    }
    body, attachments = _walk(message, cancel)
    memories: list[NewMemory] = []
    room = max(CHUNK_CHARS - len(header) - 2, CHUNK_CHARS // 2)
    pieces = [body[c.start : c.end] for c in chunk_blocks(body, text_blocks(body), room)]
    for number, piece in enumerate(pieces or [""], 1):
        cancel.raise_if_cancelled()
        ref = message_id if number == 1 else f"{message_id}#chunk={number}"
        text = f"{header}\n\n{piece}".strip() if piece else header
        memories.append(NewMemory(text=text, source_ref=ref, **common))  # type: ignore[arg-type]
    warnings: list[str] = []
    for name, data in attachments:
        cancel.raise_if_cancelled()
        try:
            memories += _attachment(name, data, message_id, when, common, cancel)
        except Cancelled:
            raise
        except ImportFileError as error:
            warnings.append(f"Attachment {name}: {error}")
        except Exception as error:  # noqa: BLE001 - a bad attachment leaves the email imported
            warnings.append(f"Attachment {name} could not be read ({type(error).__name__}).")
    return memories, warnings


def _walk(message: Message, cancel: CancelToken) -> tuple[str, list[tuple[str, bytes]]]:
    """The body text (text/plain preferred, else HTML as text) and the attachments to import."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[tuple[str, bytes]] = []
    for count, part in enumerate(message.walk()):
        if count >= MAX_PARTS:
            break
        cancel.raise_if_cancelled()
        if part.is_multipart():
            continue
        name = _filename(part)
        disposition = (part.get_content_disposition() or "").lower()
        if name is not None and (disposition == "attachment" or not _is_text(part)):
            if Path(name).suffix.lower() in ATTACHMENT_SUFFIXES:
                data = part.get_payload(decode=True)
                if isinstance(data, bytes) and data:
                    attachments.append((name, data[: MAX_ATTACHMENT_BYTES + 1]))
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            plain.append(_decode(part))
        elif content_type == "text/html":
            html.append(_decode(part))
    if any(text.strip() for text in plain):
        text = "\n\n".join(plain)
    else:
        text = "\n\n".join(html_to_text(markup) for markup in html)
    return clean_body(text), attachments


def _is_text(part: Message) -> bool:
    return part.get_content_type() in ("text/plain", "text/html")


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - a malformed parameter is no name
        return None
    if not name:
        return None
    base = Path(str(name).replace("\\", "/")).name.strip()[:200]
    return base or None


def _decode(part: Message) -> str:
    """The part's text in its charset; an unknown or wrong charset decodes with replacements."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    data = data[: MAX_BODY_CHARS * 4]
    charset = part.get_content_charset() or "utf-8"
    try:
        if not codecs.lookup(charset)._is_text_encoding:
            charset = "utf-8"
    except (LookupError, ValueError, TypeError):
        charset = "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except Exception:  # noqa: BLE001 - a codec that fails even with replacements
        text = data.decode("utf-8", errors="replace")
    return text[:MAX_BODY_CHARS].replace("\x00", "")


def clean_body(text: str) -> str:
    """The text without quoted replies ("> " lines, "On … wrote:" lines, a forwarded original)
    and without the signature (after a "-- " line). Line endings become "\\n"."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.rstrip() == "--" and line.startswith("--"):
            break  # the signature delimiter "-- " (some clients drop the space)
        if _ORIGINAL.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        if len(line) < 600 and _WROTE.match(line):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _header(message: Message, name: str) -> str:
    """A header's value as text ("" when absent or unreadable), RFC 2047 words decoded. Read raw:
    the policy's structured parse of address lists is slow on long, malformed values."""
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() != wanted:
            continue
        raw = str(value)[:MAX_HEADER_LINE]
        try:
            text = str(make_header(decode_header(raw)))
        except Exception:  # noqa: BLE001 - a malformed encoded word stays as written
            text = raw
        return " ".join(text.split())
    return ""


def _first_id(value: str) -> str | None:
    match = _ID.search(value)
    return match.group(0) if match else None


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        when.timestamp()
        when.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return when


def _addresses(message: Message, name: str) -> str:
    value = _header(message, name)
    if not value:
        return ""
    found = [addr for _, addr in getaddresses([value[: MAX_HEADER_FIELD * 4]]) if addr]
    return _short(", ".join(found) or value)


def _short(text: str) -> str:
    return text if len(text) <= MAX_HEADER_FIELD else text[: MAX_HEADER_FIELD - 1] + "…"


def _header_line(message: Message, when: datetime) -> str:
    fields = [
        ("From", _addresses(message, "From")),
        ("To", _addresses(message, "To")),
        ("Cc", _addresses(message, "Cc")),
        ("Subject", _short(_header(message, "Subject"))),
        ("Date", when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    return " · ".join(f"{label}: {value}" for label, value in fields if value)


def _attachment(
    name: str,
    data: bytes,
    message_id: str,
    when: datetime,
    common: Mapping[str, object],
    cancel: CancelToken,
) -> Iterator[NewMemory]:
    """The attachment's chunks, parsed by the importer of its suffix from memory."""
    importer = importer_for(Path(name))
    if importer is None:
        return iter(())
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ImportFileError(f"over {MAX_ATTACHMENT_BYTES / MB:,.0f} MB.")
    inner = SourceFile(
        path=Path(name),
        size=len(data),
        mtime=when.astimezone(UTC).isoformat(timespec="seconds"),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )
    prefix = f"{message_id}#attachment={quote(name, safe='')}"
    results: list[NewMemory] = []
    for position, item in enumerate(importer.parse(inner, cancel)):
        if not isinstance(item, NewMemory):
            raise ImportFileError("it holds several items; only documents are imported.")
        ref = item.source_ref or ""
        rest = ref[len(name) :] if ref.startswith(name) else ""
        results.append(
            NewMemory(
                text=item.text,
                kind="chunk",
                source_type="email",
                source_ref=prefix + rest,
                trust="imported",
                occurred_at=str(common["occurred_at"]),
                speaker=common["speaker"],  # type: ignore[arg-type]
                session=f"email-attachment:{message_id}/{name}",
                position=position,
            )
        )
    return iter(results)
