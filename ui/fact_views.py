"""How facts read in the inspector: a contradiction beside an inbox candidate, a fact's timeline
line, where it was read. Pure functions of the core's dataclasses and dicts (no widgets)."""

from __future__ import annotations

from typing import Any

from assistant.types import Memory
from ui.memory_table import list_line, one_line

PREFERENCE_NOTE = (
    "A preference: kept as a note about how you like answers, never as an instruction to Mneme."
)


def day(stamp: str | None) -> str:
    """'2026-03-01T10:00:00+00:00' → '2026-03-01' (dates the model extracted may be '2026-03')."""
    return (stamp or "")[:10]


def held(fact: Memory) -> str:
    """When the fact held: "since 2026-03-01", "until 2026-03-01" (history), "proposed"."""
    if fact.status == "inbox":
        return "proposed, waiting for review"
    if fact.status == "superseded" or fact.valid_to:
        return f"until {day(fact.valid_to)}" if fact.valid_to else "replaced"
    return f"since {day(fact.valid_from or fact.created_at)}"


def timeline_line(fact: Memory) -> str:
    return f"{one_line(fact.text, 160)} — {held(fact)}"


def conflict_line(fact: Memory | None) -> str:
    """The active fact an inbox candidate contradicts, as shown beside it."""
    if fact is None:
        return "Contradicted a fact that is no longer there."
    since = day(fact.valid_from or fact.created_at)
    state = f"since {since}" if fact.status == "active" else f"{fact.status} now"
    return f"Contradicts: {one_line(fact.text, 200)} ({fact.trust}, {state})"


def inbox_line(memory: Memory, conflict: Memory | None) -> str:
    """An inbox item: the candidate, what it is, and the fact it contradicts if any."""
    line = list_line(memory)
    if memory.facet == "preference":
        line += "\n    preference (kept as a note, never as an instruction)"
    if memory.conflicts_with is not None:
        line += f"\n    ⚠ {conflict_line(conflict)}\n    Accepting replaces it (kept as history)."
    return line


def source_line(source: dict[str, Any]) -> str:
    """One memory a fact was read in (a row of `memory.fact_sources` plus its "excerpt")."""
    kind = source.get("source_type")
    if kind == "conversation":
        where = "a conversation"
    elif kind == "document":
        where = f"document {source.get('source_ref') or ''}".strip()
    elif kind == "email":
        where = "an email"
    elif kind == "user":
        where = "told directly"
    else:
        where = str(kind or "unknown source")
    excerpt = source.get("excerpt")
    quoted = f"“{one_line(excerpt, 120)}” — " if excerpt else ""
    return f"{quoted}{where} · trust {source.get('trust')} · read {day(source.get('created_at'))}"


def excerpt(text: str, start: int | None, end: int | None) -> str:
    """The quoted span of a source's text (the whole text, shortened, without a span)."""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        return text[start:end]
    return one_line(text, 120)
