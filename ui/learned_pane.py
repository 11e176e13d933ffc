""" "What I learned": the memories added or changed today or this week, newest first, and below
them the memories the capacity bound took out of recall in that period (still stored and
searchable; pinning one brings it back).

UI thread only; the queries and pinning run on the io lane. Activating a line asks the inspector to
show it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant
from assistant.types import Memory
from ui.memory_table import list_line
from ui.tasks import Lane

# A list widget of word-wrapped lines gets slow in the thousands (an import adds that many in a
# day); the newest are what this pane is for, the table's date filter shows the rest.
SHOWN = 300
EVICTED_HELP = (
    "Taken out of recall to keep within the memory capacity (the least used first). They are "
    "still stored, and you can find them in the Memories tab; pin one to bring it back."
)


class LearnedPane(QWidget):
    memory_chosen = Signal(int)
    failed = Signal(str)

    def __init__(self, assistant: Assistant, io_lane: Lane) -> None:
        super().__init__()
        self.assistant = assistant
        self.io_lane = io_lane
        self.period = QComboBox()
        self.period.addItem("Today", "today")
        self.period.addItem("This week", "week")
        self.period.currentIndexChanged.connect(lambda _: self.refresh())
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.itemActivated.connect(self._activated)
        self.evicted_label = QLabel("<b>Out of recall</b>")
        self.evicted_help = QLabel(EVICTED_HELP)
        self.evicted_help.setWordWrap(True)
        self.evicted_list = QListWidget()
        self.evicted_list.setWordWrap(True)
        self.evicted_list.setMaximumHeight(160)
        self.evicted_list.itemActivated.connect(self._activated)
        self.evicted_list.itemSelectionChanged.connect(self._evicted_selected)
        self.pin_button = QPushButton("Pin to bring back")
        self.pin_button.setEnabled(False)
        self.pin_button.clicked.connect(self.pin_evicted)
        pin_row = QHBoxLayout()
        pin_row.addStretch(1)
        pin_row.addWidget(self.pin_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.period)
        layout.addWidget(self.list, 2)
        layout.addWidget(self.evicted_label)
        layout.addWidget(self.evicted_help)
        layout.addWidget(self.evicted_list, 1)
        layout.addLayout(pin_row)

    def refresh(self) -> None:
        today = datetime.combine(date.today(), time())
        start = (
            today
            if self.period.currentData() == "today"
            else today - timedelta(days=today.weekday())
        )
        api = self.assistant.memory

        def load(task: object) -> tuple[list[Memory], list[Memory]]:
            return api.learned_since(start, SHOWN + 1), api.evicted_since(start, limit=SHOWN + 1)

        self.io_lane.submit(load).success(self._loaded).failure(self.failed.emit)

    def _loaded(self, loaded: tuple[list[Memory], list[Memory]]) -> None:
        memories, evicted = loaded
        self._show_evicted(evicted)
        self.list.clear()
        for memory in memories[:SHOWN]:
            item = QListWidgetItem(list_line(memory))
            item.setData(Qt.ItemDataRole.UserRole, memory.id)
            self.list.addItem(item)
        if not memories:
            self.list.addItem("Nothing new in this period.")
        elif len(memories) > SHOWN:
            self.list.addItem(
                f"… and more: the newest {SHOWN} are shown here; filter the table by date for all."
            )

    def _show_evicted(self, evicted: list[Memory]) -> None:
        self.evicted_list.clear()
        for memory in evicted[:SHOWN]:
            item = QListWidgetItem(list_line(memory))
            item.setData(Qt.ItemDataRole.UserRole, memory.id)
            self.evicted_list.addItem(item)
        count = f"{SHOWN}+" if len(evicted) > SHOWN else str(len(evicted))
        self.evicted_label.setText(
            f"<b>Out of recall ({count})</b>" if evicted else "<b>Out of recall</b>"
        )
        if not evicted:
            self.evicted_list.addItem("Nothing was taken out of recall in this period.")
        self._evicted_selected()

    def _evicted_selected(self) -> None:
        self.pin_button.setEnabled(bool(self._evicted_ids()))

    def _evicted_ids(self) -> list[int]:
        found = (i.data(Qt.ItemDataRole.UserRole) for i in self.evicted_list.selectedItems())
        return [int(memory_id) for memory_id in found if memory_id is not None]

    def pin_evicted(self) -> None:
        """Pin the selected evicted memories: they come back into recall (io lane)."""
        ids = self._evicted_ids()
        if not ids:
            return
        api = self.assistant.memory
        self.pin_button.setEnabled(False)
        self.io_lane.submit(lambda task: [api.pin(i, True) for i in ids]).success(
            lambda _: self.refresh()
        ).failure(self.failed.emit)

    def _activated(self, item: QListWidgetItem) -> None:
        memory_id = item.data(Qt.ItemDataRole.UserRole)
        if memory_id is not None:
            self.memory_chosen.emit(int(memory_id))
