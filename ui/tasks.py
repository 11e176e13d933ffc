"""Run core calls off the UI thread and bring their results back as Qt signals.

A `Task` wraps one callable. The callable runs on a worker thread of its `Lane` and may report
`task.emit_token(text)` / `task.emit_progress(value)`; every callback registered with `.on_token`,
`.on_progress`, `.success`, `.failure` and `.done` runs on the UI thread (queued through a QObject
that lives there), so widgets are touched only where Qt allows it.

Lanes: model, database writes and torch training share the one-thread `model` lane; quick reads go
to the `io` lane so the window stays current while a reply streams.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from assistant import MnemeError

RELEASE_RETRY_MS = 5  # how soon the lane looks again at finished tasks it could not release yet


class _Relay(QObject):
    token = Signal(str)
    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    finished = Signal()


class Task:
    """One call of `work` on a lane's worker thread. Not a QRunnable: QThreadPool's Python
    wrapper keeps every QRunnable started on it (and all it holds, results included) until the
    pool goes; started as a plain callable, the task is released once it has run."""

    def __init__(self, work: Callable[[Task], Any]) -> None:
        self._work = work
        self.relay = _Relay()  # created on the UI thread, so its slots run there
        self.result: Any = None
        self.error: str | None = None
        self.returned = False  # set by the worker once `run` no longer uses the relay
        self.deleting = False  # the lane asked for the relay's deletion (UI thread)

    # -- called from the worker -----------------------------------------------------------
    def emit_token(self, text: str) -> None:
        self.relay.token.emit(text)

    def emit_progress(self, value: object) -> None:
        self.relay.progress.emit(value)

    def run(self) -> None:
        try:
            self.result = self._work(self)
        except MnemeError as error:
            self.error = str(error)
            self.relay.failed.emit(self.error)
        except Exception as error:  # noqa: BLE001 - shown to the user, never a crash
            traceback.print_exc()
            self.error = f"Internal error: {type(error).__name__}: {error}"
            self.relay.failed.emit(self.error)
        else:
            self.relay.succeeded.emit(self.result)
        finally:
            self.relay.finished.emit()
            # The worker's last touch of the relay: from here on the lane may delete it.
            self.returned = True

    # -- called on the UI thread ------------------------------------------------------------
    def on_token(self, callback: Callable[[str], None]) -> Task:
        self.relay.token.connect(_slot(self.relay, callback))
        return self

    def on_progress(self, callback: Callable[[object], None]) -> Task:
        self.relay.progress.connect(_slot(self.relay, callback))
        return self

    def success(self, callback: Callable[[Any], None]) -> Task:
        self.relay.succeeded.connect(_slot(self.relay, callback))
        return self

    def failure(self, callback: Callable[[str], None]) -> Task:
        self.relay.failed.connect(_slot(self.relay, callback))
        return self

    def done(self, callback: Callable[[], None]) -> Task:
        self.relay.finished.connect(_slot(self.relay, callback))
        return self


class _Callback(QObject):
    """A receiver object on the UI thread, so the connection is queued, not direct."""

    def __init__(self, parent: QObject, callback: Callable[..., None]) -> None:
        super().__init__(parent)
        self._callback = callback

    def call(self, *args: Any) -> None:
        self._callback(*args)


def _slot(parent: QObject, callback: Callable[..., None]) -> Callable[..., None]:
    return _Callback(parent, callback).call


class Lane:
    """A named pool of worker threads (one by default: its tasks run one at a time, in order)."""

    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(threads)
        self._tasks: set[Task] = set()  # submitted and not yet released
        self._finishing: set[Task] = set()  # finished, their relay not yet deleted
        self._release_planned = False
        self._unstarted: list[Task] = []  # submitted, waiting for the event loop to start them

    def submit(self, work: Callable[[Task], Any]) -> Task:
        """Create a task; it starts once the caller returns to the event loop (or at `wait()`)."""
        task = Task(work)
        self._tasks.add(task)
        task.relay.finished.connect(_slot(task.relay, lambda: self._finished(task)))
        self._unstarted.append(task)
        QTimer.singleShot(0, self._start_submitted)
        return task

    def _start_submitted(self) -> None:
        while self._unstarted:
            self._pool.start(self._unstarted.pop(0).run)

    def _finished(self, task: Task) -> None:
        self._finishing.add(task)
        self._release_after(0)

    def _release_after(self, msecs: int) -> None:
        if not self._release_planned:
            self._release_planned = True
            QTimer.singleShot(msecs, self._release_finished)

    def _release_finished(self) -> None:
        """Let finished tasks go, on the UI thread and outside their own slots, in two steps.

        Once its worker has returned, a task's relay is deleted later: the deferred delete is
        queued after the task's callbacks, which the worker queued before it returned. Once the
        relay is gone, the lane forgets the task. Neither step may come sooner: deleting the
        relay while the worker still emits `finished` drops the callbacks not yet queued, and a
        relay whose last reference goes on a worker thread (or inside one of its own slots) is
        destroyed there (one `make test` run hung in QObject's destructor, probably so)."""
        self._release_planned = False
        for task in list(self._finishing):
            if not shiboken6.isValid(task.relay):
                self._finishing.discard(task)
                self._tasks.discard(task)
            elif task.returned and not task.deleting:
                task.deleting = True
                task.relay.deleteLater()
        if self._finishing:
            self._release_after(RELEASE_RETRY_MS)

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until every task submitted so far has finished: those the event loop has not
        started yet start now (a window closing right after start-up leaves none running)."""
        self._start_submitted()
        return self._pool.waitForDone(msecs)
