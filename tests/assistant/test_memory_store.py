"""The memory store: rows, FTS5 index, vectors, signals — all in the encrypted database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import Assistant
from assistant.errors import MnemeError, NotFoundError
from assistant.memory.keywords import keyword_query
from assistant.memory.learn import Signal, load_signals, record_signals
from assistant.memory.store import USABLE_AMONG, MemoryStore, NewMemory


@pytest.fixture
def opened() -> Iterator[Assistant]:
    with Assistant() as assistant:
        assistant.open()
        yield assistant


@pytest.fixture
def store(opened: Assistant) -> MemoryStore:
    assert opened._database is not None
    return MemoryStore(opened._database)


def turn(text: str, position: int, session: str = "s1") -> NewMemory:
    return NewMemory(
        text=text, session=session, position=position, occurred_at="2023-05-08T10:00:00"
    )


def test_add_get_and_keyword_search(store: MemoryStore) -> None:
    ids = store.add_many(
        [turn("Caroline went to a support group", 0), turn("Melanie painted a sunrise", 1)]
    )
    memory = store.get(ids[0])
    assert (memory.kind, memory.trust, memory.session, memory.status) == (
        "episode",
        "user-stated",
        "s1",
        "active",
    )
    hits = store.keyword_search("Who went to the support group?")
    assert [memory_id for memory_id, _ in hits] == [ids[0]]
    assert hits[0][1] > 0
    assert store.keyword_search("the and of") == []  # stopwords only: nothing to match


def test_deleting_removes_index_entry_vectors_and_signals(
    store: MemoryStore, opened: Assistant
) -> None:
    keep, gone = store.add_many(
        [turn("keep this sunrise note", 0), turn("delete this sunrise note", 1)]
    )
    store.put_vectors("text", "enc", [keep, gone], np.ones((2, 4), dtype=np.float32))
    database = opened._database
    assert database is not None
    record_signals(database, [Signal("evidence", "sunrise?", {gone: 1.0, keep: -1.0})])
    record_signals(database, [Signal("evidence", "keep?", {keep: 1.0})])
    store.delete(gone)
    with pytest.raises(NotFoundError):
        store.get(gone)
    assert [i for i, _ in store.keyword_search("sunrise")] == [keep]
    with database.read() as db:
        assert (
            db.execute(
                "SELECT count(*) FROM memory_vectors WHERE memory_id = ?", [gone]
            ).fetchone()[0]
            == 0
        )
    # The signal that named the deleted memory is gone whole; the other stays.
    assert [s.query for s in load_signals(database)] == ["keep?"]


def test_a_new_turn_updates_the_windows_it_enters(store: MemoryStore) -> None:
    first, second, third = store.add_many([turn("one", 0), turn("two", 1), turn("three", 2)])
    store.put_vectors("window", "enc", [first, second, third], np.ones((3, 4), dtype=np.float32))
    assert store.texts_missing_vectors("window", "enc") == []
    (fourth,) = store.add_many([turn("four", 3)])
    missing = dict(store.texts_missing_vectors("window", "enc"))
    # Windows are two turns either side: "four" enters the windows of "two" and "three" only.
    assert set(missing) == {second, third, fourth}
    assert missing[second] == "one two three four"
    assert missing[fourth] == "two three four"
    assert {i for i, _ in store.keyword_search("one four", windows=True)[:2]} == {second, third}


def test_bad_memories_are_refused_and_nothing_is_half_written(store: MemoryStore) -> None:
    with pytest.raises(MnemeError, match="trust level"):
        store.add_many([turn("fine", 0), NewMemory(text="bad", trust="rumour")])
    with pytest.raises(MnemeError, match="empty"):
        store.add_many([NewMemory(text="   ")])
    assert store.count() == {}


def test_pin_touch_and_list_order(store: MemoryStore) -> None:
    episode, _fact = store.add_many([turn("an episode", 0), NewMemory(text="a fact", kind="fact")])
    assert store.set_pinned(episode, True).pinned
    store.touch([episode, episode])
    assert store.get(episode).access_count == 1  # one call, one access
    assert [m.kind for m in store.rows()] == ["fact", "episode"]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300))
def test_any_query_text_is_safe_for_fts5(store: MemoryStore, text: str) -> None:
    query = keyword_query(text)
    assert query is None or query.startswith('"')
    store.keyword_search(text)  # never an FTS5 syntax error, whatever the user typed


def test_memories_are_encrypted_on_disk(
    opened: Assistant, store: MemoryStore, mneme_home: Path
) -> None:
    store.add_many([turn("The vault combination is 31-7-44", 0)])
    for path in (mneme_home / "data").iterdir():
        if path.is_file():
            assert b"vault combination" not in path.read_bytes()


def test_recall_keyword_budget_skips_the_commonest_words_first(store: MemoryStore) -> None:
    # "garden" is in every memory, "tomato" in three, "basil" in one.
    texts = [f"garden note {i}" for i in range(30)]
    texts[3] = "garden tomato basil"
    texts[4] = "garden tomato"
    texts[5] = "garden tomato"
    ids = store.add_many([turn(text, i) for i, text in enumerate(texts)])
    unbounded = store.keyword_search("garden tomato basil", limit=50)
    assert len(unbounded) == 30  # an explicit search keeps every word
    # A budget of 5 matching rows keeps basil (1) and tomato (3), not garden (30).
    bounded = store.keyword_search("garden tomato basil", limit=50, doc_budget=5)
    assert {i for i, _ in bounded} == {ids[3], ids[4], ids[5]}
    assert bounded[0][0] == ids[3]
    # Within budget nothing changes (a small pool is never pruned).
    assert store.keyword_search("garden tomato basil", limit=50, doc_budget=1000) == unbounded
    # Every word over budget: no keyword work at all, rather than unbounded work.
    assert store.keyword_search("garden", limit=50, doc_budget=5) == []


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200), budget=st.integers(min_value=0, max_value=50))
def test_budgeted_search_is_safe_for_any_text(store: MemoryStore, text: str, budget: int) -> None:
    if store.count() == {}:
        store.add_many([turn(f"note {i} about {text[:20] or 'x'}", i) for i in range(5)])
    hits = store.keyword_search(text, limit=100, doc_budget=budget)
    assert len(hits) <= budget  # the kept words match at most `budget` rows between them


def test_word_counts_remember_only_common_words_and_forget_on_change(store: MemoryStore) -> None:
    counts = store._word_counts
    counts.COMMON = 3  # type: ignore[misc]  # small, for a small store
    store.add_many([turn(f"garden {i}", i) for i in range(4)])
    store.add_many([turn("tomato", 10)])
    assert [i for i, _ in store.keyword_search("tomato garden", limit=10, doc_budget=100)]
    assert ("memories_fts", "garden") in counts._known  # common: remembered
    assert ("memories_fts", "tomato") not in counts._known  # rare: counted afresh each time
    # A new memory with a rare word is found at once: its count was never remembered as 0.
    (fresh,) = store.add_many([turn("basil and tomato", 11)])
    assert fresh in {i for i, _ in store.keyword_search("basil", doc_budget=100)}
    # Any deletion forgets every remembered count.
    store.delete(fresh)
    assert counts._known == {}


def test_usable_lookup_uses_rowids_not_the_status_index(
    store: MemoryStore, opened: Assistant
) -> None:
    store.add_many([turn(f"note {i}", i) for i in range(50)])
    database = opened._database
    assert database is not None
    statement = "EXPLAIN QUERY PLAN " + USABLE_AMONG.format(marks=",".join("?" * 120))
    with database.read() as db:
        # With 120 ids (recall asks about up to 120), the plain query searched the status index,
        # which reads every active memory.
        plan = str(db.execute(statement, list(range(1, 121))).fetchall())
    assert "PRIMARY KEY" in plan and "memories_by_status" not in plan
