"""The front door: replies are streamed, stored, and survive cancel and failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import Assistant, CancelToken
from assistant.engine.base import GenerationSettings
from assistant.errors import MnemeError, NoModelError, NotFoundError


def test_reply_streams_and_stores_the_exchange(assistant: Assistant) -> None:
    changed: list[int] = []
    assistant.conversation_did_change.append(changed.append)
    stream = assistant.reply(None, "What is the capital of France?")
    pieces = list(stream)
    reply = stream.result
    assert reply is not None and len(pieces) > 1
    assert reply.assistant_message.content == "".join(pieces)
    assert reply.conversation.title == "What is the capital of France?"
    stored = assistant.messages(reply.conversation.id)
    assert [(m.role, m.content) for m in stored] == [
        ("user", "What is the capital of France?"),
        ("assistant", "".join(pieces)),
    ]
    assert stored[1].model == "mneme-tiny-random"
    assert stored[1].finish_reason == "length"
    assert reply.stats.completion_tokens == 24
    assert changed and set(changed) == {reply.conversation.id}


def test_follow_up_continues_the_conversation_with_its_history(assistant: Assistant) -> None:
    first = assistant.reply(None, "Hello").wait()
    second = assistant.reply(first.conversation.id, "And again").wait()
    assert second.conversation.id == first.conversation.id
    assert len(assistant.messages(first.conversation.id)) == 4
    assert second.stats.prompt_tokens > first.stats.prompt_tokens
    assert second.stats.reused_prompt_tokens >= first.stats.prompt_tokens


def test_cancelled_reply_keeps_the_partial_text(assistant: Assistant) -> None:
    cancel = CancelToken()
    stream = assistant.reply(
        None, "Tell me everything", cancel=cancel, settings=GenerationSettings(max_tokens=500)
    )
    received = []
    for piece in stream:
        received.append(piece)
        if len(received) == 2:
            cancel.cancel()
    assert stream.result is not None
    assert stream.result.stats.finish_reason == "cancelled"
    stored = assistant.messages(stream.conversation.id)[-1]
    assert stored.finish_reason == "cancelled"
    assert stored.content == "".join(received)


def test_abandoned_stream_is_stored_as_cancelled(assistant: Assistant) -> None:
    stream = assistant.reply(None, "Hi", settings=GenerationSettings(max_tokens=300))
    iterator = iter(stream)
    first = next(iterator)
    stream.close()
    stored = assistant.messages(stream.conversation.id)
    assert stored[-1].finish_reason == "cancelled"
    assert stored[-1].content == first


def test_without_a_model_nothing_is_stored_and_the_error_says_what_to_do(tmp_path: Path) -> None:
    with Assistant() as assistant:
        with pytest.raises(NoModelError, match="mneme models add"):
            assistant.reply(None, "Hello?")
        assert assistant.conversations() == []


def test_empty_or_huge_messages_are_refused(assistant: Assistant) -> None:
    with pytest.raises(MnemeError, match="empty"):
        assistant.reply(None, "   \n")
    with pytest.raises(MnemeError, match="limit"):
        assistant.reply(None, "x" * 1_000_001)
    assert assistant.conversations() == []


def test_unknown_conversation_is_a_clear_error(assistant: Assistant) -> None:
    with pytest.raises(NotFoundError, match="no conversation 999"):
        assistant.reply(999, "hello")


def test_rename_and_delete(assistant: Assistant) -> None:
    conversation = assistant.new_conversation()
    assert assistant.rename_conversation(conversation.id, "  Trip   plans ").title == "Trip plans"
    assistant.delete_conversation(conversation.id)
    with pytest.raises(NotFoundError):
        assistant.conversation(conversation.id)


def test_model_given_by_path_is_used_for_that_reply(tiny_model: Path) -> None:
    with Assistant() as assistant:
        reply = assistant.reply(None, "Hello", model=tiny_model).wait()
        assert reply.stats.model == "mneme-tiny-random"
        assert assistant.models.list() == []  # a one-off path is not registered


def test_a_message_too_long_for_the_window_stores_nothing(assistant: Assistant) -> None:
    from assistant.errors import ContextOverflowError

    assistant.update_settings(n_ctx=128)
    with pytest.raises(ContextOverflowError):
        assistant.reply(None, "water " * 400)
    assert assistant.conversations() == []


class FailingEngine:
    """A narrow fake: an engine whose connection breaks after two pieces."""

    name = "failing"
    context_window = 1024

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages, settings, cancel=None):
        from assistant.engine.base import Completion, TokenStream
        from assistant.errors import EngineError

        def pieces():
            yield "partial "
            yield "answer"
            raise EngineError("The server at http://127.0.0.1:1 closed the stream.")

        return TokenStream(pieces(), lambda text: Completion(text, "stop", 1, 2))

    def close(self) -> None:
        pass


def test_an_engine_failure_mid_stream_keeps_what_arrived(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.errors import EngineError

    monkeypatch.setattr(assistant, "_ensure_engine", lambda model: FailingEngine())
    stream = assistant.reply(None, "Hello")
    received = []
    with pytest.raises(EngineError, match="closed the stream"):
        for piece in stream:
            received.append(piece)
    assert received == ["partial ", "answer"]
    stored = assistant.messages(stream.conversation.id)
    assert [(m.role, m.content, m.finish_reason) for m in stored] == [
        ("user", "Hello", None),
        ("assistant", "partial answer", "error"),
    ]
