"""Conversations and their messages, stored in the encrypted database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from assistant.errors import NotFoundError
from assistant.storage.database import EncryptedDatabase
from assistant.types import Conversation, ConversationMatch, Message

TITLE_LIMIT = 80


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def title_from_text(text: str) -> str:
    first_line = " ".join(text.split())
    if len(first_line) <= TITLE_LIMIT:
        return first_line or "New conversation"
    return first_line[: TITLE_LIMIT - 1].rstrip() + "…"


class ConversationStore:
    def __init__(self, database: EncryptedDatabase) -> None:
        self._database = database

    def create(self, title: str = "New conversation", *, incognito: bool = False) -> Conversation:
        stamp = now_iso()
        with self._database.write() as db:
            cursor = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at, incognito)"
                " VALUES (?, ?, ?, ?)",
                [title, stamp, stamp, int(incognito)],
            )
            new_id = cursor.lastrowid
        assert new_id is not None
        return self.get(new_id)

    def get(self, conversation_id: int) -> Conversation:
        with self._database.read() as db:
            rows = list(db.query("SELECT * FROM conversations WHERE id = ?", [conversation_id]))
        if not rows:
            raise NotFoundError(f"There is no conversation {conversation_id}.")
        return _conversation(rows[0])

    def all(self) -> list[Conversation]:
        with self._database.read() as db:
            rows = db.query("SELECT * FROM conversations ORDER BY updated_at DESC, id DESC")
            return [_conversation(row) for row in rows]

    def rename(self, conversation_id: int, title: str) -> Conversation:
        title = " ".join(title.split())
        if not title:
            raise ValueError("A conversation title cannot be empty.")
        with self._database.write() as db:
            cursor = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?", [title, conversation_id]
            )
        if cursor.rowcount == 0:
            raise NotFoundError(f"There is no conversation {conversation_id}.")
        return self.get(conversation_id)

    def delete(self, conversation_id: int) -> None:
        with self._database.write() as db:
            cursor = db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])
        if cursor.rowcount == 0:
            raise NotFoundError(f"There is no conversation {conversation_id}.")

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        model: str | None = None,
        finish_reason: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> Message:
        stamp = now_iso()
        with self._database.write() as db:
            cursor = db.execute(
                "INSERT INTO messages (conversation_id, role, content, created_at, model,"
                " finish_reason, prompt_tokens, completion_tokens)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    conversation_id,
                    role,
                    content,
                    stamp,
                    model,
                    finish_reason,
                    prompt_tokens,
                    completion_tokens,
                ],
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", [stamp, conversation_id]
            )
            row = next(db.query("SELECT * FROM messages WHERE id = ?", [cursor.lastrowid]))
        return _message(row)

    def messages(self, conversation_id: int) -> list[Message]:
        with self._database.read() as db:
            rows = db.query(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", [conversation_id]
            )
            return [_message(row) for row in rows]

    def search(self, text: str, limit: int = 50) -> list[ConversationMatch]:
        """Conversations whose title or messages contain `text` (case-insensitive), newest first.

        A plain substring scan (LIKE with escaped wildcards): exact for any characters the user
        types, and fast enough for the messages one person writes.
        """
        needle = " ".join(text.split())
        if not needle:
            return []
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._database.read() as db:
            rows = list(
                db.query(
                    "SELECT c.*, m.id AS message_id, m.content AS content FROM conversations c"
                    " LEFT JOIN messages m ON m.id = ("
                    "   SELECT id FROM messages WHERE conversation_id = c.id"
                    "   AND content LIKE :p ESCAPE '\\' ORDER BY id DESC LIMIT 1)"
                    " WHERE c.title LIKE :p ESCAPE '\\' OR m.id IS NOT NULL"
                    " ORDER BY c.updated_at DESC, c.id DESC LIMIT :limit",
                    {"p": pattern, "limit": limit},
                )
            )
        return [
            ConversationMatch(
                _conversation(row),
                row["message_id"],
                _snippet(row["content"], needle) if row["content"] else row["title"],
            )
            for row in rows
        ]

    def messages_from(self, conversation_id: int, message_id: int) -> list[int]:
        """Ids of `message_id` and every later message of the conversation."""
        with self._database.read() as db:
            rows = db.execute(
                "SELECT id FROM messages WHERE conversation_id = ? AND id >= ? ORDER BY id",
                [conversation_id, message_id],
            ).fetchall()
        return [row[0] for row in rows]

    def delete_messages(self, conversation_id: int, message_ids: list[int]) -> None:
        with self._database.write() as db:
            db.conn.executemany(
                "DELETE FROM messages WHERE conversation_id = ? AND id = ?",
                [(conversation_id, i) for i in message_ids],
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", [now_iso(), conversation_id]
            )

    def message(self, message_id: int) -> Message:
        with self._database.read() as db:
            rows = list(db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
        if not rows:
            raise NotFoundError(f"There is no message {message_id}.")
        return _message(rows[0])

    def count(self) -> dict[str, int]:
        with self._database.read() as db:
            return {
                "conversations": db.execute("SELECT count(*) FROM conversations").fetchone()[0],
                "messages": db.execute("SELECT count(*) FROM messages").fetchone()[0],
            }


def _conversation(row: dict[str, Any]) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        incognito=bool(row["incognito"]),
    )


def _message(row: dict[str, Any]) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        content=row["content"],
        created_at=row["created_at"],
        model=row["model"],
        finish_reason=row["finish_reason"],
    )


def _snippet(content: str, needle: str, width: int = 80) -> str:
    """The text around the first occurrence of `needle`, on one line."""
    flat = " ".join(content.split())
    at = flat.lower().find(needle.lower())
    if at < 0:
        return flat[:width]
    start = max(0, at - width // 3)
    end = min(len(flat), at + len(needle) + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
