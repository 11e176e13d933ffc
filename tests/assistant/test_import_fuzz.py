"""Fuzzing the importers with generated malformed input: .txt .md .html .docx .pdf and ChatGPT
exports, straight through the registered importers and (for a few) through `Assistant.import_`.

The only allowed outcomes are memories the store accepts or an ImportFileError (a per-file message);
a malformed ChatGPT conversation may also come back as an ImportUnit with `error`. Every example
must finish within ITEM_SECONDS (asserted here rather than with hypothesis deadlines, which flake on
a busy machine). Example counts scale with the hypothesis profile: `make test` runs the "ci"
profile, `make fuzz` the "fuzz" one (see tests/conftest.py)."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import Assistant, CancelToken
from assistant.importers import importer_for
from assistant.importers.registry import ImportFileError, ImportUnit, SourceFile
from assistant.memory.store import NewMemory
from tests.assistant.test_document_formats import (
    BODY,
    PAGE_ONE,
    PAGE_TWO,
    conversation,
    make_docx,
    make_pdf,
    paragraph,
    table,
)
from tests.conftest import fuzz_examples

ITEM_SECONDS = 5.0
FAST = [HealthCheck.too_slow, HealthCheck.data_too_large]


def run_importer(name: str, data: bytes) -> list[Any]:
    """Everything the importer for `name` yields from `data` (in memory), or [] after an
    ImportFileError; any other exception fails the test. Asserts the time budget."""
    path = Path("/fuzz") / name
    importer = importer_for(path)
    assert importer is not None
    source = SourceFile(path=path, size=len(data), mtime="2024-01-01", sha256="0", data=data)
    started = time.monotonic()
    out: list[Any] = []
    try:
        for item in importer.parse(source, CancelToken()):
            out.append(item)
    except ImportFileError as error:
        assert str(error).strip()
    elapsed = time.monotonic() - started
    assert elapsed < ITEM_SECONDS, f"{name} took {elapsed:.1f} s"
    for item in out:
        rows = item.memories if isinstance(item, ImportUnit) else (item,)
        if isinstance(item, ImportUnit) and item.error is not None:
            assert not item.memories and item.key
        for row in rows:
            assert isinstance(row, NewMemory)
            row.check()  # what the store does before writing
            assert "\x00" not in row.text
    return out


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """`data` with bytes replaced at (position % len, value) and optionally cut short."""
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=12)
CUTS = st.none() | st.integers(0, 4000)
MARKUP = st.lists(
    st.sampled_from(
        ["<p>", "</p>", "<h1>", "</h1>", "<h3>", "<div>", "<script>", "</script>", "<style>",
         "<!--", "-->", "<![CDATA[", "]]>", "&amp;", "&#0;", "&#xD800;", "# ", "## ", "\n",
         "\n\n", "```", "~~~", "===", "---", "\r", "\t", "word ", "é", "\u202e", "\ufeff"]
    )
    | st.text(max_size=20),
    max_size=60,
).map("".join)  # fmt: skip


# -- text documents ----------------------------------------------------------------------------
@settings(max_examples=fuzz_examples(1500), suppress_health_check=FAST)
@given(
    st.sampled_from(["f.txt", "f.md", "f.html"]),
    st.binary(max_size=2000) | MARKUP.map(lambda s: s.encode("utf-8", "surrogatepass")),
)
def test_fuzz_text_documents(name: str, data: bytes) -> None:
    run_importer(name, data)


# -- .docx -------------------------------------------------------------------------------------
DOCX_PIECES = st.lists(
    st.one_of(
        st.builds(paragraph, st.text(max_size=30), st.none() | st.sampled_from(
            ["Heading1", "Heading9", "heading2", "Title", "Kop3", "", "Heading0"]
        )),
        st.builds(table, st.lists(st.lists(st.text(max_size=8), max_size=4), max_size=4)),
        st.sampled_from(
            ["<w:tbl>", "</w:tbl>", "<w:tr>", "<w:tc>", "<w:p>", "</w:p>", "<w:tab/>", "<w:br/>",
             "<w:pPr><w:outlineLvl w:val=\"1\"/></w:pPr>", "<w:t>x</w:t>", "&lt;", "<!--c-->"]
        ),
    ),
    max_size=25,
).map("".join)  # fmt: skip
VALID_DOCX = make_docx(BODY)


@settings(max_examples=fuzz_examples(700), suppress_health_check=FAST)
@given(DOCX_PIECES)
def test_fuzz_docx_structure(body: str) -> None:
    run_importer("f.docx", make_docx(body))


@settings(max_examples=fuzz_examples(600), suppress_health_check=FAST)
@given(EDITS, CUTS)
def test_fuzz_docx_bytes(edits: list[tuple[int, int]], cut: int | None) -> None:
    run_importer("f.docx", mutate(VALID_DOCX, edits, cut))


@settings(max_examples=fuzz_examples(300), suppress_health_check=FAST)
@given(st.binary(max_size=3000))
def test_fuzz_docx_members(xml: bytes) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", xml)
        archive.writestr("word/styles.xml", xml[::-1])
    run_importer("f.docx", buffer.getvalue())


# -- .pdf --------------------------------------------------------------------------------------
VALID_PDF = make_pdf([PAGE_ONE, PAGE_TWO])


@settings(max_examples=fuzz_examples(500), suppress_health_check=FAST)
@given(EDITS, CUTS)
def test_fuzz_pdf_bytes(edits: list[tuple[int, int]], cut: int | None) -> None:
    run_importer("f.pdf", mutate(VALID_PDF, edits, cut))


@settings(max_examples=fuzz_examples(300), suppress_health_check=FAST)
@given(st.lists(st.lists(st.text(max_size=40), max_size=5), min_size=1, max_size=3))
def test_fuzz_pdf_text(pages: list[list[str]]) -> None:
    lines = [[line.encode("latin-1", "replace").decode("latin-1") for line in p] for p in pages]
    run_importer("f.pdf", make_pdf(lines))


@settings(max_examples=fuzz_examples(300), suppress_health_check=FAST)
@given(st.binary(max_size=2000))
def test_fuzz_pdf_junk(junk: bytes) -> None:
    run_importer("f.pdf", b"%PDF-1.4\n" + junk)


# -- ChatGPT exports ---------------------------------------------------------------------------
# Integers stay well inside the C JSON reader's range (int64), as a real export does.
SCALARS = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**62), 2**62)
    | st.text(max_size=10)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
FIELD_VALUES = JSON | st.sampled_from(["user", "assistant", "system", "c", "n0", "root"])


@st.composite
def damaged_conversations(draw: st.DrawFn) -> Any:
    """A plausible conversation with some fields replaced by arbitrary JSON."""
    turns = draw(st.lists(st.tuples(st.sampled_from(["user", "assistant", "tool"]),
                                    st.text(max_size=30)), max_size=4))  # fmt: skip
    chat = conversation(draw(st.text(min_size=1, max_size=8)), turns)
    nodes = list(chat["mapping"].values())
    for _ in range(draw(st.integers(0, 4))):
        messages = [node.get("message") for node in nodes if isinstance(node, dict)]
        targets = [item for item in [chat, *nodes, *messages] if isinstance(item, dict)]
        target = draw(st.sampled_from(targets))
        key = draw(st.sampled_from(
            ["id", "mapping", "current_node", "create_time", "parent", "message", "author",
             "content", "parts", "metadata", "children"]
        ))  # fmt: skip
        target[key] = draw(FIELD_VALUES)
    return chat


@settings(max_examples=fuzz_examples(400), suppress_health_check=FAST)
@given(st.lists(damaged_conversations() | JSON, max_size=4))
def test_fuzz_chatgpt_structure(chats: list[Any]) -> None:
    data = json.dumps(chats).encode()
    units = run_importer("conversations.json", data)
    assert len(units) == len(chats)  # one unit (or one error) per conversation, none lost


@settings(max_examples=fuzz_examples(800), suppress_health_check=FAST)
@given(EDITS, CUTS, st.binary(max_size=200))
def test_fuzz_chatgpt_bytes(edits: list[tuple[int, int]], cut: int | None, junk: bytes) -> None:
    valid = json.dumps([conversation("a", [("user", "hi"), ("assistant", "hello")])] * 3)
    run_importer("conversations.json", mutate(valid.encode(), edits, cut) + junk)


def test_deep_json_nesting_is_bounded() -> None:
    deep = b'{"id": "x", "mapping": ' * 50_000 + b"1" + b"}" * 50_000
    good = json.dumps(conversation("ok", [("user", "still here")])).encode()
    units = run_importer("conversations.json", b"[" + deep + b"," + good + b"," + deep + b"]")
    assert [bool(unit.error) for unit in units] == [True, False, True]
    assert "nested too deeply" in units[0].error
    assert units[1].memories[0].text == "still here"


# -- through the front door -------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_mneme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MNEME_HOME", str(tmp_path_factory.mktemp("fuzz-home")))
        instance = Assistant()
        instance.open()
        yield instance
        instance.close()


@settings(
    max_examples=fuzz_examples(100),
    suppress_health_check=[*FAST, HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(["f.md", "f.txt", "f.html", "f.docx", "f.pdf", "conversations.json"]),
    st.binary(max_size=500)
    | st.builds(mutate, st.sampled_from([VALID_DOCX, VALID_PDF]), EDITS, CUTS),
)
def test_fuzz_through_assistant_import(
    shared_mneme: Assistant, tmp_path_factory: pytest.TempPathFactory, name: str, data: bytes
) -> None:
    folder = tmp_path_factory.mktemp("f")
    path = folder / name
    path.write_bytes(data)
    started = time.monotonic()
    summary = shared_mneme.import_([path])
    assert time.monotonic() - started < ITEM_SECONDS
    handled = summary.files_imported + summary.files_skipped + len(summary.files_failed)
    assert handled == 1
    assert all(message.strip() for _, message in summary.files_failed)
