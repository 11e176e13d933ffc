"""The fact part of the memory detail pane: its facet (a preference is a note, never an
instruction), its timeline (the facts it updated or that updated it, with when each held) and the
memories it was read in, with their trust. Display only, on the UI thread; the inspector loads the
data (`memory.timeline`, `memory.fact_sources`) on its io lane. Activating a line emits
`memory_chosen(id)` so the inspector shows that memory."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from assistant.types import Memory
from ui.fact_views import PREFERENCE_NOTE, source_line, timeline_line

NO_SOURCES = "No other memory: it comes from the source above."


class FactDetail(QWidget):
    memory_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facet_label = QLabel(PREFERENCE_NOTE)
        self.facet_label.setWordWrap(True)
        self.facet_label.setObjectName("preferenceNote")
        self.timeline_list = self._list()
        self.sources_list = self._list()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.facet_label)
        layout.addWidget(QLabel("<b>Timeline</b>"))
        layout.addWidget(self.timeline_list)
        layout.addWidget(QLabel("<b>Read in</b>"))
        layout.addWidget(self.sources_list)

    def _list(self) -> QListWidget:
        widget = QListWidget()
        widget.setMaximumHeight(100)
        widget.setWordWrap(True)
        widget.itemActivated.connect(self._activated)
        return widget

    def show_fact(self, memory: Memory | None, detail: dict[str, Any] | None) -> None:
        """Show the fact parts of `memory` (hidden for other kinds; empty until `detail`)."""
        self.timeline_list.clear()
        self.sources_list.clear()
        is_fact = memory is not None and memory.kind == "fact"
        self.setVisible(is_fact)
        if memory is None or not is_fact:
            return
        self.facet_label.setVisible(memory.facet == "preference")
        if detail is None:
            return
        bold = QFont()
        bold.setBold(True)
        for fact in detail.get("timeline") or [memory]:
            item = QListWidgetItem(timeline_line(fact))
            item.setData(Qt.ItemDataRole.UserRole, fact.id)
            if fact.id == memory.id:
                item.setFont(bold)  # the one shown above
            self.timeline_list.addItem(item)
        sources = detail.get("sources") or []
        for source in sources:
            item = QListWidgetItem(source_line(source))
            item.setData(Qt.ItemDataRole.UserRole, source.get("memory_id"))
            self.sources_list.addItem(item)
        if not sources:
            self.sources_list.addItem(NO_SOURCES)

    def _activated(self, item: QListWidgetItem) -> None:
        memory_id = item.data(Qt.ItemDataRole.UserRole)
        if memory_id is not None:
            self.memory_chosen.emit(int(memory_id))
