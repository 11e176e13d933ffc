"""Fills in the dense vectors of new memories in the background, a small batch at a time.

After an import the text is keyword-searchable at once; the meaning (the encoder's vectors) follows
here. Each batch is one `fill_vectors(limit=BATCH)` task on the model lane, so a reply the user asks
for meanwhile (also on the model lane) waits for one batch at most; the main window can also
`pause()` it while a reply runs and `resume()` it after.

Signals (on the UI thread): `progress(done, total)` while it works (total grows when memories
arrive meanwhile), `finished()` when it stops for any reason (all done, `stop()`, an error),
`failed(message)` before `finished()` when a batch failed.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal

from assistant import Assistant, CancelToken
from ui.tasks import Lane, Task

BATCH = 512  # memories per task: a few seconds of encoding on two cores
# Background encoding leaves one core to the UI thread (on 2 cores, all of them made it stall
# 50–60 ms while the inspector paged, measured with benchmarks/ui_responsiveness.py).
BACKGROUND_THREADS = max(1, (os.cpu_count() or 2) - 1)


def indexing_text(done: int, total: int) -> str:
    """The status bar's line, e.g. "Indexing meaning: 1,200 / 10,000"."""
    return f"Indexing meaning: {done:,} / {total:,}"


class VectorFiller(QObject):
    progress = Signal(int, int)
    finished = Signal()
    failed = Signal(str)

    def __init__(
        self, assistant: Assistant, model_lane: Lane, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._assistant = assistant
        self._lane = model_lane
        self._running = False
        self._paused = False
        self._task: Task | None = None
        self._cancel = CancelToken()
        self._done = 0
        self._total = 0
        self._restart = False  # start() came while a stopped batch was still finishing

    @property
    def running(self) -> bool:
        """Started and not yet finished (it may be paused)."""
        return self._running

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def busy(self) -> bool:
        """A batch is queued or running on the model lane."""
        return self._task is not None

    def start(self) -> None:
        """Fill what is pending (call at startup and after an import); no-op while running."""
        if self._running:
            self._restart = self._cancel.cancelled
            return
        self._running = True
        self._done = 0
        self._cancel = CancelToken()
        self._next()

    def stop(self) -> None:
        """Stop soon: the batch in flight is cancelled (what it stored stays); `finished` follows."""
        if not self._running:
            return
        self._cancel.cancel()
        if self._task is None:
            self._finish()

    def pause(self) -> None:
        """Submit no further batch until `resume()` (the one in flight completes)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        if self._running and self._task is None:
            self._next()

    # -- internals (UI thread) -------------------------------------------------------------------
    def _next(self) -> None:
        if self._paused or self._task is not None:
            return
        memory = self._assistant.memory
        cancel = self._cancel

        def work(task: Task) -> tuple[int, int]:
            pending = memory.pending_vectors()
            task.emit_progress(("pending", pending))
            if pending == 0 or cancel.cancelled:
                return 0, pending
            filled = memory.fill_vectors(
                limit=BATCH,
                progress=lambda done, _total: task.emit_progress(("done", done)),
                cancel=cancel,
                threads=BACKGROUND_THREADS,
            )
            return filled, pending - filled

        self._task = (
            self._lane.submit(work)
            .on_progress(self._on_progress)
            .success(self._on_batch)
            .failure(self._on_failure)
        )

    def _on_progress(self, value: object) -> None:
        what, count = value  # type: ignore[misc]
        if what == "pending":
            self._total = self._done + int(count)
            if count:
                self.progress.emit(self._done, self._total)
        else:
            self.progress.emit(min(self._done + int(count), self._total), self._total)

    def _on_batch(self, result: tuple[int, int]) -> None:
        self._task = None
        filled, left = result
        self._done += filled
        if filled:
            self.progress.emit(self._done, self._done + left)
        # Nothing filled although some are pending means they cannot be filled now (their text
        # changes under the encoder): stop rather than spin; the next start() tries again.
        if not self._running or self._cancel.cancelled or left == 0 or filled == 0:
            self._finish()
        else:
            self._next()

    def _on_failure(self, message: str) -> None:
        self._task = None
        self.failed.emit(message)
        self._finish()

    def _finish(self) -> None:
        if self._running:
            self._running = False
            self.finished.emit()
        if self._restart:
            self._restart = False
            self.start()
