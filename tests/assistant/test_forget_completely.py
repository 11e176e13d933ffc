"""Forgetting leaves no trace (issue 6): after each way of forgetting, the decrypted database
(every page, free ones included, and every write-ahead-log frame) and every file under MNEME_HOME
hold 0 occurrences of the forgotten text; the derived rows are gone; a fact also read elsewhere
keeps only its other provenance; recall no longer finds it; the model's cached prompt is dropped.

The real pipeline throughout: the tiny llama.cpp model for replies and learning, the bundled
encoder for vectors, the importers for a document and an email. Each scene also holds a second
marker that must survive: finding it after forgetting shows the scan still reads real plaintext
(a decryptor gone wrong would "find nothing" everywhere).
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlcipher3

from assistant import Assistant
from assistant.memory import forget
from assistant.memory.facts import FactSource
from assistant.memory.policy import Candidate
from assistant.memory.pool import POOL_STATE_NAME
from assistant.memory.statements import parse_first_person
from assistant.types import Reply
from tests.assistant.sqlcipher_pages import (
    DecryptionError,
    database_key,
    decrypt_database,
    files_under,
)

# Letters and digits the porter stemmer and unicode61 keep as one token, unchanged; the kept
# marker shares no prefix with it, so FTS5's prefix-compressed terms still spell the tail.
MARKER = "qx7731zanzibar"
KEPT = "wombat4409kestrel"
SENDER = "vexleyqx7731@example.org"
DOCUMENT = "plumtree5521harbour"
WORDS = (MARKER, KEPT, DOCUMENT, SENDER.split("@")[0])
COLUMNS_NAMING_A_MEMORY = (
    ("memories", "id"),
    ("memory_vectors", "memory_id"),
    ("memory_windows", "memory_id"),
    ("fact_sources", "fact_id"),
    ("fact_sources", "source_memory_id"),
    ("signal_memories", "memory_id"),
    ("reply_memories", "memory_id"),
    ("extraction_jobs", "memory_id"),
    ("extraction_jobs", "context_memory_id"),
    ("imported_file_memories", "memory_id"),
    ("imported_unit_memories", "memory_id"),
)


# -- where text is found ------------------------------------------------------------------------
def needles(text: str) -> list[bytes]:
    """The text in lower case, and for a one-word marker also its tail: FTS5 stores a term after
    the prefix it shares with the term before it, so the tail is what a leftover index entry
    certainly spells."""
    lowered = text.lower().encode()
    return [lowered, lowered[-8:]] if text.isalnum() and len(text) > 8 else [lowered]


def traces(app: Assistant, text: str) -> dict[str, int]:
    """Where `text` (any case) occurs: in the decrypted database pages, in the decrypted WAL
    frames, and raw in any file under MNEME_HOME. Only places with hits are listed."""
    database = app.paths.database
    decrypted = decrypt_database(database, database_key(database))
    found: dict[str, int] = {}
    for needle in needles(text):
        pages = sum(page.lower().count(needle) for page in decrypted.pages)
        frames = sum(page.lower().count(needle) for _, page in decrypted.wal_frames)
        if pages:
            found[f"database pages: {needle.decode()}"] = pages
        if frames:
            found[f"WAL frames: {needle.decode()}"] = frames
    home = database.parent.parent
    for path, data in files_under(home).items():
        hits = sum(data.lower().count(needle) for needle in needles(text))
        if hits:
            found[f"file {path.relative_to(home)}"] = hits
    return found


def rows_naming(app: Assistant, ids: list[int]) -> dict[str, int]:
    """Rows in every table keyed by memory id that still name one of `ids`."""
    marks = ",".join("?" * len(ids))
    with app._opened_database().read() as db:
        counts = {
            f"{table}.{column}": db.execute(
                f"SELECT count(*) FROM {table} WHERE {column} IN ({marks})", ids
            ).fetchone()[0]
            for table, column in COLUMNS_NAMING_A_MEMORY
        }
    return {name: count for name, count in counts.items() if count}


def fts_hits(app: Assistant, word: str) -> int:
    with app._opened_database().read() as db:
        return sum(
            db.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", [word]).fetchone()[0]
            for table in ("memories_fts", "memory_windows_fts")
        )


def signals_naming(app: Assistant, ids: list[int]) -> list[int]:
    marks = ",".join("?" * len(ids))
    with app._opened_database().read() as db:
        return [
            int(row[0])
            for row in db.execute(
                f"SELECT DISTINCT signal_id FROM signal_memories WHERE memory_id IN ({marks})", ids
            ).fetchall()
        ]


def signals_left(app: Assistant, signal_ids: list[int]) -> int:
    marks = ",".join("?" * len(signal_ids))
    with app._opened_database().read() as db:
        return int(
            db.execute(
                f"SELECT count(*) FROM learning_signals WHERE id IN ({marks})", signal_ids
            ).fetchone()[0]
        )


def memory_of(app: Assistant, message_id: int) -> int:
    with app._opened_database().read() as db:
        return int(
            db.execute("SELECT id FROM memories WHERE message_id = ?", [message_id]).fetchone()[0]
        )


def recalled(app: Assistant, query: str) -> set[int]:
    return {r.memory.id for r in app.memory.recall(query, 50, touch=False)}


def learned_weights_stored(app: Assistant) -> bool:
    with app._opened_database().read() as db:
        row = db.execute("SELECT 1 FROM pool_state WHERE name = ?", [POOL_STATE_NAME])
        return row.fetchone() is not None


def assert_cached_prompt_dropped(app: Assistant, conversation_id: int) -> None:
    """The model's KV cache held prompts quoting the forgotten text: the next reply re-reads its
    whole prompt (0 tokens reused), where an ordinary next reply reuses the shared prefix."""
    assert app._prompt_cache_stale
    after = app.reply(conversation_id, "And what else?", use_memory=False).wait()
    assert after.stats.reused_prompt_tokens == 0
    again = app.reply(conversation_id, "Anything more?", use_memory=False).wait()
    # The control: the prefix is reused again once nothing new was forgotten.
    assert again.stats.reused_prompt_tokens > 0


# -- the scene ----------------------------------------------------------------------------------
@dataclass
class Scene:
    conversation: int  # conversation A: its first message holds MARKER
    message: int  # that message
    memory: int  # its episode
    neighbours: list[int]  # episodes of A around it (their context windows quote it)
    fact_only_here: int  # a fact extracted only from that message (its text holds MARKER)
    fact_shared: int  # a fact read in that message and in conversation C (no MARKER)
    other_source: int  # the episode of conversation C (holds KEPT)
    later: Reply  # a reply in conversation B that recalled the memory
    signal_ids: list[int]  # learning signals naming the memory or its fact


def build_scene(app: Assistant, *, learn: bool = False) -> Scene:
    """Conversations A (MARKER, two exchanges), C (KEPT) and B (a question that recalls A's
    memory, with thumbs up); facts extracted from A, one also read in C; vectors for all.
    `learn` adds the background learning job (likelihood gains, retraining: ~10 s)."""
    app.update_settings(memory_k=10)
    first = app.reply(
        None, f"My favourite island is {MARKER.capitalize()} and I travel every spring."
    ).wait()
    conversation = first.conversation.id
    second = app.reply(conversation, "I usually pack sunscreen and a good book.").wait()
    other = app.reply(None, f"I travel every spring, usually with {KEPT} in April.").wait()
    memory = memory_of(app, first.user_message.id)
    other_source = memory_of(app, other.user_message.id)
    neighbours = [
        memory_of(app, m.id)
        for m in (first.assistant_message, second.user_message, second.assistant_message)
    ]

    def extracted(statement: str, source: int, reply: Reply) -> int:
        # As extract.py stores a model's proposal grounded in the user's turn.
        outcome = app.memory.propose(
            Candidate(statement, "user-stated", parse_first_person(statement), confidence=0.9),
            FactSource(
                memory_id=source,
                source_type="conversation",
                source_ref=f"conversation:{reply.conversation.id}/message:{reply.user_message.id}",
                conversation_id=reply.conversation.id,
                message_id=reply.user_message.id,
                occurred_at=reply.user_message.created_at,
                quote=(0, 10),
            ),
        )
        assert outcome.fact_id is not None
        return outcome.fact_id

    fact_only_here = extracted(f"My favourite island is {MARKER.capitalize()}.", memory, first)
    fact_shared = extracted("I travel every spring.", memory, first)
    assert extracted("I travel every spring.", other_source, other) == fact_shared  # a merge
    assert {s["memory_id"] for s in app.memory.fact_sources(fact_shared)} == {
        memory,
        other_source,
    }

    app.memory.sync()  # every text and window vector, and the pool
    later = app.reply(None, "Which island do I love to visit?").wait()
    used = {r.memory.id for r in later.memories}
    assert memory in used or fact_only_here in used, "recall did not bring the memory back"
    app.feedback(later.assistant_message.id, 1)
    if learn:
        run = app.learn()  # likelihood gains through llama.cpp logits, signals, retraining
        assert run.replies >= 1
    signal_ids = signals_naming(app, [memory, fact_only_here])
    assert signal_ids and traces(app, MARKER)
    return Scene(
        conversation,
        first.user_message.id,
        memory,
        neighbours,
        fact_only_here,
        fact_shared,
        other_source,
        later,
        signal_ids,
    )


def assert_scene_forgotten(app: Assistant, scene: Scene) -> None:
    gone = [scene.memory, scene.fact_only_here]
    assert traces(app, MARKER) == {}
    assert traces(app, KEPT), "the kept text must still be found: the scan reads plaintext"
    assert rows_naming(app, gone) == {}
    assert signals_left(app, scene.signal_ids) == 0
    assert fts_hits(app, MARKER) == 0
    assert not recalled(app, f"favourite island {MARKER}") & set(gone)
    # The fact read in two places stays, with only the other source, and points at it.
    shared = app.memory.get(scene.fact_shared)
    assert shared.status == "active"
    assert [s["memory_id"] for s in app.memory.fact_sources(scene.fact_shared)] == [
        scene.other_source
    ]
    assert shared.message_id != scene.message
    assert_cached_prompt_dropped(app, scene.later.conversation.id)


# -- the positive control -----------------------------------------------------------------------
def test_the_scan_finds_the_text_before_forgetting_and_the_files_are_encrypted(
    assistant: Assistant,
) -> None:
    scene = build_scene(assistant)
    found = traces(assistant, MARKER)
    # Found by decryption (rows, FTS terms, windows, messages, title), never in the raw files.
    assert any(place.startswith(("database pages", "WAL frames")) for place in found)
    assert not [place for place in found if place.startswith("file ")]
    assert traces(assistant, KEPT)
    assert fts_hits(assistant, MARKER) >= 2  # the memory and its neighbours' windows
    assert {scene.memory, scene.fact_only_here} <= recalled(assistant, f"island {MARKER}")
    # After a scrub (WAL emptied) the text is still found: it is the pages, not the WAL alone.
    assistant.memory.scrub()
    decrypted = decrypt_database(assistant.paths.database, database_key(assistant.paths.database))
    assert decrypted.wal_bytes == 0 and decrypted.count(MARKER.encode()) > 0
    assert decrypted.pages[0][16:18] == b"\x10\x00"  # the SQLite header: 4096-byte pages
    # A wrong key cannot pass for the right one: every page is authenticated.
    with pytest.raises(DecryptionError):
        decrypt_database(assistant.paths.database, secrets.token_bytes(32))


def test_the_markers_are_single_unstemmed_index_terms() -> None:
    """FTS5 with the porter stemmer stores lower-cased, stemmed terms: the markers must come
    through unchanged, or a leftover index entry would not spell them."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61')")
    connection.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    connection.execute("INSERT INTO t VALUES (?)", [" ".join(WORDS).upper()])
    terms = {row[0] for row in connection.execute("SELECT term FROM v")}
    assert terms == {word.lower() for word in WORDS}


