"""The conversation list: new (or incognito) chats, search across all conversations, rename, delete.

UI thread only; every core call goes through the io lane. Deleting asks first, and offers to forget
what was learned from the conversation (`ask_delete`, which tests replace).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant
from assistant.types import Conversation, ConversationMatch
from ui.tasks import Lane, Task

SEARCH_DELAY_MS = 150
INCOGNITO_MARK = "◐ "  # a glyph every common UI font has


class ConversationPanel(QWidget):
    conversation_chosen = Signal(int)
    new_requested = Signal(bool)  # incognito?
    conversation_deleted = Signal(int)
    error = Signal(str)

    def __init__(self, assistant: Assistant, io_lane: Lane) -> None:
        super().__init__()
        self.assistant = assistant
        self.io_lane = io_lane
        self.current_id: int | None = None
        self.conversations: dict[int, Conversation] = {}

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_later)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)

        self.new_button = QPushButton("New chat")
        self.new_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(lambda: self.new_requested.emit(False))
        self.incognito_button = QPushButton(INCOGNITO_MARK + "Incognito")
        self.incognito_button.setToolTip("A conversation Mneme does not remember or learn from")
        self.incognito_button.clicked.connect(lambda: self.new_requested.emit(True))
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button, 1)
        buttons.addWidget(self.incognito_button)

        self.list = QListWidget()
        self.list.setObjectName("conversationList")
        self.list.itemSelectionChanged.connect(self._selected)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(buttons)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)

    # -- listing ----------------------------------------------------------------------------
    def refresh(self) -> Task:
        """Reload the list: every conversation, or the matches of the search text."""
        text = self.search.text()

        def load(task: Task) -> list[ConversationMatch]:
            if text.strip():
                return self.assistant.search_conversations(text)
            return [ConversationMatch(c, None, "") for c in self.assistant.conversations()]

        return self.io_lane.submit(load).success(self._show).failure(self.error.emit)

    def _search_later(self) -> None:
        self._search_timer.start()

    def _show(self, matches: list[ConversationMatch]) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.conversations = {}
        for match in matches:
            conversation = match.conversation
            self.conversations[conversation.id] = conversation
            title = (INCOGNITO_MARK if conversation.incognito else "") + conversation.title
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, conversation.id)
            tip = conversation.title
            if conversation.incognito:
                tip += "\nIncognito: nothing from it is remembered or learned."
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
            if match.snippet and match.snippet != conversation.title:
                tip += "\n\n" + match.snippet
                item.setText(f"{title}\n    {match.snippet}")
            item.setToolTip(tip)
            self.list.addItem(item)
            if conversation.id == self.current_id:
                item.setSelected(True)
        self.list.blockSignals(False)

    def select(self, conversation_id: int | None) -> None:
        """Mark the open conversation (no signal)."""
        self.current_id = conversation_id
        self.list.blockSignals(True)
        self.list.clearSelection()
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == conversation_id:
                item.setSelected(True)
        self.list.blockSignals(False)

    def _selected(self) -> None:
        items = self.list.selectedItems()
        if items:
            self.conversation_chosen.emit(int(items[0].data(Qt.ItemDataRole.UserRole)))

    # -- rename and delete ------------------------------------------------------------------
    def _context_menu(self, position: QPoint) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        conversation_id = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.ask_rename(conversation_id))
        menu.addAction("Delete…", lambda: self.delete(conversation_id))
        menu.exec(self.list.mapToGlobal(position))

    def ask_rename(self, conversation_id: int) -> None:
        current = self.conversations.get(conversation_id)
        title, ok = QInputDialog.getText(
            self, "Rename conversation", "Title:", text=current.title if current else ""
        )
        if ok:
            self.rename(conversation_id, title)

    def rename(self, conversation_id: int, title: str) -> Task:
        return (
            self.io_lane.submit(
                lambda task: self.assistant.rename_conversation(conversation_id, title)
            )
            .success(lambda _: self.refresh())
            .failure(self.error.emit)
        )

    def ask_delete(self, conversation: Conversation) -> tuple[bool, bool]:
        """(delete?, also forget the memories?) — a dialog; tests replace this method."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Delete conversation")
        box.setText(f"Delete “{conversation.title}” and its messages?")
        forget = QCheckBox("Also forget everything Mneme learned from it")
        forget.setChecked(True)
        if conversation.incognito:
            forget.setChecked(False)
            forget.setEnabled(False)  # an incognito chat left no memories
        box.setCheckBox(forget)
        box.setStandardButtons(QMessageBox.StandardButton.Cancel)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.exec()
        return box.clickedButton() is delete, forget.isChecked()

    def delete(self, conversation_id: int) -> Task | None:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return None
        confirmed, forget = self.ask_delete(conversation)
        if not confirmed:
            return None

        def work(task: Task) -> int:
            return self.assistant.delete_conversation(conversation_id, forget_memories=forget)

        def done(_forgotten: int) -> None:
            self.conversation_deleted.emit(conversation_id)
            self.refresh()

        return self.io_lane.submit(work).success(done).failure(self.error.emit)
