"""Statements as slots: (subject, predicate, object, negated), normalised so facts can be compared.

Two facts contradict when they fill the same single-valued slot with different values ("lives in
Berlin" / "lives in Lisbon"), or state the same value with opposite polarity ("likes coffee" /
"does not like coffee"). The model's extractor names predicates freely; `canonical_predicate` maps
common phrasings onto one name, and `parse_first_person` reads the plain first-person statements of
an explicit "remember that …" without a model. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Predicates one subject holds one value of at a time (a new value replaces the old).
SINGLE_VALUED = frozenset(
    {
        "lives in",
        "works at",
        "works as",
        "name",
        "age",
        "birthday",
        "email",
        "phone",
        "address",
        "partner",
        "married to",
        "nationality",
        "timezone",
        "studies at",
        "hometown",
    }
)

_SYNONYMS = {
    "live in": "lives in",
    "lives at": "lives in",
    "resides in": "lives in",
    "reside in": "lives in",
    "moved to": "lives in",
    "move to": "lives in",
    "is based in": "lives in",
    "based in": "lives in",
    "home": "lives in",
    "city": "lives in",
    "home city": "lives in",
    "current city": "lives in",
    "city of residence": "lives in",
    "lived in": "lives in",
    "living in": "lives in",
    "place of work": "works at",
    "is employed at": "works at",
    "is employed by": "works at",
    "workplace": "works at",
    "work at": "works at",
    "work for": "works at",
    "works for": "works at",
    "employed at": "works at",
    "employed by": "works at",
    "employer": "works at",
    "company": "works at",
    "work as": "works as",
    "job": "works as",
    "occupation": "works as",
    "profession": "works as",
    "job title": "works as",
    "is named": "name",
    "is called": "name",
    "called": "name",
    "named": "name",
    "full name": "name",
    "years old": "age",
    "is aged": "age",
    "born on": "birthday",
    "birth date": "birthday",
    "date of birth": "birthday",
    "email address": "email",
    "e-mail": "email",
    "phone number": "phone",
    "telephone": "phone",
    "wife": "partner",
    "husband": "partner",
    "girlfriend": "partner",
    "boyfriend": "partner",
    "spouse": "partner",
    "is married to": "married to",
    "study at": "studies at",
    "like": "likes",
    "love": "likes",
    "loves": "likes",
    "enjoy": "likes",
    "enjoys": "likes",
    "hate": "dislikes",
    "hates": "dislikes",
    "dislike": "dislikes",
    "is allergic to": "allergic to",
    "favorite": "favourite",
}

_SPACE = re.compile(r"\s+")
_EDGE = re.compile(r"^[\s\"'“”‘’.,;:!?()\[\]]+|[\s\"'“”‘’.,;:!?()\[\]]+$")
_USER_WORDS = frozenset(
    {"i", "me", "my", "mine", "myself", "user", "the user", "user's", "the user's"}
)


def clean(text: str) -> str:
    """Lower case, single spaces, no quotes or punctuation at the ends."""
    return _EDGE.sub("", _SPACE.sub(" ", text.strip().lower()))


def canonical_subject(subject: str) -> str:
    """'I', 'me', 'the user' → 'user'; "my sister" → "user's sister"."""
    text = clean(subject)
    if text in _USER_WORDS or not text:
        return "user"
    for prefix in ("my ", "the user's ", "user's "):
        if text.startswith(prefix):
            return "user's " + text[len(prefix) :]
    return text


def canonical_predicate(predicate: str) -> str:
    text = clean(predicate)
    for prefix in ("the user ", "user ", "i ", "is the user's ", "user's ", "my "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.replace("favorite", "favourite").replace("colour", "color")
    return _SYNONYMS.get(text, text)


def canonical_object(value: str) -> str:
    text = clean(value)
    for article in ("the ", "a ", "an "):
        if text.startswith(article):
            text = text[len(article) :]
    return text


def single_valued(predicate: str, claimed: bool = False) -> bool:
    """Whether a new value of this predicate replaces the old one.

    Known single-valued predicates, "favourite …" ones, and predicates the extractor marked so.
    """
    canonical = canonical_predicate(predicate)
    return claimed or canonical in SINGLE_VALUED or canonical.startswith("favourite")


@dataclass(frozen=True)
class Slot:
    subject: str
    predicate: str
    object: str
    negated: bool = False
    single_valued: bool = False


def slot(
    subject: str, predicate: str, value: str, negated: bool = False, claimed: bool = False
) -> Slot:
    return Slot(
        canonical_subject(subject),
        canonical_predicate(predicate),
        canonical_object(value),
        negated,
        single_valued(predicate, claimed),
    )


# Plain first-person statements: what "remember that …" usually holds. Order matters (the first
# match wins); each yields (predicate, object, negated).
_PATTERNS: list[tuple[re.Pattern[str], str | None, bool]] = [
    (re.compile(r"^my (?P<attr>[\w' -]{1,40}?) is (?P<obj>.+)$"), None, False),
    (re.compile(r"^my (?P<attr>[\w' -]{1,40}?) isn't (?P<obj>.+)$"), None, True),
    (re.compile(r"^i(?:'m| am) (?P<obj>\d{1,3}) years old$"), "age", False),
    (re.compile(r"^i(?:'m| am) called (?P<obj>.+)$"), "name", False),
    (re.compile(r"^i (?:now )?(?:live|reside) in (?P<obj>.+)$"), "lives in", False),
    (re.compile(r"^i (?:have )?moved to (?P<obj>.+)$"), "lives in", False),
    (re.compile(r"^i (?:don't|do not) live in (?P<obj>.+)$"), "lives in", True),
    (re.compile(r"^i (?:now )?work (?:at|for) (?P<obj>.+)$"), "works at", False),
    (re.compile(r"^i (?:don't|do not) work (?:at|for) (?P<obj>.+)$"), "works at", True),
    (re.compile(r"^i work as (?:an? )?(?P<obj>.+)$"), "works as", False),
    (re.compile(r"^i(?:'m| am) (?:an? )?(?P<obj>[\w -]+?) by profession$"), "works as", False),
    (re.compile(r"^i(?:'m| am) allergic to (?P<obj>.+)$"), "allergic to", False),
    (re.compile(r"^i(?:'m| am) not allergic to (?P<obj>.+)$"), "allergic to", True),
    (re.compile(r"^i (?:really )?(?:like|love|enjoy) (?P<obj>.+)$"), "likes", False),
    (re.compile(r"^i (?:don't|do not) (?:like|love|enjoy) (?P<obj>.+)$"), "likes", True),
    (re.compile(r"^i (?:hate|dislike) (?P<obj>.+)$"), "likes", True),
    (re.compile(r"^i(?:'m| am) vegetarian$"), "diet", False),
]


def parse_first_person(statement: str) -> Slot | None:
    """The slot of a plain first-person statement ("my sister's name is Ana", "I live in Lisbon"),
    or None when it is not one of the simple forms (it is still stored, without a slot)."""
    text = clean(statement.replace("’", "'"))
    for pattern, predicate, negated in _PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        groups = match.groupdict()
        if predicate == "diet":
            return slot("user", "diet", "vegetarian")
        if predicate is None:
            attribute = groups["attr"]
            subject = "user"
            if "'s " in attribute:  # "my sister's name" → subject "user's sister", predicate "name"
                owner, _, attribute = attribute.partition("'s ")
                subject = f"user's {owner}"
            return slot(subject, attribute, groups["obj"], negated)
        return slot("user", predicate, groups["obj"], negated)
    return None


_WORD = re.compile(r"[\w']+", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "you",
        "your",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "that",
        "this",
        "it",
        "its",
        "with",
        "as",
        "by",
        "from",
        "user",
        "user's",
    ]
)


def content_words(text: str) -> frozenset[str]:
    """Lower-case words without stop words, lightly stemmed (plural s): for near-duplicates."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.add(word)
    return frozenset(words)


def similarity(a: str, b: str) -> float:
    """Jaccard overlap of content words (0 when either has none)."""
    left, right = content_words(a), content_words(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)
