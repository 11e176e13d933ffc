"""Word documents (.docx) with the standard library: zipfile + ElementTree, no python-docx.

Reads `word/document.xml`: paragraphs in order, headings (a paragraph style that is a heading —
`Heading1`, or any style `styles.xml` names "heading N" or gives an outline level — or a direct
outline level) become the heading path of the chunks that follow, like markdown; a table becomes
one block, a row per line, cells joined by " | ". Offsets in provenance are character offsets
into the extracted text (blocks separated by a blank line), as for .html.

Hostile files (a .docx is a zip of XML that the user did not write):
- zip bombs: the archive's entry count is read from its end record before zipfile builds its
  index; each member read is checked against its declared size and compression ratio, then read
  in blocks with a hard cap (a declared size can lie);
- XML bombs: any DOCTYPE or ENTITY declaration is refused (ElementTree never fetches external
  entities, and with no DTD there is nothing to expand); elements nested deeper than MAX_DEPTH
  are refused; the tree is dropped paragraph by paragraph as it is parsed, so memory stays near
  the size of the XML.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from xml.etree import ElementTree

from assistant.cancel import CancelToken
from assistant.importers.chunking import Block, chunk_blocks
from assistant.importers.documents import chunk_memories
from assistant.importers.registry import MB, Importer, ImportFileError, SourceFile, register
from assistant.memory.store import NewMemory

MAX_DOCX_BYTES = 100 * MB
MAX_XML_BYTES = 64 * MB  # one member, uncompressed
MAX_RATIO = 200  # uncompressed / compressed, for members over RATIO_FLOOR
RATIO_FLOOR = 1 * MB  # a small member may compress very well and still be harmless
MAX_ENTRIES = 10_000
MAX_DEPTH = 256
READ_BLOCK = 1 << 20
DOCUMENT = "word/document.xml"
STYLES = "word/styles.xml"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_P, _TBL, _TR, _TC, _BODY = f"{W}p", f"{W}tbl", f"{W}tr", f"{W}tc", f"{W}body"
_T, _TAB, _BR, _CR = f"{W}t", f"{W}tab", f"{W}br", f"{W}cr"
_VAL = f"{W}val"
_HEADING_NAME = re.compile(r"^\s*heading\s*([1-9])\s*$", re.IGNORECASE)
_HEADING_ID = re.compile(r"^heading([1-9])$", re.IGNORECASE)
# "<!DOCTYPE" or "<!ENTITY" in the encodings an XML file may use.
_DECLARATIONS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)


# What zipfile raises on a damaged archive or member (headers, offsets, deflate data, CRC).
_ZIP_ERRORS = (
    zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error, OSError,
    NotImplementedError, RuntimeError,
)  # fmt: skip


def _entry_count(data: bytes, name: str) -> None:
    """Refuse an archive whose end record declares too many entries (before zipfile reads them)."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        raise ImportFileError(f"{name} is not a Word .docx file (it is not a zip archive).")
    (entries,) = struct.unpack_from("<H", data, end + 10)
    if entries == 0xFFFF or entries > MAX_ENTRIES:
        raise ImportFileError(f"{name} holds too many files to be a Word document.")


