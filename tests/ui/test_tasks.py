"""Lanes and tasks: callbacks on the UI thread, in order, and a finished task's Qt objects deleted
on the UI thread only after its callbacks ran (offscreen, no sleeps)."""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import shiboken6

from assistant import MnemeError
from ui.tasks import Lane, Task


def test_callbacks_run_on_the_ui_thread_in_order(qtbot) -> None:
    lane = Lane("test")
    seen: list[tuple[str, object, bool]] = []
    ui_thread = threading.get_ident()

    def work(task: Task) -> int:
        assert threading.get_ident() != ui_thread
        task.emit_token("a")
        task.emit_progress(0.5)
        return 7

    def note(label: str):
        return lambda *args: seen.append((label, args, threading.get_ident() == ui_thread))

    task = lane.submit(work)
    task.on_token(note("token")).on_progress(note("progress"))
    task.success(note("success")).failure(note("failure"))
    with qtbot.waitSignal(task.relay.finished, timeout=10_000):
        task.done(note("done"))
    qtbot.waitUntil(lambda: len(seen) == 4, timeout=10_000)
    assert seen == [
        ("token", ("a",), True),
        ("progress", (0.5,), True),
        ("success", (7,), True),
        ("done", (), True),
    ]
    assert lane.wait()


def test_a_failure_reaches_the_failure_callback_only(qtbot) -> None:
    lane = Lane("test")
    seen: list[str] = []

    def work(task: Task) -> None:
        raise MnemeError("the file is not a model")

    task = lane.submit(work).success(lambda result: seen.append("success"))
    task.failure(seen.append).done(lambda: seen.append("done"))
    qtbot.waitUntil(lambda: "done" in seen, timeout=10_000)
    assert seen == ["the file is not a model", "done"]
    assert task.error == "the file is not a model"


def test_a_finished_task_is_deleted_after_its_callbacks_and_then_forgotten(qtbot) -> None:
    """The window keeps no reference to most tasks: the lane holds them. Their relay must go on
    the UI thread, after their `done` callbacks (which may still use it), never inside them."""
    lane = Lane("test")
    relay_valid_in_done: list[bool] = []
    task = lane.submit(lambda task: "result")
    relays = [task.relay]  # a list, so the test can let go of it below
    task.done(lambda: relay_valid_in_done.append(shiboken6.isValid(relays[0])))
    gone = weakref.ref(task)
    del task
    qtbot.waitUntil(lambda: not shiboken6.isValid(relays[0]), timeout=10_000)
    assert relay_valid_in_done == [True]
    relays.clear()
    qtbot.waitUntil(lambda: gc.collect() >= 0 and gone() is None, timeout=10_000)
    assert lane.wait()


def test_no_callback_is_lost_when_tasks_finish_quickly(qtbot) -> None:
    """Deleting a relay as soon as `finished` reached the UI thread raced with the worker still
    emitting it: about one task in twenty lost its later `finished` callbacks."""
    lane = Lane("test", threads=2)
    done: list[int] = []
    for number in range(100):
        lane.submit(lambda task: None).done(lambda number=number: done.append(number))
    qtbot.waitUntil(lambda: len(done) == 100, timeout=30_000)
    assert sorted(done) == list(range(100))
    assert lane.wait()


EMITS = 300


def test_emitting_keeps_the_interpreter_alive(qtbot) -> None:
    """PySide6 6.12.0 dropped a reference to True on every emit, so a long streamed reply
    (a token signal per token) freed True and aborted the app; pyproject.toml excludes it.
    The count is compared rather than run to the crash, which would take the test run down."""
    lane = Lane("test")
    tokens: list[str] = []
    before = sys.getrefcount(True)

    def stream(task: Task) -> None:
        for _ in range(EMITS):
            task.emit_token("x")

    task = lane.submit(stream).on_token(tokens.append)
    with qtbot.waitSignal(task.relay.finished, timeout=30_000):
        pass
    qtbot.waitUntil(lambda: len(tokens) == EMITS, timeout=30_000)
    # Other code holds and drops references to True meanwhile; one lost per emit stands out.
    assert sys.getrefcount(True) > before - EMITS // 2
