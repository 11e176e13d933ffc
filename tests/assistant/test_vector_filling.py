"""Vectors fill in after memories arrive: recall uses what is ready, fill_vectors does the rest.

Runs the real all-MiniLM-L6-v2 encoder, wrapped to count how many texts each call encodes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from assistant import Assistant
from assistant.cancel import CancelToken
from assistant.memory.api import FILL_BATCH, INLINE_ENCODES, MemoryApi
from assistant.memory.encoder import Encoder
from assistant.memory.store import NewMemory
from assistant.types import RecalledMemory

ANIMALS = ["otter", "heron", "lynx", "walrus", "gecko", "bison", "puffin", "marmot", "ibex", "newt"]


class CountingEncoder:
    """Wraps the real encoder's `encode`, recording how many texts each call had."""

    def __init__(self, memory: MemoryApi) -> None:
        self.encoder: Encoder = memory.encoder
        self.calls: list[int] = []
        self.before_encode: list[object] = []  # callables run inside the first encode call
        real = self.encoder.encode

        def encode(texts: list[str], **kwargs: object) -> np.ndarray:
            self.calls.append(len(texts))
            while self.before_encode:
                self.before_encode.pop()()  # type: ignore[operator]
            return real(texts, **kwargs)  # type: ignore[arg-type]

        self.encoder.encode = encode  # type: ignore[method-assign]

    @property
    def texts(self) -> int:
        return sum(self.calls)


def imported(count: int) -> list[NewMemory]:
    """`count` memories: document chunks and, every tenth, a turn of a ten-turn conversation."""
    made = []
    for index in range(count):
        animal = ANIMALS[index % len(ANIMALS)]
        text = f"Field note {index}: code word zq{index}x, the {animal} was seen near hut {index}."
        if index % 10:
            made.append(
                NewMemory(
                    text,
                    kind="chunk",
                    source_type="document",
                    source_ref=f"/notes/{index // 10}.md",
                    trust="imported",
                    session=f"document:/notes/{index // 10}.md",
                    position=index % 10,
                )
            )
        else:
            made.append(NewMemory(text, session=f"talk-{index // 100}", position=index % 100))
    return made


@pytest.fixture
def opened() -> Iterator[Assistant]:
    with Assistant() as assistant:
        # Warm the encoder (loading the model is not what these tests measure).
        assistant.memory.remember("I keep my bicycle in the garden shed")
        assert assistant.memory.recall("bicycle", 1)
        yield assistant


def reasons(recalled: RecalledMemory) -> str:
    return "; ".join(recalled.reasons)


def stored_vector_ids(assistant: Assistant, variant: str) -> set[int]:
    with assistant.memory._database().read() as db:
        rows = db.execute(
            "SELECT memory_id FROM memory_vectors WHERE variant = ?", [variant]
        ).fetchall()
    return {int(row[0]) for row in rows}


def test_recall_uses_keywords_first_then_fill_vectors_brings_meaning(opened: Assistant) -> None:
    memory = opened.memory
    counter = CountingEncoder(memory)
    ids = memory.add(imported(2000))
    (sister,) = memory.add([NewMemory("My sister Ana moved to Lisbon last spring")])
    assert memory.pending_vectors() == 2001
    assert counter.calls == []  # adding encodes nothing

    # Recall right away: the imported memory comes through its keywords, the newest memory
    # through its meaning, and only a few texts were encoded inline.
    recalled = memory.recall("Where is code word zq1234x?", 3)
    assert recalled[0].memory.id == ids[1234]
    assert reasons(recalled[0]).startswith("shares words")
    assert counter.texts <= INLINE_ENCODES
    assert len(counter.calls) <= 2  # no per-row encoding
    by_meaning = memory.recall("Which city does my sibling live in now?", 3)
    assert by_meaning[0].memory.id == sister
    assert "similar meaning" in reasons(by_meaning[0])
    assert counter.texts <= INLINE_ENCODES
    pending = memory.pending_vectors()
    assert 2001 - INLINE_ENCODES <= pending < 2001

    # A limited fill does exactly that many memories, oldest first; the pool waits for a recall.
    assert memory._pool is not None
    pool_size = len(memory._pool)
    counter.calls.clear()
    assert memory.fill_vectors(limit=100) == 100
    assert memory.pending_vectors() == pending - 100
    assert ids[0] in stored_vector_ids(opened, "text")
    assert len(memory._pool) == pool_size  # rebuilt lazily, by the next recall
    assert len(counter.calls) == 1 and counter.calls[0] > 100  # one batch: texts and windows

    # Cancelled part way: it stops, keeps what it stored, and says how many.
    token = CancelToken()
    seen: list[tuple[int, int]] = []

    def cancel_soon(done: int, total: int) -> None:
        seen.append((done, total))
        if done >= FILL_BATCH:  # once the first batch is stored
            token.cancel()

    filled = memory.fill_vectors(progress=cancel_soon, cancel=token)
    assert filled == FILL_BATCH
    assert memory.pending_vectors() == pending - 100 - filled
    assert all(total == pending - 100 for _, total in seen)

    # The rest, with progress that only goes up and ends at the total.
    rest = memory.pending_vectors()
    seen.clear()
    assert memory.fill_vectors(progress=lambda d, t: seen.append((d, t))) == rest
    assert seen[-1] == (rest, rest)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert memory.pending_vectors() == 0
    assert memory.status()["vectors_pending"] == 0
    assert set(ids) <= stored_vector_ids(opened, "text") & stored_vector_ids(opened, "window")

    # Now the imported memories are found by meaning too (no word in common with the query).
    counter.calls.clear()
    recalled = memory.recall("a wild cat with tufted ears", 5)
    assert counter.calls == []  # nothing left to encode inline (the query has its own path)
    assert len(memory._pool) == 2002
    assert " lynx " in recalled[0].memory.text and recalled[0].memory.id in ids
    assert "similar meaning" in reasons(recalled[0])