# -- each way of forgetting ---------------------------------------------------------------------
def test_forget_one_memory(assistant: Assistant) -> None:
    scene = build_scene(assistant, learn=True)
    assert learned_weights_stored(assistant)
    # The user corrected it once: forgetting the current version takes its history too.
    edited = assistant.memory.edit(scene.memory, f"My favourite island is {MARKER}, truly.")
    report = assistant.memory.forget(edited.id)
    assert {scene.memory, edited.id, scene.fact_only_here} <= set(report.ids)
    assert report.facts_kept == 1
    # Weights trained on the deleted signals go too (retraining on the rest rebuilds them).
    assert report.signals >= len(scene.signal_ids) and not learned_weights_stored(assistant)
    assert assistant.messages(scene.conversation)[0].content == "(forgotten)"
    assert assistant.conversation(scene.conversation).title == "Forgotten conversation"
    # The neighbours stay; their context windows no longer quote it (the scan shows it).
    assert all(assistant.memory.get(i) for i in scene.neighbours)
    assert rows_naming(assistant, [edited.id]) == {}
    assert_scene_forgotten(assistant, scene)


def test_forget_a_conversation_as_a_source(assistant: Assistant) -> None:
    scene = build_scene(assistant)
    assistant.memory.forget_source(conversation_id=scene.conversation)
    assert rows_naming(assistant, scene.neighbours) == {}
    assert_scene_forgotten(assistant, scene)


