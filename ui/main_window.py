"""The main window: conversations on the left, the chat in the middle, the memory inspector docked
on the right; the setup panel instead of the chat until a model is loaded.

Every core call runs through `ui.tasks` lanes; this module only touches widgets. Lanes: `model`
(llama.cpp, torch, the encoder: one at a time), `io` (quick database reads and row edits, so the
window stays current while a reply streams) and `import` (an import runs beside the chat).

After each reply, fact extraction (the inspector's `FactExtraction`) reads the exchange on the model
lane, a few jobs at a time; a message sent meanwhile waits behind it on the lane.

When the user has not typed or sent anything for IDLE_AFTER_S and the core says consolidation is due
(`consolidation_due()`: the schedule is 'idle' and there is something new), the inspector's
`Consolidation` trains the facts into the weights on its own lane; chat keeps working meanwhile.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from assistant import Assistant, CancelToken
from assistant.types import Conversation, Message, RecalledMemory, Reply
from ui.chat_view import ChatView, MessageEntry
from ui.conversation_panel import ConversationPanel
from ui.first_frame import after_first_frame
from ui.import_dialog import ImportDialog
from ui.inspector import MemoryInspector
from ui.settings_dialog import SettingsDialog
from ui.setup_panel import SetupPanel
from ui.style import STYLE_SHEET
from ui.tasks import Lane, Task
from ui.vector_filler import VectorFiller, indexing_text
from ui.weights_pane import version_text

WELCOME = (
    "<h2>Welcome to Mneme</h2><p>Ask anything. Mneme remembers what you tell it, on this "
    "machine only, and shows which memories it used under each answer.</p>"
    "<p><b>Ctrl+Enter</b> send · <b>Esc</b> stop · <b>Ctrl+N</b> new chat · <b>Ctrl+F</b> search · "
    "<b>Ctrl+Shift+M</b> memory · <b>Ctrl+I</b> import</p>"
)
WARM_UP_DELAY_MS = 1500
INCOGNITO_NOTICE = "◐ Incognito: nothing in this conversation is remembered or learned."
IDLE_CHECK_MS = 60_000  # how often the idle schedule looks
IDLE_AFTER_S = 600  # no typing or sending for this long: the user is away


class MainWindow(QMainWindow):
    def __init__(self, assistant: Assistant) -> None:
        super().__init__()
        self.assistant = assistant
        self.model_lane = Lane("model")
        self.io_lane = Lane("io")
        self.import_lane = Lane("import")
        self.conversation_id: int | None = None
        self.incognito_next = False
        self.editing_message_id: int | None = None
        self._cancel: CancelToken | None = None
        self.reply_task: Task | None = None
        self._streaming: MessageEntry | None = None
        self.import_dialog: ImportDialog | None = None
        self.warm_up_task: Task | None = None
        self._setup_panel: SetupPanel | None = None
        self._closed = False  # closeEvent ran: results still arriving start nothing new
        self.setWindowTitle("Mneme")
        self.resize(1280, 800)
        self._build()
        self._schedule_consolidation()
        self.conversations.refresh()
        self._show_model_status()
        # Meaning vectors of imported or new memories fill in the background, a batch at a time
        # on the model lane (a reply waits at most one batch); recall uses what is ready.
        self.vector_filler = VectorFiller(self.assistant, self.model_lane, self)
        self.vector_filler.progress.connect(
            lambda done, total: self.statusBar().showMessage(indexing_text(done, total))
        )
        self.vector_filler.finished.connect(self.statusBar().clearMessage)
        self.vector_filler.failed.connect(self.show_error)
        # Background work on the model lane starts once the window is on screen: filling vectors
        # imports torch and loads the encoder (seconds, much of it holding the GIL), which on two
        # cores would hold back building and painting the window. The timer covers a window that
        # is shown but not painted (minimised).
        self._background_started = False
        after_first_frame(self, self._start_background)
        QTimer.singleShot(WARM_UP_DELAY_MS, self, self._start_background)
        # Loading the encoder stalls the UI thread now and then (its native libraries load under
        # the GIL): do it soon after start-up, not at the first recall or import. Not at once, so
        # a window closed right away does not wait for it.
        QTimer.singleShot(WARM_UP_DELAY_MS, self._warm_up)

    def _start_background(self) -> None:
        """Start filling vectors (once; not for a window that is hidden or already closed)."""
        if self._background_started or not self.isVisible():
            return
        self._background_started = True
        self.vector_filler.start()

    def _warm_up(self) -> Task | None:
        if not self.isVisible() or not self.assistant.settings.memory_enabled:
            return None
        self.warm_up_task = self.model_lane.submit(lambda task: self.assistant.memory.warm_up())
        return self.warm_up_task.failure(self.show_error)

    def _schedule_consolidation(self) -> None:
        self._last_activity = time.monotonic()
        self.input.textChanged.connect(self._note_activity)  # typing, and sending (it clears)
        self.inspector.consolidation.finished.connect(
            lambda version: self.statusBar().showMessage(version_text(version), 10_000)
        )
        self.idle_timer = QTimer(self)
        self.idle_timer.setInterval(IDLE_CHECK_MS)
        self.idle_timer.timeout.connect(self._idle_check)
        self.idle_timer.start()

    def _note_activity(self) -> None:
        self._last_activity = time.monotonic()

    def _idle_check(self) -> Task | None:
        """Ask the core (io lane) whether a consolidation is due, if the user is away and none
        is running; start one if it is."""
        if (
            self._closed
            or self.reply_task is not None
            or self.inspector.consolidation.busy
            or time.monotonic() - self._last_activity < IDLE_AFTER_S
        ):
            return None
        return self.io_lane.submit(lambda task: self.assistant.consolidation_due()).success(
            self._consolidate_if_due
        )

    def _consolidate_if_due(self, due: bool) -> None:
        if due and not self._closed and time.monotonic() - self._last_activity >= IDLE_AFTER_S:
            self.inspector.consolidation.start()  # None if one started meanwhile

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.conversations = ConversationPanel(self.assistant, self.io_lane)
        self.conversations.conversation_chosen.connect(self.open_conversation)
        self.conversations.new_requested.connect(self.new_chat)
        self.conversations.conversation_deleted.connect(self._conversation_deleted)
        self.conversations.error.connect(self.show_error)

        self.chat = ChatView()
        self.chat.memory_clicked.connect(self.show_memory)
        self.chat.edit_requested.connect(self.start_edit)
        self.chat.regenerate_requested.connect(self.regenerate)
        self.chat.feedback_given.connect(self.give_feedback)
        self.chat.copied.connect(lambda _: self.statusBar().showMessage("Copied.", 3_000))
        self.incognito_label = QLabel(INCOGNITO_NOTICE)
        self.incognito_label.setObjectName("incognitoBanner")
        self.incognito_label.hide()
        self.edit_label = QLabel("Editing a sent message: Ctrl+Enter sends it again.")
        self.edit_label.setObjectName("editBanner")
        self.edit_label.hide()
        self.input = QPlainTextEdit()
        self.input.setObjectName("input")
        self.input.setPlaceholderText("Message Mneme (Ctrl+Enter to send, Esc to stop)")
        self.input.setMaximumHeight(110)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.cancel_edit_button = QPushButton("Cancel edit")
        self.cancel_edit_button.hide()
        self.cancel_edit_button.clicked.connect(self.cancel_edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.edit_label)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_edit_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.send_button)
        chat_page = self.chat_page = QWidget()
        chat_layout = QVBoxLayout(chat_page)
        chat_layout.setContentsMargins(0, 0, 8, 8)
        chat_layout.addWidget(self.incognito_label)
        chat_layout.addWidget(self.chat, 1)
        chat_layout.addWidget(self.input)
        chat_layout.addLayout(buttons)

        self.pages = QStackedWidget()
        self.pages.addWidget(chat_page)  # the setup panel joins the pages when first needed

        # The style sheet covers the chat side only: style-sheet painting is slower, and the
        # inspector's table repaints often while it pages through a large memory.
        self.conversations.setStyleSheet(STYLE_SHEET)
        chat_page.setStyleSheet(STYLE_SHEET)
        splitter = QSplitter()
        splitter.addWidget(self.conversations)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([260, 800])
        self.setCentralWidget(splitter)

        self.inspector = MemoryInspector(self.assistant, self.model_lane, self.io_lane)
        self.inspector.open_conversation.connect(self._open_source)
        self.inspector.action_done.connect(lambda text: self.statusBar().showMessage(text, 5_000))
        self.inspector.extraction.ran.connect(self._facts_extracted)
        self.inspector_dock = QDockWidget("Memory", self)
        self.inspector_dock.setObjectName("inspectorDock")
        self.inspector_dock.setWidget(self.inspector)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.inspector_dock)
        self.inspector_dock.hide()

        self.model_label = QLabel()
        self.speed_label = QLabel()
        self.statusBar().addPermanentWidget(self.speed_label)
        self.statusBar().addPermanentWidget(self.model_label)
        self._build_menus()

        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self.send)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self.send)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.stop)
        QShortcut(QKeySequence("Ctrl+N"), self, activated=lambda: self.new_chat(False))
        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.focus_search)

    @property
    def setup_panel(self) -> SetupPanel:
        """The first-run page (download or choose a model), built the first time it is needed:
        it reads this machine's memory and GPU on the io lane (loading llama.cpp's libraries, about
        a second), which a profile with a model never needs at start-up."""
        if self._setup_panel is None:
            panel = self._setup_panel = SetupPanel(self.assistant, self.model_lane, self.io_lane)
            panel.model_ready.connect(self._model_ready)
            self.pages.addWidget(panel)
        return self._setup_panel

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.import_action = QAction("Import files…", self)
        self.import_action.setShortcut(QKeySequence("Ctrl+I"))
        self.import_action.triggered.connect(self.open_import)
        file_menu.addAction(self.import_action)
        choose = QAction("Choose model file…", self)
        choose.triggered.connect(self.choose_model_file)
        file_menu.addAction(choose)
        setup = QAction("Download a model…", self)
        setup.triggered.connect(lambda: self.pages.setCurrentWidget(self.setup_panel))
        file_menu.addAction(setup)
        settings = QAction("Settings…", self)
        settings.setShortcut(QKeySequence("Ctrl+,"))
        settings.triggered.connect(self.open_settings)
        file_menu.addAction(settings)
        file_menu.addSeparator()
        file_menu.addAction("Quit", QKeySequence.StandardKey.Quit, self.close)
        view_menu = self.menuBar().addMenu("&View")
        self.inspector_action = QAction("Memory inspector", self)
        self.inspector_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
        self.inspector_action.triggered.connect(self.toggle_inspector)
        view_menu.addAction(self.inspector_action)

    # -- conversations ----------------------------------------------------------------------
    def open_conversation(self, conversation_id: int) -> Task | None:
        if self.reply_task is not None:
            self.conversations.select(self.conversation_id)
            return None
        self.cancel_edit()
        self.conversation_id = conversation_id
        self.conversations.select(conversation_id)

        def load(task: Task) -> tuple[Conversation, list[tuple[Message, list[RecalledMemory]]]]:
            conversation = self.assistant.conversation(conversation_id)
            messages = self.assistant.messages(conversation_id)
            return conversation, [
                (m, self.assistant.memories_used(m.id) if m.role == "assistant" else [])
                for m in messages
            ]

        return self.io_lane.submit(load).success(self._show_messages).failure(self.show_error)

    def _show_messages(
        self, loaded: tuple[Conversation, list[tuple[Message, list[RecalledMemory]]]]
    ) -> None:
        conversation, messages = loaded
        if conversation.id != self.conversation_id:
            return  # the user moved on while it loaded
        self.chat.clear()
        self.incognito_label.setVisible(conversation.incognito)
        for message, used in messages:
            self.chat.add_message(message.role, message.content, message.id, used)
        if not messages:
            self.chat.show_notice(WELCOME)

    def new_chat(self, incognito: bool = False) -> None:
        if self.reply_task is not None:
            return
        self.cancel_edit()
        self.conversation_id = None
        self.incognito_next = incognito
        self.conversations.select(None)
        self.chat.clear()
        self.incognito_label.setVisible(incognito)
        self.chat.show_notice(WELCOME)
        self.input.setFocus()

    def focus_search(self) -> None:
        self.conversations.search.setFocus()
        self.conversations.search.selectAll()

    def _conversation_deleted(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id:
            self.new_chat(False)
        self.inspector.refresh()

    def _open_source(self, conversation_id: int, message_id: int) -> None:
        self.open_conversation(conversation_id)

    # -- chatting ---------------------------------------------------------------------------
    def send(self) -> Task | None:
        text = self.input.toPlainText().strip()
        if (
            not text
            or self.reply_task is not None
            or self.pages.currentWidget() is not self.chat_page
        ):
            return None
        editing = self.editing_message_id
        if editing is not None:
            self.chat.remove_from(editing)
        self.input.clear()
        self.cancel_edit()
        self.chat.add_message("user", text)
        return self._start_reply(text, editing=editing)

    def regenerate(self) -> Task | None:
        if self.reply_task is not None or self.conversation_id is None:
            return None
        users = [v for v in self.chat.messages if v.role == "user" and v.message_id is not None]
        if not users:
            return None
        last_user = users[-1]
        text = last_user.text
        self.chat.remove_from(last_user.message_id or 0)
        self.chat.add_message("user", text)
        return self._start_reply(text, regenerate=True)

    def _start_reply(
        self, text: str, *, editing: int | None = None, regenerate: bool = False
    ) -> Task:
        self._streaming = self.chat.add_message("assistant")
        # Keyboard focus stays in the input (the user may type the next message while this one
        # streams); a focused button that gets disabled would otherwise leave no focus at all.
        self.input.setFocus()
        self._set_busy(True)
        self.vector_filler.pause()  # the reply goes next on the model lane
        cancel = self._cancel = CancelToken()
        conversation_id = self.conversation_id
        incognito = self.incognito_next

        def work(task: Task) -> Reply | None:
            if editing is not None:
                stream = self.assistant.edit_message(editing, text, cancel=cancel)
            elif regenerate and conversation_id is not None:
                stream = self.assistant.regenerate(conversation_id, cancel=cancel)
            else:
                target = conversation_id
                if target is None and incognito:
                    target = self.assistant.new_conversation(incognito=True).id
                stream = self.assistant.reply(target, text, cancel=cancel)
            task.emit_progress((stream.conversation.id, stream.user_message.id, stream.memories))
            for piece in stream:
                task.emit_token(piece)
            return stream.result

        self.reply_task = (
            self.model_lane.submit(work)
            .on_progress(self._reply_started)
            .on_token(self._append_token)
            .success(self._reply_finished)
            .failure(self._reply_failed)
            .done(self._reply_done)
        )
        return self.reply_task

    def _reply_done(self) -> None:
        replied = self.reply_task is not None and self.reply_task.result is not None
        self._set_busy(False)
        if replied:
            # The model lane is free again: read the exchange for facts (bounded to a few jobs;
            # the core does nothing when extraction is off or nothing is queued).
            self.inspector.extraction.run()
        self.vector_filler.resume()

    def _facts_extracted(self, run: object) -> None:
        """Say what an extraction run added (an `ExtractionRun`; its outcomes count actions)."""
        outcomes = getattr(run, "outcomes", {}) or {}
        learned = sum(outcomes.get(action, 0) for action in ("activate", "supersede", "preference"))
        review = outcomes.get("inbox", 0)
        parts = [f"learned {learned} fact{'s' if learned != 1 else ''}"] if learned else []
        if review:
            parts.append(f"{review} to review in the inbox")
        if parts:
            self.statusBar().showMessage(f"From the conversation: {', '.join(parts)}.", 5_000)

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def _reply_started(self, event: object) -> None:
        conversation_id, user_message_id, memories = event  # type: ignore[misc]
        self.conversation_id = conversation_id
        users = [v for v in self.chat.messages if v.role == "user"]
        if users:
            users[-1].set_message_id(user_message_id)
        self.incognito_next = False
        self.conversations.current_id = conversation_id
        if self._streaming is not None:
            self._streaming.set_memories(list(memories))

    def _append_token(self, text: str) -> None:
        if self._streaming is not None:
            self._streaming.append(text)

    def _reply_finished(self, reply: Reply | None) -> None:
        view = self._streaming
        if reply is None or view is None:
            return
        view.message_id = reply.assistant_message.id
        view.memories = list(reply.memories)
        view.set_text(reply.assistant_message.content)
        stats = reply.stats
        label = f"{stats.tokens_per_second:.1f} tok/s"
        if stats.finish_reason == "cancelled":
            label = "stopped · " + label
            view.set_status("stopped")
        self.speed_label.setText(label)
        self.model_label.setText(stats.model)
        self.conversations.refresh()
        if self.inspector_dock.isVisible():
            self.inspector.refresh()

    def _reply_failed(self, message: str) -> None:
        if self._streaming is not None:
            self._streaming.show_error(message)
        self.statusBar().showMessage(message, 10_000)
        self.conversations.refresh()

    def _set_busy(self, busy: bool) -> None:
        if not busy:
            self.reply_task = None
            self._cancel = None
            self._streaming = None
        self.send_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.conversations.new_button.setEnabled(not busy)
        self.conversations.incognito_button.setEnabled(not busy)

    # -- editing, feedback, memories ----------------------------------------------------------
    def start_edit(self, message_id: int, text: str) -> None:
        if self.reply_task is not None:
            return
        self.editing_message_id = message_id
        self.input.setPlainText(text)
        self.input.setFocus()
        self.edit_label.show()
        self.cancel_edit_button.show()
        self.send_button.setText("Resend")

    def cancel_edit(self) -> None:
        self.editing_message_id = None
        self.edit_label.hide()
        self.cancel_edit_button.hide()
        self.send_button.setText("Send")

    def give_feedback(self, message_id: int, value: int) -> Task:
        def done(_: object) -> None:
            self.statusBar().showMessage(
                "Thanks: Mneme will learn from this."
                if value > 0
                else "Noted: Mneme will learn to recall differently.",
                5_000,
            )

        return (
            self.io_lane.submit(lambda task: self.assistant.feedback(message_id, value))
            .success(done)
            .failure(self.show_error)
        )

    def show_memory(self, memory_id: int) -> None:
        self._show_inspector()
        self.inspector.show_memory(memory_id)

    def toggle_inspector(self) -> None:
        if self.inspector_dock.isVisible():
            self.inspector_dock.hide()
        else:
            self._show_inspector()
            self.inspector.refresh()

    def _show_inspector(self) -> None:
        if not self.inspector_dock.isVisible():
            self.inspector_dock.show()
            # Half the window for the inspector; the chat keeps the rest.
            self.resizeDocks([self.inspector_dock], [self.width() // 2], Qt.Orientation.Horizontal)

    def show_error(self, message: str) -> None:
        self.statusBar().showMessage(f"⚠ {message}", 10_000)

    # -- import and settings ------------------------------------------------------------------
    def open_import(self) -> ImportDialog:
        if self.import_dialog is None:
            self.import_dialog = ImportDialog(self.assistant, self.import_lane, self)
            self.import_dialog.imported.connect(self._imported)
        self.import_dialog.show()
        self.import_dialog.raise_()
        return self.import_dialog

    def _imported(self, _summary: object) -> None:
        self.inspector.refresh()
        self.vector_filler.start()

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.assistant, self.io_lane, self)
        dialog.show()
        return dialog

    # -- models -----------------------------------------------------------------------------
    def _show_model_status(self) -> None:
        def check(task: Task) -> str | None:
            entry = self.assistant.models.active()
            return entry.name if entry else None

        self.io_lane.submit(check).success(self._model_status).failure(self.show_error)

    def _model_status(self, name: str | None) -> None:
        if self._closed:
            return
        if name is None:
            self.model_label.setText("no model")
            self.pages.setCurrentWidget(self.setup_panel)
        else:
            self.model_label.setText(name)
            self.pages.setCurrentIndex(0)
            if not self.chat.messages:
                self.chat.show_notice(WELCOME)

    def _model_ready(self, name: str) -> None:
        self.model_label.setText(name)
        self.pages.setCurrentIndex(0)
        if not self.chat.messages:
            self.chat.show_notice(WELCOME)
        self.input.setFocus()

    def choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model", "", "GGUF models (*.gguf)")
        if path:
            self.use_model_file(path)

    def use_model_file(self, path: str) -> Task:
        def work(task: Task) -> str:
            entry = self.assistant.models.add_file(path)
            self.assistant.models.use(entry.name)
            return self.assistant.load_model()

        return self.model_lane.submit(work).success(self._model_ready).failure(self.show_error)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closed = True
        self.stop()
        self.inspector.extraction.stop()
        self.inspector.consolidation.cancel()  # nothing is kept of a run stopped half-way
        if self.import_dialog is not None:
            self.import_dialog.cancel()
        if self._setup_panel is not None:
            self._setup_panel.shutdown()
        self.vector_filler.stop()
        # Work already running (an encoder load cannot be interrupted) may take seconds: the
        # window goes away now, and the process ends when that work does.
        self.hide()
        self.model_lane.wait()
        self.io_lane.wait()
        self.import_lane.wait()
        self.inspector.consolidation.wait()
        super().closeEvent(event)
