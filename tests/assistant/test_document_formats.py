"""PDF, .docx and ChatGPT-export import: provenance (pages, headings, conversations), incremental
re-import, and hostile files (zip bombs, XML bombs, encrypted or broken PDFs, a 500 MB line).
Every fixture is generated here; no model and no encoder are needed."""

from __future__ import annotations

import io
import json
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant import Assistant, CancelToken
from assistant.importers import chatgpt, docx, importer_for, pdf
from assistant.importers.registry import ImportFileError, ImportUnit, SourceFile
from assistant.memory.store import NewMemory
from assistant.types import Memory, MemoryFilter

MB = 1024 * 1024
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


# -- fixtures the suite generates ----------------------------------------------------------------
def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal, valid PDF: each page's lines drawn in Helvetica, one line each."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    count = len(pages)
    font = 3 + 2 * count
    kids = " ".join(f"{3 + 2 * index} 0 R" for index in range(count))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    for index, lines in enumerate(pages):
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * index} 0 R"
            f" /Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def paragraph(text: str, style: str | None = None) -> str:
    props = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<w:p>{props}<w:r><w:t xml:space="preserve">{escaped}</w:t></w:r></w:p>'


def table(rows: list[list[str]]) -> str:
    cells = "".join(
        "<w:tr>" + "".join(f"<w:tc>{paragraph(cell)}</w:tc>" for cell in row) + "</w:tr>"
        for row in rows
    )
    return f"<w:tbl>{cells}</w:tbl>"


def document_xml(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{W_NS}"><w:body>{body}</w:body></w:document>'
    ).encode()


