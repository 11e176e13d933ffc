"""The background vector filler: batches on the model lane, progress, pause, stop (no sleeps)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant import Assistant, CancelToken, MnemeError
from assistant.memory.store import NewMemory
from ui.tasks import Lane
from ui.vector_filler import BACKGROUND_THREADS, BATCH, VectorFiller, indexing_text


class FakeMemory:
    """Stands in for `Assistant.memory`: `pending` memories wait; each fill takes up to `limit`."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.limits: list[int | None] = []
        self.during_fill: Callable[[CancelToken | None], None] | None = None
        self.lock = threading.Lock()
        self.threads: list[int | None] = []

    def pending_vectors(self) -> int:
        with self.lock:
            return self.pending

    def fill_vectors(
        self,
        *,
        limit: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: CancelToken | None = None,
        threads: int | None = None,
    ) -> int:
        self.limits.append(limit)
        self.threads.append(threads)
        if self.during_fill is not None:
            self.during_fill(cancel)
        if cancel is not None and cancel.cancelled:
            return 0
        with self.lock:
            count = min(self.pending, limit if limit is not None else self.pending)
            self.pending -= count
        if progress is not None:
            progress(count // 2, count)
            progress(count, count)
        return count


@pytest.fixture
def lane() -> Iterator[Lane]:
    made = Lane("model")
    yield made
    made.wait()


def filler_for(memory: object, lane: Lane, qtbot) -> tuple[VectorFiller, list[tuple[int, int]]]:
    filler = VectorFiller(SimpleNamespace(memory=memory), lane)  # type: ignore[arg-type]
    seen: list[tuple[int, int]] = []
    filler.progress.connect(lambda done, total: seen.append((done, total)))
    return filler, seen


def test_fills_in_small_batches_with_progress_until_nothing_is_pending(qtbot, lane: Lane) -> None:
    memory = FakeMemory(1300)
    filler, seen = filler_for(memory, lane, qtbot)
    with qtbot.waitSignal(filler.finished, timeout=10_000):
        filler.start()
    assert memory.limits == [BATCH, BATCH, BATCH]
    assert memory.threads == [BACKGROUND_THREADS] * 3  # a core is left to the UI
    assert memory.pending == 0
    assert seen[0] == (0, 1300)
    assert seen[-1] == (1300, 1300)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert {total for _, total in seen} == {1300}
    assert not filler.running and not filler.busy


def test_memories_arriving_meanwhile_grow_the_total(qtbot, lane: Lane) -> None:
    memory = FakeMemory(600)

    def import_more(_cancel: CancelToken | None) -> None:
        if len(memory.limits) == 1:
            with memory.lock:
                memory.pending += 1000

    memory.during_fill = import_more
    filler, seen = filler_for(memory, lane, qtbot)
    with qtbot.waitSignal(filler.finished, timeout=10_000):
        filler.start()
    assert seen[0] == (0, 600)
    assert seen[-1] == (1600, 1600)
    assert memory.pending == 0


def test_nothing_pending_finishes_without_filling(qtbot, lane: Lane) -> None:
    memory = FakeMemory(0)
    filler, seen = filler_for(memory, lane, qtbot)
    with qtbot.waitSignal(filler.finished, timeout=10_000):
        filler.start()
    assert memory.limits == [] and seen == []


def test_pause_holds_the_next_batch_until_resume(qtbot, lane: Lane) -> None:
    memory = FakeMemory(1200)
    filler, seen = filler_for(memory, lane, qtbot)
    filler.start()
    filler.pause()  # a reply starts: the batch already queued runs, no further one
    qtbot.waitUntil(lambda: not filler.busy and len(memory.limits) == 1, timeout=10_000)
    lane.wait()
    assert len(memory.limits) == 1 and filler.running and filler.paused
    assert seen[-1] == (BATCH, 1200)
    with qtbot.waitSignal(filler.finished, timeout=10_000):
        filler.resume()
    assert len(memory.limits) == 3 and memory.pending == 0


def test_stop_cancels_the_batch_in_flight(qtbot, lane: Lane) -> None:
    memory = FakeMemory(5000)
    running = threading.Event()

    def block_until_cancelled(cancel: CancelToken | None) -> None:
        assert cancel is not None
        released = threading.Event()
        cancel.on_cancel(released.set)
        running.set()
        assert released.wait(10)

    memory.during_fill = block_until_cancelled
    filler, _ = filler_for(memory, lane, qtbot)
    filler.start()
    qtbot.waitUntil(running.is_set, timeout=10_000)
    with qtbot.waitSignal(filler.finished, timeout=10_000):
        filler.stop()
    assert len(memory.limits) == 1 and memory.pending == 5000
    assert not filler.running
    # It can start again afterwards and pick up where it stopped.
    memory.during_fill = None
    with qtbot.waitSignal(filler.finished, timeout=10_000):
        filler.start()
    assert memory.pending == 0


def test_a_failing_batch_reports_and_finishes(qtbot, lane: Lane) -> None:
    memory = FakeMemory(100)

    def fail(_cancel: CancelToken | None) -> None:
        raise MnemeError("The text encoder 'nope' could not be loaded.")

    memory.during_fill = fail
    filler, _ = filler_for(memory, lane, qtbot)
    errors: list[str] = []
    filler.failed.connect(errors.append)
    with qtbot.waitSignal(filler.finished, timeout=10_000):
        filler.start()
    assert errors == ["The text encoder 'nope' could not be loaded."]
    assert not filler.running


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_indexing_text_groups_thousands(done: int, total: int) -> None:
    text = indexing_text(done, total)
    assert text.startswith("Indexing meaning: ")
    left, right = text.removeprefix("Indexing meaning: ").split(" / ")
    assert int(left.replace(",", "")) == done and int(right.replace(",", "")) == total
    assert indexing_text(1200, 10_000) == "Indexing meaning: 1,200 / 10,000"


def test_fills_the_real_memory(qtbot, lane: Lane) -> None:
    with Assistant() as mneme:
        mneme.memory.add([NewMemory(f"Imported note number {i} about tides") for i in range(30)])
        assert mneme.memory.pending_vectors() == 30
        filler = VectorFiller(mneme, lane)
        seen: list[tuple[int, int]] = []
        filler.progress.connect(lambda done, total: seen.append((done, total)))
        with qtbot.waitSignal(filler.finished, timeout=120_000):
            filler.start()
        assert mneme.memory.pending_vectors() == 0
        assert seen[0] == (0, 30) and seen[-1] == (30, 30)
