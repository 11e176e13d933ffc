"""The desktop window with the tiny model through the real llama.cpp (offscreen, no sleeps)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtWidgets import QApplication

from assistant import Assistant
from ui.chat_view import ChatView
from ui.conversation_panel import INCOGNITO_MARK
from ui.main_window import MainWindow
from ui.tasks import Task


@pytest.fixture
def window(qtbot, assistant: Assistant) -> Iterator[MainWindow]:
    assistant.update_settings(memory_enabled=False)  # no encoder unless a test asks for recall
    main = MainWindow(assistant)
    qtbot.addWidget(main)
    main.show()
    main.activateWindow()  # keyboard shortcuts go to the active window
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main)
    qtbot.waitUntil(lambda: main.model_label.text() not in ("", "no model"))
    assert main.pages.currentWidget() is main.chat_page
    yield main
    main.stop()
    main.model_lane.wait()
    main.io_lane.wait()
    main.import_lane.wait()


def wait(qtbot, task: Task | None, timeout: int = 30_000) -> None:
    assert task is not None
    if task.result is not None or task.error is not None:
        return
    with qtbot.waitSignal(task.relay.finished, timeout=timeout):
        pass


def send(qtbot, window: MainWindow, text: str) -> list[str]:
    window.input.setPlainText(text)
    tokens: list[str] = []
    task = window.send()
    assert task is not None
    task.on_token(tokens.append)
    wait(qtbot, task)
    return tokens


def press(qtbot, window: MainWindow, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press as the user makes it, to the active window (the offscreen platform may drop
    activation while widgets are enabled and disabled; shortcuts need an active window)."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window, key, modifier)


def click(window: MainWindow, link: str) -> None:
    """Click a link of the transcript, as the user does (it must be shown)."""
    assert f'href="{link}"' in window.chat.toHtml(), link
    window.chat.anchorClicked.emit(QUrl(link))


def rendered(markdown: str) -> str:
    document = QTextDocument()
    document.setMarkdown(markdown)
    return document.toPlainText().strip()


def bodies(window: MainWindow) -> list[tuple[str, str]]:
    return [(view.role, view.text) for view in window.chat.messages]


def test_send_streams_a_reply_and_stores_it(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    assert not window.stop_button.isEnabled()
    tokens = send(qtbot, window, "Hello from the window")
    reply_text = "".join(tokens)
    assert len(tokens) > 1
    assert bodies(window) == [("user", "Hello from the window"), ("assistant", reply_text)]
    assert rendered(reply_text) in window.chat.toPlainText()  # rendered, not just buffered
    assert window.send_button.isEnabled() and not window.stop_button.isEnabled()
    assert "tok/s" in window.speed_label.text()
    (conversation,) = assistant.conversations()
    stored = assistant.messages(conversation.id)
    assert [m.content for m in stored] == ["Hello from the window", reply_text]
    assert [v.message_id for v in window.chat.messages] == [m.id for m in stored]
    list_widget = window.conversations.list
    qtbot.waitUntil(lambda: list_widget.count() == 1)
    assert list_widget.item(0).text() == "Hello from the window"


class _PausingStream:
    """The real reply stream, paused after its third piece until the test has pressed Esc, so
    the stop lands mid-stream however fast the tiny model is."""

    def __init__(self, stream, pressed: threading.Event) -> None:
        self._stream = stream
        self._pressed = pressed
        self.conversation = stream.conversation
        self.user_message = stream.user_message
        self.memories = stream.memories

    def __iter__(self):
        for count, piece in enumerate(self._stream, 1):
            yield piece
            if count == 3:
                self._pressed.wait(10)

    @property
    def result(self):
        return self._stream.result


def test_stop_ends_the_reply_mid_stream(
    qtbot, window: MainWindow, assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant.update_settings(max_tokens=900)
    pressed = threading.Event()
    real_reply = assistant.reply
    monkeypatch.setattr(
        assistant, "reply", lambda *a, **k: _PausingStream(real_reply(*a, **k), pressed)
    )
    window.input.setPlainText("Tell me a very long story")
    tokens: list[str] = []

    def on_token(text: str) -> None:
        tokens.append(text)
        if len(tokens) == 3:
            press(qtbot, window, Qt.Key.Key_Escape)
            pressed.set()

    task = window.send()
    assert task is not None and window.stop_button.isEnabled()
    task.on_token(on_token)
    wait(qtbot, task)
    (conversation,) = assistant.conversations()
    last = assistant.messages(conversation.id)[-1]
    assert last.finish_reason == "cancelled"
    assert len(tokens) < 900
    assert "stopped" in window.speed_label.text()
    assert window.chat.messages[-1].status == "stopped"
    assert "stopped" in window.chat.toPlainText()


def test_follow_up_goes_to_the_same_conversation(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    send(qtbot, window, "First")
    send(qtbot, window, "Second")
    (conversation,) = assistant.conversations()
    assert len(assistant.messages(conversation.id)) == 4
    press(qtbot, window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.messages == []
    send(qtbot, window, "Third")
    assert len(assistant.conversations()) == 2


def test_selecting_a_conversation_shows_its_messages(qtbot, window: MainWindow) -> None:
    send(qtbot, window, "Remember the blue door")
    window.new_chat()
    assert window.chat.messages == []
    qtbot.waitUntil(lambda: window.conversations.list.count() == 1)
    window.conversations.list.item(0).setSelected(True)
    qtbot.waitUntil(lambda: ("user", "Remember the blue door") in bodies(window))


def test_edit_a_sent_message_and_resend(qtbot, window: MainWindow, assistant: Assistant) -> None:
    send(qtbot, window, "I live in Porto")
    send(qtbot, window, "And I like tea")
    first_user = window.chat.messages[0]
    click(window, f"mneme:edit/{first_user.message_id}")
    assert window.input.toPlainText() == "I live in Porto"
    assert window.send_button.text() == "Resend"
    window.input.setPlainText("I live in Lyon")
    task = window.send()
    wait(qtbot, task)
    (conversation,) = assistant.conversations()
    stored = assistant.messages(conversation.id)
    assert [m.content for m in stored if m.role == "user"] == ["I live in Lyon"]
    assert [text for role, text in bodies(window) if role == "user"] == ["I live in Lyon"]
    assert len(window.chat.messages) == 2
    assert window.send_button.text() == "Send"


def test_regenerate_replaces_the_last_answer(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    send(qtbot, window, "Say something")
    answer = window.chat.messages[-1]
    assert f"mneme:regenerate/{answer.message_id}" in window.chat.links(answer)
    assert not any("regenerate" in link for link in window.chat.links(window.chat.messages[0]))
    assistant.update_settings(max_tokens=3)  # told apart from the first answer by its length
    click(window, f"mneme:regenerate/{answer.message_id}")
    task = window.reply_task
    wait(qtbot, task)
    (conversation,) = assistant.conversations()
    stored = assistant.messages(conversation.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert bodies(window) == [("user", "Say something"), ("assistant", stored[1].content)]
    assert window.chat.messages[-1].message_id == stored[1].id


def test_incognito_chat_is_marked_and_leaves_no_memory(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    window.conversations.incognito_button.click()
    assert window.incognito_label.isVisibleTo(window)
    send(qtbot, window, "My secret locker code is 4417")
    (conversation,) = assistant.conversations()
    assert conversation.incognito
    assert assistant.memory.search("4417") == []
    qtbot.waitUntil(lambda: window.conversations.list.count() == 1)
    assert window.conversations.list.item(0).text().startswith(INCOGNITO_MARK)
    press(qtbot, window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert not window.incognito_label.isVisibleTo(window)


def test_search_across_conversations(qtbot, window: MainWindow) -> None:
    send(qtbot, window, "Planning the trip to Lisbon")
    window.new_chat()
    send(qtbot, window, "A recipe for soup")
    qtbot.waitUntil(lambda: window.conversations.list.count() == 2)
    press(qtbot, window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.conversations.search.hasFocus()
    qtbot.keyClicks(window.conversations.search, "lisbon")
    qtbot.waitUntil(lambda: window.conversations.list.count() == 1)
    assert "Lisbon" in window.conversations.list.item(0).text()
    window.conversations.search.clear()
    qtbot.waitUntil(lambda: window.conversations.list.count() == 2)


def test_rename_and_delete_with_forgetting(qtbot, window: MainWindow, assistant: Assistant) -> None:
    send(qtbot, window, "Remember the red kayak")
    (conversation,) = assistant.conversations()
    qtbot.waitUntil(lambda: window.conversations.list.count() == 1)
    wait(qtbot, window.conversations.rename(conversation.id, "Boats"))
    qtbot.waitUntil(lambda: window.conversations.list.item(0).text() == "Boats")
    asked = []

    def answer(conversation):
        asked.append(conversation.title)
        return True, True

    window.conversations.ask_delete = answer
    wait(qtbot, window.conversations.delete(conversation.id))
    assert asked == ["Boats"]
    qtbot.waitUntil(lambda: window.conversations.list.count() == 0)
    assert assistant.conversations() == []
    assert assistant.memory.search("kayak") == []
    assert window.chat.messages == []  # the open conversation went with it


def test_declined_delete_keeps_everything(qtbot, window: MainWindow, assistant: Assistant) -> None:
    send(qtbot, window, "Keep this one")
    (conversation,) = assistant.conversations()
    qtbot.waitUntil(lambda: window.conversations.list.count() == 1)
    window.conversations.ask_delete = lambda conversation: (False, True)
    assert window.conversations.delete(conversation.id) is None
    assert assistant.conversations() == [assistant.conversation(conversation.id)]


def test_memories_used_link_opens_the_inspector_and_thumbs_feed_learning(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    assistant.update_settings(memory_enabled=True)
    fact = assistant.memory.remember("The spare key is under the blue flowerpot")
    send(qtbot, window, "Where is the spare key?")
    answer = window.chat.messages[-1]
    assert fact.id in [r.memory.id for r in answer.memories]
    assert "Memories used" in window.chat.toPlainText()
    assert not window.inspector_dock.isVisible()
    click(window, f"memory:{fact.id}")
    assert window.inspector_dock.isVisible()
    qtbot.waitUntil(
        lambda: window.inspector.current is not None and window.inspector.current.id == fact.id,
        timeout=10_000,
    )

    before = assistant.memory.status()["signals"]
    click(window, f"mneme:up/{answer.message_id}")
    qtbot.waitUntil(lambda: assistant.memory.status()["signals"] == before + 1)
    # Reopening the conversation shows the same memories under the answer.
    window.new_chat()
    (conversation,) = assistant.conversations()
    window.open_conversation(conversation.id)
    qtbot.waitUntil(lambda: len(window.chat.messages) == 2)
    assert fact.id in [r.memory.id for r in window.chat.messages[-1].memories]
    assert f'href="memory:{fact.id}"' in window.chat.toHtml()


def test_copy_puts_the_message_on_the_clipboard(qtbot, window: MainWindow) -> None:
    send(qtbot, window, "Copy me please")
    click(window, f"mneme:copy/{window.chat.messages[0].message_id}")
    assert QGuiApplication.clipboard().text() == "Copy me please"


def test_replies_render_markdown_and_user_text_stays_literal(qtbot) -> None:
    chat = ChatView()
    qtbot.addWidget(chat)
    chat.add_message("user", "**not bold**", 1)
    reply = chat.add_message("assistant", "", 2)
    for piece in ("Here:\n\n", "```python\n", "print(1)\n", "```\n\n", "**done**"):
        reply.append(piece)
    qtbot.waitUntil(lambda: "done" in chat.toPlainText())
    text = chat.toPlainText()
    assert "**not bold**" in text  # the user's text, literally
    assert "print(1)" in text and "```" not in text and "**done**" not in text
    assert "font-weight:700" in chat.toHtml() or "font-weight:600" in chat.toHtml()


def test_without_a_model_the_setup_panel_shows_and_a_file_starts_the_chat(
    qtbot, tiny_model: Path
) -> None:
    with Assistant() as bare:
        window = MainWindow(bare)
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.model_label.text() == "no model")
        assert window.pages.currentWidget() is window.setup_panel
        window.input.setPlainText("hello?")
        assert window.send() is None  # nothing to answer with yet
        task = window.use_model_file(str(tiny_model))
        wait(qtbot, task)
        assert window.model_label.text() == "mneme-tiny-random"
        assert window.pages.currentWidget() is window.chat_page
        window.model_lane.wait()
        window.io_lane.wait()


def test_a_failing_reply_is_shown_inline(qtbot, window: MainWindow, assistant: Assistant) -> None:
    window.input.setPlainText("water " * 5000)  # longer than the context window
    task = window.send()
    wait(qtbot, task)
    assert "context" in window.chat.messages[-1].error.lower()
    assert "context window" in window.chat.toPlainText()
    assert window.send_button.isEnabled()


def test_shortcuts_open_the_inspector_and_the_import_dialog(qtbot, window: MainWindow) -> None:
    assert not window.inspector_dock.isVisible()
    press(
        qtbot,
        window,
        Qt.Key.Key_M,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert window.inspector_dock.isVisible()
    press(
        qtbot,
        window,
        Qt.Key.Key_M,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert not window.inspector_dock.isVisible()
    assert window.import_dialog is None
    press(qtbot, window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert window.import_dialog is not None and window.import_dialog.isVisible()
    window.import_dialog.close()
