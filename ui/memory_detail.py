"""The inspector's detail pane: one memory in full, where it came from, its versions, why it was
recalled, and the buttons that act on it. It only displays what it is given (on the UI thread); the
inspector loads the data on its io lane and connects the buttons."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from assistant.types import Memory
from ui.fact_detail import FactDetail
from ui.memory_table import one_line, short_date

FORGOTTEN = "(forgotten)"  # what the core writes over a forgotten message (memory/forget.py)

COMPLETE = (
    "The memory, its older versions, the facts read only in it, its search entries, vectors, "
    "context windows and the learning signals that mention it are all deleted. The "
    f"conversation messages it was made of will read “{FORGOTTEN}” afterwards. This cannot be "
    "undone."
)
ForgetSource = Callable[[dict[str, Any], str], None]


class MemoryDetail(QWidget):
    def __init__(self, forget_source: ForgetSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._forget_source = forget_source
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.provenance_label = QLabel()
        self.provenance_label.setWordWrap(True)
        self.provenance_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_source_button = QPushButton("Open source")
        self.recall_label = QLabel()
        self.recall_label.setWordWrap(True)
        self.history_list = QListWidget()
        self.history_list.setMaximumHeight(120)
        self.history_list.setWordWrap(True)
        self.fact = FactDetail()  # facet, timeline and sources of a fact; hidden otherwise
        self.edit_button = QPushButton("Edit…")
        self.pin_button = QPushButton("Pin")
        self.delete_button = QPushButton("Delete")
        self.forget_source_button = QPushButton("Forget everything from this source…")
        self.forget_source_menu = QMenu(self)
        self.forget_source_button.setMenu(self.forget_source_menu)
        buttons = QHBoxLayout()
        for button in (self.edit_button, self.pin_button, self.delete_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text, 3)
        layout.addWidget(QLabel("<b>Source</b>"))
        layout.addWidget(self.provenance_label)
        layout.addWidget(self.open_source_button)
        layout.addWidget(QLabel("<b>Why it was recalled last time</b>"))
        layout.addWidget(self.recall_label)
        layout.addWidget(QLabel("<b>Versions</b>"))
        layout.addWidget(self.history_list, 1)
        layout.addWidget(self.fact)
        layout.addLayout(buttons)
        layout.addWidget(self.forget_source_button)

    def show_memory(
        self, memory: Memory | None, detail: dict[str, Any] | None, *, selected: bool
    ) -> None:
        """Show `memory` (None: nothing chosen). `detail` (provenance, history, recall; for a
        fact also timeline and sources) may come later: until then the pane says it is loading."""
        for button in (self.edit_button, self.pin_button, self.forget_source_button):
            button.setEnabled(memory is not None)
        self.delete_button.setEnabled(memory is not None or selected)
        self.open_source_button.setEnabled(False)
        self.history_list.clear()
        self.forget_source_menu.clear()
        self.fact.show_fact(memory, detail)
        if memory is None:
            self.text.setPlainText("Select a memory to see it in full.")
            self.provenance_label.clear()
            self.recall_label.clear()
            return
        self.pin_button.setText("Unpin" if memory.pinned else "Pin")
        kind = f"{memory.kind} ({memory.facet})" if memory.facet else memory.kind
        facts = [
            f"{kind} · {memory.status} · trust {memory.trust}",
            f"happened {short_date(memory.occurred_at)} · stored {short_date(memory.created_at)}",
            f"used {memory.access_count} time{'s' if memory.access_count != 1 else ''}",
        ]
        if memory.evicted_at:
            facts.append(
                f"out of recall since {short_date(memory.evicted_at)} (memory capacity): "
                "still stored; pin it to bring it back"
            )
        self.text.setHtml(
            f"<p style='font-size: 11pt'>{html.escape(memory.text).replace(chr(10), '<br>')}</p>"
            f"<p style='color: #666'>{'<br>'.join(html.escape(f) for f in facts)}</p>"
        )
        if detail is None:
            self.provenance_label.setText("Loading…")
            self.recall_label.clear()
            return
        origin = detail["provenance"]
        self.provenance_label.setText(describe_source(origin))
        self.open_source_button.setEnabled(
            origin.get("conversation_id") is not None or bool(origin.get("path"))
        )
        self.recall_label.setText(describe_recall(detail["recall"]))
        for version in detail["history"]:
            if version.status == "superseded":
                span = f"{short_date(version.valid_from or version.created_at)} – "
                span += short_date(version.valid_to)
            else:
                span = f"current since {short_date(version.valid_from or version.created_at)}"
            item = QListWidgetItem(f"{span}: {one_line(version.text, 120)}")
            item.setData(Qt.ItemDataRole.UserRole, version.id)
            self.history_list.addItem(item)
        for label, criteria in source_choices(memory, origin):
            action = self.forget_source_menu.addAction(label)
            action.triggered.connect(
                lambda _=False, c=criteria, text=label: self._forget_source(c, text)
            )
        self.forget_source_button.setEnabled(bool(self.forget_source_menu.actions()))


def describe_recall(recall: dict[str, Any] | None) -> str:
    if recall is None:
        return "Not recalled for any reply yet."
    reasons = ", ".join(recall["reasons"]) or "no reason recorded"
    return (
        f"{short_date(recall['created_at'])}: rank {recall['rank'] + 1}, "
        f"score {recall['score']:.2f} — {reasons}"
    )


def describe_source(origin: dict[str, Any]) -> str:
    """One or two lines saying where a memory came from."""
    kind = origin.get("source_type")
    speaker = origin.get("speaker")
    if origin.get("conversation_id") is not None:
        title = origin.get("conversation_title") or "a deleted conversation"
        who = f", said by {speaker}" if speaker else ""
        return f"Conversation “{title}”{who}"
    if kind == "document" and origin.get("path"):
        page = f", page {origin['page']}" if origin.get("page") else ""
        return f"Document {origin['path']}{page}"
    if kind == "email":
        sender = f" from {speaker}" if speaker else ""
        return f"Email{sender}, Message-ID {origin.get('source_ref')}"
    if kind == "user":
        return "You told me directly"
    return f"{kind}: {origin.get('source_ref') or 'no reference'}"


def source_choices(memory: Memory, origin: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The sources a memory can be forgotten by: (menu label, forget_source arguments)."""
    choices: list[tuple[str, dict[str, Any]]] = []
    if memory.conversation_id is not None:
        title = origin.get("conversation_title") or f"conversation {memory.conversation_id}"
        choices.append(
            (f"This conversation ({title})", {"conversation_id": memory.conversation_id})
        )
    if memory.source_type == "document" and origin.get("path"):
        choices.append((f"This document ({origin['path']})", {"source_ref": origin["path"]}))
    if memory.source_type == "email" and memory.source_ref:
        choices.append(("This email", {"source_type": "email", "source_ref": memory.source_ref}))
    if memory.source_type == "email" and memory.speaker:
        choices.append(
            (f"This sender ({memory.speaker})", {"source_type": "email", "speaker": memory.speaker})
        )
    return choices
