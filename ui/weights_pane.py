"""The inspector's "In the weights" tab: the facts consolidated into the model's weights (a LoRA
adapter), its versions, the off switch, rollback, and "Consolidate now".

- `Consolidation` runs `Assistant.consolidate` on its OWN one-thread lane ("consolidation"), not
  the model lane: the job loads its own copy of the model, so chat keeps working while it trains
  (minutes on a real model). One run at a time; `cancel()` stops it between steps and nothing is
  kept. The main window's idle schedule starts runs through the same object, so a run started
  either way shows here. Signals arrive on the UI thread.
- `WeightsPane` shows the status line (on/off, active version, rebuild pending, facts ready), the
  on/off switch, the run's progress with Cancel, the versions (a rejected one with its reason) with
  "Roll back to this version", and the facts of the selected (else the active) version. Reads run
  on the io lane; the switch and rollback run on the model lane, so they take effect between
  replies, never in the middle of one. Refusals and failures show inline, in `message_label`.
- `WeightsTab` is the tab itself: it builds its `WeightsPane` the first time it is shown, so a
  window that never opens the tab makes no consolidation calls at start-up.

UI thread only (the workers run the core calls).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, Cancelled, CancelToken
from ui.tasks import Lane, Task

if TYPE_CHECKING:
    from assistant.types import (
        AdapterVersion,
        ConsolidatedFact,
        ConsolidationProgress,
        ConsolidationStatus,
    )

PHASES = {
    "snapshot": "Choosing the facts",
    "training": "Training",
    "exporting": "Exporting the adapter",
    "checking": "Safety check",
    "done": "Done",
}
STATUS_WORDS = {"active": "active", "inactive": "kept", "rejected": "rejected"}
COLUMNS = ("Version", "Created", "Status", "Facts", "Gain", "Probe Δ", "Reason")
REASON_COLUMN = 6
FORGOTTEN = "(forgotten)"  # a ConsolidatedFact's text when its memory was forgotten since
ERROR_STYLE = "color: #b3261e;"
HELP = (
    "Stable facts you stated or approved can be trained into a small adapter for the model, so it "
    "knows them without looking them up. Each run makes a new version; a version that makes "
    "general answers worse is rejected and never used. Forgetting a fact that is in the weights "
    "switches the adapter off until it is rebuilt without it."
)


def _nats(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def status_text(status: ConsolidationStatus) -> str:
    """The pane's status line."""
    parts = ["In the weights: " + ("on" if status.enabled else "off")]
    active = status.active
    parts.append(
        f"version {active.id} active ({_plural(active.facts, 'fact')})"
        if active is not None
        else "no version yet"
    )
    if status.rebuild_pending:
        parts.append("rebuild pending (a fact in the weights was forgotten or changed)")
    parts.append(f"{_plural(status.facts_ready, 'fact')} ready")
    if status.schedule == "idle":
        parts.append("runs when you are away")
    return " · ".join(parts)


def version_text(version: AdapterVersion) -> str:
    """One sentence about a finished run (the pane's message and the window's status bar)."""
    if version.status == "rejected":
        return (
            f"Version {version.id} was rejected and is not used: "
            f"{version.reason or 'no reason given'}"
        )
    return (
        f"Version {version.id} is {STATUS_WORDS.get(version.status, version.status)}: "
        f"{_plural(version.facts, 'fact')} in the weights (answers {_nats(version.fact_gain)} "
        f"nats/token, general questions {_nats(version.probe_delta)})."
    )


def progress_text(progress: ConsolidationProgress) -> str:
    words = PHASES.get(progress.phase, progress.phase)
    return f"{words} {progress.done}/{progress.total}" if progress.total else words


class Consolidation(QObject):
    """One consolidation run at a time, on its own lane. Signals (UI thread): `started()`,
    `progress(ConsolidationProgress)`, then exactly one of `finished(AdapterVersion)`,
    `cancelled()` or `failed(message)` (a refusal's sentence, or an internal error)."""

    started = Signal()
    progress = Signal(object)
    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, assistant: Assistant, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._assistant = assistant
        self.lane = Lane("consolidation")
        self._task: Task | None = None
        self._cancel = CancelToken()
        self.last_progress: ConsolidationProgress | None = None  # of the run in flight

    @property
    def busy(self) -> bool:
        """A run is queued or running."""
        return self._task is not None

    def start(self) -> Task | None:
        """Start a run; None (and nothing starts) while one is already running."""
        if self._task is not None:
            return None
        assistant = self._assistant
        cancel = self._cancel = CancelToken()

        def work(task: Task) -> AdapterVersion | None:
            try:
                return assistant.consolidate(progress=task.emit_progress, cancel=cancel)
            except Cancelled:
                return None  # a normal stop: `cancelled` follows

        self.last_progress = None
        self._task = (
            self.lane.submit(work)
            .on_progress(self._progressed)
            .success(self._succeeded)
            .failure(self._failed)
        )
        self.started.emit()
        return self._task

    def cancel(self) -> None:
        """Ask the run in flight to stop (it stops between steps; nothing is kept)."""
        self._cancel.cancel()

    def wait(self, msecs: int = 30_000) -> bool:
        """Block until the run in flight has ended (closing the window: `cancel()` first)."""
        return self.lane.wait(msecs)

    def _progressed(self, progress: Any) -> None:
        self.last_progress = progress
        self.progress.emit(progress)

    def _succeeded(self, version: AdapterVersion | None) -> None:
        self._task = None
        if version is None:
            self.cancelled.emit()
        else:
            self.finished.emit(version)

    def _failed(self, message: str) -> None:
        self._task = None
        self.failed.emit(message)


