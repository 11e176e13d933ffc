"""The first-run setup panel: download a recommended small model, or choose a local .gguf.

Every core call runs in a worker: the list of models and this machine's memory on the io lane, a
download on the panel's own download lane (a multi-gigabyte download must not hold up the io lane's
quick reads, nor the model lane), and registering + loading the model on the model lane. Widgets are
touched only on the UI thread, in the tasks' callbacks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, Cancelled, CancelToken
from assistant.types import MachineMemory, RecommendedModel
from ui.tasks import Lane, Task

_GREEN, _BLUE, _AMBER, _RED, _GREY = "#1b7a3d", "#1f5f9a", "#9a6400", "#b00020", "#5b6478"


def fit_colour(model: RecommendedModel) -> str:
    """Green: fits (amber if only after other programs make room); blue: partly on the GPU;
    red: too big; grey: unknown."""
    if model.fit == "fits":
        return _AMBER if model.tight else _GREEN
    if model.fit.startswith("partly on GPU"):
        return _BLUE
    if model.fit == "too big for this machine":
        return _RED
    return _GREY


_STYLE = """
QFrame#modelCard { background: white; border: 1px solid #e2e4ea; border-radius: 10px; }
QLabel#setupTitle { font-size: 20px; font-weight: 600; color: #1d2433; }
QLabel#modelTitle { font-size: 14px; font-weight: 600; color: #1d2433; }
QLabel#modelFacts, QLabel#modelStatus, QLabel#machine { color: #5b6478; }
QLabel#inlineError { color: #b00020; }
"""


def format_bytes(count: int) -> str:
    """Decimal units, as model hubs show file sizes."""
    if count >= 1_000_000_000:
        return f"{count / 1e9:.2f} GB"
    if count >= 1_000_000:
        return f"{count / 1e6:.1f} MB"
    return f"{count / 1e3:.0f} kB"


class ModelRow(QFrame):
    """One recommended model: facts, fit, and its download controls."""

    def __init__(self, model: RecommendedModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setObjectName("modelCard")
        title = QLabel(model.title)
        title.setObjectName("modelTitle")
        self.facts = facts = QLabel(
            f"{model.parameters} parameters · {format_bytes(model.size_bytes)} · "
            f"needs about {format_bytes(model.memory_needed)} · {model.license}"
        )
        facts.setObjectName("modelFacts")
        self.fit_label = QLabel(model.fit)
        self.fit_label.setStyleSheet(f"color: {fit_colour(model)}; font-weight: 600;")
        self.fit_label.setToolTip(
            f"{model.fit_reason}\nJudged from this computer's memory and the current context size."
            if model.fit_reason
            else "Judged from this computer's memory and the current context size."
        )
        description = QLabel(model.description)
        description.setWordWrap(True)
        self.download_button = QPushButton()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("modelStatus")

        head = QHBoxLayout()
        head.addWidget(title)
        head.addWidget(facts)
        head.addStretch(1)
        head.addWidget(self.fit_label)
        self.progress.setFixedWidth(240)
        controls = QHBoxLayout()
        controls.addWidget(self.status, 1)
        controls.addWidget(self.progress)
        controls.addWidget(self.cancel_button)
        controls.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(description)
        layout.addLayout(controls)
        self.show_idle()

    def show_idle(self) -> None:
        self.cancel_button.setVisible(False)
        self.download_button.setEnabled(True)
        if self.model.local_path is not None:
            self.download_button.setText("Use")
            self.progress.setVisible(False)
            self.status.setText("Downloaded.")
        elif self.model.partial_bytes:
            self.download_button.setText("Resume")
            self.show_bytes(self.model.partial_bytes, self.model.size_bytes)
            self.status.setText(
                f"Paused at {format_bytes(self.model.partial_bytes)}: Resume continues from there."
            )
        else:
            self.download_button.setText("Download")
            self.progress.setVisible(False)
            self.status.setText("")

    def show_bytes(self, done: int, total: int | None) -> None:
        self.progress.setVisible(True)
        if total:
            self.progress.setRange(0, 1000)  # permille: byte counts overflow a QProgressBar's int
            self.progress.setValue(min(1000, done * 1000 // total))
        else:
            self.progress.setRange(0, 0)


class SetupPanel(QWidget):
    """Shown while no model is loaded. Emits `model_ready(name)` once a model is loaded."""

    model_ready = Signal(str)
    models_shown = Signal()

    def __init__(
        self, assistant: Assistant, model_lane: Lane, io_lane: Lane, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.assistant = assistant
        self.model_lane = model_lane
        self.io_lane = io_lane
        self.download_lane = Lane("download")
        self.rows: dict[str, ModelRow] = {}
        self.machine: MachineMemory | None = None
        self.download_task: Task | None = None
        self._downloading: str | None = None
        self._cancel: CancelToken | None = None
        self._started: tuple[float, int] = (0.0, 0)  # (monotonic time, bytes) when it (re)started
        self.setStyleSheet(_STYLE)
        self._build()
        self.refresh()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        title = QLabel("Set up a language model")
        title.setObjectName("setupTitle")
        intro = QLabel(
            "Mneme runs its language model on this computer; nothing you write leaves it. "
            "Download one of these small models, or choose a .gguf file you already have."
        )
        intro.setWordWrap(True)
        self.machine_label = QLabel("Checking this computer's memory…")
        self.machine_label.setObjectName("machine")
        self.error_label = QLabel()
        self.error_label.setObjectName("inlineError")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        self.list_layout = QVBoxLayout()
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.addLayout(self.list_layout)
        holder_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(holder)
        self.choose_button = QPushButton("Choose a local .gguf…")
        self.choose_button.clicked.connect(self.choose_file)
        self.loading_label = QLabel()
        bottom = QHBoxLayout()
        bottom.addWidget(self.choose_button)
        bottom.addWidget(self.loading_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 24, 32, 24)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.machine_label)
        layout.addWidget(self.error_label)
        layout.addWidget(scroll, 1)
        layout.addLayout(bottom)

    # -- the list -------------------------------------------------------------------------
    def refresh(self) -> Task:
        """Re-read the recommended models and this machine's memory (io lane)."""

        def work(task: Task) -> tuple[MachineMemory, list[RecommendedModel]]:
            machine = self.assistant.models.machine()
            return machine, self.assistant.models.recommended(machine=machine)

        return self.io_lane.submit(work).success(self._show_models).failure(self._show_error)

    def _show_models(self, result: tuple[MachineMemory, list[RecommendedModel]]) -> None:
        machine, models = result
        self.machine = machine
        self.machine_label.setText(describe_machine(machine))
        for row in self.rows.values():
            self.list_layout.removeWidget(row)
            row.deleteLater()
        self.rows = {}
        for model in models:
            row = ModelRow(model)
            row.download_button.clicked.connect(lambda _=False, n=model.name: self._row_clicked(n))
            row.cancel_button.clicked.connect(self.cancel_download)
            self.list_layout.addWidget(row)
            self.rows[model.name] = row
        self.models_shown.emit()

    def _row_clicked(self, name: str) -> None:
        row = self.rows[name]
        if row.model.local_path is not None:
            self.use_file(row.model.local_path)
        else:
            self.download(name)

    # -- downloads ------------------------------------------------------------------------
    def download(self, name: str) -> Task:
        """Download the recommended model `name` (resuming a partial file), then load it."""
        row = self.rows[name]
        model = row.model
        cancel = CancelToken()
        self._cancel = cancel
        self._downloading = name
        self._started = (time.monotonic(), model.partial_bytes)
        self._clear_error()
        for other in self.rows.values():
            other.download_button.setEnabled(False)
        row.cancel_button.setVisible(True)
        row.cancel_button.setEnabled(True)
        row.show_bytes(model.partial_bytes, model.size_bytes)
        row.status.setText("Connecting…")

        def work(task: Task) -> str | None:
            try:
                entry, _ = self.assistant.models.download(
                    model.repo_id,
                    model.filename,
                    progress=lambda done, total: task.emit_progress((done, total)),
                    cancel=cancel,
                )
            except Cancelled:
                return None
            return entry.name

        task = self.download_lane.submit(work)
        task.on_progress(lambda value: self._show_progress(row, value))
        task.success(lambda registered: self._downloaded(row, registered))
        task.failure(lambda message: self._download_failed(row, message))
        self.download_task = task
        return task

    def cancel_download(self) -> None:
        """Stop the running download; its partial file stays for Resume. Safe to call any time."""
        if self._cancel is not None:
            self._cancel.cancel()
            if self._downloading is not None:
                row = self.rows.get(self._downloading)
                if row is not None:
                    row.cancel_button.setEnabled(False)
                    row.status.setText("Stopping…")

    def shutdown(self, msecs: int = 30_000) -> None:
        """Cancel any download and wait for the download worker (call before the panel goes)."""
        self.cancel_download()
        self.download_lane.wait(msecs)

    def _show_progress(self, row: ModelRow, value: object) -> None:
        done, total = cast("tuple[int, int | None]", value)  # (bytes so far, size or None)
        row.show_bytes(done, total)
        started_at, started_bytes = self._started
        elapsed = time.monotonic() - started_at
        speed = (done - started_bytes) / elapsed if elapsed > 0 else 0.0
        of = f" of {format_bytes(total)}" if total else ""
        row.status.setText(f"{format_bytes(done)}{of} · {speed / 1e6:.1f} MB/s")

    def _downloaded(self, row: ModelRow, registered: str | None) -> None:
        self._cancel = None
        self._downloading = None
        if registered is None:  # cancelled: the refreshed row shows where it stopped, and Resume
            self.refresh()
            return
        row.cancel_button.setVisible(False)
        row.progress.setValue(1000)
        row.status.setText("Downloaded and verified. Loading…")
        self._load(registered)

    def _download_failed(self, row: ModelRow, message: str) -> None:
        self._cancel = None
        self._downloading = None
        self._show_error(message)
        # The partial file (if any) stays: the row offers Resume.
        self.refresh()

    def _enable_rows(self) -> None:
        for row in self.rows.values():
            row.download_button.setEnabled(True)

    # -- a local file ---------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model file", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.use_file(path)

    def use_file(self, path: str | Path) -> Task:
        """Register the .gguf at `path`, make it the active model and load it (model lane)."""
        self._clear_error()
        self.loading_label.setText(f"Loading {Path(path).name}…")
        self.choose_button.setEnabled(False)

        def work(task: Task) -> str:
            catalog = self.assistant.models
            location = str(Path(path).expanduser().resolve())
            taken = {e.name: e.location for e in catalog.list()}
            name = Path(location).stem
            # The same file keeps its name; another file with the same stem gets "-2", "-3"…
            base, number = name, 1
            while name in taken and taken[name] != location:
                number += 1
                name = f"{base}-{number}"
            entry = catalog.add_file(location, name)
            catalog.use(entry.name)
            return self.assistant.load_model()

        task = self.model_lane.submit(work)
        task.success(self._loaded).failure(self._load_failed)
        return task

    def _load(self, registered: str) -> Task:
        self.loading_label.setText(f"Loading {registered}…")

        def work(task: Task) -> str:
            self.assistant.models.use(registered)
            return self.assistant.load_model()

        return self.model_lane.submit(work).success(self._loaded).failure(self._load_failed)

    def _loaded(self, name: str) -> None:
        self.choose_button.setEnabled(True)
        self.loading_label.setText(f"{name} is ready.")
        self.model_ready.emit(name)

    def _load_failed(self, message: str) -> None:
        self.choose_button.setEnabled(True)
        self.loading_label.setText("")
        self._show_error(message)
        self._enable_rows()

    # -- errors ---------------------------------------------------------------------------
    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(True)

    def _clear_error(self) -> None:
        self.error_label.setText("")
        self.error_label.setVisible(False)


def describe_machine(machine: MachineMemory) -> str:
    parts = []
    if machine.ram_total is not None:
        ram = f"This computer: {format_bytes(machine.ram_total)} of memory"
        if machine.ram_available is not None:
            ram += f" ({format_bytes(machine.ram_available)} free)"
        parts.append(ram)
    else:
        parts.append("This computer's memory could not be read")
    backend = f" ({machine.backend})" if machine.backend and machine.backend != "CPU" else ""
    if machine.unified_memory:
        parts.append(f"the GPU{backend} shares this memory")
    elif machine.vram_free is not None:
        gpu = machine.gpu_name or "GPU"
        parts.append(f"{gpu}{backend}: {format_bytes(machine.vram_free)} free")
    elif machine.gpu_offload:
        parts.append(f"GPU{backend} memory could not be read, so fit is judged on RAM")
    else:
        parts.append("no GPU offload in this llama.cpp build, so fit is judged on RAM")
    return " · ".join(parts) + "."