def read_member(archive: zipfile.ZipFile, member: str, name: str) -> bytes:
    """One member's bytes, refusing an oversized or suspiciously compressed one."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise ImportFileError(f"{name} is not a Word document (it has no {member}).") from None
    if info.file_size > MAX_XML_BYTES:
        raise ImportFileError(
            f"{name}: {member} is {info.file_size / MB:,.0f} MB uncompressed; over "
            f"{MAX_XML_BYTES / MB:,.0f} MB is not imported."
        )
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise ImportFileError(
            f"{name} looks like a zip bomb ({member} expands {info.file_size / MB:,.0f} MB from "
            f"{info.compress_size:,} bytes)."
        )
    out = bytearray()
    with archive.open(info) as stream:
        while block := stream.read(READ_BLOCK):
            out += block
            if len(out) > max(info.file_size, 0) or len(out) > MAX_XML_BYTES:
                raise ImportFileError(f"{name}: {member} is larger than it says (a zip bomb?).")
    return bytes(out)


def _check_xml(data: bytes, name: str) -> None:
    if any(marker in data for marker in _DECLARATIONS):
        raise ImportFileError(f"{name} contains an XML DOCTYPE or ENTITY declaration; refused.")


def _events(data: bytes, name: str) -> Iterator[tuple[str, ElementTree.Element]]:
    """ElementTree start/end events, refusing nesting deeper than MAX_DEPTH."""
    _check_xml(data, name)
    depth = 0
    try:
        for event, element in ElementTree.iterparse(io.BytesIO(data), events=("start", "end")):
            depth += 1 if event == "start" else -1
            if depth > MAX_DEPTH:
                raise ImportFileError(f"{name} is nested too deeply to read.")
            yield event, element
    except ElementTree.ParseError as error:
        raise ImportFileError(f"{name} is a damaged Word document ({error}).") from None


def heading_styles(data: bytes, name: str) -> dict[str, int]:
    """Style id → heading level (1–6) from styles.xml: a style named "heading N" or with an
    outline level."""
    levels: dict[str, int] = {}
    style_id: str | None = None
    for event, element in _events(data, name):
        if element.tag != f"{W}style":
            if event == "end" and style_id is not None:
                if element.tag == f"{W}name":
                    match = _HEADING_NAME.match(element.get(_VAL, ""))
                    if match:
                        levels[style_id] = min(int(match.group(1)), 6)
                elif element.tag == f"{W}outlineLvl" and style_id not in levels:
                    level = _outline(element)
                    if level:
                        levels[style_id] = level
            continue
        if event == "start":
            style_id = element.get(f"{W}styleId")
        else:
            style_id = None
            element.clear()
    return levels


def _outline(element: ElementTree.Element) -> int:
    value = element.get(_VAL, "")
    return min(int(value) + 1, 6) if value.isdigit() and int(value) < 9 else 0


def _paragraph(element: ElementTree.Element, styles: dict[str, int]) -> tuple[str, int]:
    """A paragraph's text (runs' text, tabs, breaks; deleted text and field codes left out) and
    its heading level (0 for body text)."""
    pieces: list[str] = []
    level = 0
    for node in element.iter():
        tag = node.tag
        if tag == _T:
            pieces.append(node.text or "")
        elif tag == _TAB:
            pieces.append("\t")
        elif tag in (_BR, _CR):
            pieces.append("\n")
        elif tag == f"{W}pStyle" and not level:
            style = node.get(_VAL, "")
            match = _HEADING_ID.match(style)
            level = styles.get(style) or (min(int(match.group(1)), 6) if match else 0)
            if not level and style.lower() == "title":
                level = 1
        elif tag == f"{W}outlineLvl" and not level:
            level = _outline(node)
    return "".join(pieces), level


def document_blocks(
    data: bytes, styles: dict[str, int], name: str, cancel: CancelToken
) -> tuple[str, list[Block]]:
    """The document's text and its blocks (headings, paragraphs, tables)."""
    pieces: list[str] = []
    blocks: list[Block] = []
    length = 0
    stack: list[ElementTree.Element] = []
    rows: list[str] = []  # the open table's rows (a nested table's rows join its cell's text)
    cells: list[list[str]] = []  # per open row: its cells
    cell_text: list[list[str]] = []  # per open cell: its paragraphs
    tables = 0

    def add(text: str, level: int) -> None:
        nonlocal length
        text = text.strip()
        if not text:
            return
        if pieces:
            pieces.append("\n\n")
            length += 2
        pieces.append(text)
        title = " ".join(text.split()) if level else ""
        blocks.append(Block(length, length + len(text), level, title))
        length += len(text)

    for count, (event, element) in enumerate(_events(data, name)):
        if count % 65_536 == 0:
            cancel.raise_if_cancelled()
        if event == "start":
            stack.append(element)
            if element.tag == _TBL:
                tables += 1
            elif element.tag == _TR:
                cells.append([])
            elif element.tag == _TC:
                cell_text.append([])
            continue
        stack.pop()
        tag = element.tag
        if tag == _P:
            text, level = _paragraph(element, styles)
            if cell_text:
                cell_text[-1].append(text.strip())
            else:
                add(text, level)
        elif tag == _TC and cell_text:
            text = " ".join(" ".join(part for part in cell_text.pop() if part).split())
            if cells:
                cells[-1].append(text)
        elif tag == _TR and cells:
            row = cells.pop()
            if any(row):
                line = " | ".join(row)
                if cell_text:  # a table inside a cell: its rows are that cell's text
                    cell_text[-1].append(line)
                else:
                    rows.append(line)
        elif tag == _TBL:
            tables -= 1
            if tables == 0:
                add("\n".join(rows), 0)
                rows = []
        # Drop what has been read: memory stays near the XML's size, not a tree's.
        if stack and (tag in (_P, _TBL) or stack[-1].tag == _BODY):
            stack[-1].remove(element)
    return "".join(pieces), blocks


def parse_docx(source: SourceFile, cancel: CancelToken) -> Iterator[NewMemory]:
    name = source.path.name
    data = source.read_bytes(MAX_DOCX_BYTES)
    _entry_count(data, name)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as error:
        raise ImportFileError(f"{name} is not a readable Word .docx file ({error}).") from None
    with archive:
        try:
            document = read_member(archive, DOCUMENT, name)
            names = set(archive.namelist())
            styles_xml = read_member(archive, STYLES, name) if STYLES in names else b""
        except _ZIP_ERRORS as error:
            raise ImportFileError(f"{name} is a damaged Word .docx file ({error}).") from None
    styles = heading_styles(styles_xml, name) if styles_xml else {}
    text, blocks = document_blocks(document, styles, name, cancel)
    return chunk_memories(source, chunk_blocks(text, blocks), cancel)


DOCX = register(Importer("docx", (".docx",), parse_docx, MAX_DOCX_BYTES))
