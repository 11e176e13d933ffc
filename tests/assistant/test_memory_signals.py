"""Signals from use: likelihood gains through llama.cpp logits, feedback, and their deletion."""

from __future__ import annotations

import math

import pytest

from assistant import Assistant
from assistant.engine.base import ChatMessage
from assistant.errors import MnemeError
from assistant.memory.learn import load_signals


def test_continuation_logprob_prefers_what_the_model_would_say(assistant: Assistant) -> None:
    engine = assistant._ensure_engine(None)
    messages = [ChatMessage("system", "You are a test."), ChatMessage("user", "Hello")]
    own = engine.stream(messages, assistant._generation_settings()).drain().text
    own_lp, own_len = engine.continuation_logprob(messages, own)
    other_lp, other_len = engine.continuation_logprob(messages, "zebra quantum xylophone 42 !")
    assert own_len > 0 and other_len > 0
    assert own_lp < 0 and math.isfinite(own_lp)
    assert own_lp / own_len > other_lp / other_len


def test_learn_scores_the_memories_used_by_recent_replies(assistant: Assistant) -> None:
    assistant.memory.remember("My bike is a green Brompton.")
    reply = assistant.reply(None, "What colour is my bike?").wait()
    assert reply.memories
    run = assistant.learn()
    assert run.replies == 1 and run.gains == len(reply.memories)
    with assistant._opened_database().read() as db:
        gains = [r[0] for r in db.execute("SELECT gain FROM reply_memories").fetchall()]
    assert gains and all(g is not None and math.isfinite(g) for g in gains)
    assert assistant.learn().replies == 0  # nothing is scored twice


def test_feedback_becomes_a_signal_and_forgetting_removes_it(assistant: Assistant) -> None:
    fact = assistant.memory.remember("The wifi password is on the fridge.")
    reply = assistant.reply(None, "Where is the wifi password?").wait()
    assert fact.id in [r.memory.id for r in reply.memories]
    assistant.feedback(reply.assistant_message.id, 1)
    database = assistant._opened_database()
    (signal,) = load_signals(database)
    assert signal.kind == "feedback" and signal.labels[fact.id] == 0.5
    assert signal.query == "Where is the wifi password?"
    assistant.memory.forget(fact.id)
    assert load_signals(database) == []
    with database.read() as db:
        assert (
            db.execute(
                "SELECT count(*) FROM reply_memories WHERE memory_id = ?", [fact.id]
            ).fetchone()[0]
            == 0
        )


def test_feedback_mistakes_are_clear(assistant: Assistant) -> None:
    reply = assistant.reply(None, "hello", use_memory=False).wait()
    with pytest.raises(MnemeError, match="used no memories"):
        assistant.feedback(reply.assistant_message.id, 1)
    with pytest.raises(MnemeError, match="no assistant reply"):
        assistant.feedback(reply.user_message.id, 1)
    with pytest.raises(MnemeError, match=r"\+1"):
        assistant.feedback(reply.assistant_message.id, 5)
