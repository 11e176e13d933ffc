"""The settings dialog: model, GPU layers (with where the model runs: the offload plan), context size,
memory, learning and fact-extraction switches, data folder, encryption status.

Reading and saving run on the io lane (a settings file read/write and, for the encryption status, a
database pragma); widgets are touched only in the tasks' callbacks on the UI thread. Saving never
reloads the model itself: the core reloads it before the next reply when model, GPU layers or
context size changed, and the dialog says so. The offload line comes from `Assistant.doctor()`'s model
section (the saved model and context size), read on the io lane and again after such a save.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, MnemeError
from assistant.types import ModelEntry
from ui.tasks import Lane, Task

MIN_CONTEXT = 64
MAX_CONTEXT = 1 << 20
CONTEXT_PRESETS = ("2048", "4096", "8192", "16384", "32768")
RELOAD_SETTINGS = ("model", "n_gpu_layers", "n_ctx")
_CONTEXT = re.compile(r"^([0-9]+)\s*([kK]?)$")


def describe_layers(layers: int, total: int | None) -> str:
    """llama.cpp's n_gpu_layers in words: -1 all, 0 none."""
    if layers < 0 or (total is not None and layers > total):
        return "every layer on the GPU"
    if layers == 0:
        return "no layer on the GPU (CPU only)"
    of = f" of {total}" if total else ""
    return f"{layers}{of} layer{'' if layers == 1 else 's'} on the GPU"


def describe_offload(model: dict[str, Any]) -> str:
    """One or two lines from `DoctorReport.model`: the plan's label, the GPU layers the model loads
    with (automatic, or the user's number beside what automatic would pick) and the plan's reason."""
    plan = model.get("offload")
    if plan is None:
        if model.get("kind") == "openai":
            return "A server model: GPU use is the server's business."
        return str(model.get("status", "No model set up yet."))
    total = plan.get("n_layers")
    setting = model.get("n_gpu_layers_setting")
    if setting is None:
        choice = f"automatic: {describe_layers(plan['n_gpu_layers'], total)}"
    else:
        choice = (
            f"you chose {describe_layers(setting, total)} "
            f"(automatic would be {describe_layers(plan['n_gpu_layers'], total)})"
        )
    return f"{plan['label']} · {choice}.\n{plan['reason']}"


def parse_context_size(text: str) -> int:
    """Tokens from what the user typed: `4096`, `4,096`, `4 096`, `4_096` or `4k` (×1024).

    Raises ValueError with a message fit to show as it is.
    """
    cleaned = re.sub(r"(?<=[0-9])[,_ ](?=[0-9]{3}([^0-9]|$))", "", text.strip())
    match = _CONTEXT.match(cleaned)
    if match is None:
        raise ValueError("Context size must be a whole number of tokens, like 4096 or 8k.")
    digits = match.group(1).lstrip("0") or "0"
    value = int(digits[:12]) * (1024 if match.group(2) else 1)
    if len(digits) > 12 or not MIN_CONTEXT <= value <= MAX_CONTEXT:
        raise ValueError(
            f"Context size must be between {MIN_CONTEXT} and {MAX_CONTEXT:,} tokens "
            f"(you entered {match.group(1)}{match.group(2)})."
        )
    return value


