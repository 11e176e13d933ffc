"""Signals from use: which memories went into a reply, the user's thumbs, and the likelihood gain.

The likelihood gain of a memory for a reply is how much adding that memory alone to the prompt raises
the model's log-likelihood of the reply it actually gave, per reply token:
    gain(m) = [log p(reply | system, memory block with m, question) − log p(reply | system, question)] / n
It is computed in the background with llama.cpp's logits (`LlamaCppEngine.continuation_logprob`),
bounded per run, and turned into a learning signal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.cancel import CancelToken
from assistant.engine.base import ChatMessage
from assistant.errors import MnemeError, NotFoundError
from assistant.memory.prompt import with_memories
from assistant.memory.signals import Signal
from assistant.memory.store import MemoryStore
from assistant.storage.database import EncryptedDatabase
from assistant.types import Memory, RecalledMemory

LogProb = Callable[[list[ChatMessage], str], tuple[float, int]]


@dataclass
class LearningRun:
    replies: int = 0
    gains: int = 0
    signals: int = 0
    trained_examples: int = 0


def record_reply_memories(
    database: EncryptedDatabase, message_id: int, used: Sequence[RecalledMemory]
) -> None:
    if not used:
        return
    with database.write() as db:
        db.conn.executemany(
            "INSERT OR REPLACE INTO reply_memories (message_id, memory_id, rank, score, reasons)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (message_id, r.memory.id, rank, r.score, json.dumps(list(r.reasons)))
                for rank, r in enumerate(used)
            ],
        )


def used_memories(
    database: EncryptedDatabase, store: MemoryStore, message_id: int
) -> list[RecalledMemory]:
    """The memories recorded for a reply, in prompt order (those deleted since are gone)."""
    with database.read() as db:
        rows = db.execute(
            "SELECT memory_id, score FROM reply_memories WHERE message_id = ? ORDER BY rank",
            [message_id],
        ).fetchall()
    found = store.get_many(row[0] for row in rows)
    return [RecalledMemory(found[m], float(score)) for m, score in rows if m in found]


def feedback_signal(database: EncryptedDatabase, message_id: int, value: int) -> Signal:
    """Thumbs up (+1) or down (−1) on an assistant reply, as a signal for the memories it used."""
    if value not in (1, -1):
        raise MnemeError("Feedback is +1 (helpful) or -1 (not helpful).")
    question, memory_ids = _reply_context(database, message_id)
    if not memory_ids:
        raise MnemeError(f"Reply {message_id} used no memories, so there is nothing to learn.")
    return Signal("feedback", question, {m: 0.5 * value for m in memory_ids})


def _reply_context(database: EncryptedDatabase, message_id: int) -> tuple[str, list[int]]:
    with database.read() as db:
        row = db.execute(
            "SELECT conversation_id, role FROM messages WHERE id = ?", [message_id]
        ).fetchone()
        if row is None or row[1] != "assistant":
            raise NotFoundError(f"There is no assistant reply {message_id}.")
        question = db.execute(
            "SELECT content FROM messages WHERE conversation_id = ? AND id < ? AND role = 'user'"
            " ORDER BY id DESC LIMIT 1",
            [row[0], message_id],
        ).fetchone()
        memory_ids = [
            r[0]
            for r in db.execute(
                "SELECT memory_id FROM reply_memories WHERE message_id = ? ORDER BY rank",
                [message_id],
            ).fetchall()
        ]
    return (question[0] if question else ""), memory_ids


def pending_replies(
    database: EncryptedDatabase, limit: int
) -> list[tuple[int, str, str, list[int]]]:
    """Newest replies whose memories have no likelihood gain yet: (id, question, reply, memories)."""
    with database.read() as db:
        ids = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT message_id FROM reply_memories WHERE gain IS NULL"
                " ORDER BY message_id DESC LIMIT ?",
                [limit],
            ).fetchall()
        ]
        result = []
        for message_id in ids:
            reply = db.execute("SELECT content FROM messages WHERE id = ?", [message_id]).fetchone()
            question, memory_ids = _reply_context(database, message_id)
            if reply and reply[0].strip() and question:
                result.append((message_id, question, reply[0], memory_ids))
    return result


def likelihood_gains(
    system: ChatMessage,
    question: str,
    reply: str,
    memories: Sequence[Memory],
    logprob: LogProb,
    count_tokens: Callable[[str], int],
    *,
    cancel: CancelToken | None = None,
) -> dict[int, float]:
    """Per-token log-likelihood gain of the reply from each memory alone (nats per token)."""
    base, length = logprob([system, ChatMessage("user", question)], reply)
    if length == 0:
        return {}
    gains = {}
    for memory in memories:
        if cancel is not None:
            cancel.raise_if_cancelled()
        recalled = [RecalledMemory(memory, 0.0)]
        prompt, fitted = with_memories(question, recalled, count_tokens, 10_000)
        if not fitted:
            continue
        with_memory, _ = logprob([system, ChatMessage("user", prompt)], reply)
        gains[memory.id] = (with_memory - base) / length
    return gains


def store_gains(database: EncryptedDatabase, message_id: int, gains: dict[int, float]) -> None:
    with database.write() as db:
        db.conn.executemany(
            "UPDATE reply_memories SET gain = ? WHERE message_id = ? AND memory_id = ?",
            [(gain, message_id, memory_id) for memory_id, gain in gains.items()],
        )
        # Memories that could not be scored are marked, so they are not retried forever.
        db.execute(
            "UPDATE reply_memories SET gain = 0 WHERE message_id = ? AND gain IS NULL", [message_id]
        )


def gain_signal(question: str, gains: dict[int, float]) -> Signal | None:
    """Memories that made the reply clearly more (or less) likely become labels in [−1, 1]."""
    labels = {m: max(-1.0, min(1.0, 4.0 * g)) for m, g in gains.items() if math.isfinite(g)}
    labels = {m: label for m, label in labels.items() if abs(label) >= 0.05}
    return Signal("likelihood", question, labels) if labels else None