class WeightsPane(QWidget):
    """Signals (UI thread): `loaded()` after each refresh is shown, `facts_loaded(version id or
    -1)` after a facts list is shown, `action_done(text)` after a switch or rollback."""

    loaded = Signal()
    facts_loaded = Signal(int)
    action_done = Signal(str)

    def __init__(
        self,
        assistant: Assistant,
        model_lane: Lane,
        io_lane: Lane,
        consolidation: Consolidation,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.assistant = assistant
        self.model_lane = model_lane
        self.io_lane = io_lane
        self.consolidation = consolidation
        self.status: ConsolidationStatus | None = None
        self.versions: list[AdapterVersion] = []
        self._facts_wanted: int | None = None  # the version whose facts were asked for last
        self._build()
        consolidation.started.connect(self._run_started)
        consolidation.progress.connect(self._run_progressed)
        consolidation.finished.connect(self._run_finished)
        consolidation.cancelled.connect(self._run_cancelled)
        consolidation.failed.connect(self._run_failed)
        if consolidation.busy:  # started (by the idle schedule) before this pane was built
            self._run_started()
            if consolidation.last_progress is not None:
                self._run_progressed(consolidation.last_progress)

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        self.status_label = QLabel("Loading…")
        self.status_label.setWordWrap(True)
        self.enabled_box = QCheckBox("Use the facts in the weights")
        self.enabled_box.setToolTip(
            "Off: the model answers without any adapter. The versions are kept."
        )
        self.enabled_box.setEnabled(False)  # until the status is known
        self.enabled_box.toggled.connect(self.set_enabled)
        help_label = QLabel(HELP)
        help_label.setWordWrap(True)
        help_label.setStyleSheet("color: #5b6478;")

        self.consolidate_button = QPushButton("Consolidate now")
        self.consolidate_button.setToolTip(
            "Train the facts that are ready into a new version (minutes; chat keeps working)"
        )
        self.consolidate_button.clicked.connect(self.start_consolidation)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_consolidation)
        self.cancel_button.hide()
        self.progress_bar = QProgressBar()
        self.progress_bar.hide()
        self.progress_label = QLabel()
        self.progress_label.hide()
        run_row = QHBoxLayout()
        run_row.addWidget(self.consolidate_button)
        run_row.addWidget(self.progress_bar, 1)
        run_row.addWidget(self.progress_label)
        run_row.addWidget(self.cancel_button)
        run_row.addStretch(0)
        self.message_label = QLabel()  # a run's outcome, a refusal, a failure
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(REASON_COLUMN, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((60, 130, 80, 50, 70, 70)):
            header.resizeSection(column, width)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.rollback_button = QPushButton("Roll back to this version")
        self.rollback_button.setToolTip("Use the selected version instead of the active one")
        self.rollback_button.setEnabled(False)
        self.rollback_button.clicked.connect(self.roll_back)
        self.reason_label = QLabel()  # the selected rejected version's reason, in full
        self.reason_label.setWordWrap(True)
        self.reason_label.setStyleSheet(ERROR_STYLE)
        self.reason_label.hide()
        versions_row = QHBoxLayout()
        versions_row.addWidget(QLabel("<b>Versions</b>"))
        versions_row.addStretch(1)
        versions_row.addWidget(self.rollback_button)

        self.facts_label = QLabel("<b>Facts</b>")
        self.facts_list = QListWidget()
        self.facts_list.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(self.status_label)
        layout.addWidget(self.enabled_box)
        layout.addWidget(help_label)
        layout.addLayout(run_row)
        layout.addWidget(self.message_label)
        layout.addLayout(versions_row)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.reason_label)
        layout.addWidget(self.facts_label)
        layout.addWidget(self.facts_list, 3)

    # -- loading --------------------------------------------------------------------------------
    def refresh(self) -> Task:
        """Reload the status, the versions and the facts of the selected (else active) version
        (io lane); `loaded` follows."""
        assistant = self.assistant
        chosen = self.selected_id()

        def load(task: Task) -> tuple[Any, list[Any], int | None, list[Any]]:
            status = assistant.consolidation_status()
            versions = assistant.adapter_versions()
            shown = chosen if any(v.id == chosen for v in versions) else None
            if shown is None and status.active is not None:
                shown = status.active.id
            facts = assistant.adapter_facts(shown) if shown is not None else []
            return status, versions, shown, facts

        return self.io_lane.submit(load).success(self._loaded).failure(self.show_error)

    def _loaded(self, loaded: tuple[Any, list[Any], int | None, list[Any]]) -> None:
        status, versions, shown, facts = loaded
        self.status = status
        self.versions = list(versions)
        self.status_label.setText(status_text(status))
        self.status_label.setToolTip(f"Last run: {status.last_error}" if status.last_error else "")
        was_blocked = self.enabled_box.blockSignals(True)
        self.enabled_box.setChecked(status.enabled)
        self.enabled_box.setEnabled(True)
        self.enabled_box.blockSignals(was_blocked)
        self._fill_table(shown)
        self._facts_wanted = shown
        self._show_facts(shown, facts)
        self.loaded.emit()

    def _fill_table(self, selected: int | None) -> None:
        active_id = self.status.active.id if self.status and self.status.active else None
        was_blocked = self.table.blockSignals(True)
        self.table.setRowCount(len(self.versions))
        bold = QFont()
        bold.setBold(True)
        for row, version in enumerate(self.versions):
            state = STATUS_WORDS.get(version.status, version.status)
            if version.id == active_id and self.status is not None and not self.status.enabled:
                state += " (off)"
            cells = (
                str(version.id),
                version.created_at[:16].replace("T", " "),
                state,
                str(version.facts),
                _nats(version.fact_gain),
                _nats(version.probe_delta),
                version.reason or "",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, version.id)
                if column == REASON_COLUMN and text:
                    item.setToolTip(text)
                if version.id == active_id:
                    item.setFont(bold)
                self.table.setItem(row, column, item)
        self.table.clearSelection()
        row = next((i for i, v in enumerate(self.versions) if v.id == selected), None)
        if row is not None and selected != active_id:
            self.table.selectRow(row)  # keep the user's choice; the active one is the default
        self.table.blockSignals(was_blocked)
        self._update_selection_widgets()

    def _show_facts(self, version_id: int | None, facts: list[ConsolidatedFact]) -> None:
        self.facts_list.clear()
        if version_id is None:
            self.facts_label.setText("<b>Facts in the weights</b>")
            self.facts_list.addItem("No version is active: nothing is in the weights.")
        else:
            active = self.status.active if self.status is not None else None
            which = "active version" if active and active.id == version_id else "version"
            self.facts_label.setText(
                f"<b>Facts in the {which} {version_id}</b> ({_plural(len(facts), 'fact')})"
            )
            for fact in facts:
                gone = (
                    "  (forgotten: removed at the next rebuild)" if fact.text == FORGOTTEN else ""
                )
                item = QListWidgetItem(
                    f"{fact.question} → {fact.answer}\n    memory {fact.memory_id}{gone}"
                )
                item.setData(Qt.ItemDataRole.UserRole, fact.memory_id)
                item.setToolTip(fact.text)
                self.facts_list.addItem(item)
            if not facts:
                self.facts_list.addItem("This version holds no facts.")
        self.facts_loaded.emit(-1 if version_id is None else version_id)

    # -- selection ------------------------------------------------------------------------------
    def selected_id(self) -> int | None:
        items = self.table.selectedItems()
        return int(items[0].data(Qt.ItemDataRole.UserRole)) if items else None

    def selected_version(self) -> AdapterVersion | None:
        chosen = self.selected_id()
        return next((v for v in self.versions if v.id == chosen), None)

    def _selection_changed(self) -> None:
        self._update_selection_widgets()
        version = self.selected_version()
        if version is None and self.status is not None and self.status.active is not None:
            version = self.status.active
        self._load_facts(version.id if version is not None else None)

    def _update_selection_widgets(self) -> None:
        version = self.selected_version()
        active = self.status.active if self.status is not None else None
        self.rollback_button.setEnabled(
            version is not None
            and version.status != "rejected"
            and (active is None or version.id != active.id)
        )
        reason = version.reason if version is not None and version.status == "rejected" else None
        self.reason_label.setText(f"Version {version.id} was rejected: {reason}" if reason else "")
        self.reason_label.setVisible(bool(reason))

    def _load_facts(self, version_id: int | None) -> None:
        self._facts_wanted = version_id
        assistant = self.assistant

        def load(task: Task) -> tuple[int | None, list[Any]]:
            if version_id is None:
                return None, []
            return version_id, assistant.adapter_facts(version_id)

        self.io_lane.submit(load).success(self._facts_arrived).failure(self.show_error)

    def _facts_arrived(self, loaded: tuple[int | None, list[Any]]) -> None:
        version_id, facts = loaded
        if version_id == self._facts_wanted:  # else the user has moved on
            self._show_facts(version_id, facts)

    # -- actions --------------------------------------------------------------------------------
    def set_enabled(self, enabled: bool) -> Task:
        """The off switch (model lane: it takes effect between replies)."""
        assistant = self.assistant
        self.enabled_box.setEnabled(False)  # until the switch is done and the status re-read
        words = "on" if enabled else "off"
        return (
            self.model_lane.submit(lambda task: assistant.set_adapter_enabled(enabled))
            .success(lambda _: self._acted(f"The facts in the weights are {words}."))
            .failure(self._action_failed)
        )

    def roll_back(self) -> Task | None:
        """Make the selected (kept, not rejected) version the active one (model lane)."""
        version = self.selected_version()
        if version is None or version.status == "rejected":
            return None
        assistant = self.assistant
        version_id = version.id
        self.rollback_button.setEnabled(False)
        return (
            self.model_lane.submit(lambda task: assistant.use_adapter(version_id))
            .success(lambda v: self._acted(f"Version {v.id} is active."))
            .failure(self._action_failed)
        )

    def _acted(self, message: str) -> None:
        self.message_label.hide()
        self.action_done.emit(message)
        self.refresh()

    def _action_failed(self, message: str) -> None:
        self.show_error(message)
        self.refresh()  # put the switch and the buttons back as they really are

    def start_consolidation(self) -> Task | None:
        """Start a run (the shared `Consolidation`); None while one runs."""
        return self.consolidation.start()

    def cancel_consolidation(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress_label.setText("Cancelling…")
        self.consolidation.cancel()

    def show_error(self, message: str) -> None:
        self.message_label.setText(message)
        self.message_label.setStyleSheet(ERROR_STYLE)
        self.message_label.show()

    def _show_message(self, message: str) -> None:
        self.message_label.setText(message)
        self.message_label.setStyleSheet("")
        self.message_label.show()

    # -- the run --------------------------------------------------------------------------------
    def _run_started(self) -> None:
        self.message_label.hide()
        self.consolidate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.cancel_button.show()
        self.progress_bar.setRange(0, 0)  # busy until the first step is known
        self.progress_bar.show()
        self.progress_label.setText("Starting…")
        self.progress_label.show()

    def _run_progressed(self, progress: ConsolidationProgress) -> None:
        if not self.cancel_button.isEnabled():
            return  # cancelling: keep saying so
        self.progress_bar.setRange(0, max(progress.total, 0))
        self.progress_bar.setValue(min(progress.done, progress.total))
        self.progress_label.setText(progress_text(progress))

    def _run_ended(self) -> None:
        self.consolidate_button.setEnabled(True)
        for widget in (self.cancel_button, self.progress_bar, self.progress_label):
            widget.hide()

    def _run_finished(self, version: AdapterVersion) -> None:
        self._run_ended()
        if version.status == "rejected":
            self.show_error(version_text(version))
        else:
            self._show_message(version_text(version))
        self.refresh()

    def _run_cancelled(self) -> None:
        self._run_ended()
        self._show_message("Consolidation cancelled: nothing was kept, the model is unchanged.")
        self.refresh()

    def _run_failed(self, message: str) -> None:
        self._run_ended()
        self.show_error(message)
        self.refresh()


class WeightsTab(QWidget):
    """The inspector's tab: builds its `WeightsPane` when first shown (or when `pane` is read)
    and refreshes it each time it is shown. `action_done(text)` relays the pane's."""

    action_done = Signal(str)

    def __init__(
        self,
        assistant: Assistant,
        model_lane: Lane,
        io_lane: Lane,
        consolidation: Consolidation,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._args = (assistant, model_lane, io_lane, consolidation)
        self._pane: WeightsPane | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def built(self) -> bool:
        return self._pane is not None

    @property
    def pane(self) -> WeightsPane:
        if self._pane is None:
            pane = self._pane = WeightsPane(*self._args)
            pane.action_done.connect(self.action_done)
            self._layout.addWidget(pane)
        return self._pane

    def refresh(self) -> None:
        """Reload the pane if it is built and on screen (else it reloads when shown)."""
        if self._pane is not None and self.isVisible():
            self._pane.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.pane.refresh()
