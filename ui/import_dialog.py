"""The import dialog: choose files and folders, import them into memory in the background.

The job (`Assistant.import_`) runs on the lane given to the dialog (the window gives it its own
"import" lane, so chatting goes on meanwhile); progress comes back as task signals and is shown
on the UI thread. Cancel stops the job between files or chunks: finished files stay imported and
the dialog stays open with what was done, the errors and a summary line.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, CancelToken
from assistant.types import ImportProgress, ImportSummary
from ui.tasks import Lane, Task

FILE_FILTER = (
    "Documents (*.txt *.md *.markdown *.html *.htm *.pdf *.docx);;"
    "ChatGPT export (conversations.json);;All files (*)"
)
BAR_STEPS = 1000
PROGRESS_INTERVAL_MS = 100


class ImportDialog(QDialog):
    imported = Signal(object)
    """The ImportSummary, once a job ends (finished or cancelled)."""

    def __init__(self, assistant: Assistant, lane: Lane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.assistant = assistant
        self.lane = lane
        self.task: Task | None = None
        self.summary: ImportSummary | None = None
        self._cancel: CancelToken | None = None
        self._started = 0.0
        self._latest: ImportProgress | None = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_INTERVAL_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self.setWindowTitle("Import into memory")
        self.resize(640, 480)
        self._build()
        self._set_running(False)

    # -- layout -----------------------------------------------------------------------------
    def _build(self) -> None:
        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.clicked.connect(self.add_files)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.clicked.connect(self.add_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        choose = QHBoxLayout()
        choose.addWidget(self.add_files_button)
        choose.addWidget(self.add_folder_button)
        choose.addWidget(self.remove_button)
        choose.addStretch(1)

        self.path_list = QListWidget()
        self.path_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, BAR_STEPS)
        self.progress_bar.setValue(0)
        self.counts_label = QLabel("Choose files or folders to import.")
        self.current_label = QLabel("")
        self.current_label.setWordWrap(True)
        self.error_list = QListWidget()
        self.error_list.setVisible(False)
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        self.remove_missing_button = QPushButton("Forget what is gone…")
        self.remove_missing_button.setToolTip(
            "Files or items imported before that are no longer there: forget their memories"
        )
        self.remove_missing_button.clicked.connect(self.forget_missing)
        self.remove_missing_button.setVisible(False)
        actions = QHBoxLayout()
        actions.addWidget(self.remove_missing_button)
        actions.addStretch(1)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.start_button)
        actions.addWidget(self.close_button)

        heading = QLabel(
            "<b>Import documents into memory</b><br>Text, Markdown and HTML files, or whole "
            "folders. Mneme keeps where each passage came from; imported text is treated as "
            "data, never as instructions. Importing again skips unchanged files."
        )
        heading.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(choose)
        layout.addWidget(self.path_list, 2)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.counts_label)
        layout.addWidget(self.current_label)
        layout.addWidget(self.error_list, 1)
        layout.addWidget(self.summary_label)
        layout.addLayout(actions)

    # -- choosing ---------------------------------------------------------------------------
    def add_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add files", "", FILE_FILTER)
        self.add_paths(paths)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add folder")
        if folder:
            self.add_paths([folder])

    def add_paths(self, paths: list[str]) -> None:
        known = set(self.paths())
        for path in paths:
            if path and path not in known:
                self.path_list.addItem(path)
                known.add(path)
        self._set_running(self.running)

    def paths(self) -> list[str]:
        return [self.path_list.item(row).text() for row in range(self.path_list.count())]

    def _remove_selected(self) -> None:
        for item in self.path_list.selectedItems():
            self.path_list.takeItem(self.path_list.row(item))
        self._set_running(self.running)

    # -- running ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None

    def start(self, paths: list[str] | None = None) -> Task:
        """Import `paths` (default: the chosen list) on the dialog's lane; returns the task."""
        if self.task is not None:
            return self.task
        if paths is not None:
            self.add_paths(paths)
        chosen = list(paths) if paths is not None else self.paths()
        cancel = CancelToken()
        self._cancel = cancel
        self._started = time.monotonic()
        self.summary = None
        self.error_list.clear()
        self.error_list.setVisible(False)
        self.summary_label.setText("")
        self.progress_bar.setValue(0)
        self._latest = None
        self.counts_label.setText("Looking for files…")
        assistant = self.assistant
        task = self.lane.submit(
            lambda task: assistant.import_(chosen, progress=task.emit_progress, cancel=cancel)
        )
        task.on_progress(self._on_progress)
        task.success(self._on_finished)
        task.failure(self._on_failed)
        task.done(self._on_done)
        self.task = task
        self._set_running(True)
        return task

    def cancel(self) -> None:
        """Stop the running job between files or chunks; what was imported stays."""
        if self._cancel is not None and self.task is not None:
            self._cancel.cancel()
            self.cancel_button.setEnabled(False)
            self.current_label.setText("Cancelling…")

    def _on_progress(self, value: object) -> None:
        # The job reports every chunk (hundreds a second); the dialog shows the latest at most
        # every PROGRESS_INTERVAL_MS, so repainting it never stalls the window.
        if not isinstance(value, ImportProgress):
            return
        self._latest = value
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_progress(self) -> None:
        self._progress_timer.stop()
        value = self._latest
        if value is None:
            return
        if value.bytes_total:
            self.progress_bar.setValue(int(BAR_STEPS * value.bytes_done / value.bytes_total))
        elif value.files_total:
            self.progress_bar.setValue(int(BAR_STEPS * value.files_done / value.files_total))
        text = f"{value.files_done} / {value.files_total} files · {value.chunks} chunks"
        eta = self._eta(value)
        if eta is not None:
            text += f" · about {eta} left"
        self.counts_label.setText(text)
        if value.current and not (self._cancel and self._cancel.cancelled):
            self.current_label.setText(value.current)

    def _eta(self, value: ImportProgress) -> str | None:
        elapsed = time.monotonic() - self._started
        if value.bytes_done <= 0 or value.bytes_done >= value.bytes_total or elapsed < 1.0:
            return None
        seconds = int(elapsed * (value.bytes_total - value.bytes_done) / value.bytes_done)
        minutes, seconds = divmod(seconds, 60)
        return f"{minutes}:{seconds:02d}" if minutes else f"{seconds} s"

    def _on_finished(self, result: object) -> None:
        self._show_progress()  # the last counts, before the summary
        if not isinstance(result, ImportSummary):
            return
        self.summary = result
        if result.files_failed or result.files_unsupported or result.items_failed:
            for path, message in result.files_failed:
                self.error_list.addItem(f"{path}: {message}")
            for path, reason in result.files_unsupported:
                self.error_list.addItem(f"{path}: skipped: {reason}")
            self.error_list.setVisible(True)
        if result.items_failed:
            for path, key, message in result.items_failed:
                self.error_list.addItem(f"{path} [{key}]: {message}")
            self.error_list.setVisible(True)
        self.remove_missing_button.setVisible(bool(result.missing))
        if not result.cancelled:
            self.progress_bar.setValue(BAR_STEPS)
        self.summary_label.setText(summary_line(result))
        self.current_label.setText("")
        self.imported.emit(result)

    def forget_missing(self) -> Task | None:
        """Forget the memories of what the last import found gone (asked first)."""
        summary = self.summary
        if summary is None or not summary.missing or self.task is not None:
            return None
        count = len(summary.missing)
        if not self.confirm(
            f"{count} imported file(s) or item(s) are gone from disk. Forget their memories?"
        ):
            return None
        missing = list(summary.missing)

        def done(forgotten: object) -> None:
            self.remove_missing_button.setVisible(False)
            self.summary_label.setText(f"Forgot {forgotten} memories of what is gone.")
            self.imported.emit(summary)

        return (
            self.lane.submit(lambda task: self.assistant.forget_missing(missing))
            .success(done)
            .failure(self._on_failed)
        )

    def confirm(self, text: str) -> bool:
        """A yes/no question (tests replace this)."""
        answer = QMessageBox.question(self, "Import", text)
        return answer == QMessageBox.StandardButton.Yes

    def _on_failed(self, message: str) -> None:
        self._show_progress()
        self.summary_label.setText(f"The import stopped: {message}")
        self.current_label.setText("")

    def _on_done(self) -> None:
        self.task = None
        self._cancel = None
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        for widget in (self.add_files_button, self.add_folder_button, self.remove_button):
            widget.setEnabled(not running)
        self.start_button.setEnabled(not running and self.path_list.count() > 0)
        self.cancel_button.setEnabled(running)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing while importing cancels: finished files stay, nothing runs on unseen.
        self.cancel()
        super().closeEvent(event)


def summary_line(summary: ImportSummary) -> str:
    parts = [f"Imported {summary.files_imported} files ({summary.chunks_added} chunks)"]
    if summary.files_updated:
        parts.append(f"{summary.files_updated} updated")
    if summary.files_skipped:
        parts.append(f"{summary.files_skipped} unchanged")
    if summary.files_failed:
        parts.append(f"{len(summary.files_failed)} failed")
    if summary.files_unsupported:
        parts.append(f"{len(summary.files_unsupported)} not supported")
    if summary.items_imported or summary.items_skipped:
        parts.append(f"{summary.items_imported} items ({summary.items_skipped} unchanged)")
    if summary.items_failed:
        parts.append(f"{len(summary.items_failed)} items with errors")
    if summary.missing:
        parts.append(f"{len(summary.missing)} gone since the last import")
    line = " · ".join(parts)
    if summary.cancelled:
        line = "Cancelled. " + line + "; the remaining files were not imported."
    return line + "."