class SettingsDialog(QDialog):
    """Emits `loaded` once the current values are shown, `saved(changed names)` after a save and
    `offload_shown` whenever the offload line is (re)written."""

    loaded = Signal()
    saved = Signal(list)
    offload_shown = Signal()

    def __init__(self, assistant: Assistant, io_lane: Lane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.assistant = assistant
        self.io_lane = io_lane
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self._current: dict[str, Any] = {}
        self._build()
        self.reload()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_combo = QComboBox()
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText("auto")  # -1 shows "auto": the offload plan picks
        self.gpu_layers.setToolTip(
            "Layers of the model to run on the GPU. auto: as many as fit the GPU's free memory "
            "(all of them when the model fits); 0: CPU only."
        )
        self.offload_label = QLabel("Checking…")
        self.offload_label.setWordWrap(True)
        self.offload_label.setObjectName("stats")
        self.context_size = QComboBox()
        self.context_size.setEditable(True)
        self.context_size.addItems(CONTEXT_PRESETS)
        self.context_size.setToolTip(
            "Tokens the model sees at once. Larger windows remember more of a conversation "
            "and take more memory."
        )
        self.memory_check = QCheckBox("Recall memories into replies")
        self.learning_check = QCheckBox("Learn in the background from feedback and replies")
        self.facts_check = QCheckBox("Learn facts from conversations")
        self.facts_check.setToolTip(
            "After each reply, the model reads the exchange for facts about you. What you say "
            "yourself becomes a fact; anything else waits in the review inbox."
        )
        self.sleep_check = QCheckBox("Train stable facts into the model's weights when idle")
        self.sleep_check.setToolTip(
            "After 10 minutes without a message, facts you stated or approved and pinned or use "
            "often are trained into a small adapter for the local model (minutes of CPU). It is "
            "checked before use and can be switched off or rolled back in the inspector."
        )
        self.data_folder = QLabel()
        self.data_folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.clicked.connect(self.open_data_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.data_folder, 1)
        folder_row.addWidget(self.open_folder_button)
        folder_help = QLabel(
            "Your database, models and settings live here. To use another folder, quit Mneme, "
            "move this folder's contents if you want to keep them, and start Mneme with the "
            "MNEME_HOME environment variable set to the new folder."
        )
        folder_help.setWordWrap(True)
        folder_help.setObjectName("stats")
        self.encryption_label = QLabel("Checking…")
        self.encryption_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("", self.offload_label)
        form.addRow("Context size", self.context_size)
        form.addRow("Memory", self.memory_check)
        form.addRow("Learning", self.learning_check)
        form.addRow("Facts", self.facts_check)
        form.addRow("Consolidation", self.sleep_check)
        form.addRow("Data folder", folder_row)
        form.addRow("", folder_help)
        form.addRow("Encryption", self.encryption_label)

        self.error_label = QLabel()
        self.error_label.setObjectName("inlineError")
        self.error_label.setStyleSheet("color: #b00020;")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.save_button = buttons.addButton("Save", QDialogButtonBox.ButtonRole.ApplyRole)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.save)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        layout.addWidget(buttons)

    # -- reading --------------------------------------------------------------------------
    def reload(self) -> Task:
        """Read the settings, the model list and the encryption status (io lane)."""

        def work(task: Task) -> dict[str, Any]:
            settings = self.assistant.settings
            return {
                "settings": settings,
                "models": self.assistant.models.list(),
                "encryption": self.assistant.encryption_status(),
                "data_dir": str(self.assistant.paths.data_dir),
                "offload": self._offload_text(),
            }

        return self.io_lane.submit(work).success(self._show).failure(self._show_error)

    def _show(self, values: dict[str, Any]) -> None:
        settings = values["settings"]
        models: list[ModelEntry] = values["models"]
        self.model_combo.clear()
        for entry in models:
            label = entry.name if entry.note is None else f"{entry.name} ({entry.note})"
            self.model_combo.addItem(label, entry.name)
        if not models:
            self.model_combo.addItem("No model set up yet", None)
        index = self.model_combo.findData(settings.active_model)
        self.model_combo.setCurrentIndex(max(index, 0))
        gpu = settings.n_gpu_layers
        self.gpu_layers.setValue(-1 if gpu is None else max(-1, min(gpu, 999)))
        self.context_size.setCurrentText(str(settings.n_ctx))
        self.memory_check.setChecked(settings.memory_enabled)
        self.learning_check.setChecked(settings.learning_enabled)
        self.facts_check.setChecked(settings.fact_extraction)
        self.sleep_check.setChecked(settings.consolidation_schedule == "idle")
        self.data_folder.setText(values["data_dir"])
        self.encryption_label.setText(values["encryption"]["summary"])
        self._show_offload(values["offload"])
        self._current = {
            "model": settings.active_model,
            "n_gpu_layers": settings.n_gpu_layers,
            "n_ctx": settings.n_ctx,
            "memory_enabled": settings.memory_enabled,
            "learning_enabled": settings.learning_enabled,
            "fact_extraction": settings.fact_extraction,
            "consolidation_schedule": settings.consolidation_schedule,
        }
        self.save_button.setEnabled(True)
        self.loaded.emit()

    def refresh_offload(self) -> Task:
        """Re-judge where the saved model runs (io lane): after a model, layers or context change."""

        def work(task: Task) -> str:
            return self._offload_text()

        return self.io_lane.submit(work).success(self._show_offload)

    def _offload_text(self) -> str:
        """Worker thread: reads the machine and the model's header through `doctor()`."""
        try:
            return describe_offload(self.assistant.doctor().model)
        except MnemeError as error:
            return f"Where the model runs could not be judged: {error}"

    def _show_offload(self, text: str) -> None:
        self.offload_label.setText(text)
        self.offload_shown.emit()

    # -- saving ---------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """What the form says now. Raises ValueError (with a message to show) for bad input."""
        layers = self.gpu_layers.value()
        return {
            "model": self.model_combo.currentData(),
            "n_gpu_layers": None if layers < 0 else layers,
            "n_ctx": parse_context_size(self.context_size.currentText()),
            "memory_enabled": self.memory_check.isChecked(),
            "learning_enabled": self.learning_check.isChecked(),
            "fact_extraction": self.facts_check.isChecked(),
            "consolidation_schedule": "idle" if self.sleep_check.isChecked() else "off",
        }

    def save(self) -> None:
        """Apply what changed (io lane); emits `saved` or shows the problem inline."""
        self._clear_messages()
        try:
            wanted = self.values()
        except ValueError as error:
            self._show_error(str(error))
            return
        changes = {k: v for k, v in wanted.items() if self._current.get(k) != v}
        if not changes:
            self.status_label.setText("Nothing changed.")
            self.saved.emit([])
            return
        self.save_button.setEnabled(False)

        def work(task: Task) -> list[str]:
            settings = dict(changes)
            model = settings.pop("model", None)
            if "model" in changes and model is not None:
                self.assistant.models.use(model)  # NotFoundError before anything is written
            if settings:
                self.assistant.update_settings(**settings)
            return sorted(changes)

        task = self.io_lane.submit(work)
        task.success(lambda names: self._saved(names, wanted)).failure(self._save_failed)

    def _saved(self, names: list[str], wanted: dict[str, Any]) -> None:
        self.save_button.setEnabled(True)
        self._current = wanted
        reload = [name for name in names if name in RELOAD_SETTINGS]
        if reload:
            self.refresh_offload()
            self.status_label.setText(
                "Saved. The model, GPU layers and context size take effect when the model "
                "reloads, before your next message."
            )
        else:
            self.status_label.setText("Saved; in effect now.")
        self.saved.emit(names)

    def _save_failed(self, message: str) -> None:
        self.save_button.setEnabled(True)
        self._show_error(message)

    # -- the data folder ------------------------------------------------------------------
    def open_data_folder(self) -> None:
        folder = self.data_folder.text()
        if folder:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(folder))))

    # -- messages -------------------------------------------------------------------------
    def _show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(True)

    def _clear_messages(self) -> None:
        self.error_label.setText("")
        self.error_label.setVisible(False)
        self.status_label.setText("")
