"""The chat transcript: one rich-text document, replies rendered as Markdown while they stream.

Why one document and not a widget per message: a word-wrapped label per message makes Qt lay out
every message again whenever the streaming one grows (measured: 43 ms per update with 20 messages,
310 ms at worst). A QTextDocument lays out only the blocks that changed, so a streaming update
costs the same at message 2 and at message 200.

Each message is a frame (who, body, memories used, actions) drawn as a bubble. A
change to message i re-renders messages i… to the end — in practice the last one or two. Actions
are links (`mneme:edit/ID`, `memory:ID`, …) handled by `activate`.

UI thread only. The view holds no core objects: it shows text and emits what the user asked for;
the main window runs the core calls.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextFrameFormat,
)
from PySide6.QtWidgets import QFrame, QTextBrowser

from assistant.types import RecalledMemory

# Re-rendering the streaming reply's Markdown on every token would cost O(n²) over a long reply;
# at most every 40 ms the text so far is rendered once, which looks live and keeps the UI free.
RENDER_INTERVAL_MS = 40
MEMORY_PREVIEW_CHARS = 90
_BACKGROUND = {"user": QColor("#e3ebff"), "assistant": QColor("#ffffff")}
_BORDER = {"user": QColor("#d3ddf7"), "assistant": QColor("#e2e4ea")}
_LINK_STYLE = "color:#3a5bd9; text-decoration:none;"


class MessageEntry:
    """One message of the transcript: what it shows. Changing it re-renders it (and what follows)."""

    def __init__(self, view: ChatView, role: str, text: str, message_id: int | None) -> None:
        self._view = view
        self.role = role
        self.text = text
        self.message_id = message_id
        self.memories: list[RecalledMemory] = []
        self.error = ""
        self.status = ""
        self.start = -1  # document position of its first block (−1: not shown yet)

    def append(self, piece: str) -> None:
        """Add streamed text; rendered within RENDER_INTERVAL_MS."""
        self.text += piece
        self._view._render_soon(self)

    def set_text(self, text: str) -> None:
        self.text = text
        self._view._render_from(self)

    def set_memories(self, memories: list[RecalledMemory]) -> None:
        """The memories that went into this reply, each a link to it in the inspector."""
        self.memories = list(memories)
        self._view._render_from(self)

    def set_message_id(self, message_id: int) -> None:
        self.message_id = message_id
        self._view._render_from(self)

    def set_status(self, status: str) -> None:
        self.status = status
        self._view._render_from(self)

    def show_error(self, message: str) -> None:
        self.error = message
        self._view._render_from(self)


class ChatView(QTextBrowser):
    """The transcript of the open conversation."""

    memory_clicked = Signal(int)
    edit_requested = Signal(int, str)  # user message id, its text
    regenerate_requested = Signal()
    feedback_given = Signal(int, int)  # assistant message id, +1 or −1
    copied = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("transcript")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(lambda url: self.activate(url.toString()))
        self.document().setDocumentMargin(16)
        self.messages: list[MessageEntry] = []
        self._notice = ""
        self._pending: MessageEntry | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_INTERVAL_MS)
        self._timer.timeout.connect(self._render_pending)

    # -- content ----------------------------------------------------------------------------
    def clear(self) -> None:
        self._timer.stop()
        self._pending = None
        self.messages = []
        self._notice = ""
        super().clear()

    def show_notice(self, rich_text: str) -> None:
        """A welcome or help text, shown while the transcript is empty."""
        self._notice = rich_text
        if not self.messages:
            self.setHtml(rich_text)

    def add_message(
        self,
        role: str,
        text: str = "",
        message_id: int | None = None,
        memories: list[RecalledMemory] | None = None,
    ) -> MessageEntry:
        entry = MessageEntry(self, role, text, message_id)
        entry.memories = list(memories or [])
        if not self.messages:
            super().clear()  # drop the notice
        previous = self.messages[-1] if self.messages else None
        self.messages.append(entry)
        # The previous reply loses its Regenerate link: render from it.
        self._render_from(
            previous if previous is not None and previous.role == "assistant" else entry
        )
        return entry

    def remove_from(self, message_id: int) -> None:
        """Drop `message_id` and every later message (an edit or a regenerate)."""
        for index, entry in enumerate(self.messages):
            if entry.message_id == message_id:
                if entry.start >= 0:
                    self._truncate(entry.start)
                self.messages = self.messages[:index]
                if self.messages:
                    self._render_from(self.messages[-1])
                break

    def last(self) -> MessageEntry | None:
        return self.messages[-1] if self.messages else None

    # -- actions (links) ----------------------------------------------------------------------
    def activate(self, link: str) -> None:
        """Run the action behind a link of the transcript (also what tests call)."""
        scheme, _, rest = link.partition(":")
        if scheme == "memory" and rest.isdigit():
            self.memory_clicked.emit(int(rest))
            return
        if scheme != "mneme":
            return
        action, _, raw_id = rest.partition("/")
        entry = next((e for e in self.messages if str(e.message_id) == raw_id), None)
        if action == "regenerate":
            self.regenerate_requested.emit()
        elif entry is None or entry.message_id is None:
            return
        elif action == "copy":
            QGuiApplication.clipboard().setText(entry.text)
            self.copied.emit(entry.text)
        elif action == "edit":
            self.edit_requested.emit(entry.message_id, entry.text)
        elif action in ("up", "down"):
            self.feedback_given.emit(entry.message_id, 1 if action == "up" else -1)

    def links(self, entry: MessageEntry) -> list[str]:
        """The action links the entry shows now."""
        if entry.message_id is None:
            return []
        found = [f"mneme:copy/{entry.message_id}"]
        if entry.role == "user":
            found.append(f"mneme:edit/{entry.message_id}")
        elif entry is self.messages[-1]:
            found.append(f"mneme:regenerate/{entry.message_id}")
        if entry.role == "assistant" and entry.memories:
            found += [f"mneme:up/{entry.message_id}", f"mneme:down/{entry.message_id}"]
        return found

    # -- rendering ----------------------------------------------------------------------------
    def _render_soon(self, entry: MessageEntry) -> None:
        if self._pending is not None and self._pending is not entry:
            self._render_pending()
        self._pending = entry
        if not self._timer.isActive():
            self._timer.start()

    def _render_pending(self) -> None:
        self._timer.stop()
        entry, self._pending = self._pending, None
        if entry is not None and entry in self.messages:
            self._render_from(entry)

    def _render_from(self, entry: MessageEntry) -> None:
        if entry not in self.messages:
            return
        if self._pending is entry:
            self._timer.stop()
            self._pending = None
        bar = self.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 24
        index = self.messages.index(entry)
        if entry.start >= 0:
            self._truncate(entry.start)
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        for later in self.messages[index:]:
            self._insert(cursor, later)
        if following:  # keep up with the stream, unless the user scrolled up to read
            bar.setValue(bar.maximum())

    def _truncate(self, position: int) -> None:
        """Remove everything from `position` (a message's start) on, its frame included."""
        cursor = QTextCursor(self.document())
        cursor.setPosition(min(position, self._end()))
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()

    def _end(self) -> int:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor.position()

    def _insert(self, cursor: QTextCursor, entry: MessageEntry) -> None:
        # Each message is a frame: one background, padding and border, like a bubble.
        cursor.movePosition(QTextCursor.MoveOperation.End)
        entry.start = cursor.position()
        bubble = QTextFrameFormat()
        bubble.setBackground(_BACKGROUND.get(entry.role, _BACKGROUND["assistant"]))
        bubble.setBorder(1)
        bubble.setBorderBrush(_BORDER.get(entry.role, _BORDER["assistant"]))
        bubble.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
        bubble.setPadding(10)
        bubble.setTopMargin(5)
        bubble.setBottomMargin(5)
        bubble.setLeftMargin(60 if entry.role == "user" else 0)
        bubble.setRightMargin(0 if entry.role == "user" else 60)
        cursor.insertFrame(bubble)
        speaker = QTextCharFormat()
        speaker.setFontWeight(QFont.Weight.DemiBold)
        speaker.setForeground(QColor("#3b4459"))
        cursor.setBlockFormat(QTextBlockFormat())
        cursor.insertText("You" if entry.role == "user" else "Mneme", speaker)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        if entry.role == "assistant":
            if entry.text.strip():
                cursor.insertMarkdown(entry.text)
            else:
                cursor.insertText("…", QTextCharFormat())
        else:
            cursor.insertText(entry.text, QTextCharFormat())  # the user's text, literally
        extras = []
        if entry.memories:
            links = []
            for number, recalled in enumerate(entry.memories, 1):
                preview = " ".join(recalled.memory.text.split())
                if len(preview) > MEMORY_PREVIEW_CHARS:
                    preview = preview[: MEMORY_PREVIEW_CHARS - 1] + "…"
                links.append(
                    f'<a style="{_LINK_STYLE}" href="memory:{recalled.memory.id}">'
                    f"[{number}] {html.escape(preview)}</a>"
                )
            extras.append(
                '<span style="color:#4a5570; font-size:small;"><b>Memories used</b><br>'
                + "<br>".join(links)
                + "</span>"
            )
        if entry.error:
            extras.append(f'<span style="color:#b00020;">⚠ {html.escape(entry.error)}</span>')
        actions = [_action_link(link) for link in self.links(entry)]
        if entry.status:
            actions.append(f'<span style="color:#8a93a6;">{html.escape(entry.status)}</span>')
        if actions:
            extras.append('<span style="font-size:small;">' + " &nbsp; ".join(actions) + "</span>")
        spaced = QTextBlockFormat()
        spaced.setTopMargin(6)
        for extra in extras:
            cursor.insertBlock(spaced, QTextCharFormat())
            cursor.insertHtml(extra)
        cursor.setCharFormat(QTextCharFormat())  # nothing after inherits a link or a colour
        cursor.movePosition(QTextCursor.MoveOperation.End)  # out of the frame


def _action_link(link: str) -> str:
    labels = {
        "copy": "Copy",
        "edit": "Edit",
        "regenerate": "Regenerate",
        "up": "▲ Helpful",
        "down": "▼ Not helpful",
    }
    action = link.split(":", 1)[1].split("/", 1)[0]
    return f'<a style="{_LINK_STYLE}" href="{html.escape(link)}">{labels[action]}</a>'


def link_url(link: str) -> QUrl:
    """The QUrl a click on `link` delivers (for tests that click like the user does)."""
    return QUrl(link)