def test_delete_a_conversation_with_its_memories(assistant: Assistant) -> None:
    scene = build_scene(assistant)
    assistant.delete_conversation(scene.conversation, forget_memories=True)
    assert scene.conversation not in {c.id for c in assistant.conversations()}
    assert rows_naming(assistant, scene.neighbours) == {}
    assert_scene_forgotten(assistant, scene)


def test_forget_a_document_by_path_and_by_source_type(assistant: Assistant, tmp_path: Path) -> None:
    assistant.memory.remember(f"My cat is called {KEPT}.")
    notes = tmp_path / "notes.txt"
    notes.write_text(
        f"Travel notes.\n\nThe ferry to {DOCUMENT} leaves at nine from the old quay.\n\n"
        "Bring cash for the market.\n",
        encoding="utf-8",
    )
    more = tmp_path / "more.txt"
    more.write_text(f"The {MARKER} lighthouse is closed on Mondays.\n", encoding="utf-8")
    assert assistant.import_([notes, more]).files_imported == 2
    with assistant._opened_database().read() as db:
        paths = dict(db.execute("SELECT path, id FROM imported_files").fetchall())
    assert set(paths) == {str(notes), str(more)}
    chunks = {
        path: [
            m.id
            for m in assistant.memory.browse(kind="chunk")
            if (m.source_ref or "").startswith(path + "#")
        ]
        for path in paths
    }
    # A fact read in the document (an imported fact waits in the inbox for review).
    ferry = assistant.memory.propose(
        Candidate(f"The ferry to {DOCUMENT} leaves at nine.", "imported"),
        FactSource(
            memory_id=chunks[str(notes)][0], source_type="document", source_ref=f"{notes}#0-10"
        ),
    ).fact_id
    assert ferry is not None and assistant.memory.get(ferry).status == "inbox"
    assistant.memory.sync()
    reply = assistant.reply(None, "When does the ferry leave from the quay?").wait()
    assert set(chunks[str(notes)]) & {r.memory.id for r in reply.memories}
    assistant.feedback(reply.assistant_message.id, 1)
    signal_ids = signals_naming(assistant, chunks[str(notes)])
    assert traces(assistant, DOCUMENT) and signal_ids

    assert assistant.memory.forget_source(source_ref=str(notes)) == len(chunks[str(notes)]) + 1
    assert traces(assistant, DOCUMENT) == {}
    assert rows_naming(assistant, [*chunks[str(notes)], ferry]) == {}
    assert signals_left(assistant, signal_ids) == 0
    assert not recalled(assistant, f"ferry {DOCUMENT} quay") & set(chunks[str(notes)])
    assert traces(assistant, MARKER)  # the other document is still there
    assert_cached_prompt_dropped(assistant, reply.conversation.id)

    assert assistant.memory.forget_source(source_type="document") == len(chunks[str(more)])
    assert traces(assistant, MARKER) == {}
    assert traces(assistant, KEPT)  # the user's own fact is no document
    assert rows_naming(assistant, chunks[str(more)]) == {}
    assert fts_hits(assistant, MARKER) == fts_hits(assistant, DOCUMENT) == 0


