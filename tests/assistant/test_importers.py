"""Document import: chunks with provenance, html, folders, incremental re-import, hostile files,
cancel, and `mneme import --json`. No model and no encoder needed: chunks are keyword-searchable."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import Assistant, CancelToken
from assistant.cli import main
from assistant.importers import documents, parse_source_ref
from assistant.importers.chunking import MAX_CHARS, chunk_blocks, split_at_whitespace
from assistant.importers.documents import decode_text, markdown_blocks, text_blocks
from assistant.importers.html_text import html_to_blocks
from assistant.importers.registry import ImportFileError
from assistant.types import ImportProgress, Memory

MB = 1024 * 1024


def chunks_of(assistant: Assistant) -> list[Memory]:
    return assistant.memory.browse(kind="chunk", limit=100_000)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def offsets(memory: Memory) -> tuple[str, int, int, tuple[str, ...]]:
    assert memory.source_ref is not None
    parsed = parse_source_ref(memory.source_ref)
    assert parsed is not None, memory.source_ref
    return parsed


MARKDOWN = """# Garden notes

The zucchini went in on the first of May.

## Tomatoes

Stake them early. The cherry variety ripens first.

```
# a comment in code, not a heading
```

### Pests

Aphids came in June; soapy water worked.

Setext title
============

