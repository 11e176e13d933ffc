"""Explicit memory commands typed in chat: "remember that …" and "forget that …".

They act at once, without the model, and the reply confirms what was done. A forget command's
own words are not kept (the stored message says only that something was forgotten), and its
confirmation never repeats what was forgotten. A forget that would match many memories does
nothing and says so: deleting dozens of memories from one loose phrase is too easy a mistake.

Pure parsing here plus `find_to_forget` (database reads); the Assistant applies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.memory.browse import match_query
from assistant.memory.facts import Outcome
from assistant.memory.keywords import keyword_words
from assistant.memory.statements import parse_first_person
from assistant.storage.database import EncryptedDatabase

MAX_FORGET_MATCHES = 20

_REMEMBER = re.compile(
    r"^\s*(?:please[,\s]+)?(?:remember|note|keep in mind|don't forget)\s*(?:that\b|:)\s*(?P<body>.+)$",
    re.I | re.S,
)
_FORGET = re.compile(
    r"^\s*(?:please[,\s]+)?forget\s*(?:that\b|about\b|what i (?:said|told you) about\b|:)\s*"
    r"(?P<body>.+)$",
    re.I | re.S,
)
FORGET_PLACEHOLDER = "Forget: (what to forget is not kept)"


@dataclass(frozen=True)
class Command:
    action: str  # "remember" | "forget"
    body: str


def parse(text: str) -> Command | None:
    """The command in a chat message, or None for an ordinary message (questions included)."""
    stripped = text.strip()
    if not stripped or stripped.endswith("?") or len(stripped) > 2000:
        return None
    for action, pattern in (("forget", _FORGET), ("remember", _REMEMBER)):
        match = pattern.match(stripped)
        if match is not None:
            body = match.group("body").strip().rstrip(".!").strip()
            if body:
                return Command(action, body)
    return None


def first_person(body: str) -> str:
    """The statement as stored: "that I live in Paris" arrives as "I live in Paris"; a
    capital letter at the start, a full stop at the end."""
    text = body[0].upper() + body[1:]
    return text if text[-1] in ".!…" else text + "."


def find_to_forget(database: EncryptedDatabase, body: str) -> list[int]:
    """Facts and conversation memories the phrase names: every topic word in them (FTS), or
    the same slot and value for a plain first-person statement."""
    words = keyword_words(body)
    found: set[int] = set()
    with database.read() as db:
        query = match_query(" ".join(words)) if words else None
        if query is not None:
            # The last word is matched as a prefix when typing; here every word is whole.
            query = query.removesuffix("*")
            found.update(
                int(row[0])
                for row in db.execute(
                    "SELECT m.id FROM memories_fts f JOIN memories m ON m.id = f.rowid"
                    " WHERE memories_fts MATCH ? AND m.kind IN ('fact', 'episode')"
                    " AND m.source_type IN ('conversation', 'user') LIMIT ?",
                    [query, MAX_FORGET_MATCHES * 5],
                ).fetchall()
            )
        parsed = parse_first_person(body)
        if parsed is not None:
            found.update(
                int(row[0])
                for row in db.execute(
                    "SELECT id FROM memories WHERE kind = 'fact' AND subject = ? AND predicate = ?"
                    " AND object = ? AND negated = ?",
                    [parsed.subject, parsed.predicate, parsed.object, int(parsed.negated)],
                ).fetchall()
            )
    return sorted(found)


def remember_reply(outcome: Outcome, statement: str, older: str | None) -> str:
    quoted = f"“{statement}”"
    if outcome.action == "supersede":
        before = f" Before, I had “{older}”; I keep that as history." if older else ""
        return f"Updated: {quoted}{before}"
    if outcome.action == "merge":
        return f"I already knew that: {quoted} Noted again."
    if outcome.action == "preference":
        return (
            f"Saved as a preference: {quoted} I keep it as a note about what you like, "
            "not as a rule that overrides my instructions."
        )
    return f"Noted. I'll remember: {quoted}"


def forget_reply(forgotten: int, facts: int, redacted: int, matched: int) -> str:
    if matched > MAX_FORGET_MATCHES:
        return (
            f"That matches {matched} memories, so to be safe I forgot nothing. Say it more "
            "precisely, or choose what to delete in the memory inspector (Ctrl+Shift+M)."
        )
    if forgotten == 0:
        return "I found nothing matching that in my memory, so nothing was forgotten."
    parts = [f"Done: I forgot {forgotten} {'memory' if forgotten == 1 else 'memories'}"]
    if facts:
        parts.append(f"including {facts} {'fact' if facts == 1 else 'facts'}")
    text = ", ".join(parts) + "."
    if redacted:
        text += (
            f" {redacted} {'message' if redacted == 1 else 'messages'} in your conversations now "
            "read “(forgotten)”."
        )
    return text + " Nothing of it is left in the database."