def email(number: int, sender: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Message-ID"] = f"<f{number}@example.org>"
    msg["From"] = f"Sender {number} <{sender}>"
    msg["To"] = "me@example.org"
    msg["Subject"] = f"Plans {number}"
    msg["Date"] = f"Mon, 0{number} Jan 2024 10:00:00 +0000"
    msg.set_content(body)
    return msg


def test_forget_a_sender(assistant: Assistant, tmp_path: Path) -> None:
    mbox = tmp_path / "Inbox.mbox"
    out = bytearray()
    for msg in (
        email(1, SENDER, f"Meet me at the {MARKER} harbour on Friday at noon.\n"),
        email(2, "kept@example.org", f"The {KEPT} exhibition opens in March.\n"),
    ):
        out += b"From sender@example.org Mon Jan  1 00:00:00 2024\n" + msg.as_bytes() + b"\n"
    mbox.write_bytes(bytes(out))
    assert assistant.import_([mbox]).items_imported == 2
    (theirs,) = [m.id for m in assistant.memory.browse(kind="chunk") if m.speaker == SENDER]
    assistant.memory.sync()
    reply = assistant.reply(None, "When is the harbour meeting on Friday?").wait()
    assert theirs in {r.memory.id for r in reply.memories}
    assistant.feedback(reply.assistant_message.id, 1)
    signal_ids = signals_naming(assistant, [theirs])
    assert traces(assistant, SENDER) and traces(assistant, MARKER) and signal_ids

    assert assistant.memory.forget_source(speaker=SENDER) == 1
    assert traces(assistant, MARKER) == {}
    assert traces(assistant, SENDER) == {}
    assert traces(assistant, SENDER.split("@")[0]) == {}  # the address's FTS term
    assert traces(assistant, KEPT)
    assert rows_naming(assistant, [theirs]) == {}
    assert signals_left(assistant, signal_ids) == 0
    assert theirs not in recalled(assistant, f"meeting {MARKER} harbour Friday")
    assert_cached_prompt_dropped(assistant, reply.conversation.id)


def test_remember_then_forget_in_chat(assistant: Assistant) -> None:
    """The chat commands: "remember that …" (stated twice: a merge), an update that supersedes it,
    then "forget that …". Mneme's confirmations quote the fact, so they go with it too."""
    noted = assistant.reply(None, f"Remember that I live in {MARKER}.").wait()
    again = assistant.reply(None, f"Please remember that I live in {MARKER}").wait()
    assert "already knew" in again.assistant_message.content
    (fact,) = [m for m in assistant.memory.browse(kind="fact") if MARKER in m.text.lower()]
    assistant.memory.sync()
    asked = assistant.reply(None, "Where do I live?").wait()
    assert fact.id in {r.memory.id for r in asked.memories}
    assistant.feedback(asked.assistant_message.id, 1)
    signal_ids = signals_naming(assistant, [fact.id])
    updated = assistant.reply(None, f"Remember that I live in {KEPT}.").wait()
    assert MARKER in updated.assistant_message.content.lower()  # "Before, I had “…”"
    assert traces(assistant, MARKER) and signal_ids

    answer = assistant.reply(noted.conversation.id, f"Forget that I live in {MARKER}.")
    assert "forgot 1 memory" in answer.wait().assistant_message.content
    assert traces(assistant, MARKER) == {}
    assert traces(assistant, KEPT)  # the newer fact and the message that stated it stay
    assert [m.content for m in assistant.messages(updated.conversation.id)] == [
        f"Remember that I live in {KEPT}.",
        "(forgotten)",
    ]
    assert rows_naming(assistant, [fact.id]) == {}
    assert signals_left(assistant, signal_ids) == 0
    assert fact.id not in recalled(assistant, f"live in {MARKER}")
    assert_cached_prompt_dropped(assistant, asked.conversation.id)


def test_scrub_says_when_another_reader_keeps_the_wal() -> None:
    """A second connection in the middle of a read (the CLI beside the app) keeps the WAL from
    being emptied: scrub says so instead of claiming the old frames are gone."""
    with Assistant(busy_timeout=0.05) as app:
        app.memory.remember(f"My passport number is {MARKER}.")
        path = app.paths.database
        other = sqlcipher3.connect(str(path))
        try:
            other.execute(f"PRAGMA key = \"x'{database_key(path).hex()}'\"")
            other.execute("BEGIN")
            other.execute("SELECT count(*) FROM memories").fetchone()  # holds a WAL snapshot
            app.memory.forget_many([m.id for m in app.memory.browse(kind="fact")], scrub=False)
            assert forget.scrub(app._opened_database()) is False
            assert decrypt_database(path, database_key(path)).count(MARKER.encode())  # old frames
            other.rollback()
        finally:
            other.close()
        assert forget.scrub(app._opened_database()) is True
        assert traces(app, MARKER) == {}


def test_a_forgotten_document_leaves_no_import_record(mneme: Assistant, tmp_path: Path) -> None:
    notes = tmp_path / f"{DOCUMENT}.txt"
    notes.write_text("The ferry leaves at nine from the old quay.\n", encoding="utf-8")
    assert mneme.import_([notes]).chunks_added == 1
    mneme.memory.forget_source(source_ref=str(notes))
    assert traces(mneme, DOCUMENT) == {}  # the file's name is in its import record
    assert mneme.import_([notes]).chunks_added == 1  # a forgotten file can be imported again


def test_deleting_an_incognito_conversation_leaves_no_trace(assistant: Assistant) -> None:
    conversation = assistant.new_conversation(incognito=True)
    assistant.reply(conversation.id, f"My secret is {MARKER}.").wait()
    assistant.memory.scrub()  # the text is in the database file now, the WAL empty
    assert traces(assistant, MARKER)
    assistant.delete_conversation(conversation.id, forget_memories=True)
    assert traces(assistant, MARKER) == {}


def test_forgetting_an_old_fact_keeps_a_newer_fact_that_says_the_same(mneme: Assistant) -> None:
    """Lived in X, then Y, then X again: forgetting the first X redacts its own command and
    answer, but the later "remember that" (the source of a fact that still exists) stays."""
    first = mneme.reply(None, f"Remember that I live in {MARKER}.").wait()
    mneme.reply(None, f"Remember that I live in {KEPT}.").wait()
    last = mneme.reply(None, f"Remember that I live in {MARKER}.").wait()
    old = mneme.memory.get(memory_of(mneme, first.user_message.id))
    assert old.status == "superseded"
    report = mneme.memory.forget(old.id)
    assert report.ids == [old.id] and report.messages_redacted == 2
    assert [m.content for m in mneme.messages(first.conversation.id)] == ["(forgotten)"] * 2
    assert [m.content for m in mneme.messages(last.conversation.id)] == [
        last.user_message.content,
        last.assistant_message.content,  # "Updated: “I live in …” Before, I had …"
    ]
    assert mneme.memory.get(memory_of(mneme, last.user_message.id)).status == "active"
