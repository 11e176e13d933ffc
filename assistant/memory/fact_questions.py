"""Question/answer pairs that teach a model one fact, for consolidation (issue 8).

A fact is a memory of kind 'fact': a statement ("I live in Berlin", "My sister is called Anna",
"The user works as a nurse") and, when known, its slot (subject, predicate, value, negated; see
statements.py). `questions_for` turns it into a canonical pair — the one whose answer's
log-likelihood measures whether the model knows the fact — and one to three paraphrased questions
with the same answer, used only for training.

With a known predicate the pairs come from templates (fact_templates.py: "Where do I live?" →
"You live in Berlin."); otherwise the answer is the statement itself in the second person and the
question names a few of its words ("What do you remember about my sister Anna?").

Pure functions: no I/O, no randomness (the same fact always gives the same pairs), and they never
raise, whatever the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.memory.fact_templates import (
    ARTICLES,
    LOWER_WORDS,
    PROPER_VALUES,
    TEMPLATES,
    VERBS,
    is_template,
    template_for,
    third_person,
)
from assistant.memory.statements import (
    Slot,
    canonical_predicate,
    canonical_subject,
    parse_first_person,
)

# Questions longer than this are cut (a value can be any length; the prompt should not be).
MAX_QUESTION = 120


@dataclass(frozen=True)
class QA:
    question: str
    answer: str


_SPACE = re.compile(r"\s+")
_AGE = re.compile(r"^(\d{1,3})(?: years?(?: old)?)?$")


def questions_for(
    text: str,
    subject: str | None = None,
    predicate: str | None = None,
    value: str | None = None,
    negated: bool = False,
) -> list[QA]:
    """Question/answer pairs that teach a model one fact. The first pair is the canonical one
    (used to measure the fact's log-likelihood); the others (1–3) are paraphrased questions with
    the same answer, used only for training. Answers are short second-person sentences ending
    with a period ("You live in Berlin.")."""
    text = _one_line(text if isinstance(text, str) else "")
    pairs: list[QA] | None = None
    try:
        predicate_text = _one_line(predicate or "")
        value_text = _one_line(value or "")
        if predicate_text and value_text:
            pairs = _from_slot(text, subject or "", predicate_text, value_text, bool(negated))
        elif not predicate_text and _one_statement(text):
            parsed = parse_first_person(text) or _parse_possessive(text)
            if parsed is not None and parsed.object:
                pairs = _from_slot(
                    text, parsed.subject, parsed.predicate, parsed.object, parsed.negated
                )
    except Exception:  # noqa: BLE001 - a template must never cost a fact: the fallback still works
        pairs = None
    if not pairs:
        pairs = _fallback(text)
    return pairs


# ----- facts with a slot -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Person:
    """How a subject is said in a question (by the user) and in an answer (by the assistant)."""

    ask: str  # I / my sister / Anna
    ask_possessive: str  # my / my sister's / Anna's
    tell: str  # you / your sister / Anna
    tell_possessive: str  # your / your sister's / Anna's
    third: bool  # verbs agree with he/she/it


def _from_slot(
    text: str, subject: str, predicate: str, value: str, negated: bool
) -> list[QA] | None:
    subject = canonical_subject(subject)
    predicate = canonical_predicate(predicate)
    if "'s " in predicate:  # "sister's name" of the user → the name of "user's sister"
        owner, _, predicate = predicate.rpartition("'s ")
        subject = f"user's {owner}" if subject == "user" else f"{subject}'s {owner}"
        predicate = canonical_predicate(predicate)
    named = re.match(r"(?:called|named) (.+)$", value, re.IGNORECASE)
    if named and predicate not in TEMPLATES and " " not in predicate:
        # "My sister is called Anna" parses as (user, sister, "called anna"): it names the sister.
        subject = f"user's {predicate}" if subject == "user" else f"{subject}'s {predicate}"
        predicate, value = "name", named.group(1)
    if predicate == "dislikes" and not negated:
        predicate, negated = "likes", True
    template = template_for(predicate)
    if template is None:
        return None
    person = _person(subject, text)
    shown = _shown_value(value, text, predicate)
    if predicate == "birthday" and shown.lower().startswith("on "):
        shown = shown[3:]
    if predicate == "age":
        match = _AGE.match(shown)
        if match is None:
            template = is_template("age")
        else:
            shown = match.group(1)
    if not shown:
        return None
    fields = _fields(person, shown)
    asked = [q.format_map(fields) for q in (template.yes_no if negated else template.questions)]
    # The value as the assistant says it: "I like my cat" → "You like your cat."
    fields["O"] = _second_person(shown, sentence_start=False)
    if negated:
        answer = "No, " + template.negated.format_map(fields)
    else:
        answer = template.answer.format_map(fields)
    return _pairs(asked, _sentence(answer))


def _one_statement(text: str) -> bool:
    """Whether a slot parsed from the text could hold all of it: one short sentence (a longer
    text is taught whole, through the fallback)."""
    body = text.rstrip(".!?… ")
    return len(body) <= 200 and not re.search(r"[.!?;:]\s", body)


_NOT_OWNERS = frozenset(
    """it he she that there what here let who where how this""".split()  # noqa: SIM905 - a list of words reads best as words
)
_POSSESSIVE = re.compile(
    r"^(?P<owner>[Tt]he user|[A-Z][\w.-]*(?: [A-Z][\w.-]*)?)['’]s (?P<attr>[a-z][a-z -]{0,38}?)"
    r" (?:is|was)(?P<neg>n['’]t| not)? (?P<obj>.+?)[.!]?$"
)


def _parse_possessive(text: str) -> Slot | None:
    """The slot of "Anna's birthday is on May 3" or "The user's email is …" (third person)."""
    match = _POSSESSIVE.match(text)
    if match is None:
        return None
    owner = match.group("owner")
    if owner.lower() in _NOT_OWNERS:  # "It's …", "That's …": contractions, not possessives
        return None
    subject = "user" if owner.lower() == "the user" else owner
    return Slot(
        canonical_subject(subject),
        canonical_predicate(match.group("attr")),
        match.group("obj").strip(),
        negated=bool(match.group("neg")),
    )


def _person(subject: str, text: str) -> _Person:
    if subject == "user":
        return _Person("I", "my", "you", "your", third=False)
    if subject.startswith("user's "):
        rest = subject[len("user's ") :]
        return _Person(f"my {rest}", f"my {rest}'s", f"your {rest}", f"your {rest}'s", True)
    name = _shown_name(subject, text)
    return _Person(name, _possessive(name), name, _possessive(name), third=True)


def _possessive(name: str) -> str:
    return name + "'" if name.endswith("'s") else name + "'s"


def _shown_name(subject: str, text: str) -> str:
    """The subject as the statement writes it ("anna" → "Anna"), else with capitals."""
    found = _find(subject, text)
    if found and found != found.lower():
        return found
    owner, sep, rest = subject.partition("'s ")
    if sep:  # "anna's brother" → "Anna's brother"
        return f"{_shown_name(owner, text)}'s {rest}"
    return _capitalised(subject, article_means_common_noun=True)


def _shown_value(value: str, text: str, predicate: str) -> str:
    """The value as the statement writes it, with its article ("a nurse", "the beach")."""
    shown = _find(value, text, with_article=True) or value
    if predicate == "works as" and shown == value and value.split(" ")[0] not in ARTICLES:
        # "nurse" → "a nurse" ("u" often sounds like "you": "a university lecturer").
        return ("an " if value[:1] in "aeioAEIO" else "a ") + value
    if predicate in PROPER_VALUES and shown == shown.lower():  # "i live in berlin"
        # An employer with an article is a place, not a name: "the museum", "a bakery".
        return _capitalised(shown, article_means_common_noun=predicate == "works at")
    return shown


def _find(needle: str, text: str, with_article: bool = False) -> str | None:
    if not needle or not text:
        return None
    article = r"(?:(?:the|an?)\s+)?" if with_article else ""
    pattern = rf"(?<!\w){article}{re.escape(needle)}(?!\w)"
    match = re.search(pattern, text, re.IGNORECASE)
    return match.group(0) if match else None


def _capitalised(words: str, article_means_common_noun: bool) -> str:
    """Capitals for a name ("new york" → "New York", "the hague" → "the Hague"); a subject with
    an article ("the neighbour") is a common noun and stays as it is."""
    parts = words.split(" ")
    if parts[0] in ARTICLES and article_means_common_noun:
        return words
    out = []
    for index, word in enumerate(parts):
        lower = (index > 0 and word in LOWER_WORDS) or (index == 0 and word in ARTICLES)
        out.append(word if lower or not word else word[0].upper() + word[1:])
    return " ".join(out)


def _fields(person: _Person, value: str) -> dict[str, str]:
    do = "does" if person.third else "do"
    be_asked = "is" if person.third else "am"
    fields = {
        "S": person.ask,
        "Sp": person.ask_possessive,
        "A": person.tell,
        "Ap": person.tell_possessive,
        "do": do,
        "Do": do.capitalize(),
        "be": be_asked,
        "Be": be_asked.capitalize(),
        "are": "is" if person.third else "are",
        "O": value,
    }
    for verb in VERBS:
        fields[verb] = third_person(verb) if person.third else verb
    return fields


# ----- facts without a slot ----------------------------------------------------------------------

_TOKEN = re.compile(r"[\w'’]+")
_ABOUT_STOP = frozenset(
    """a an the i i'm i've i'll i'd me my mine myself you your yours we our us is are was were be
    been being am to of in on at for and or but that this these those it its with as by from
    user user's do does did not don't doesn't have has had very really just also so than then
    there here what which who whom when where how about into onto will would can could should
    shall might must went""".split()  # noqa: SIM905 - a list of words reads best as words
)
_ADVERBS = frozenset(
    """always never often usually sometimes also still now currently recently no longer already
    just mostly generally really only actually""".split()  # noqa: SIM905 - a list of words reads best as words
)
_CLAUSE_WORDS = frozenset({"that", "and", "but", "because", "when", "so", "if", "while"})
_SIMPLE = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself"}
_CONTRACTIONS = {"i'm": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd"}
_AGREE = {
    "is": "are",
    "was": "were",
    "has": "have",
    "does": "do",
    "isn't": "aren't",
    "wasn't": "weren't",
    "hasn't": "haven't",
    "doesn't": "don't",
}


def _fallback(text: str) -> list[QA]:
    about = _about(text)
    questions = [
        f"What do you remember about {about}?",
        f"What did I tell you about {about}?",
        f"Do you remember anything about {about}?",
    ]
    answer = _sentence(second_person(text)) if text else "Nothing."
    return _pairs(questions, answer)


def _about(text: str) -> str:
    """A few of the statement's content words, in its order ("my sister Anna"); "me" if none."""
    words: list[str] = []
    seen: set[str] = set()
    previous = ""
    for match in _TOKEN.finditer(text):  # stops early: a text may be long
        token, before = match.group(0), previous
        key = previous = token.lower().replace("’", "'")
        if key in _ABOUT_STOP or key in _ADVERBS or key in seen:
            continue
        if not words and before in ("my", "user's"):
            words.append("my")
        seen.add(key)
        words.append(token)
        if len(words) >= 4:
            break
    phrase = " ".join(words) if words else "me"
    room = MAX_QUESTION - len("Do you remember anything about ?")
    if len(phrase) > room:
        phrase = phrase[:room].rstrip() or "me"
    return phrase


def second_person(text: str) -> str:
    """The user's statement as the assistant says it back: "I'm allergic to my cat" → "You're
    allergic to your cat"; "The user lives in Lisbon" → "You live in Lisbon". Keeps the rest."""
    return _second_person(text, sentence_start=True)


def _second_person(text: str, sentence_start: bool) -> str:
    parts = re.split(r"([\w'’]+)", text)  # odd indexes are words, even ones what lies between
    words = parts[1::2]
    keys = [w.lower().replace("’", "'") for w in words]
    out = list(parts)
    skip: set[int] = set()
    for i, key in enumerate(keys):
        if i in skip:
            continue
        word = words[i]
        position = 2 * i + 1
        starts = _sentence_start(parts, position, sentence_start)
        new: str | None = None
        if key in _CONTRACTIONS:
            new = _CONTRACTIONS[key]
        elif key == "i":
            new = "you"
            if i + 1 < len(keys) and keys[i + 1] in ("am", "was"):
                out[position + 2] = _like(words[i + 1], "are" if keys[i + 1] == "am" else "were")
                skip.add(i + 1)
        elif key in ("am", "was") and i + 1 < len(keys) and keys[i + 1] == "i":
            new = "are" if key == "am" else "were"  # "am I" → "are you"
        elif key in _SIMPLE:
            new = _SIMPLE[key]
        elif key == "the" and i + 1 < len(keys) and keys[i + 1] in ("user", "user's"):
            new = "your" if keys[i + 1] == "user's" else "you"
            out[position + 1] = ""  # drop "the " and keep "user" → "you"
            out[position + 2] = ""
            skip.add(i + 1)
            if keys[i + 1] == "user" and (starts or (i > 0 and keys[i - 1] in _CLAUSE_WORDS)):
                _agree(words, keys, out, i + 2, skip)
        if new is None:
            continue
        if len(word) > 1 and word.isupper():  # MY CAR → YOUR CAR
            new = new.upper()
        elif starts:
            new = new[0].upper() + new[1:]
        elif key != "i" and key not in _CONTRACTIONS:  # "I" is upper case anywhere
            new = _like(word, new)
        out[position] = new
    return "".join(out)


def _agree(words: list[str], keys: list[str], out: list[str], start: int, skip: set[int]) -> None:
    """The verb after "the user" agrees with "you" ("the user always drinks" → "you always
    drink"); adverbs before it are skipped."""
    i = start
    while i < len(keys) and i < start + 3 and (keys[i] in _ADVERBS or keys[i].endswith("ly")):
        i += 1
    if i >= len(keys):
        return
    key = keys[i]
    if key in _AGREE:
        new = _AGREE[key]
    elif key.isalpha() and key.isascii() and len(key) > 3 and key.endswith("s"):
        if key.endswith("ss"):
            return
        if key.endswith("ies"):
            new = key[:-3] + "y"
        elif key.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
            new = key[:-2]
        else:
            new = key[:-1]
    else:
        return
    out[2 * i + 1] = _like(words[i], new)
    skip.add(i)


def _sentence_start(parts: list[str], position: int, text_starts_one: bool) -> bool:
    """Whether the word at `position` starts a sentence: only what lies between it and the word
    before it counts (linear in the text's length)."""
    before = parts[position - 1].rstrip(" \t\"'“‘(")
    if position == 1:
        return (text_starts_one and not before) or before.endswith((".", "!", "?", "…", ":"))
    return before.endswith((".", "!", "?", "…", ":"))


def _like(original: str, new: str) -> str:
    """`new` in the case of `original` (MY → YOUR, My → Your)."""
    if len(original) > 1 and original.isupper():
        return new.upper()
    if original[:1].isupper():
        return new[0].upper() + new[1:]
    return new


# ----- shared ------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _sentence(text: str) -> str:
    """A capital at the start (when the first word is all lower case) and a final period."""
    text = _one_line(text)
    first = text.split(" ", 1)[0]
    if first and first.islower() and first[0].isalpha():
        text = first[0].upper() + text[1:]
    if not text.endswith((".", "!", "?", "…")):
        text = text.rstrip(",;:-–— ") + "."
    return text if text.strip(".") else "Nothing."


def _cap(question: str) -> str:
    question = _one_line(question)
    if len(question) <= MAX_QUESTION:
        return question
    cut = question[: MAX_QUESTION - 2]
    space = cut.rfind(" ")
    if space > MAX_QUESTION // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…?"


def _pairs(questions: list[str], answer: str) -> list[QA]:
    """Distinct, capped questions, canonical first, with one answer."""
    seen: list[str] = []
    for question in questions:
        capped = _cap(question)
        if capped and capped not in seen:
            seen.append(capped)
    if len(seen) < 2:
        extra = _cap(f"Tell me: {seen[0]}") if seen else "What do you remember about me?"
        seen.append(extra)
    return [QA(question, answer) for question in seen[:4]]
