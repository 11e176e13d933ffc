"""Conversation-level actions the chat window offers: search, incognito, regenerate, edit and
resend, delete with or without forgetting — through the front door, with the tiny model."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import Assistant, MnemeError
from assistant.engine.base import GenerationSettings
from assistant.errors import NotFoundError


def _memory_texts(assistant: Assistant) -> list[str]:
    return [m.text for m in assistant.memory.browse(limit=1000)]


def test_search_finds_titles_and_message_text_case_insensitively(assistant: Assistant) -> None:
    first = assistant.reply(None, "Planning the trip to Lisbon", use_memory=False).wait()
    second = assistant.reply(None, "Recipes for dinner", use_memory=False).wait()
    assistant.reply(
        second.conversation.id, "Maybe something from LISBON too", use_memory=False
    ).wait()

    found = assistant.search_conversations("lisbon")
    assert {m.conversation.id for m in found} == {first.conversation.id, second.conversation.id}
    by_id = {m.conversation.id: m for m in found}
    assert "LISBON" in by_id[second.conversation.id].snippet
    assert by_id[second.conversation.id].message_id is not None
    assert assistant.search_conversations("no such words anywhere") == []
    assert assistant.search_conversations("   ") == []


def test_search_treats_wildcards_literally(assistant: Assistant) -> None:
    assistant.new_conversation("100% sure")
    assistant.new_conversation("1000 sure")
    assert [m.conversation.title for m in assistant.search_conversations("100%")] == ["100% sure"]
    assert assistant.search_conversations("_") == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_search_survives_any_text_and_finds_a_title_holding_it(
    assistant: Assistant, text: str
) -> None:
    assistant.search_conversations(text)  # never raises, whatever the text
    title = " ".join(text.split())
    if title and "\x00" not in title:
        created = assistant.new_conversation(title)
        assert created.id in {m.conversation.id for m in assistant.search_conversations(title)}


def test_incognito_conversations_leave_no_memory(assistant: Assistant) -> None:
    conversation = assistant.new_conversation(incognito=True)
    assert conversation.incognito
    assistant.reply(conversation.id, "My locker code is 4417", use_memory=False).wait()
    assert assistant.messages(conversation.id)[0].content == "My locker code is 4417"
    assert not any("4417" in text for text in _memory_texts(assistant))


def test_regenerate_replaces_the_last_answer(assistant: Assistant) -> None:
    first = assistant.reply(None, "Hello there", use_memory=False).wait()
    conversation_id = first.conversation.id
    assert first.stats.completion_tokens > 3
    # A shorter limit this time, so the new answer is told apart from the old one.
    again = assistant.regenerate(
        conversation_id, use_memory=False, settings=GenerationSettings(max_tokens=3)
    ).wait()
    messages = assistant.messages(conversation_id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "Hello there"
    assert messages[1] == again.assistant_message
    assert again.stats.completion_tokens <= 3
    # The replaced turns' memories went with them; the new turns have theirs.
    texts = _memory_texts(assistant)
    assert texts.count("Hello there") == 1
    assert first.assistant_message.content not in texts


def test_edit_and_resend_drops_later_turns_and_their_memories(assistant: Assistant) -> None:
    first = assistant.reply(None, "I live in Porto", use_memory=False).wait()
    conversation_id = first.conversation.id
    assistant.reply(conversation_id, "I like green tea", use_memory=False).wait()
    edited = assistant.edit_message(
        first.user_message.id, "I live in Lyon", use_memory=False
    ).wait()
    messages = assistant.messages(conversation_id)
    assert [m.content for m in messages if m.role == "user"] == ["I live in Lyon"]
    assert messages[-1].id == edited.assistant_message.id
    texts = _memory_texts(assistant)
    assert "I live in Lyon" in texts
    assert "I live in Porto" not in texts and "I like green tea" not in texts
    assert assistant.memory.search("Porto") == []


def test_edit_refuses_assistant_messages_and_empty_text_without_deleting(
    assistant: Assistant,
) -> None:
    first = assistant.reply(None, "Keep me", use_memory=False).wait()
    with pytest.raises(MnemeError, match="Only your own"):
        assistant.edit_message(first.assistant_message.id, "changed")
    with pytest.raises(MnemeError, match="empty"):
        assistant.edit_message(first.user_message.id, "  ")
    with pytest.raises(NotFoundError):
        assistant.edit_message(987654, "x")
    assert len(assistant.messages(first.conversation.id)) == 2
    assert "Keep me" in _memory_texts(assistant)


def test_regenerate_needs_a_user_message(assistant: Assistant) -> None:
    empty = assistant.new_conversation()
    with pytest.raises(MnemeError, match="no message"):
        assistant.regenerate(empty.id)


def test_delete_keeps_or_forgets_the_memories_as_asked(assistant: Assistant) -> None:
    kept = assistant.reply(None, "Remember the blue bicycle", use_memory=False).wait()
    gone = assistant.reply(None, "Remember the red kayak", use_memory=False).wait()
    assert assistant.delete_conversation(kept.conversation.id) == 0
    assert assistant.delete_conversation(gone.conversation.id, forget_memories=True) == 2
    texts = _memory_texts(assistant)
    assert "Remember the blue bicycle" in texts
    assert "Remember the red kayak" not in texts
    assert assistant.memory.search("kayak") == []
    assert assistant.conversations() == []
    with pytest.raises(NotFoundError):
        assistant.delete_conversation(gone.conversation.id, forget_memories=True)


def test_memories_used_lists_what_went_into_the_prompt(assistant: Assistant) -> None:
    assistant.memory.remember("The spare key is under the blue flowerpot")
    reply = assistant.reply(None, "Where is the spare key?").wait()
    used = assistant.memories_used(reply.assistant_message.id)
    assert [r.memory.id for r in used] == [r.memory.id for r in reply.memories]
    assert any("flowerpot" in r.memory.text for r in used)
    assert assistant.memories_used(reply.user_message.id) == []