Closing words.
"""


def test_markdown_chunks_keep_offsets_and_heading_paths(mneme: Assistant, tmp_path: Path) -> None:
    path = write(tmp_path / "notes.md", MARKDOWN)
    summary = mneme.import_([path])
    assert (summary.files_imported, summary.files_failed, summary.chunks_added) == (1, [], 4)
    memories = sorted(chunks_of(mneme), key=lambda m: m.position or 0)
    headings = []
    for memory in memories:
        where, start, end, path_headings = offsets(memory)
        assert where == str(path.resolve())
        assert MARKDOWN[start:end] == memory.text
        assert (memory.kind, memory.source_type, memory.trust) == ("chunk", "document", "imported")
        assert memory.session == f"document:{path.resolve()}"
        headings.append(path_headings)
    assert headings == [
        ("Garden notes",),
        ("Garden notes", "Tomatoes"),
        ("Garden notes", "Tomatoes", "Pests"),
        ("Setext title",),
    ]
    assert "# a comment in code" in memories[1].text  # fenced code stays with its section
    # occurred_at is the file's modification time
    assert memories[0].occurred_at[:16] == _mtime(path)[:16]
    # keyword-searchable at once, without the encoder
    (found,) = mneme.memory.search("aphids soapy")
    assert found.id == memories[2].id


def _mtime(path: Path) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()


def test_long_paragraphs_are_cut_at_whitespace_never_mid_word() -> None:
    words = [f"w{i}x" * (1 + i % 7) for i in range(3000)]
    text = " ".join(words)
    chunks = list(chunk_blocks(text, text_blocks(text)))
    assert len(chunks) > 10
    assert all(0 < len(c.text) <= MAX_CHARS for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert [w for c in chunks for w in c.text.split()] == words
    # a single "word" longer than a chunk is the one thing that must be cut inside
    long_word = "x" * 2500
    pieces = list(split_at_whitespace(long_word, 0, len(long_word), MAX_CHARS))
    assert pieces == [(0, 1000), (1000, 2000), (2000, 2500)]


def test_html_becomes_text_without_scripts_or_styles(mneme: Assistant, tmp_path: Path) -> None:
    page = (
        "<html><head><title>ignored</title><style>.secretstyle{color:red}</style></head><body>"
        "<h1 class='t'>Travel</h1><p>We flew to <b>Lisbon</b> &amp; ate pastel de nata.</p>"
        "<script>var secretscript = 1; if (a<b) {}</script>"
        "<h2>Budget</h2><ul><li>Hotel 400 euros</li><li>Food 200 euros</li></ul>"
        "<p>a &lt; b, said the <i>unclosed paragraph"
    )
    path = write(tmp_path / "trip.html", page)
    summary = mneme.import_([path])
    assert summary.files_imported == 1 and not summary.files_failed
    texts = {offsets(m)[3]: m.text for m in chunks_of(mneme)}
    assert texts[("Travel",)] == "Travel\n\nWe flew to Lisbon & ate pastel de nata."
    assert texts[("Travel", "Budget")].startswith("Budget\n\nHotel 400 euros\n\nFood 200 euros")
    assert "a < b, said the unclosed paragraph" in texts[("Travel", "Budget")]
    assert not mneme.memory.search("secretscript")
    assert not mneme.memory.search("secretstyle")
    assert mneme.memory.search("Lisbon")


def test_deeply_nested_and_hostile_html_is_linear(tmp_path: Path) -> None:
    # html.parser alone needs minutes for the `<a<a<a…` input; these all finish at once.
    for markup in (
        "<div>" * 200_000 + "deep text" + "</div>" * 10,
        "<a" * 100_000,
        "<![CDATA[" * 50_000,
        "</" * 100_000,
        "<?" * 100_000,
        '<a title="x>' * 50_000,
    ):
        text, blocks = html_to_blocks(markup)
        assert all(text[b.start : b.end].strip() for b in blocks)
    assert html_to_blocks("<div>" * 200_000 + "deep text")[0] == "deep text"


def test_folders_are_recursive_and_unsupported_files_are_listed(
    mneme: Assistant, tmp_path: Path
) -> None:
    root = tmp_path / "library"
    write(root / "a.md", "# A\n\nalpha text")
    write(root / "deeper" / "even" / "b.txt", "bravo text")
    write(root / "deeper" / "c.HTML", "<p>charlie text</p>")
    write(root / "photo.jpg", b"\xff\xd8\xff")
    write(root / "README", "no suffix")
    write(root / ".git" / "config.txt", "hidden folder")
    write(root / ".hidden.md", "hidden file")
    seen: list[ImportProgress] = []
    summary = mneme.import_([root, root / "a.md"], progress=seen.append)  # a.md only once
    assert summary.files_imported == 3 and summary.chunks_added == 3
    assert sorted(Path(p).name for p, _ in summary.files_unsupported) == ["README", "photo.jpg"]
    assert all("not imported" in reason for _, reason in summary.files_unsupported)
    assert {m.text for m in chunks_of(mneme)} == {"# A\n\nalpha text", "bravo text", "charlie text"}
    last = seen[-1]
    assert (last.files_done, last.files_total, last.chunks) == (3, 3, 3)
    assert last.bytes_done == last.bytes_total > 0
    assert {p.current for p in seen if p.current} == {
        str((root / n).resolve()) for n in ("a.md", "deeper/even/b.txt", "deeper/c.HTML")
    }


def test_reimport_skips_unchanged_and_replaces_changed_files(
    mneme: Assistant, tmp_path: Path
) -> None:
    tmp_path = tmp_path / "docs"  # beside MNEME_HOME, not around it
    keep = write(tmp_path / "keep.md", "# Keep\n\nthe walrus stays")
    change = write(tmp_path / "change.txt", "old platypus words\n\nmore old text")
    first = mneme.import_([tmp_path])
    assert (first.files_imported, first.chunks_added) == (2, 2)
    before = {m.id for m in chunks_of(mneme)}

    again = mneme.import_([tmp_path])
    assert (again.files_imported, again.files_skipped, again.chunks_added) == (0, 2, 0)
    assert {m.id for m in chunks_of(mneme)} == before

    write(change, "new echidna words\n\n" + "filler sentence here. " * 100)
    updated = mneme.import_([tmp_path])
    assert (updated.files_imported, updated.files_updated, updated.files_skipped) == (1, 1, 1)
    # the short paragraph, then the long one in three pieces cut at whitespace
    assert updated.chunks_removed == 1 and updated.chunks_added == 4
    memories = chunks_of(mneme)
    assert len(memories) == 5
    assert not mneme.memory.search("platypus")  # the old chunk's FTS entry went with it
    assert mneme.memory.search("echidna")
    assert len(mneme.memory.search("walrus")) == 1
    # a chunk the user forgot stays forgotten while its file is unchanged
    walrus = mneme.memory.search("walrus")[0]
    mneme.memory.forget(walrus.id)
    assert mneme.import_([keep]).files_skipped == 1
    assert not mneme.memory.search("walrus")


def test_bad_files_get_clear_errors_and_the_job_goes_on(mneme: Assistant, tmp_path: Path) -> None:
    tmp_path = tmp_path / "docs"
    write(tmp_path / "1-binary.txt", os.urandom(2000) + b"\x00" + os.urandom(100))
    write(tmp_path / "2-undecodable.md", b"caf\xe9 \x81\x8d bytes")
    write(tmp_path / "3-controls.txt", b"\x01\x02\x03\x04" * 50 + b"text")
    huge = tmp_path / "4-huge.txt"
    with huge.open("wb") as handle:
        handle.truncate(51 * MB)  # sparse: refused by its size before anything is read
    write(tmp_path / "5-good.txt", "the good file survives")
    write(tmp_path / "6-utf16.txt", "\ufeffutf sixteen text".encode("utf-16-le"))
    write(tmp_path / "7-latin.txt", "caf\xe9 cr\xe8me".encode("cp1252"))
    summary = mneme.import_([tmp_path, tmp_path / "missing.md"])
    errors = {Path(p).name: message for p, message in summary.files_failed}
    assert set(errors) == {
        "1-binary.txt",
        "2-undecodable.md",
        "3-controls.txt",
        "4-huge.txt",
        "missing.md",
    }
    assert "binary" in errors["1-binary.txt"]
    assert "encoding" in errors["2-undecodable.md"]
    assert "binary" in errors["3-controls.txt"]
    assert "51.0 MB" in errors["4-huge.txt"] and "50 MB" in errors["4-huge.txt"]
    assert "does not exist" in errors["missing.md"]
    assert summary.files_imported == 3
    assert {m.text for m in chunks_of(mneme)} == {
        "the good file survives",
        "utf sixteen text",
        "café crème",
    }


def test_cancel_between_files_keeps_finished_files_only(mneme: Assistant, tmp_path: Path) -> None:
    tmp_path = tmp_path / "docs"
    for index in range(10):
        write(tmp_path / f"note{index:02}.txt", f"note number{index} text")
    cancel = CancelToken()

    def progress(update: ImportProgress) -> None:
        if update.files_done == 3:
            cancel.cancel()

    summary = mneme.import_([tmp_path], progress=progress, cancel=cancel)
    assert summary.cancelled and summary.files_imported == 3
    assert len(chunks_of(mneme)) == 3
    rest = mneme.import_([tmp_path])
    assert (rest.files_imported, rest.files_skipped, rest.cancelled) == (7, 3, False)
    assert len(chunks_of(mneme)) == 10


def test_cancel_inside_a_file_leaves_nothing_half_written(mneme: Assistant, tmp_path: Path) -> None:
    tmp_path = tmp_path / "docs"
    write(tmp_path / "a-small.txt", "small file")
    write(tmp_path / "b-big.txt", "\n\n".join(f"paragraph {i} " + "x" * 980 for i in range(700)))
    cancel = CancelToken()

    def progress(update: ImportProgress) -> None:
        if update.current and update.current.endswith("b-big.txt") and update.chunks > 1:
            cancel.cancel()  # reported from inside the big file, after 256 of its chunks

    summary = mneme.import_([tmp_path], progress=progress, cancel=cancel)
    assert summary.cancelled and summary.files_imported == 1
    assert [m.text for m in chunks_of(mneme)] == ["small file"]
    finished = mneme.import_([tmp_path])
    assert finished.files_imported == 1 and finished.chunks_added == 700
    assert len(chunks_of(mneme)) == 701


def test_cli_import_json(mneme: Assistant, tmp_path: Path, capsys) -> None:
    write(tmp_path / "docs" / "a.md", "# Title\n\ncli imported text")
    write(tmp_path / "docs" / "junk.txt", b"\x00\x01binary")
    mneme.close()
    code = main(["import", str(tmp_path / "docs"), "--json"])
    out = capsys.readouterr().out
    report = json.loads(out)
    assert code == 1  # one file failed
    assert report["files_imported"] == 1 and report["chunks_added"] == 1
    assert report["files_failed"][0]["path"].endswith("junk.txt")
    assert "binary" in report["files_failed"][0]["error"]
    assert main(["import", str(tmp_path / "docs" / "a.md"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files_skipped"] == 1
    assert main(["import", str(tmp_path / "docs" / "a.md")]) == 0
    assert "0 files" in capsys.readouterr().out


# -- generated malformed input: never a crash, never a hang, chunks always faithful --------------

MARKUP = st.lists(
    st.sampled_from(
        [
            *"#=-`~<>/!?&;[]\"' \n\r\t\x0babcxyz",
            "<p>",
            "</p>",
            "<h1>",
            "<script>",
            "<!--",
            "-->",
            "```",
            "# ",
            "\r\n",
            "é",
            "\u3000",
            *["<![CDATA[", "<a href='", "&amp;", "&#", "</h2>", "<pre>", "<br/>", "word "],
        ]
    ),
    max_size=200,
).map("".join)


def check_chunks(text: str, chunks: list) -> None:
    for chunk in chunks:
        assert 0 < len(chunk.text) <= MAX_CHARS
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip() == chunk.text
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(MARKUP, st.integers(min_value=5, max_value=60))
def test_generated_markdown_and_text_chunk_faithfully(text: str, max_chars: int) -> None:
    check_chunks(text, list(chunk_blocks(text, markdown_blocks(text), max_chars)))
    check_chunks(text, list(chunk_blocks(text, text_blocks(text), max_chars)))


@settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(MARKUP)
def test_generated_html_never_crashes(markup: str) -> None:
    text, blocks = html_to_blocks(markup)
    for block in blocks:
        assert text[block.start : block.end].strip() == text[block.start : block.end]
    check_chunks(text, list(chunk_blocks(text, blocks, 50)))


@settings(max_examples=300, deadline=2000)
@given(st.binary(max_size=300))
def test_generated_bytes_decode_or_fail_clearly(data: bytes) -> None:
    try:
        text = decode_text(data, "f.txt")
    except ImportFileError as error:
        assert re.search(r"binary|encoding|not valid", str(error))
    else:
        assert "\x00" not in text


@settings(
    max_examples=40,
    deadline=5000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.sampled_from([".md", ".txt", ".html"]), st.binary(max_size=300) | MARKUP.map(str.encode))
def test_generated_files_import_or_fail_per_file(
    mneme: Assistant, tmp_path: Path, suffix: str, data: bytes
) -> None:
    path = write(tmp_path / f"generated{suffix}", data)
    summary = mneme.import_([path])
    assert summary.files_imported + len(summary.files_failed) + summary.files_skipped == 1
    for memory in chunks_of(mneme):
        if memory.session == f"document:{path.resolve()}":
            assert memory.text.strip()


def test_the_registry_knows_the_document_suffixes() -> None:
    from assistant.importers import importer_for, supported_suffixes

    assert {".txt", ".md", ".html", ".htm"} <= set(supported_suffixes())
    assert importer_for(Path("x.MD")) is documents.MARKDOWN
    assert importer_for(Path("x.pdf")) is not None  # PDF has its own importer (pdf.py)
    assert parse_source_ref("/a#b/c.md#3-10 § A > B") == ("/a#b/c.md", 3, 10, ("A", "B"))
    assert parse_source_ref("conversation:1/message:2") is None
