"""The memory inspector: browse, search, correct and delete what Mneme remembers.

Above the tabs, the fact extraction counter (`ui.extraction`: jobs done, waiting, failed, Retry).
Four tabs: "Memories" (a filtered, sortable, lazily loaded table with a detail pane), "Review inbox"
(proposed memories to accept, edit or reject, `ui.inbox_pane`), "What I learned" (added or
changed today / this week, and what the capacity bound took out of recall) and "In the weights"
(facts consolidated into the model, `ui.weights_pane`, built when first shown; its runs have their
own lane). Every core call runs on the io lane (`ui.tasks`), except extraction, which needs the
model (model lane), and the weights tab's switch and rollback (model lane); this module only
touches widgets, on the UI thread. Confirmations and text prompts go through `confirm` /
`ask_text`, which tests replace.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import QDate, QObject, QSignalBlocker, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, MnemeError
from assistant.types import Memory, MemoryFilter
from ui.extraction import ExtractionBar, FactExtraction
from ui.fact_views import excerpt
from ui.inbox_pane import InboxPane
from ui.learned_pane import LearnedPane
from ui.memory_detail import COMPLETE, MemoryDetail
from ui.memory_table import WHEN_COLUMN, MemoryTableModel
from ui.tasks import Lane
from ui.weights_pane import Consolidation, WeightsTab

SEARCH_DELAY_MS = 250


class _Events(QObject):
    """Carries core callbacks (any thread) into the UI thread as a queued signal."""

    memories_changed = Signal(list)


class MemoryInspector(QWidget):
    """The inspector pane. `open_conversation(conversation_id, message_id)` asks the main window to
    show a conversation at a message (message_id is -1 when unknown)."""

    open_conversation = Signal(int, int)
    detail_loaded = Signal(int)  # a memory's detail pane is filled (memory id)
    action_done = Signal(str)  # a change finished; the text is what the status line says

    def __init__(
        self, assistant: Assistant, model_lane: Lane, io_lane: Lane, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.assistant = assistant
        self.model_lane = model_lane  # for work that needs the model: fact extraction
        self.io_lane = io_lane
        self.current: Memory | None = None
        self._detail: dict[str, Any] = {}
        self._wanted: int | None = None  # a memory show_memory() is bringing into view
        self._build()
        self._listen()
        self.refresh()

    # -- layout ---------------------------------------------------------------------------------
    def _build(self) -> None:
        # The main window runs extraction after each reply through this same object.
        self.extraction = FactExtraction(self.assistant, self.model_lane, self.io_lane, self)
        self.extraction_bar = ExtractionBar(self.extraction)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_browser(), "Memories")
        self.tabs.addTab(self._build_inbox(), "Review inbox")
        self.tabs.addTab(self._build_learned(), "What I learned")
        # The main window's idle schedule starts runs through `consolidation` as well.
        self.consolidation = Consolidation(self.assistant, self)
        self.weights_tab = WeightsTab(
            self.assistant, self.model_lane, self.io_lane, self.consolidation
        )
        self.weights_tab.action_done.connect(self.action_done)
        self.tabs.addTab(self.weights_tab, "In the weights")
        self.tabs.currentChanged.connect(lambda _: self._refresh_side_tabs())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.extraction_bar)
        layout.addWidget(self.tabs)

    def _combo(self, any_label: str, values: list[tuple[str, str | None]]) -> QComboBox:
        combo = QComboBox()
        combo.addItem(any_label, None)
        for label, value in values:
            combo.addItem(label, value)
        combo.currentIndexChanged.connect(lambda _: self.apply_filters())
        return combo

    def _build_browser(self) -> QWidget:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search memories…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(220)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.kind_filter = self._combo(
            "Any kind", [("Facts", "fact"), ("Episodes", "episode"), ("Chunks", "chunk")]
        )
        self.source_filter = self._combo(
            "Any source",
            [
                ("Conversations", "conversation"),
                ("Documents", "document"),
                ("Email", "email"),
                ("Told directly", "user"),
            ],
        )
        self.trust_filter = self._combo(
            "Any trust",
            [
                ("User-stated", "user-stated"),
                ("User-confirmed", "user-confirmed"),
                ("Imported", "imported"),
                ("Assistant", "assistant"),
            ],
        )
        self.status_filter = self._combo(
            "Any status", [("Active", "active"), ("Inbox", "inbox"), ("Superseded", "superseded")]
        )
        self.status_filter.blockSignals(True)
        self.status_filter.setCurrentIndex(1)  # active memories unless asked otherwise
        self.status_filter.blockSignals(False)
        self.date_range = QCheckBox("From")
        self.since_edit = QDateEdit(QDate.currentDate().addMonths(-1))
        self.until_edit = QDateEdit(QDate.currentDate())
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            edit.dateChanged.connect(lambda _: self.apply_filters())
        self.date_range.toggled.connect(self._date_range_toggled)
        # Two rows, so the dock stays narrow enough to sit beside the chat.
        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        self.refresh_button = QPushButton("Refresh", toolTip="Reload the list (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        search_row.addWidget(self.refresh_button)
        filters = QHBoxLayout()
        for widget in (self.kind_filter, self.source_filter, self.trust_filter, self.status_filter):
            filters.addWidget(widget)
        filters.addWidget(self.date_range)
        filters.addWidget(self.since_edit)
        filters.addWidget(QLabel("to"))
        filters.addWidget(self.until_edit)
        filters.addStretch(1)
        QShortcut(QKeySequence.StandardKey.Refresh, self, activated=self.refresh)

        self.model = MemoryTableModel(self.assistant, self.io_lane, self)
        self.model.count_changed.connect(self._show_count)
        self.model.page_loaded.connect(self._page_loaded)
        self.model.failed.connect(self.show_error)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column, width in ((0, 70), (2, 100), (3, 110), (4, 80), (WHEN_COLUMN, 130), (6, 60)):
            header.resizeSection(column, width)  # fixed: measuring 100k rows would stall
        header.setSortIndicator(WHEN_COLUMN, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        QShortcut(QKeySequence.StandardKey.Delete, self.table, activated=self.delete_selected)

        self.count_label = QLabel("Loading…")
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setWordWrap(True)
        self.error_label.hide()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(search_row)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.table)
        left_layout.addWidget(self.count_label)
        left_layout.addWidget(self.error_label)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self._build_detail())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(splitter)
        return page

    def _build_detail(self) -> QWidget:
        self.detail = MemoryDetail(self.forget_source)
        self.detail.open_source_button.clicked.connect(self.open_source)
        self.detail.edit_button.clicked.connect(self.edit_current)
        self.detail.pin_button.clicked.connect(self.toggle_pin)
        self.detail.delete_button.clicked.connect(self.delete_selected)
        self.detail.fact.memory_chosen.connect(self.show_memory)
        # The pane's parts, by the names the rest of the inspector (and its tests) use.
        self.detail_text = self.detail.text
        self.provenance_label = self.detail.provenance_label
        self.open_source_button = self.detail.open_source_button
        self.recall_label = self.detail.recall_label
        self.history_list = self.detail.history_list
        self.pin_button = self.detail.pin_button
        self.delete_button = self.detail.delete_button
        self.forget_source_menu = self.detail.forget_source_menu
        self._show_detail(None)
        return self.detail

    def _build_inbox(self) -> QWidget:
        self.inbox = InboxPane(
            self.assistant,
            self.io_lane,
            self._run,
            lambda text: self.confirm(text),
            lambda title, text: self.ask_text(title, text),
        )
        self.inbox.count_changed.connect(
            lambda n: self.tabs.setTabText(1, f"Review inbox ({n})" if n else "Review inbox")
        )
        self.inbox.changed.connect(self._inbox_done)
        self.inbox.failed.connect(self.show_error)
        self.inbox_list = self.inbox.list
        self.inbox_label = self.inbox.label
        self.accept_button = self.inbox.accept_button
        self.accept_edit_button = self.inbox.accept_edit_button
        self.reject_button = self.inbox.reject_button
        return self.inbox

    def _build_learned(self) -> QWidget:
        self.learned = LearnedPane(self.assistant, self.io_lane)
        self.learned.memory_chosen.connect(self.show_memory)
        self.learned.failed.connect(self.show_error)
        self.learned_period = self.learned.period
        self.learned_list = self.learned.list
        return self.learned

    # -- events from the core ----------------------------------------------------------------
    def _listen(self) -> None:
        self._events = _Events(self)
        self._events.memories_changed.connect(lambda _: self._changed_timer.start())
        self._changed_timer = QTimer(self)
        self._changed_timer.setSingleShot(True)
        self._changed_timer.setInterval(300)
        self._changed_timer.timeout.connect(self._memories_changed)
        callbacks = self.assistant.memory.memory_did_change
        events = self._events

        def on_change(ids: list[int]) -> None:  # any thread: only emit
            events.memories_changed.emit(list(ids))

        callbacks.append(on_change)
        self.destroyed.connect(lambda *_: on_change in callbacks and callbacks.remove(on_change))

    def _memories_changed(self) -> None:
        """Something changed (a reply, an import, this pane): keep the view current without
        throwing away a long scroll. Hidden, it only notes the change and reloads when shown
        (an import changes memories hundreds of times)."""
        if not self.isVisible():
            self._changed_while_hidden = True
            return
        self._refresh_side_tabs()
        self.extraction.refresh()  # forgetting a memory also drops its extraction job
        if self.model.rowCount() <= 200 and not self.model.loading:
            self._reload_keeping_selection()
        else:
            self.count_label.setText(self.count_label.text().split(" · ")[0] + " · changed (F5)")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if getattr(self, "_changed_while_hidden", False):
            self._changed_while_hidden = False
            self._memories_changed()

    # -- public --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the table (current filters), the inbox, the learned list and the extraction
        counter."""
        self.apply_filters()
        self.refresh_inbox()
        self.refresh_learned()
        self.extraction.refresh()

    def current_filter(self) -> MemoryFilter:
        since = until = None
        if self.date_range.isChecked():
            since = self.since_edit.date().toPython()
            until = self.until_edit.date().toPython()
        return MemoryFilter(
            kind=self.kind_filter.currentData(),
            source_type=self.source_filter.currentData(),
            trust=self.trust_filter.currentData(),
            status=self.status_filter.currentData(),
            since=since if isinstance(since, date) else None,
            until=until if isinstance(until, date) else None,
            text=self.search.text().strip() or None,
        )

    def apply_filters(self) -> None:
        self._search_timer.stop()
        self.error_label.hide()
        self.model.set_filter(self.current_filter())

    def show_memory(self, memory_id: int) -> None:
        """Select the memory and show its detail; if it is not in the loaded rows, the filters
        are cleared so it can be found, and it is loaded directly."""
        self.tabs.setCurrentIndex(0)
        row = self.model.row_of(memory_id)
        if row is not None:
            self._select_row(row)
            return
        self._wanted = memory_id
        self.io_lane.submit(lambda task: self.assistant.memory.get(memory_id)).success(
            self._show_memory_loaded
        ).failure(self.show_error)

    def _show_memory_loaded(self, memory: Memory) -> None:
        # Show its detail at once; put it in the table once its page is there.
        self._clear_filters(status=memory.status)
        self._load_detail(memory)

    def _clear_filters(self, *, status: str) -> None:
        """Every filter off except the status (one reload at the end, not one per widget)."""
        widgets = (self.kind_filter, self.source_filter, self.trust_filter, self.status_filter)
        blockers = [QSignalBlocker(w) for w in (*widgets, self.search, self.date_range)]
        for combo in widgets[:3]:
            combo.setCurrentIndex(0)
        self.status_filter.setCurrentIndex(max(0, self.status_filter.findData(status)))
        self.search.clear()
        self.date_range.setChecked(False)
        self._date_range_toggled(False, apply=False)
        for blocker in blockers:
            blocker.unblock()
        self.apply_filters()

    # -- confirmations (tests replace these) ----------------------------------------------------
    def confirm(self, text: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Mneme",
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_text(self, title: str, text: str) -> str | None:
        value, ok = QInputDialog.getMultiLineText(self, title, "Memory:", text)
        return value if ok else None

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    # -- table ---------------------------------------------------------------------------------
    def _date_range_toggled(self, on: bool, *, apply: bool = True) -> None:
        self.since_edit.setEnabled(on)
        self.until_edit.setEnabled(on)
        if apply:
            self.apply_filters()

    def _show_count(self, total: int) -> None:
        noun = "memory" if total == 1 else "memories"
        self.count_label.setText(f"{total:,} {noun}")

    def _page_loaded(self, _rows: int) -> None:
        if self._wanted is not None:
            row = self.model.row_of(self._wanted)
            if row is not None:
                self._wanted = None
                self._select_row(row)
            elif self.model.canFetchMore():
                self.model.fetchMore()  # keep looking, a page at a time, off the UI thread
            else:
                self._wanted = None

    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 1)
        self.table.selectRow(row)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        memories = [self.model.memory_at(row) for row in rows]
        return [m.id for m in memories if m is not None]

    def _selection_changed(self) -> None:
        ids = self.selected_ids()
        self.delete_button.setText(f"Delete {len(ids)}" if len(ids) > 1 else "Delete")
        if len(ids) == 1:
            row = self.model.row_of(ids[0])
            memory = self.model.memory_at(row) if row is not None else None
            if memory is not None and (self.current is None or self.current.id != memory.id):
                self._load_detail(memory)
        elif not ids:
            self._show_detail(None)

    def _reload_keeping_selection(self) -> None:
        if self.current is not None:
            self._wanted = self.current.id
        self.model.reload()

    # -- detail ----------------------------------------------------------------------------------
    def _load_detail(self, memory: Memory) -> None:
        self.current = memory
        self._show_detail(memory)
        api = self.assistant.memory

        def gather(task: object) -> dict[str, Any]:
            detail = {
                "memory": api.get(memory.id),
                "provenance": api.provenance(memory.id),
                "history": api.history(memory.id),
                "recall": api.last_recall(memory.id),
            }
            if memory.kind == "fact":
                detail["timeline"] = api.timeline(memory.id)
                detail["sources"] = fact_sources(api, memory.id)
            return detail

        self.io_lane.submit(gather).success(self._detail_loaded).failure(self.show_error)

    def _detail_loaded(self, detail: dict[str, Any]) -> None:
        memory: Memory = detail["memory"]
        if self.current is None or self.current.id != memory.id:
            return  # the user moved on
        self.current = memory
        self._detail = detail
        self._show_detail(memory, detail)
        self.detail_loaded.emit(memory.id)

    def _show_detail(self, memory: Memory | None, detail: dict[str, Any] | None = None) -> None:
        if memory is None:
            self.current = None
            self._detail = {}
        self.detail.show_memory(memory, detail, selected=bool(self.selected_ids()))

    def open_source(self) -> None:
        origin = self._detail.get("provenance", {})
        if origin.get("conversation_id") is not None:
            message_id = origin.get("message_id")
            self.open_conversation.emit(
                int(origin["conversation_id"]), -1 if message_id is None else int(message_id)
            )
        elif origin.get("path"):
            QDesktopServices.openUrl(QUrl.fromLocalFile(origin["path"]))

    # -- actions ----------------------------------------------------------------------------------
    def _run(self, work: Any, done: Any, message: str) -> None:
        def finished(result: Any) -> None:
            done(result)
            self.action_done.emit(message)

        self.io_lane.submit(lambda task: work()).success(finished).failure(self.show_error)

    def toggle_pin(self) -> None:
        memory = self.current
        if memory is None:
            return
        api = self.assistant.memory
        self._run(
            lambda: api.pin(memory.id, not memory.pinned),
            self._memory_updated,
            "Unpinned" if memory.pinned else "Pinned",
        )

    def _memory_updated(self, memory: Memory) -> None:
        self.model.replace(memory)
        if self.current is not None and self.current.id == memory.id:
            self._load_detail(memory)

    def edit_current(self) -> None:
        memory = self.current
        if memory is None:
            return
        text = self.ask_text("Edit memory", memory.text)
        if text is None or text.strip() == memory.text:
            return
        api = self.assistant.memory
        self._run(lambda: api.edit(memory.id, text), self._edited, "Edited")

    def _edited(self, memory: Memory) -> None:
        self.current = None
        self._wanted = memory.id
        self.model.reload()
        self._load_detail(memory)

    def delete_selected(self) -> None:
        ids = self.selected_ids() or ([self.current.id] if self.current is not None else [])
        if not ids:
            return
        what = "this memory" if len(ids) == 1 else f"these {len(ids)} memories"
        if not self.confirm(f"Delete {what} completely?\n\n{COMPLETE}"):
            return
        api = self.assistant.memory
        self._run(lambda: api.forget_many(ids), lambda _: self._deleted(set(ids)), "Deleted")

    def _deleted(self, ids: set[int]) -> None:
        self.model.remove_ids(ids)
        if self.current is not None and self.current.id in ids:
            self._show_detail(None)
        self._refresh_side_tabs()

    def forget_source(self, criteria: dict[str, Any], label: str) -> None:
        if not self.confirm(
            f"Forget everything from {label[:1].lower()}{label[1:]}?\n\n{COMPLETE}"
        ):
            return
        api = self.assistant.memory
        self._run(
            lambda: api.forget_source(**criteria), lambda _: self._source_forgotten(), "Forgotten"
        )

    def _source_forgotten(self) -> None:
        self._show_detail(None)
        self.model.reload()
        self._refresh_side_tabs()

    # -- inbox and learned --------------------------------------------------------------------------
    def _refresh_side_tabs(self) -> None:
        self.refresh_inbox()
        self.refresh_learned()
        self.weights_tab.refresh()  # a forgotten fact may have switched the adapter off

    def refresh_inbox(self) -> None:
        self.inbox.refresh()

    def accept_inbox(self, *, edit: bool = False) -> None:
        self.inbox.accept(edit=edit)

    def reject_inbox(self) -> None:
        self.inbox.reject()

    def _inbox_done(self) -> None:
        self._refresh_side_tabs()
        self.model.reload()

    def refresh_learned(self) -> None:
        self.learned.refresh()


def fact_sources(api: Any, fact_id: int) -> list[dict[str, Any]]:
    """`memory.fact_sources` with each source's quoted words as "excerpt" (a worker thread)."""
    sources = api.fact_sources(fact_id)
    for source in sources:
        try:
            text = api.get(source["memory_id"]).text
        except MnemeError:
            continue  # forgotten meanwhile
        source["excerpt"] = excerpt(text, source.get("quote_start"), source.get("quote_end"))
    return sources
