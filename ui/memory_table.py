"""The inspector's table model: memories matching a filter, loaded a page at a time off the UI thread.

`MemoryTableModel` never reads the database on the UI thread. Setting a filter (or sorting) clears the
rows and asks the io lane for the count and the first page; the view then asks for more pages through
`canFetchMore`/`fetchMore` as the user scrolls, one page in flight at a time. A generation number
drops the answers of a filter the user has already replaced, so typing fast never shows stale rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor

from assistant import Assistant
from assistant.types import Memory, MemoryFilter
from ui.tasks import Lane

PAGE = 200
Index = QModelIndex | QPersistentModelIndex

# (sort column in the core, header)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("kind", "Kind"),
    ("text", "Memory"),
    ("source_type", "Source"),
    ("trust", "Trust"),
    ("status", "Status"),
    ("occurred_at", "When"),
    ("pinned", "Pinned"),
)
WHEN_COLUMN = 5


def short_date(stamp: str | None) -> str:
    """'2024-05-05T10:00:00.000+00:00' → '2024-05-05 10:00' (what a row has room for)."""
    if not stamp:
        return ""
    return stamp[:16].replace("T", " ")


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def list_line(memory: Memory) -> str:
    """Two lines for a list of memories (inbox, what I learned): the text, then what it is."""
    edited = " (edited)" if memory.supersedes is not None else ""
    return (
        f"{one_line(memory.text, 300)}\n    {memory.kind}{edited} · {memory.source_type}"
        f" · trust {memory.trust} · {short_date(memory.valid_from or memory.created_at)}"
    )


class MemoryTableModel(QAbstractTableModel):
    """Rows of `Memory`; all loading runs on `io_lane`. Touch only on the UI thread."""

    count_changed = Signal(int)  # the filter's total, once known
    page_loaded = Signal(int)  # rows loaded so far, after each page
    failed = Signal(str)

    def __init__(self, assistant: Assistant, io_lane: Lane, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._assistant = assistant
        self._lane = io_lane
        self._filter = MemoryFilter(status="active")
        self._rows: list[Memory] = []
        self._total: int | None = None
        self._loading = False
        self._generation = 0

    # -- filter and sort ----------------------------------------------------------------------
    @property
    def memory_filter(self) -> MemoryFilter:
        return self._filter

    @property
    def total(self) -> int | None:
        return self._total

    @property
    def loading(self) -> bool:
        return self._loading

    def set_filter(self, memory_filter: MemoryFilter) -> None:
        """Show memories matching `memory_filter` (keeps the current sort)."""
        self._filter = dataclasses.replace(
            memory_filter,
            sort=self._filter.sort,
            descending=self._filter.descending,
            facts_first=self._filter.facts_first,
        )
        self.reload()

    def reload(self) -> None:
        """Drop the loaded rows and load the count and the first page again."""
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._total = None
        self._loading = False
        self.endResetModel()
        generation = self._generation
        memory_filter = self._filter
        memory = self._assistant.memory
        self._lane.submit(lambda task: memory.count(memory_filter)).success(
            lambda total: self._counted(generation, total)
        ).failure(self.failed.emit)
        self._load_page()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        descending = order == Qt.SortOrder.DescendingOrder
        name = COLUMNS[column][0]
        # Sorting by kind means sorting by kind: "facts first" would hide the order asked for.
        wanted = dataclasses.replace(
            self._filter, sort=name, descending=descending, facts_first=name != "kind"
        )
        if wanted != self._filter:
            self._filter = wanted
            self.reload()

    # -- lazy loading -------------------------------------------------------------------------
    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        if parent.isValid() or self._loading or self._total is None:
            return False
        return len(self._rows) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._load_page()

    def _load_page(self) -> None:
        self._loading = True
        generation = self._generation
        memory_filter = self._filter
        offset = len(self._rows)
        memory = self._assistant.memory
        self._lane.submit(lambda task: memory.query(memory_filter, PAGE, offset)).success(
            lambda rows: self._loaded(generation, offset, rows)
        ).failure(lambda message: self._failed(generation, message))

    def _counted(self, generation: int, total: int) -> None:
        if generation != self._generation:
            return
        self._total = total
        self.count_changed.emit(total)

    def _loaded(self, generation: int, offset: int, rows: list[Memory]) -> None:
        if generation != self._generation or offset != len(self._rows):
            return
        self._loading = False
        if rows:
            self.beginInsertRows(QModelIndex(), offset, offset + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        if len(rows) < PAGE and self._total is not None and self._total > len(self._rows):
            # The set shrank since it was counted (a deletion elsewhere): the end is here.
            self._total = len(self._rows)
            self.count_changed.emit(self._total)
        self.page_loaded.emit(len(self._rows))

    def _failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._loading = False
            self.failed.emit(message)

    # -- rows ---------------------------------------------------------------------------------
    def memory_at(self, row: int) -> Memory | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, memory_id: int) -> int | None:
        for row, memory in enumerate(self._rows):
            if memory.id == memory_id:
                return row
        return None

    def replace(self, memory: Memory) -> None:
        """Show a changed memory (same id) in place."""
        row = self.row_of(memory.id)
        if row is not None:
            self._rows[row] = memory
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def remove_ids(self, ids: set[int]) -> None:
        """Drop deleted memories without reloading (the offsets of later pages stay right)."""
        for row in range(len(self._rows) - 1, -1, -1):
            if self._rows[row].id in ids:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row]
                self.endRemoveRows()
                if self._total is not None:
                    self._total -= 1
        if self._total is not None:
            self.count_changed.emit(self._total)

    # -- QAbstractTableModel ----------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        memory = self.memory_at(index.row()) if index.isValid() else None
        if memory is None:
            return None
        name = COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.DisplayRole:
            if name == "text":
                return one_line(memory.text)
            if name == "occurred_at":
                return short_date(memory.occurred_at)
            if name == "pinned":
                return "✓" if memory.pinned else ""
            return getattr(memory, name) or ""
        if role == Qt.ItemDataRole.ToolTipRole and name == "text":
            return memory.text[:2000]
        if role == Qt.ItemDataRole.UserRole:
            return memory.id
        if role == Qt.ItemDataRole.ForegroundRole and memory.status != "active":
            return QColor("#888888")
        return None
