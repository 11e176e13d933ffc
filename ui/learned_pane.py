""" "What I learned": the memories added or changed today or this week, newest first.

UI thread only; the query runs on the io lane. Activating a line asks the inspector to show it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from assistant import Assistant
from assistant.types import Memory
from ui.memory_table import list_line
from ui.tasks import Lane

# A list widget of word-wrapped lines gets slow in the thousands (an import adds that many in a
# day); the newest are what this pane is for, the table's date filter shows the rest.
SHOWN = 300


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
        layout = QVBoxLayout(self)
        layout.addWidget(self.period)
        layout.addWidget(self.list)

    def refresh(self) -> None:
        today = datetime.combine(date.today(), time())
        start = (
            today
            if self.period.currentData() == "today"
            else today - timedelta(days=today.weekday())
        )
        api = self.assistant.memory
        self.io_lane.submit(lambda task: api.learned_since(start, SHOWN + 1)).success(
            self._loaded
        ).failure(self.failed.emit)

    def _loaded(self, memories: list[Memory]) -> None:
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

    def _activated(self, item: QListWidgetItem) -> None:
        memory_id = item.data(Qt.ItemDataRole.UserRole)
        if memory_id is not None:
            self.memory_chosen.emit(int(memory_id))
