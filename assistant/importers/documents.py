"""Text documents: .txt, .md (and .markdown) and .html (.htm), chunked by structure.

Offsets in a chunk's provenance are character offsets into the document's text: the decoded file
for .txt and .md (line endings as they are), the extracted text for .html. Each chunk becomes a
memory of kind "chunk", source_type "document", trust "imported", occurred_at the file's mtime,
in the session `document:<path>` (so recall can weigh a chunk by its neighbours), positioned by
its order in the file.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator

from assistant.cancel import CancelToken
from assistant.importers.chunking import Block, Chunk, chunk_blocks, format_source_ref
from assistant.importers.html_text import html_to_blocks
from assistant.importers.registry import (
    MB,
    Importer,
    ImportFileError,
    SourceFile,
    register,
)
from assistant.memory.store import NewMemory

MAX_TEXT_BYTES = 50 * MB
CONTROL_SHARE = 0.01  # more C0 control characters than this marks a file as binary
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes, name: str) -> str:
    """The file's text: a BOM's encoding, else UTF-8, else Windows-1252. Binary data (NUL bytes,
    undecodable bytes, many control characters) raises ImportFileError."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _check_controls(data[len(bom) :].decode(encoding), name)
            except UnicodeDecodeError:
                raise ImportFileError(f"{name} is not valid {encoding} text.") from None
    if b"\x00" in data:
        raise ImportFileError(f"{name} looks like a binary file (it contains NUL bytes).")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ImportFileError(
                f"{name} is not text in a known encoding (UTF-8 or Windows-1252)."
            ) from None
    return _check_controls(text, name)


def _check_controls(text: str, name: str) -> str:
    if "\x00" in text:
        raise ImportFileError(f"{name} looks like a binary file (it contains NUL characters).")
    controls = sum(1 for _ in _CONTROLS.finditer(text, 0, 100_000))
    if controls > CONTROL_SHARE * min(len(text), 100_000):
        raise ImportFileError(f"{name} looks like a binary file (many control characters).")
    return text


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line, without its line ending."""
    position, size = 0, len(text)
    while position < size:
        newline = text.find("\n", position)
        stop = size if newline < 0 else newline
        end = stop - 1 if stop > position and text[stop - 1] == "\r" else stop
        yield position, end
        position = stop + 1


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def text_blocks(text: str) -> Iterator[Block]:
    """Paragraphs: runs of non-blank lines."""
    first: int | None = None
    last = 0
    for start, end in _lines(text):
        if text[start:end].strip():
            if first is None:
                first = start
            last = end
        elif first is not None:
            yield Block(*_trimmed(text, first, last))
            first = None
    if first is not None:
        yield Block(*_trimmed(text, first, last))


def markdown_blocks(text: str) -> Iterator[Block]:
    """Headings (ATX `#` and setext underlines) and paragraphs; fenced code is one body block
    (a `#` line inside it is not a heading)."""
    first: int | None = None  # the open paragraph's first line
    last = 0
    fence: str | None = None
    for start, end in _lines(text):
        line = text[start:end]
        if fence is not None:
            last = end
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = None
            continue
        opened = _FENCE.match(line)
        if opened:
            if first is None:
                first = start
            last = end
            fence = opened.group(1)
            continue
        if not line.strip():
            if first is not None:
                yield Block(*_trimmed(text, first, last))
                first = None
            continue
        heading = _ATX.match(line)
        if heading:
            if first is not None:
                yield Block(*_trimmed(text, first, last))
                first = None
            level = len(heading.group(1))
            yield Block(*_trimmed(text, start, end), level, (heading.group(2) or "").strip())
            continue
        if first is not None and _SETEXT.match(line):
            level = 1 if line.strip()[0] == "=" else 2
            span = _trimmed(text, first, end)
            title = text[first:last]
            yield Block(*span, level, " ".join(title.split()))
            first = None
            continue
        if first is None:
            first = start
        last = end
    if first is not None:
        yield Block(*_trimmed(text, first, last))


def chunk_memories(
    source: SourceFile, chunks: Iterable[Chunk], cancel: CancelToken
) -> Iterator[NewMemory]:
    """Document chunks as memories, with their provenance."""
    path = str(source.path)
    for position, chunk in enumerate(chunks):
        cancel.raise_if_cancelled()
        yield NewMemory(
            text=chunk.text,
            kind="chunk",
            source_type="document",
            source_ref=format_source_ref(path, chunk.start, chunk.end, chunk.headings),
            trust="imported",
            occurred_at=source.mtime,
            session=f"document:{path}",
            position=position,
        )


def parse_text(source: SourceFile, cancel: CancelToken) -> Iterator[NewMemory]:
    text = decode_text(source.read_bytes(MAX_TEXT_BYTES), source.path.name)
    return chunk_memories(source, chunk_blocks(text, text_blocks(text)), cancel)


def parse_markdown(source: SourceFile, cancel: CancelToken) -> Iterator[NewMemory]:
    text = decode_text(source.read_bytes(MAX_TEXT_BYTES), source.path.name)
    return chunk_memories(source, chunk_blocks(text, markdown_blocks(text)), cancel)


def parse_html(source: SourceFile, cancel: CancelToken) -> Iterator[NewMemory]:
    markup = decode_text(source.read_bytes(MAX_TEXT_BYTES), source.path.name)
    text, blocks = html_to_blocks(markup, cancel)
    return chunk_memories(source, chunk_blocks(text, blocks), cancel)


TEXT = register(Importer("text", (".txt", ".text"), parse_text, MAX_TEXT_BYTES))
MARKDOWN = register(Importer("markdown", (".md", ".markdown"), parse_markdown, MAX_TEXT_BYTES))
HTML = register(Importer("html", (".html", ".htm", ".xhtml"), parse_html, MAX_TEXT_BYTES))
