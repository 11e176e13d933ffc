"""PDF documents (.pdf) with pypdf: text page by page, the page number kept in every chunk.

Each page's extracted text is split into paragraphs (blank lines, or a short line that ends a
sentence) and chunked like any document; a chunk never spans two pages. Provenance reads
`path#page=3&chars=10-80`: the 1-based page and character offsets into that page's extracted text
(what `memory.browse.provenance` shows as page and offsets; `format_page_ref`/`parse_page_ref`).

Hostile files: pypdf is a pure-Python parser, so a crafted file can make it slow or make it raise
anything. Every error it raises becomes one clear ImportFileError for the file; the page count,
the extracted characters and the time spent are capped (checked between pages), and pypdf's own
decompression limits bound a "flate bomb" stream. An encrypted PDF is read only when it opens
with an empty password; otherwise it is refused with a message that says so.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from assistant.cancel import Cancelled, CancelToken
from assistant.importers.chunking import Block, chunk_blocks
from assistant.importers.registry import MB, Importer, ImportFileError, SourceFile, register
from assistant.memory.store import NewMemory

if TYPE_CHECKING:
    from pypdf import PdfReader

MAX_PDF_BYTES = 200 * MB
MAX_PAGES = 5000
MAX_TEXT_CHARS = 20_000_000  # extracted characters in the whole file
MAX_PAGE_CHARS = 2_000_000  # extracted characters on one page
PARSE_SECONDS = 120.0  # wall time for the whole file, checked between pages
SENTENCE_END = (".", "!", "?", ":", '"', "”", "»", ")")
_PAGE_REF = re.compile(r"^(.*)#page=(\d+)&chars=(\d+)-(\d+)$", re.DOTALL)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# pypdf reports every repaired defect of a damaged file as a warning; they say nothing about the
# memory text, but a hostile file can produce thousands of them.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def format_page_ref(path: str, page: int, start: int, end: int) -> str:
    """A PDF chunk's source_ref: `path#page=<1-based page>&chars=<start>-<end>`."""
    return f"{path}#page={page}&chars={start}-{end}"


def parse_page_ref(ref: str) -> tuple[str, int, int, int] | None:
    """(path, page, start, end) of a PDF chunk's source_ref; None if it is not one."""
    match = _PAGE_REF.match(ref)
    if match is None:
        return None
    path, page, start, end = match.groups()
    return path, int(page), int(start), int(end)


def page_blocks(text: str) -> Iterator[Block]:
    """Paragraphs of one page's extracted text. PDF text has no paragraph marks, so a paragraph
    ends at a blank line, or after a line that ends a sentence and is clearly shorter than the
    page's longer lines (the last line of a paragraph rarely fills the column)."""
    lines: list[tuple[int, int]] = []
    position = 0
    for line in text.split("\n"):
        start, end = position, position + len(line)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        lines.append((start, end))
        position += len(line) + 1
    widths = sorted(end - start for start, end in lines if end > start)
    if not widths:
        return
    full = widths[(len(widths) * 3) // 4]  # a typical full line
    first: int | None = None
    last = 0
    for start, end in lines:
        if end <= start:
            if first is not None:
                yield Block(first, last)
                first = None
            continue
        if first is None:
            first = start
        last = end
        if text[end - 1] in SENTENCE_END and end - start < 0.8 * full:
            yield Block(first, last)
            first = None
    if first is not None:
        yield Block(first, last)


def _reader(data: bytes, name: str) -> PdfReader:
    # Imported here: pypdf takes a while to import and only PDF imports need it.
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))
            except (DependencyError, FileNotDecryptedError, PdfReadError, NotImplementedError):
                opened = False
            if not opened:
                raise ImportFileError(
                    f"{name} is encrypted (password-protected); save a copy without the password "
                    "to import it."
                )
        return reader
    except ImportFileError:
        raise
    except (MemoryError, RecursionError):
        raise ImportFileError(f"{name} is too large or too deeply nested to read.") from None
    except Exception as error:  # noqa: BLE001 - pypdf raises many kinds on a damaged file
        raise ImportFileError(f"{name} is not a readable PDF ({_reason(error)}).") from None


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())[:120]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def extract_pages(
    data: bytes, name: str, cancel: CancelToken, *, seconds: float = PARSE_SECONDS
) -> Iterator[tuple[int, str]]:
    """(1-based page number, extracted text) of each page, within the caps; control characters
    other than tab and newline become spaces. Raises ImportFileError for a file it cannot read."""
    reader = _reader(data, name)
    started = time.monotonic()
    try:
        pages = reader.pages
        count = len(pages)
        if count > MAX_PAGES:
            raise ImportFileError(
                f"{name} has {count:,} pages; PDFs over {MAX_PAGES:,} pages are not imported."
            )
        total = 0
        for index in range(count):
            cancel.raise_if_cancelled()
            if time.monotonic() - started > seconds:
                raise ImportFileError(
                    f"{name} took over {seconds:.0f} s to read (stopped at page {index + 1}); "
                    "it may be damaged or built to be slow."
                )
            text = pages[index].extract_text() or ""
            if len(text) > MAX_PAGE_CHARS:
                raise ImportFileError(
                    f"{name}: page {index + 1} has over {MAX_PAGE_CHARS:,} characters of text."
                )
            total += len(text)
            if total > MAX_TEXT_CHARS:
                raise ImportFileError(
                    f"{name} has over {MAX_TEXT_CHARS:,} characters of text; it is not imported."
                )
            yield index + 1, _CONTROLS.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    except (ImportFileError, Cancelled):
        raise
    except (MemoryError, RecursionError):
        raise ImportFileError(f"{name} is too large or too deeply nested to read.") from None
    except Exception as error:  # noqa: BLE001 - pypdf raises many kinds on a damaged file
        raise ImportFileError(f"{name} is not a readable PDF ({_reason(error)}).") from None


def parse_pdf(source: SourceFile, cancel: CancelToken) -> Iterator[NewMemory]:
    name = source.path.name
    data = source.read_bytes(MAX_PDF_BYTES)
    if b"%PDF-" not in data[:1024]:  # readers accept junk before the header, not its absence
        raise ImportFileError(f"{name} is not a PDF file (it has no PDF header).")
    path = str(source.path)
    position = 0
    for page, text in extract_pages(data, name, cancel):
        for chunk in chunk_blocks(text, page_blocks(text)):
            yield NewMemory(
                text=chunk.text,
                kind="chunk",
                source_type="document",
                source_ref=format_page_ref(path, page, chunk.start, chunk.end),
                trust="imported",
                occurred_at=source.mtime,
                session=f"document:{path}",
                position=position,
            )
            position += 1
    if position == 0:
        raise ImportFileError(
            f"{name} has no text to import (a scanned PDF holds only images; Mneme does not OCR)."
        )


PDF = register(Importer("pdf", (".pdf",), parse_pdf, MAX_PDF_BYTES))