def make_docx(body: str | bytes, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        xml = body if isinstance(body, bytes) else document_xml(body)
        archive.writestr("word/document.xml", xml)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def conversation(ident: str, turns: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    """A ChatGPT export conversation: a root node, then one node per (role, text), chained."""
    mapping: dict[str, Any] = {"root": {"id": "root", "message": None, "parent": None}}
    parent = "root"
    for index, (role, text) in enumerate(turns):
        node = f"{ident}-n{index}"
        mapping[node] = {
            "id": node,
            "parent": parent,
            "children": [],
            "message": {
                "id": node,
                "author": {"role": role},
                "create_time": 1_700_000_000 + index * 60,
                "content": {"content_type": "text", "parts": [text]},
            },
        }
        mapping[parent].setdefault("children", []).append(node)
        parent = node
    return {
        "id": ident,
        "title": f"Chat {ident}",
        "create_time": 1_699_999_000,
        "mapping": mapping,
        "current_node": parent,
        **extra,
    }


def source_of(path: Path, data: bytes) -> SourceFile:
    return SourceFile(
        path=path, size=len(data), mtime="2024-01-01T00:00:00.000+00:00", sha256="x", data=data
    )


def memories(importer_parse: Any, path: Path, data: bytes) -> list[Any]:
    return list(importer_parse(source_of(path, data), CancelToken()))


def by_session(assistant: Assistant, session: str, kind: str = "chunk") -> list[Memory]:
    rows = assistant.memory.browse(kind=kind, limit=100_000)
    return sorted((m for m in rows if m.session == session), key=lambda m: m.position or 0)


# -- PDF -------------------------------------------------------------------------------------
PAGE_ONE = [
    "The lighthouse keeper logged the storm at dawn; the lamp held through the",
    "night and the supply boat was two days late.",
    "Second paragraph: the keeper's cat refused to leave the lamp room.",
]
PAGE_TWO = ["Page two: the pension is paid on the third of each month."]


def test_pdf_chunks_keep_page_numbers_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "keeper.pdf"
    rows = memories(pdf.parse_pdf, path, make_pdf([PAGE_ONE, PAGE_TWO]))
    pages = dict(pdf.extract_pages(make_pdf([PAGE_ONE, PAGE_TWO]), "keeper.pdf", CancelToken()))
    assert [row.position for row in rows] == list(range(len(rows)))
    seen_pages = set()
    for row in rows:
        parsed = pdf.parse_page_ref(row.source_ref)
        assert parsed is not None
        ref_path, page, start, end = parsed
        assert ref_path == str(path)
        assert row.text == pages[page][start:end]  # offsets point into that page's text
        assert (row.kind, row.source_type, row.trust) == ("chunk", "document", "imported")
        seen_pages.add(page)
    assert seen_pages == {1, 2}
    # Paragraphs: a sentence-ending short line closes one, so page 1 gives two chunks' worth.
    page_one = [row.text for row in rows if pdf.parse_page_ref(row.source_ref)[1] == 1]
    assert len(page_one) == 1 and "lamp room" in page_one[0]
    blocks = list(pdf.page_blocks(pages[1]))
    assert len(blocks) == 2
    assert pages[1][blocks[1].start : blocks[1].end].startswith("Second paragraph")


@given(
    st.text(min_size=1, max_size=40).filter(lambda p: "#" not in p),
    st.integers(1, 10**6),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
)
def test_page_refs_round_trip(path: str, page: int, start: int, end: int) -> None:
    ref = pdf.format_page_ref(path, page, start, end)
    assert pdf.parse_page_ref(ref) == (path, page, start, end)


def test_pdf_provenance_shows_the_page(mneme: Assistant, tmp_path: Path) -> None:
    path = tmp_path / "keeper.pdf"
    path.write_bytes(make_pdf([PAGE_ONE, PAGE_TWO]))
    summary = mneme.import_([path])
    assert summary.files_imported == 1 and not summary.files_failed
    rows = by_session(mneme, f"document:{path.resolve()}")
    pension = next(row for row in rows if "pension" in row.text)
    info = mneme.memory.provenance(pension.id)
    assert info["path"] == str(path.resolve())
    assert info["page"] == 2
    assert info["offsets"] == (0, len(pension.text))
    # Keyword-searchable at once, and forgetting the document by path removes its pages.
    found = mneme.memory.query(MemoryFilter(text="pension"), limit=50)
    assert [m.id for m in found] == [pension.id]
    assert mneme.memory.forget_source(source_type="document", source_ref=str(path.resolve()))
    assert by_session(mneme, f"document:{path.resolve()}") == []


def test_encrypted_pdf_is_refused_clearly(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([PAGE_ONE]))))
    writer.encrypt("s3cret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ImportFileError, match="encrypted"):
        memories(pdf.parse_pdf, tmp_path / "locked.pdf", buffer.getvalue())
    # One that opens with an empty password (owner password only) is read.
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([PAGE_TWO]))))
    writer.encrypt("", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    rows = memories(pdf.parse_pdf, tmp_path / "open.pdf", buffer.getvalue())
    assert "pension" in rows[0].text


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + bytes(range(256)) * 64,  # a header, then junk
        make_pdf([PAGE_ONE])[:300],  # cut short
        make_pdf([PAGE_ONE]).replace(b"/Kids", b"/Kidz"),  # no page tree
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 4000,  # binary junk named .pdf
        b"",
    ],
)
def test_broken_pdfs_fail_clearly_and_fast(tmp_path: Path, data: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(ImportFileError) as caught:
        memories(pdf.parse_pdf, tmp_path / "broken.pdf", data)
    assert "broken.pdf" in str(caught.value)
    assert time.monotonic() - started < 5


def test_pdf_caps_pages_and_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_pdf([PAGE_ONE, PAGE_TWO, PAGE_TWO])
    monkeypatch.setattr(pdf, "MAX_PAGES", 2)
    with pytest.raises(ImportFileError, match="3 pages"):
        memories(pdf.parse_pdf, tmp_path / "long.pdf", data)
    monkeypatch.setattr(pdf, "MAX_PAGES", 5000)
    with pytest.raises(ImportFileError, match="took over"):
        list(pdf.extract_pages(data, "slow.pdf", CancelToken(), seconds=-1))
    monkeypatch.setattr(pdf, "MAX_TEXT_CHARS", 50)
    with pytest.raises(ImportFileError, match="characters"):
        memories(pdf.parse_pdf, tmp_path / "big.pdf", data)


def test_pdf_without_text_says_so(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no text"):
        memories(pdf.parse_pdf, tmp_path / "scan.pdf", make_pdf([[]]))


def test_in_memory_pdf_is_read_through_the_source(tmp_path: Path) -> None:
    data = make_pdf([PAGE_TWO])
    attachment = SourceFile(
        path=tmp_path / "never-written.pdf", size=len(data), mtime="2024", sha256="x", data=data
    )
    rows = list(pdf.parse_pdf(attachment, CancelToken()))
    assert "pension" in rows[0].text


# -- DOCX ------------------------------------------------------------------------------------
BODY = (
    paragraph("Travel plans", "Heading1")
    + paragraph("We fly to Lisbon on the ninth.")
    + paragraph("Budget", "Heading2")
    + table([["Item", "Cost"], ["Hotel", "420 EUR"], ["Train", "35 EUR"]])
    + paragraph("Packing", "Kop3")  # a localized style id, named "heading 3" in styles.xml
    + paragraph("Sunscreen & a hat.")
    + paragraph("Notes", "Heading1")
    + paragraph("Call the landlord.")
)
STYLES_XML = (
    f'<w:styles xmlns:w="{W_NS}"><w:style w:type="paragraph" w:styleId="Kop3">'
    '<w:name w:val="heading 3"/></w:style></w:styles>'
).encode()


def test_docx_keeps_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    data = make_docx(BODY, {"word/styles.xml": STYLES_XML})
    rows = memories(docx.parse_docx, tmp_path / "trip.docx", data)
    from assistant.importers.chunking import parse_source_ref

    refs = [parse_source_ref(row.source_ref) for row in rows]
    assert all(ref is not None for ref in refs)
    by_text = {row.text: ref for row, ref in zip(rows, refs, strict=True)}
    hotel = next(text for text in by_text if "Hotel | 420 EUR" in text)
    assert "Item | Cost\nHotel | 420 EUR\nTrain | 35 EUR" in hotel
    assert by_text[hotel][3] == ("Travel plans", "Budget")
    sunscreen = next(text for text in by_text if "Sunscreen & a hat." in text)
    assert by_text[sunscreen][3] == ("Travel plans", "Budget", "Packing")
    landlord = next(text for text in by_text if "landlord" in text)
    assert by_text[landlord][3] == ("Notes",)
    # Offsets point into the extracted text.
    text, _ = docx.document_blocks(
        docx.read_member(zipfile.ZipFile(io.BytesIO(data)), "word/document.xml", "t"),
        {"Kop3": 3},
        "t",
        CancelToken(),
    )
    for row, ref in zip(rows, refs, strict=True):
        assert text[ref[1] : ref[2]] == row.text


def test_docx_import_end_to_end(mneme: Assistant, tmp_path: Path) -> None:
    path = tmp_path / "trip.docx"
    path.write_bytes(make_docx(BODY))
    summary = mneme.import_([path])
    assert summary.files_imported == 1 and not summary.files_failed
    rows = by_session(mneme, f"document:{path.resolve()}")
    info = mneme.memory.provenance(next(r for r in rows if "Lisbon" in r.text).id)
    assert info["headings"] == ["Travel plans"] and info["page"] is None
    assert mneme.import_([path]).files_skipped == 1  # unchanged: skipped, nothing duplicated
    assert len(by_session(mneme, f"document:{path.resolve()}")) == len(rows)


def deflate_bomb(member_size: int) -> bytes:
    """A .docx whose document.xml inflates from a few KB to `member_size` bytes."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("word/document.xml", "w", force_zip64=False) as member,
    ):
        block = b" " * MB
        for _ in range(member_size // MB):
            member.write(block)
    return buffer.getvalue()


def lie_about_size(data: bytes, member: str, declared: int) -> bytes:
    """The zip with `member`'s uncompressed size rewritten (local and central headers)."""
    out = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    out[info.header_offset + 22 : info.header_offset + 26] = declared.to_bytes(4, "little")
    central = out.rfind(b"PK\x01\x02" + out[info.header_offset + 4 : info.header_offset + 6])
    out[central + 24 : central + 28] = declared.to_bytes(4, "little")
    return bytes(out)


def test_docx_zip_bombs_are_refused_in_bounded_time(tmp_path: Path) -> None:
    started = time.monotonic()
    big = deflate_bomb(80 * MB)  # over the per-member cap
    assert len(big) < 200_000
    with pytest.raises(ImportFileError, match="uncompressed"):
        memories(docx.parse_docx, tmp_path / "bomb.docx", big)
    dense = deflate_bomb(20 * MB)  # under the cap, but a 1000:1 ratio
    with pytest.raises(ImportFileError, match="zip bomb"):
        memories(docx.parse_docx, tmp_path / "bomb.docx", dense)
    # A member that declares 1 KB but inflates to 20 MB: read stops at the cap, clear error.
    liar = lie_about_size(dense, "word/document.xml", 1024)
    with pytest.raises(ImportFileError):
        memories(docx.parse_docx, tmp_path / "liar.docx", liar)
    assert time.monotonic() - started < 20


def test_docx_with_too_many_entries_is_refused_before_indexing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docx, "MAX_ENTRIES", 3)
    data = make_docx(BODY, {"a.xml": b"<a/>", "b.xml": b"<b/>"})
    with pytest.raises(ImportFileError, match="too many files"):
        memories(docx.parse_docx, tmp_path / "many.docx", data)


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b']><w:document xmlns:w="'
    + W_NS.encode()
    + b'"><w:body><w:p><w:r><w:t>&lol9;'
    b"</w:t></w:r></w:p></w:body></w:document>"
)


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (LAUGHS, "DOCTYPE"),
        (LAUGHS.decode().encode("utf-16"), "DOCTYPE"),  # the same, in UTF-16
        (document_xml("<w:p>" * 5000 + "</w:p>" * 5000), "nested too deeply"),
        (document_xml("<w:p><w:r>unclosed"), "damaged"),
    ],
)
def test_hostile_docx_xml_is_refused(tmp_path: Path, xml: bytes, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(ImportFileError, match=message):
        memories(docx.parse_docx, tmp_path / "evil.docx", make_docx(xml))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\xff" * 500,  # a zip header, then junk
        bytes(range(256)) * 40,  # binary junk named .docx
        make_docx(BODY)[:-30],  # cut short (no end record)
        (lambda b: b[:60] + b"\x00" * 200 + b[260:])(make_docx(BODY * 20)),  # corrupt deflate
    ],
)
def test_broken_docx_fails_clearly(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(ImportFileError, match=r"junk\.docx"):
        memories(docx.parse_docx, tmp_path / "junk.docx", data)


def test_a_zip_that_is_not_a_word_document(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ImportFileError, match=r"no word/document\.xml"):
        memories(docx.parse_docx, tmp_path / "x.docx", buffer.getvalue())


# -- ChatGPT ---------------------------------------------------------------------------------
def export(*conversations: Any) -> bytes:
    return json.dumps(list(conversations)).encode()


def test_chatgpt_conversations_become_episodes(tmp_path: Path) -> None:
    first = conversation("c1", [("user", "My sister lives in Porto."), ("assistant", "Noted!")])
    first["mapping"]["c1-n0"]["children"].append("c1-alt")  # a regenerated reply, not shown
    first["mapping"]["c1-alt"] = {
        "parent": "c1-n0",
        "message": {"author": {"role": "assistant"}, "content": {"parts": ["Old reply"]}},
    }
    first["mapping"]["sys"] = {"parent": None, "message": {"author": {"role": "system"}}}
    second = conversation("c2", [("user", "Long " + "word " * 400), ("tool", "tool output")])
    units = memories(chatgpt.parse_chatgpt, tmp_path / "conversations.json", export(first, second))
    assert [unit.key for unit in units] == ["chatgpt:c1", "chatgpt:c2"]
    assert all(isinstance(unit, ImportUnit) and unit.error is None for unit in units)
    one = units[0].memories
    assert [(m.speaker, m.text) for m in one] == [
        ("user", "My sister lives in Porto."),
        ("assistant", "Noted!"),
    ]
    assert {(m.kind, m.source_type, m.trust, m.session) for m in one} == {
        ("episode", "conversation", "imported", "chatgpt:c1")
    }
    assert [m.position for m in one] == [0, 1]
    assert one[0].occurred_at == "2023-11-14T22:13:20.000+00:00"
    assert one[1].source_ref == "chatgpt:c1#message=c1-n1"
    long_turn = units[1].memories  # cut into chunks, the tool's output left out
    assert len(long_turn) >= 2 and all(len(m.text) <= chatgpt.MAX_TURN_CHARS for m in long_turn)
    assert {m.speaker for m in long_turn} == {"user"}
    # The hash is of the conversation: the same conversation gives the same unit hash.
    again = memories(chatgpt.parse_chatgpt, tmp_path / "conversations.json", export(first))
    assert again[0].sha256 == units[0].sha256 != units[1].sha256


def test_malformed_conversations_are_reported_and_the_rest_goes_on(tmp_path: Path) -> None:
    good = conversation("ok", [("user", "I like tea.")])
    no_time = conversation("t", [("user", "When?")])
    no_time["mapping"]["t-n0"]["message"]["create_time"] = "yesterday"
    del no_time["current_node"]
    data = export(42, {"title": "no id"}, {"id": "m", "mapping": []}, good, no_time)
    units = memories(chatgpt.parse_chatgpt, tmp_path / "conversations.json", data)
    errors = [unit.error for unit in units if unit.error]
    assert len(errors) == 3
    assert "not an object" in errors[0] and "no id" in errors[1] and "mapping" in errors[2]
    assert units[3].memories[0].text == "I like tea."
    assert units[4].memories[0].occurred_at == "2023-11-14T21:56:40.000+00:00"  # the chat's time


@pytest.mark.parametrize(
    ("data", "message"),
    [(b'{"not": "a list"}', "not a ChatGPT export"), (b"\x00\x01junk", "not a ChatGPT export")],
)
def test_a_file_that_is_no_export_is_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        memories(chatgpt.parse_chatgpt, tmp_path / "conversations.json", data)


def test_a_truncated_export_keeps_the_conversations_before_the_damage(tmp_path: Path) -> None:
    data = export(conversation("a", [("user", "one")]), conversation("b", [("user", "two")]))
    units: list[ImportUnit] = []
    with pytest.raises(ImportFileError, match="after 1 conversations"):
        for unit in chatgpt.parse_chatgpt(
            source_of(tmp_path / "conversations.json", data[:-40]), CancelToken()
        ):
            units.append(unit)
    assert [unit.key for unit in units] == ["chatgpt:a"]


def test_the_export_is_found_by_name() -> None:
    assert importer_for(Path("/x/conversations.json")) is chatgpt.CHATGPT
    assert importer_for(Path("/x/Conversations.JSON")) is chatgpt.CHATGPT
    assert importer_for(Path("/x/other.json")) is None
    assert importer_for(Path("/x/a.pdf")) is pdf.PDF
    assert importer_for(Path("/x/a.DOCX")) is docx.DOCX


def test_chatgpt_import_is_incremental_per_conversation(mneme: Assistant, tmp_path: Path) -> None:
    path = tmp_path / "export" / "conversations.json"
    path.parent.mkdir()
    chats = [conversation(f"c{i}", [("user", f"fact number {i}")]) for i in range(3)]
    path.write_bytes(export(*chats, {"id": "broken"}))
    summary = mneme.import_([path.parent])
    assert summary.items_imported == 3 and not summary.files_failed
    assert [key for _, key, _ in summary.items_failed] == ["chatgpt:broken"]
    episodes = mneme.memory.browse(kind="episode", limit=1000)
    assert sorted(m.text for m in episodes) == [f"fact number {i}" for i in range(3)]
    assert {m.trust for m in episodes} == {"imported"}
    # One conversation changed, one added: only those are written; nothing duplicated.
    chats[1] = conversation("c1", [("user", "fact number 1, revised")])
    chats.append(conversation("c3", [("user", "fact number 3")]))
    path.write_bytes(export(*chats))
    summary = mneme.import_([path])
    assert summary.items_imported == 2 and summary.items_skipped == 2
    texts = sorted(m.text for m in mneme.memory.browse(kind="episode", limit=1000))
    assert texts == ["fact number 0", "fact number 1, revised", "fact number 2", "fact number 3"]


# -- a 500 MB single line ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["line.txt", "line.md", "line.docx", "line.pdf"])
def test_a_500_mb_single_line_is_refused_without_reading_it(
    mneme: Assistant, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    with path.open("wb") as handle:  # sparse: 500 MB of one line, no disk used
        handle.truncate(500 * MB)
    started = time.monotonic()
    summary = mneme.import_([path])
    assert time.monotonic() - started < 5  # refused by size before it is hashed or read
    assert len(summary.files_failed) == 1
    assert "500.0 MB" in summary.files_failed[0][1]


def test_a_500_mb_single_line_export_is_streamed_and_refused(
    mneme: Assistant, tmp_path: Path
) -> None:
    path = tmp_path / "conversations.json"
    with path.open("wb") as handle:
        handle.write(b'["')
        handle.truncate(500 * MB)  # one unterminated 500 MB string of NULs
    started = time.monotonic()
    summary = mneme.import_([path])
    assert time.monotonic() - started < 60
    assert len(summary.files_failed) == 1 and "conversations.json" in summary.files_failed[0][1]
    assert mneme.memory.browse(kind="episode", limit=10) == []


def test_new_memory_rows_are_what_the_job_stores() -> None:
    # The importers yield the store's own row type (checked by NewMemory.check when written).
    row = pdf.parse_pdf(source_of(Path("/x.pdf"), make_pdf([PAGE_TWO])), CancelToken())
    first = next(iter(row))
    assert isinstance(first, NewMemory)
    first.check()


def test_zlib_bomb_helper_is_a_real_bomb() -> None:
    data = deflate_bomb(4 * MB)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml")
    assert info.file_size == 4 * MB and info.compress_size < 10_000
    assert zlib.crc32(b" " * (4 * MB)) == info.CRC
