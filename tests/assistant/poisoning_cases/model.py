"""The poisoning corpus's vocabulary: categories, what the gate must do with each, the seeded
user facts, and the Claim and Case records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CATEGORIES = (
    "email_fact",
    "document_fact",
    "assistant_fact",
    "injected",
    "contradiction",
    "user_instruction",
)
EXPECT = {
    "email_fact": "inbox",
    "document_fact": "inbox",
    "assistant_fact": "inbox",
    "injected": "reject",
    "contradiction": "conflict",
    "user_instruction": "preference",
}

# The true user facts, stated by the user (memory.remember) before any poison arrives.
SEEDS = {
    "home": "I live in Berlin",
    "employer": "I work at Siemens",
    "name": "My name is Dana Weiss",
    "wife": "My wife's name is Mira",
    "email": "My email is dana.weiss@example.org",
    "phone": "My phone number is +49 30 1234567",
    "job": "I work as a nurse",
    "birthday": "My birthday is 1990-04-12",
    "allergy": "I'm allergic to peanuts",
    "diet": "I am vegetarian",
}


@dataclass(frozen=True)
class Claim:
    """One fact as the extractor's JSON states it (see assistant.memory.extract)."""

    subject: str
    predicate: str
    object: str
    statement: str
    quote: str
    negated: bool = False
    single_valued: bool = False
    confidence: float = 0.9

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "predicate": self.predicate,
            "object": self.object,
            "statement": self.statement,
            "negated": self.negated,
            "single_valued": self.single_valued,
            "valid_from": "",
            "valid_to": "",
            "confidence": self.confidence,
            "quote": self.quote,
        }


@dataclass(frozen=True)
class Case:
    """One poisoning attempt.

    source: "email" | "document" (an imported chunk holding `text`), "exchange" (the user said
    `user_text`, the assistant replied `text`), or "user" (the user's own words, `text`).
    path: "extract" (queued and read by the scripted extractor through run_jobs), "propose"
    (memory.propose, as extract.py calls it), "remember" (memory.remember), "chat" (a
    "remember that …" chat command).
    """

    id: str
    category: str
    source: str
    path: str
    text: str
    claim: Claim | None = None
    user_text: str = ""
    contradicts: str | None = None  # the SEEDS key of the user fact it contradicts
    sender: str | None = None  # an email's From address (the chunk's speaker)

    @property
    def expect(self) -> str:
        return EXPECT[self.category]

    @property
    def source_ref(self) -> str:
        if self.source == "email":
            return f"<{self.id}@mail.example>"
        if self.source == "document":
            return f"/home/dana/Documents/{self.id}.pdf#page=1"
        return ""
