"""The main window: a conversation list and a chat view that streams replies from the model.

Every core call runs through `ui.tasks` lanes; this module only touches widgets.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import (
    QAction,
    QKeySequence,
    QShortcut,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, CancelToken
from assistant.types import Conversation, Message, Reply
from ui.tasks import Lane, Task


class MainWindow(QMainWindow):
    def __init__(self, assistant: Assistant) -> None:
        super().__init__()
        self.assistant = assistant
        self.model_lane = Lane("model")
        self.io_lane = Lane("io")
        self.conversation_id: int | None = None
        self._cancel: CancelToken | None = None
        self.reply_task: Task | None = None
        self.setWindowTitle("Mneme")
        self.resize(1000, 700)
        self._build()
        self.refresh_conversations()
        self._show_model_status()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.conversation_list = QListWidget()
        self.conversation_list.itemSelectionChanged.connect(self._conversation_selected)
        self.new_button = QPushButton("New chat")
        self.new_button.clicked.connect(self.new_chat)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.new_button)
        left_layout.addWidget(self.conversation_list)

        self.transcript = QTextBrowser()
        self.transcript.setOpenExternalLinks(False)
        self.input = QPlainTextEdit()
        self.input.setPlaceholderText("Message Mneme (Ctrl+Enter to send, Esc to stop)")
        self.input.setMaximumHeight(120)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.send_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.transcript, 1)
        right_layout.addWidget(self.input)
        right_layout.addLayout(buttons)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        self.setCentralWidget(splitter)

        self.model_label = QLabel()
        self.speed_label = QLabel()
        self.statusBar().addPermanentWidget(self.speed_label)
        self.statusBar().addPermanentWidget(self.model_label)

        choose = QAction("Choose model file…", self)
        choose.triggered.connect(self.choose_model_file)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(choose)
        file_menu.addAction("Quit", QKeySequence.StandardKey.Quit, self.close)

        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.send)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self.send)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.stop)
        QShortcut(QKeySequence("Ctrl+N"), self, activated=self.new_chat)

    # -- conversations ----------------------------------------------------------------------
    def refresh_conversations(self) -> Task:
        return (
            self.io_lane.submit(lambda task: self.assistant.conversations())
            .success(self._show_conversations)
            .failure(self.show_error)
        )

    def _show_conversations(self, conversations: list[Conversation]) -> None:
        self.conversation_list.blockSignals(True)
        self.conversation_list.clear()
        for conversation in conversations:
            item = QListWidgetItem(conversation.title)
            item.setData(Qt.ItemDataRole.UserRole, conversation.id)
            self.conversation_list.addItem(item)
            if conversation.id == self.conversation_id:
                item.setSelected(True)
        self.conversation_list.blockSignals(False)

    def _conversation_selected(self) -> None:
        items = self.conversation_list.selectedItems()
        if not items or self.reply_task is not None:
            return
        self.conversation_id = int(items[0].data(Qt.ItemDataRole.UserRole))
        chosen = self.conversation_id
        self.io_lane.submit(lambda task: self.assistant.messages(chosen)).success(
            self._show_messages
        ).failure(self.show_error)

    def _show_messages(self, messages: list[Message]) -> None:
        self.transcript.clear()
        for message in messages:
            self._append_turn(message.role, message.content)

    def new_chat(self) -> None:
        if self.reply_task is not None:
            return
        self.conversation_id = None
        self.conversation_list.clearSelection()
        self.transcript.clear()
        self.input.setFocus()

    # -- chatting ---------------------------------------------------------------------------
    def send(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or self.reply_task is not None:
            return
        self.input.clear()
        self._append_turn("user", text)
        self._append_turn("assistant", "")
        self._set_busy(True)
        cancel = self._cancel = CancelToken()
        conversation_id = self.conversation_id

        def work(task: Task) -> Reply | None:
            stream = self.assistant.reply(conversation_id, text, cancel=cancel)
            for piece in stream:
                task.emit_token(piece)
            return stream.result

        self.reply_task = (
            self.model_lane.submit(work)
            .on_token(self._append_token)
            .success(self._reply_finished)
            .failure(self.show_error)
            .done(lambda: self._set_busy(False))
        )

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def _append_token(self, text: str) -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text, QTextCharFormat())  # plain, not the bold of the speaker line
        self.transcript.setTextCursor(cursor)
        self.transcript.ensureCursorVisible()

    def _reply_finished(self, reply: Reply | None) -> None:
        if reply is None:
            return
        self.conversation_id = reply.conversation.id
        stats = reply.stats
        label = f"{stats.tokens_per_second:.1f} tok/s"
        if stats.finish_reason == "cancelled":
            label = "stopped · " + label
        self.speed_label.setText(label)
        self.model_label.setText(stats.model)
        self.refresh_conversations()

    def _set_busy(self, busy: bool) -> None:
        if not busy:
            self.reply_task = None
            self._cancel = None
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.new_button.setEnabled(not busy)

    def _append_turn(self, role: str, text: str) -> None:
        who = "You" if role == "user" else "Mneme"
        self.transcript.append(f"<p><b>{who}</b></p>")
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        cursor.insertText(text, QTextCharFormat())
        self.transcript.setTextCursor(cursor)

    def show_error(self, message: str) -> None:
        self.transcript.append(f'<p style="color:#b00020">⚠ {html.escape(message)}</p>')
        self.statusBar().showMessage(message, 10_000)

    # -- models -----------------------------------------------------------------------------
    def _show_model_status(self) -> None:
        def check(task: Task) -> str | None:
            entry = self.assistant.models.active()
            return entry.name if entry else None

        self.io_lane.submit(check).success(self._model_status).failure(self.show_error)

    def _model_status(self, name: str | None) -> None:
        if name is None:
            self.model_label.setText("no model")
            self.transcript.setHtml(
                "<h3>Welcome to Mneme</h3><p>No model is set up yet. Choose a <code>.gguf</code> "
                "file with <b>File → Choose model file…</b>, or run "
                "<code>mneme models download REPO FILE</code> in a terminal.</p>"
            )
        else:
            self.model_label.setText(name)

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model", "", "GGUF models (*.gguf)")
        if path:
            self.use_model_file(path)

    def use_model_file(self, path: str) -> Task:
        def work(task: Task) -> str:
            entry = self.assistant.models.add_file(path)
            self.assistant.models.use(entry.name)
            return self.assistant.load_model()

        return (
            self.model_lane.submit(work).success(self.model_label.setText).failure(self.show_error)
        )

    def closeEvent(self, event) -> None:
        self.stop()
        self.model_lane.wait()
        self.io_lane.wait()
        super().closeEvent(event)
