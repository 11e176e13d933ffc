"""The chat transcript: one widget per message, replies rendered as Markdown while they stream.

UI thread only. The view holds no core objects: it shows text and emits what the user asked for
(`edit_requested`, `regenerate_requested`, `feedback_given`, `memory_clicked`); the main window runs
the core calls.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from assistant.types import RecalledMemory

# Re-rendering Markdown on every token would cost O(n²) over a long reply; at most every 40 ms the
# text so far is rendered once, which looks live and keeps the UI thread free.
RENDER_INTERVAL_MS = 40
MEMORY_PREVIEW_CHARS = 70


class MessageView(QFrame):
    """One message: who, the text (Markdown for replies), and its actions."""

    copy_done = Signal(str)

    def __init__(self, role: str, text: str = "", message_id: int | None = None) -> None:
        super().__init__()
        self.role = role
        self.message_id = message_id
        self.text = text
        self.setObjectName("userMessage" if role == "user" else "assistantMessage")
        self.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self.who = QLabel("You" if role == "user" else "Mneme")
        self.who.setObjectName("speaker")
        layout.addWidget(self.who)
        self.body = QLabel()
        self.body.setObjectName("body")
        self.body.setWordWrap(True)
        self.body.setTextFormat(
            Qt.TextFormat.PlainText if role == "user" else Qt.TextFormat.MarkdownText
        )
        self.body.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.body.setOpenExternalLinks(False)
        self.body.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.body)
        self.memories_label = QLabel()
        self.memories_label.setObjectName("memoriesUsed")
        self.memories_label.setWordWrap(True)
        self.memories_label.setTextFormat(Qt.TextFormat.RichText)
        self.memories_label.hide()
        layout.addWidget(self.memories_label)
        self.error_label = QLabel()
        self.error_label.setObjectName("inlineError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        self.copy_button = _small_button("Copy", "Copy this message")
        self.copy_button.clicked.connect(self.copy)
        actions.addWidget(self.copy_button)
        self.edit_button = _small_button("Edit", "Edit this message and send it again")
        self.regenerate_button = _small_button("Regenerate", "Answer this message again")
        self.up_button = _small_button("👍", "Helpful: the memories it used were right")
        self.down_button = _small_button("👎", "Not helpful: the memories it used were wrong")
        for button in (self.edit_button, self.regenerate_button, self.up_button, self.down_button):
            actions.addWidget(button)
        self.edit_button.setVisible(role == "user")
        self.regenerate_button.setVisible(False)
        self.up_button.setVisible(False)
        self.down_button.setVisible(False)
        self.stats_label = QLabel()
        self.stats_label.setObjectName("stats")
        actions.addStretch(1)
        actions.addWidget(self.stats_label)
        layout.addLayout(actions)

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_INTERVAL_MS)
        self._render_timer.timeout.connect(self.render)
        self.render()

    def append(self, piece: str) -> None:
        self.text += piece
        if not self._render_timer.isActive():
            self._render_timer.start()

    def set_text(self, text: str) -> None:
        self.text = text
        self.render()

    def render(self) -> None:
        self._render_timer.stop()
        self.body.setText(self.text if self.text else ("…" if self.role == "assistant" else ""))

    def set_memories(self, memories: list[RecalledMemory]) -> None:
        """Show the memories that went into this reply, each a link to it in the inspector."""
        if not memories:
            self.memories_label.hide()
            return
        links = []
        for number, recalled in enumerate(memories, 1):
            preview = " ".join(recalled.memory.text.split())
            if len(preview) > MEMORY_PREVIEW_CHARS:
                preview = preview[: MEMORY_PREVIEW_CHARS - 1] + "…"
            links.append(
                f'<a href="memory:{recalled.memory.id}">[{number}] {html.escape(preview)}</a>'
            )
        self.memories_label.setText("<b>Memories used</b><br>" + "<br>".join(links))
        self.memories_label.show()
        self.up_button.setVisible(self.message_id is not None)
        self.down_button.setVisible(self.message_id is not None)

    def show_error(self, message: str) -> None:
        self.error_label.setText(f"⚠ {message}")
        self.error_label.show()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)
        self.copy_done.emit(self.text)


def _small_button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName("messageAction")
    button.setToolTip(tip)
    button.setFlat(True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class ChatView(QScrollArea):
    """The transcript of the open conversation."""

    memory_clicked = Signal(int)
    edit_requested = Signal(int, str)  # user message id, its text
    regenerate_requested = Signal()
    feedback_given = Signal(int, int)  # assistant message id, +1 or −1

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self._inner = QWidget()
        self._inner.setObjectName("transcript")
        self._layout = QVBoxLayout(self._inner)
        self._layout.setContentsMargins(16, 16, 16, 16)
        self._layout.setSpacing(10)
        self._notice = QLabel()
        self._notice.setObjectName("notice")
        self._notice.setWordWrap(True)
        self._notice.setTextFormat(Qt.TextFormat.RichText)
        self._notice.hide()
        self._layout.addWidget(self._notice)
        self._layout.addStretch(1)
        self.setWidget(self._inner)
        self.messages: list[MessageView] = []
        self._follow = True
        self.verticalScrollBar().rangeChanged.connect(self._keep_at_bottom)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)

    # -- content ----------------------------------------------------------------------------
    def clear(self) -> None:
        for view in self.messages:
            view.setParent(None)
            view.deleteLater()
        self.messages = []
        self._notice.hide()
        self._follow = True

    def show_notice(self, rich_text: str) -> None:
        """A welcome or help text shown above the (empty) transcript."""
        self._notice.setText(rich_text)
        self._notice.show()

    def add_message(self, role: str, text: str = "", message_id: int | None = None) -> MessageView:
        view = MessageView(role, text, message_id)
        view.memories_label.linkActivated.connect(self._memory_link)
        view.edit_button.clicked.connect(lambda: self._edit(view))
        view.regenerate_button.clicked.connect(self.regenerate_requested)
        view.up_button.clicked.connect(lambda: self._feedback(view, 1))
        view.down_button.clicked.connect(lambda: self._feedback(view, -1))
        self._layout.insertWidget(self._layout.count() - 1, view)
        self.messages.append(view)
        self._notice.hide()
        self._follow = True
        self._update_regenerate()
        return view

    def remove_from(self, message_id: int) -> None:
        """Drop the view of `message_id` and every later message (an edit or a regenerate)."""
        for index, view in enumerate(self.messages):
            if view.message_id == message_id:
                for gone in self.messages[index:]:
                    gone.setParent(None)
                    gone.deleteLater()
                self.messages = self.messages[:index]
                break
        self._update_regenerate()

    def last(self) -> MessageView | None:
        return self.messages[-1] if self.messages else None

    def set_busy(self, busy: bool) -> None:
        for view in self.messages:
            view.edit_button.setEnabled(not busy)
            view.regenerate_button.setEnabled(not busy)
        self._update_regenerate()

    def _update_regenerate(self) -> None:
        for view in self.messages:
            view.regenerate_button.setVisible(False)
        if self.messages and self.messages[-1].role == "assistant":
            self.messages[-1].regenerate_button.setVisible(True)

    # -- signals ----------------------------------------------------------------------------
    def _memory_link(self, link: str) -> None:
        if link.startswith("memory:"):
            self.memory_clicked.emit(int(link.split(":", 1)[1]))

    def _edit(self, view: MessageView) -> None:
        if view.message_id is not None:
            self.edit_requested.emit(view.message_id, view.text)

    def _feedback(self, view: MessageView, value: int) -> None:
        if view.message_id is not None:
            self.feedback_given.emit(view.message_id, value)

    # -- scrolling: follow the stream unless the user scrolled up to read -----------------------
    def _scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - 24

    def _keep_at_bottom(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