def test_chunk_windows_copy_the_text_vector_and_turn_windows_are_encoded(
    opened: Assistant,
) -> None:
    memory = opened.memory
    ids = memory.add(imported(40))
    assert memory.fill_vectors() == 40
    with opened.memory._database().read() as db:
        rows = db.execute(
            "SELECT m.id, m.kind, t.vector, w.vector, mw.text FROM memories m "
            "JOIN memory_vectors t ON t.memory_id = m.id AND t.variant = 'text' "
            "JOIN memory_vectors w ON w.memory_id = m.id AND w.variant = 'window' "
            "JOIN memory_windows mw ON mw.memory_id = m.id WHERE m.id >= ?",
            [ids[0]],
        ).fetchall()
    assert len(rows) == 40
    turn_windows = []
    for _, kind, text_vector, window_vector, window_text in rows:
        if kind == "chunk":
            assert text_vector == window_vector
        else:
            assert text_vector != window_vector
            turn_windows.append((window_text, np.frombuffer(window_vector, np.float32)))
    expected = memory.encoder.encode([text for text, _ in turn_windows])
    np.testing.assert_allclose(np.stack([v for _, v in turn_windows]), expected, atol=1e-5)


def test_forgetting_while_vectors_fill_stores_nothing_for_the_forgotten(opened: Assistant) -> None:
    memory = opened.memory
    counter = CountingEncoder(memory)
    ids = memory.add(imported(200))
    doomed = [ids[40], ids[50], ids[120]]  # conversation turns: their neighbours' windows change

    def forget_from_another_thread() -> None:
        worker = threading.Thread(target=memory.forget_many, args=(doomed,))
        worker.start()
        worker.join()

    counter.before_encode.append(forget_from_another_thread)
    filled = memory.fill_vectors()
    assert filled == 200  # it went through the batch it had read
    assert not (
        set(doomed) & (stored_vector_ids(opened, "text") | stored_vector_ids(opened, "window"))
    )
    # The neighbours' windows were rewritten during the encoding: their old window vectors were
    # not stored, so they are still pending, and the next fill encodes the new windows.
    assert memory.pending_vectors() > 0
    memory.fill_vectors()
    assert memory.pending_vectors() == 0
    with opened.memory._database().read() as db:
        neighbour = db.execute(
            "SELECT mw.text, v.vector FROM memory_windows mw JOIN memory_vectors v "
            "ON v.memory_id = mw.memory_id AND v.variant = 'window' WHERE mw.memory_id = ?",
            [ids[60]],
        ).fetchone()
    assert "zq40x" not in neighbour[0] and "zq50x" not in neighbour[0]
    np.testing.assert_allclose(
        np.frombuffer(neighbour[1], np.float32), memory.encoder.encode([neighbour[0]])[0], atol=1e-5
    )
    recalled = memory.recall("code word zq120x", 5)
    assert ids[120] not in [r.memory.id for r in recalled]


def test_sync_still_fills_everything_before_recall(opened: Assistant) -> None:
    memory = opened.memory
    memory.add(imported(150))
    pool = memory.sync()
    assert memory.pending_vectors() == 0
    assert len(pool) == 151


def test_pending_vectors_needs_no_encoder_model() -> None:
    with Assistant() as assistant:
        assistant.memory.add(imported(5))
        assert assistant.memory.pending_vectors() == 5
        assert assistant.memory.encoder._model is None  # counting did not load the model


def test_vectors_of_another_encoder_are_encoded_again(opened: Assistant) -> None:
    memory = opened.memory
    memory.add(imported(12))
    memory.fill_vectors()
    assert memory.pending_vectors() == 0
    # As if the database's vectors had been made by another model before the setting changed.
    with memory._database().write() as db:
        db.execute("UPDATE memory_vectors SET encoder = 'old-model'")
        db.execute("UPDATE pool_state SET state = ? WHERE name = 'vectors-encoder'", [b"old-model"])
    again = Assistant()
    with again:
        assert again.memory.pending_vectors() == 13  # the warm-up memory and the 12
        assert again.memory.fill_vectors() == 13
        with again.memory._database().read() as db:
            encoders = {row[0] for row in db.execute("SELECT encoder FROM memory_vectors")}
        assert encoders == {again.memory.encoder.name}


def test_fill_vectors_can_cap_torch_threads_and_restores_them(opened: Assistant) -> None:
    import torch

    before = torch.get_num_threads()
    opened.memory.add([NewMemory(text=f"note number {i} about owls") for i in range(3)])
    seen: list[int] = []
    opened.memory.fill_vectors(
        threads=1, progress=lambda done, total: seen.append(torch.get_num_threads())
    )
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before
    assert opened.memory.pending_vectors() == 0
