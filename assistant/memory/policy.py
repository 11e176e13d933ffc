"""The write gate: what a candidate fact becomes. Pure decisions, no I/O (facts.py applies them).

Rules, in order:
1. Trust comes from where the candidate is grounded: the user's own words ("user-stated"), an
   import ("imported"), or only the assistant's words ("assistant"). Nothing else raises it.
2. Instruction-like text ("ignore your rules", "from now on you must …", "remember that the
   password is …") from any non-user source is rejected: it never becomes a fact (the imported
   chunk itself stays as quoted data). From the user it is kept as a *preference*, as data.
3. A duplicate (same slot and value, or nearly the same words) merges into the existing fact,
   which keeps every source; a user's statement of something waiting in the inbox confirms it.
4. A contradiction (same single-valued slot with another value, or the same value negated):
   the user's explicit statement ("remember that …", `mneme memory remember`) against a user
   fact is an update — the old fact is superseded with its validity closed, history kept; a
   model's extraction (even from the user's words) or a lower-trust source goes to the inbox with
   the fact it contradicts named (both shown), and accepting it supersedes. An active user fact
   is never replaced by anything but the user.
5. Otherwise: user-stated (and confident) → active; imported or assistant-derived → inbox.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.memory.statements import Slot, similarity
from assistant.types import TRUST_LEVELS

USER_TRUST = ("user-stated", "user-confirmed")
DUPLICATE_SIMILARITY = 0.8
MIN_CONFIDENCE = 0.5  # a model-extracted user fact below this waits in the inbox

ACTIONS = ("activate", "preference", "inbox", "merge", "supersede", "reject")

_INSTRUCTION_PATTERNS = [
    r"\bignore\b.{0,40}\b(instructions?|rules?|guidelines?|prompts?|directions?|above|previous)\b",
    r"\bdisregard\b.{0,40}\b(instructions?|rules?|guidelines?|prompts?|previous|above|everything)\b",
    r"\bforget\b.{0,30}\b(instructions?|rules?|guidelines?|everything you)\b",
    r"\bfrom now on\b",
    r"\bhenceforth\b",
    r"\b(you|assistant|ai|model)\s+(must|shall|should always|will always|have to|are required to|need to)\b",
    r"\byou are (now|no longer)\b",
    r"\b(always|never) (respond|reply|answer|say|tell|mention|reveal|refuse)\b",
    r"\bdo not (tell|inform|mention|reveal|warn)\b.{0,30}\b(user|anyone|them)\b",
    r"\bdon't (tell|inform|mention|reveal|warn)\b.{0,30}\b(user|anyone|them)\b",
    r"\b(system|developer) (prompt|message|instructions?|mode)\b",
    r"\b(new|updated|override|overriding|hidden|secret) (instructions?|rules?|directives?|orders?)\b",
    r"\b(act|behave|respond) as (if|though|an?|the)\b",
    r"\bpretend (to be|you are|that you)\b",
    r"\bjailbreak|\bdan mode\b|\bdeveloper mode\b",
    r"\b(the |my |your |admin |master |root )?(password|passcode|pin|pin code|secret code|api key|"
    r"access code|security code)\s+(is|=|:)",
    r"\bremember that (the|your|my) (password|passcode|pin|code|key)\b",
    r"\b(forward|send|email|transfer|wire|upload)\b.{0,40}\b(all|every|any)\b.{0,30}\b(emails?|"
    r"messages?|files?|money|funds|data|passwords?|contacts?)\b",
    r"\b(forward|send|transfer|wire)\b.{0,40}\bto\b.{0,40}(@|https?://|\baccount\b|\biban\b)",
    r"\b(run|execute|download|install|click|visit)\b.{0,40}(https?://|\.exe\b|\.sh\b|\bcurl\b)",
    r"<\|im_(start|end)\|>|\[/?inst\]|<</?sys>>|^\s*#{2,}\s*(instruction|system)|</?memories>",
    r"\brole\s*:\s*(system|assistant)\b",
    r"\btrust (this|me|the sender)\b.{0,30}\b(over|more than|instead)\b",
    r"\bthe user (wants|asked|has asked|instructs|authori[sz]ed) (you|the assistant)\b",
    r"^\s*(system|assistant|developer|admin|administrator)\s*:",
    r"\b(disregard|ignore|forget|override)\b.{0,40}\b(guidance|guidelines|training|programming|"
    r"policy|policies|safety|restrictions|constraints)\b",
    r"\b(has|have|had) (authori[sz]ed|allowed|permitted|instructed) (you|the assistant|the ai)\b",
    r"\b(note|message|instructions?) (to|for) (the |any |all )?(ai|assistants?|language models?|"
    r"llms?|chatbots?|bots?)\b",
    r"(^|[.!?]\s+|\bdear )(ai |the )?(ai|assistants?|language models?|llms?|chatbots?)"
    r"( reading this)?\s*[:,-]",
    r"\blet'?s play a game\b|\byou are (dan|an? unrestricted|an? unfiltered|free of)\b",
    r"\b(whenever|every time|each time) the user\b",
    r"\b(reply|respond|answer) to (every|each|all|any)\b",
    r"\bthe assistant'?s? (new |real |true |only )?(task|job|goal|purpose|role|instructions?) (is|are)\b",
    r"\b(share|reveal|disclose|leak|send|give)\b.{0,40}\b(the user'?s|their|his|her)\b.{0,30}"
    r"\b(address|password|location|phone|data|details|memories|emails?|contacts?|files?)\b",
    r"\b(e-?mail|send|forward|upload|post)\b.{0,60}\bto\b\s*\S*@\S+",
    r"\b(code|combination|credentials?|login|passphrase|pin)\b.{0,30}\b(is|are|=|:)\s*\S*\d",
    r"\b(combination|credentials?|login details|passphrase)\b.{0,30}\b(is|are)\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _INSTRUCTION_PATTERNS), re.I | re.M)


# Letters that look like Latin ones (Cyrillic, Greek): an attacker's way around word matching.
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁɡոոАВЕКМНОРСТХІЈЅαοτνικρ",
    "aeopcyxijsdgnnABEKMHOPCTXIJSaotvikp",
)
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalise(text: str) -> str:
    """Text as a reader sees it: compatibility forms folded (full-width letters), invisible
    characters removed, look-alike letters mapped to Latin."""
    folded = unicodedata.normalize("NFKC", text[:5000])
    return _INVISIBLE.sub("", folded).translate(_LOOKALIKES)


def instruction_like(text: str) -> bool:
    """Whether the text tries to direct the assistant (or carries a secret to be repeated)."""
    return _INSTRUCTION.search(normalise(text)) is not None


@dataclass(frozen=True)
class Candidate:
    """A proposed fact. `trust` is where it is grounded (see rule 1); `explicit` marks a user's
    own "remember that …" (always active, even with an unparsed slot)."""

    statement: str
    trust: str
    slot: Slot | None = None
    confidence: float = 1.0
    explicit: bool = False

    def __post_init__(self) -> None:
        if self.trust not in TRUST_LEVELS:
            raise ValueError(f"unknown trust {self.trust!r}")


@dataclass(frozen=True)
class KnownFact:
    """An existing fact (active or in the inbox) the candidate is compared with."""

    id: int
    statement: str
    trust: str
    status: str
    slot: Slot | None = None


@dataclass(frozen=True)
class Decision:
    action: str  # one of ACTIONS
    reason: str
    existing: int | None = None  # the fact merged into, superseded or contradicted
    trust: str | None = None  # the trust the stored fact gets
    status: str | None = None  # "active" | "inbox" for a stored candidate


def _contradicts(new: Slot | None, old: Slot | None) -> bool:
    if new is None or old is None:
        return False
    if (new.subject, new.predicate) != (old.subject, old.predicate):
        return False
    if new.object == old.object:
        return new.negated != old.negated
    # Another value of a single-valued slot; a negated one only contradicts the same value.
    return (new.single_valued or old.single_valued) and not new.negated and not old.negated


def _duplicates(candidate: Candidate, fact: KnownFact) -> bool:
    if candidate.slot is not None and fact.slot is not None:
        new, old = candidate.slot, fact.slot
        if (new.subject, new.predicate, new.object, new.negated) == (
            old.subject,
            old.predicate,
            old.object,
            old.negated,
        ):
            return True
        if (new.subject, new.predicate) == (old.subject, old.predicate):
            return False  # same slot, different value or polarity: never a duplicate
    return similarity(candidate.statement, fact.statement) >= DUPLICATE_SIMILARITY


def rank(trust: str) -> int:
    """Higher is more trusted."""
    return len(TRUST_LEVELS) - TRUST_LEVELS.index(trust)


def decide(candidate: Candidate, known: Sequence[KnownFact]) -> Decision:
    """What to do with `candidate`, given the facts it may duplicate or contradict."""
    from_user = candidate.trust in USER_TRUST
    if instruction_like(candidate.statement):
        if not from_user:
            return Decision("reject", "instruction-like text from a non-user source")
        return Decision(
            "preference", "the user's wish, kept as data", trust=candidate.trust, status="active"
        )
    for fact in known:
        if _duplicates(candidate, fact):
            if from_user and fact.status == "inbox":
                return Decision(
                    "merge",
                    "the user stated a fact waiting for review",
                    fact.id,
                    candidate.trust,
                    "active",
                )
            return Decision("merge", "already known; the source is added", fact.id)
    active = [fact for fact in known if fact.status == "active"]
    for fact in active:
        if not _contradicts(candidate.slot, fact.slot):
            continue
        if from_user and fact.trust in USER_TRUST:
            if not candidate.explicit:
                # Only the user's own explicit statement replaces a user fact: a model's reading
                # of their words may be wrong (a question, someone else's news, a quoted email),
                # so it waits beside the fact it would replace, and accepting it supersedes.
                return Decision(
                    "inbox", "an extracted update of a user fact", fact.id, candidate.trust, "inbox"
                )
            return Decision(
                "supersede", "the user updated an earlier fact", fact.id, candidate.trust, "active"
            )
        if rank(fact.trust) >= rank(candidate.trust):
            return Decision(
                "inbox",
                "contradicts a fact of equal or higher trust",
                fact.id,
                candidate.trust,
                "inbox",
            )
        # A user fact against a lower-trust active fact (only an accepted import could be one).
        return Decision(
            "supersede",
            "the user corrected a less trusted fact",
            fact.id,
            candidate.trust,
            "active",
        )
    if not from_user:
        return Decision(
            "inbox", f"from a source of trust '{candidate.trust}'", None, candidate.trust, "inbox"
        )
    if not candidate.explicit and candidate.confidence < MIN_CONFIDENCE:
        return Decision("inbox", "the extractor was unsure", None, candidate.trust, "inbox")
    return Decision("activate", "stated by the user", None, candidate.trust, "active")
