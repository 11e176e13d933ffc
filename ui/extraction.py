"""Background fact extraction: runs `Assistant.extract_facts` on the model lane and shows its
counter ("Fact extraction: 2 failed · Retry") in the memory inspector's header.

`FactExtraction` queues one bounded run at a time (EXTRACTION_LIMIT jobs, so a reply sent meanwhile
waits behind a few short jobs at most) and reads the job counts afterwards; its signals arrive on
the UI thread. New facts reach the panes through the core's `memory_did_change` callbacks, which
`extract_facts` fires; this module only reports counts. `ExtractionBar` displays them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from assistant import Assistant, CancelToken
from ui.tasks import Lane, Task

EXTRACTION_LIMIT = 3  # jobs per run: each is one constrained generation of a few hundred tokens


def extraction_text(status: dict[str, Any]) -> str:
    """The counter's line for `status` (extraction_status() plus "enabled" and "running")."""
    if not status.get("enabled", True):
        return "Fact extraction is off (Settings: “Learn facts from conversations”)."
    parts = [f"{status.get('done', 0):,} done"]
    if status.get("pending"):
        parts.append(f"{status['pending']:,} waiting")
    if status.get("failed"):
        parts.append(f"{status['failed']:,} failed")
    line = "Fact extraction: " + " · ".join(parts)
    if status.get("running"):
        line += " · reading…"
    elif status.get("error"):
        line += f" · the last run could not start: {status['error']}"
    return line


class FactExtraction(QObject):
    """Runs extraction on the model lane. Signals (UI thread): `status_changed(status)` after each
    run and status read, `ran(ExtractionRun)` after each run, `failed(message)` if a run raised."""

    status_changed = Signal(dict)
    ran = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        assistant: Assistant,
        model_lane: Lane,
        io_lane: Lane,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._assistant = assistant
        self._model_lane = model_lane
        self._io_lane = io_lane
        self._task: Task | None = None
        self._cancel = CancelToken()
        self._again: bool | None = None  # a run asked for while one was queued (retry_failed)
        self._error: str | None = None  # why the last run raised (cleared by a run that works)
        self.status: dict[str, Any] = {}

    @property
    def busy(self) -> bool:
        """A run is queued or running on the model lane."""
        return self._task is not None

    def run(self, *, retry_failed: bool = False) -> Task | None:
        """Queue a run (after a reply; `retry_failed` for the Retry button). While one is queued
        or running, the request is kept and runs right after it; returns None then."""
        if self._task is not None:
            self._again = bool(self._again) or retry_failed
            return None
        assistant = self._assistant
        cancel = self._cancel = CancelToken()

        def work(task: Task) -> tuple[Any, dict[str, Any]]:
            run = assistant.extract_facts(
                limit=EXTRACTION_LIMIT, retry_failed=retry_failed, cancel=cancel
            )
            return run, self._read_status()

        self._show(dict(self.status, running=True))
        self._task = self._model_lane.submit(work).success(self._finished).failure(self._failed)
        return self._task

    def refresh(self) -> Task:
        """Read the job counts (io lane); `status_changed` follows."""
        return (
            self._io_lane.submit(lambda task: self._read_status())
            .success(self._status_read)
            .failure(self.failed.emit)
        )

    def stop(self) -> None:
        """Cancel the run in flight (it stops between jobs; an interrupted job stays waiting)."""
        self._again = None
        self._cancel.cancel()

    # -- internals -----------------------------------------------------------------------------
    def _read_status(self) -> dict[str, Any]:  # a worker thread
        status = self._assistant.memory.extraction_status()
        status["enabled"] = self._assistant.settings.fact_extraction
        return status

    def _status_read(self, status: dict[str, Any]) -> None:
        self._show(dict(status, running=self._task is not None))

    def _finished(self, result: tuple[Any, dict[str, Any]]) -> None:
        run, status = result
        self._task = None
        self._error = None
        self._show(status)
        self.ran.emit(run)
        self._next()

    def _failed(self, message: str) -> None:
        self._task = None
        self._error = message
        self.failed.emit(message)
        self.refresh()
        self._next()

    def _next(self) -> None:
        again, self._again = self._again, None
        if again is not None:
            self.run(retry_failed=again)

    def _show(self, status: dict[str, Any]) -> None:
        status = dict(status, error=self._error)
        self.status = status
        self.status_changed.emit(status)


class ExtractionBar(QWidget):
    """The inspector's header line: the counter, the last failure as a tooltip, and Retry while
    any job has failed."""

    def __init__(self, extraction: FactExtraction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("Fact extraction: …")
        self.label.setWordWrap(True)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Read the exchanges whose extraction failed again")
        self.retry_button.clicked.connect(lambda: extraction.run(retry_failed=True))
        self.retry_button.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.retry_button)
        extraction.status_changed.connect(self.show_status)

    def show_status(self, status: dict[str, Any]) -> None:
        self.label.setText(extraction_text(status))
        trouble = status.get("failed") or status.get("error")
        self.label.setStyleSheet("color: #b3261e;" if trouble else "")
        last = status.get("last_failure")
        self.label.setToolTip(
            f"Last failure ({last['at'][:16].replace('T', ' ')}): {last['error']}" if last else ""
        )
        self.retry_button.setVisible(
            bool(status.get("failed")) and bool(status.get("enabled", True))
        )
        self.retry_button.setEnabled(not status.get("running"))
