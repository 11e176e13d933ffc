"""The desktop window with the tiny model through the real llama.cpp (offscreen, no sleeps)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from assistant import Assistant
from ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, assistant: Assistant) -> Iterator[MainWindow]:
    main = MainWindow(assistant)
    qtbot.addWidget(main)
    main.show()
    yield main
    main.stop()
    main.model_lane.wait()
    main.io_lane.wait()


def send(qtbot, window: MainWindow, text: str) -> list[str]:
    window.input.setPlainText(text)
    tokens: list[str] = []
    window.send()
    assert window.reply_task is not None
    window.reply_task.on_token(tokens.append)
    with qtbot.waitSignal(window.reply_task.relay.finished, timeout=30_000):
        pass
    return tokens


def test_send_streams_a_reply_and_stores_it(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    assert not window.stop_button.isEnabled()
    tokens = send(qtbot, window, "Hello from the window")
    reply_text = "".join(tokens)
    assert len(tokens) > 1
    assert reply_text in window.transcript.toPlainText()
    assert "Hello from the window" in window.transcript.toPlainText()
    assert window.send_button.isEnabled() and not window.stop_button.isEnabled()
    assert "tok/s" in window.speed_label.text()
    (conversation,) = assistant.conversations()
    assert [m.content for m in assistant.messages(conversation.id)] == [
        "Hello from the window",
        reply_text,
    ]
    qtbot.waitUntil(lambda: window.conversation_list.count() == 1)
    assert window.conversation_list.item(0).text() == "Hello from the window"


def test_stop_ends_the_reply_mid_stream(qtbot, window: MainWindow, assistant: Assistant) -> None:
    assistant.update_settings(max_tokens=900)
    window.input.setPlainText("Tell me a very long story")
    tokens: list[str] = []

    def on_token(text: str) -> None:
        tokens.append(text)
        if len(tokens) == 3:
            qtbot.keyClick(window, Qt.Key.Key_Escape)

    window.send()
    assert window.stop_button.isEnabled()
    window.reply_task.on_token(on_token)
    with qtbot.waitSignal(window.reply_task.relay.finished, timeout=30_000):
        pass
    (conversation,) = assistant.conversations()
    last = assistant.messages(conversation.id)[-1]
    assert last.finish_reason == "cancelled"
    assert len(tokens) < 900
    assert "stopped" in window.speed_label.text()


def test_follow_up_goes_to_the_same_conversation(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    send(qtbot, window, "First")
    send(qtbot, window, "Second")
    (conversation,) = assistant.conversations()
    assert len(assistant.messages(conversation.id)) == 4
    window.new_chat()
    send(qtbot, window, "Third")
    assert len(assistant.conversations()) == 2


def test_selecting_a_conversation_shows_its_messages(qtbot, window: MainWindow) -> None:
    send(qtbot, window, "Remember the blue door")
    window.new_chat()
    assert window.transcript.toPlainText() == ""
    qtbot.waitUntil(lambda: window.conversation_list.count() == 1)
    window.conversation_list.item(0).setSelected(True)
    qtbot.waitUntil(lambda: "Remember the blue door" in window.transcript.toPlainText())


def test_without_a_model_the_window_explains_and_errors_inline(qtbot, tiny_model: Path) -> None:
    with Assistant() as bare:
        window = MainWindow(bare)
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.model_label.text() == "no model")
        assert "No model is set up yet" in window.transcript.toPlainText()
        window.input.setPlainText("hello?")
        window.send()
        with qtbot.waitSignal(window.reply_task.relay.finished, timeout=10_000):
            pass
        assert "mneme models add" in window.transcript.toPlainText()
        task = window.use_model_file(str(tiny_model))
        with qtbot.waitSignal(task.relay.finished, timeout=10_000):
            pass
        assert window.model_label.text() == "mneme-tiny-random"
        window.model_lane.wait()
        window.io_lane.wait()
