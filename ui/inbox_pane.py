"""The inspector's "Review inbox": proposed memories to accept, edit and accept, or reject.

A candidate that contradicts an active fact shows that fact beside it ("Contradicts: … (user-stated,
since …)"), so the user sees both before choosing; accepting makes the old fact history (the core's
accept does it). Reads run on the io lane; actions go through the inspector's `run` (io lane, with
its status message), and confirmations and text prompts through the inspector's `confirm` /
`ask_text`, looked up at call time so tests can replace them. UI thread only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, MnemeError
from assistant.types import Memory
from ui.fact_views import conflict_line, inbox_line
from ui.tasks import Lane

TEXT_ROLE = Qt.ItemDataRole.UserRole + 1
CONFLICT_ROLE = Qt.ItemDataRole.UserRole + 2
Run = Callable[[Callable[[], Any], Callable[[Any], None], str], None]


class InboxPane(QWidget):
    """`count_changed(n)` after each load, `changed()` after an accept or reject,
    `failed(message)` when a load fails."""

    count_changed = Signal(int)
    changed = Signal()
    failed = Signal(str)

    def __init__(
        self,
        assistant: Assistant,
        io_lane: Lane,
        run: Run,
        confirm: Callable[[str], bool],
        ask_text: Callable[[str, str], str | None],
    ) -> None:
        super().__init__()
        self.assistant = assistant
        self.io_lane = io_lane
        self._run = run
        self._confirm = confirm
        self._ask_text = ask_text
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setWordWrap(True)
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.accept_button = QPushButton("Accept")
        self.accept_button.clicked.connect(lambda: self.accept(edit=False))
        self.accept_edit_button = QPushButton("Edit and accept…")
        self.accept_edit_button.clicked.connect(lambda: self.accept(edit=True))
        self.reject_button = QPushButton("Reject")
        self.reject_button.clicked.connect(self.reject)
        self.label = QLabel()
        self.conflict_label = QLabel()  # the selected candidate's contradiction, in full
        self.conflict_label.setWordWrap(True)
        self.conflict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.conflict_label.hide()
        buttons = QHBoxLayout()
        for button in (self.accept_button, self.accept_edit_button, self.reject_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("Proposed memories from imports, contradictions and untrusted sources.")
        )
        layout.addWidget(self.list)
        layout.addWidget(self.conflict_label)
        layout.addWidget(self.label)
        layout.addLayout(buttons)

    def refresh(self) -> None:
        api = self.assistant.memory

        def load(task: object) -> tuple[list[Memory], dict[int, Memory]]:
            memories = api.inbox()
            conflicts: dict[int, Memory] = {}
            for memory in memories:
                other = memory.conflicts_with
                if other is not None and other not in conflicts:
                    with contextlib.suppress(MnemeError):  # forgotten meanwhile: said so
                        conflicts[other] = api.get(other)
            return memories, conflicts

        self.io_lane.submit(load).success(self._loaded).failure(self.failed.emit)

    def _loaded(self, loaded: tuple[list[Memory], dict[int, Memory]]) -> None:
        memories, conflicts = loaded
        self.list.clear()
        for memory in memories:
            conflict = conflicts.get(memory.conflicts_with or -1)
            item = QListWidgetItem(inbox_line(memory, conflict))
            item.setData(Qt.ItemDataRole.UserRole, memory.id)
            item.setData(TEXT_ROLE, memory.text)
            if memory.conflicts_with is not None:
                both = f"Proposed: {memory.text}\n{conflict_line(conflict)}"
                item.setData(CONFLICT_ROLE, both)
                item.setToolTip(both)
            self.list.addItem(item)
        count = len(memories)
        self.label.setText("Nothing to review." if not count else f"{count} to review")
        self._selection_changed()
        self.count_changed.emit(count)

    def _selection_changed(self) -> None:
        items = self.list.selectedItems()
        both = items[0].data(CONFLICT_ROLE) if len(items) == 1 else None
        self.conflict_label.setText(both or "")
        self.conflict_label.setVisible(bool(both))

    def selected_ids(self) -> list[int]:
        return [int(item.data(Qt.ItemDataRole.UserRole)) for item in self.list.selectedItems()]

    def accept(self, *, edit: bool = False) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        api = self.assistant.memory
        if edit:
            memory_id = ids[0]
            original = self.list.selectedItems()[0].data(TEXT_ROLE)
            text = self._ask_text("Edit and accept", original)
            if text is None:
                return
            self._run(lambda: api.accept(memory_id, text), self._done, "Accepted")
            return
        self._run(lambda: [api.accept(i) for i in ids], self._done, "Accepted")

    def reject(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        what = "this proposed memory" if len(ids) == 1 else f"these {len(ids)} proposed memories"
        if not self._confirm(f"Reject {what}? They are deleted completely."):
            return
        api = self.assistant.memory

        def reject_all() -> None:
            for memory_id in ids:
                api.reject(memory_id)

        self._run(reject_all, self._done, "Rejected")

    def _done(self, _result: object) -> None:
        self.changed.emit()
