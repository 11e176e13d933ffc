"""Question templates for facts with a known predicate, for fact_questions (issue 8).

`template_for` picks the questions and answers that teach one predicate ("lives in": "Where do
I live?" → "You live in Berlin."); the word tables beside it say which free predicates start with
a verb, which values are names (capitals) and which words stay lower case in a name.

Pure data and pure functions: no I/O, no randomness, any thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """Questions (the first is canonical) and the answer for a positive fact, and yes/no
    questions with the answer clause for a negated one ("No, " is put before it)."""

    questions: tuple[str, ...]
    answer: str
    yes_no: tuple[str, ...]
    negated: str


_RELATIONS = frozenset(
    """sister brother mother father mom mum dad parent parents son daughter child children kid kids
    wife husband partner girlfriend boyfriend friend friends boss colleague coworker neighbour
    neighbor aunt uncle cousin niece nephew grandmother grandfather grandma grandpa dog cat pet
    roommate flatmate teacher doctor""".split()  # noqa: SIM905 - a list of words reads best as words
)


# Placeholders. In questions: {S} the subject as the user says it (I / my sister / Anna), {Sp}
# its possessive (my / my sister's / Anna's), {do}/{Do} do or does, {be}/{Be} am or is. In
# answers: {A} the subject as the assistant says it (you / your sister / Anna), {Ap} its
# possessive, {are} are or is, {do}, and verbs agreeing with it ({live}: live or lives).
# {O} is the value (with the article the statement gave it).
def is_template(noun: str) -> Template:
    """An attribute: "What is my <noun>?" → "Your <noun> is X."; a person or pet is described
    ("What do you know about my sister?" → "Your sister is a doctor.")."""
    if noun.split()[-1] in _RELATIONS:
        questions = (f"What do you know about {{Sp}} {noun}?", f"Tell me about {{Sp}} {noun}.")
    else:
        questions = (f"What is {{Sp}} {noun}?", f"Do you know {{Sp}} {noun}?")
    return Template(
        questions=questions,
        answer=f"{{Ap}} {noun} is {{O}}.",
        yes_no=(f"Is {{Sp}} {noun} {{O}}?", f"Is it true that {{Sp}} {noun} is {{O}}?"),
        negated=f"{{Ap}} {noun} is not {{O}}.",
    )


TEMPLATES: dict[str, Template] = {
    "lives in": Template(
        ("Where {do} {S} live?", "Which city {do} {S} live in?", "Where is {Sp} home?"),
        "{A} {live} in {O}.",
        ("{Do} {S} live in {O}?", "{Be} {S} living in {O}?"),
        "{A} {do} not live in {O}.",
    ),
    "works at": Template(
        ("Where {do} {S} work?", "Which company {do} {S} work for?", "Who is {Sp} employer?"),
        "{A} {work} at {O}.",
        ("{Do} {S} work at {O}?", "Is {O} {Sp} employer?"),
        "{A} {do} not work at {O}.",
    ),
    "works as": Template(
        ("What {do} {S} do for a living?", "What is {Sp} job?", "What {do} {S} work as?"),
        "{A} {work} as {O}.",
        ("{Do} {S} work as {O}?", "{Be} {S} {O} by profession?"),
        "{A} {do} not work as {O}.",
    ),
    "name": Template(
        ("What is {Sp} name?", "What {be} {S} called?"),
        "{Ap} name is {O}.",
        ("Is {Sp} name {O}?", "{Be} {S} called {O}?"),
        "{Ap} name is not {O}.",
    ),
    "age": Template(
        ("How old {be} {S}?", "What is {Sp} age?"),
        "{A} {are} {O} years old.",
        ("{Be} {S} {O} years old?", "Is {Sp} age {O}?"),
        "{A} {are} not {O} years old.",
    ),
    "birthday": Template(
        ("When is {Sp} birthday?", "What date is {Sp} birthday?", "When was {S} born?"),
        "{Ap} birthday is on {O}.",
        ("Is {Sp} birthday on {O}?", "Was {S} born on {O}?"),
        "{Ap} birthday is not on {O}.",
    ),
    "email": Template(
        ("What is {Sp} email address?", "Which email address {do} {S} use?"),
        "{Ap} email address is {O}.",
        ("Is {Sp} email address {O}?", "{Do} {S} use the email address {O}?"),
        "{Ap} email address is not {O}.",
    ),
    "phone": Template(
        ("What is {Sp} phone number?", "Which phone number {do} {S} have?"),
        "{Ap} phone number is {O}.",
        ("Is {Sp} phone number {O}?", "{Do} {S} have the phone number {O}?"),
        "{Ap} phone number is not {O}.",
    ),
    "address": Template(
        ("What is {Sp} address?", "What is {Sp} postal address?"),
        "{Ap} address is {O}.",
        ("Is {Sp} address {O}?", "{Do} {S} live at {O}?"),
        "{Ap} address is not {O}.",
    ),
    "partner": Template(
        ("Who is {Sp} partner?", "Who {be} {S} in a relationship with?"),
        "{Ap} partner is {O}.",
        ("Is {O} {Sp} partner?", "{Be} {S} in a relationship with {O}?"),
        "{Ap} partner is not {O}.",
    ),
    "married to": Template(
        ("Who {be} {S} married to?", "Who is {Sp} spouse?"),
        "{A} {are} married to {O}.",
        ("{Be} {S} married to {O}?", "Is {O} {Sp} spouse?"),
        "{A} {are} not married to {O}.",
    ),
    "nationality": Template(
        ("What is {Sp} nationality?", "What nationality {be} {S}?"),
        "{Ap} nationality is {O}.",
        ("Is {Sp} nationality {O}?", "{Be} {S} {O}?"),
        "{Ap} nationality is not {O}.",
    ),
    "timezone": Template(
        ("What time zone {be} {S} in?", "What is {Sp} time zone?"),
        "{Ap} time zone is {O}.",
        ("Is {Sp} time zone {O}?", "{Be} {S} in the {O} time zone?"),
        "{Ap} time zone is not {O}.",
    ),
    "studies at": Template(
        ("Where {do} {S} study?", "Which school {do} {S} go to?"),
        "{A} {study} at {O}.",
        ("{Do} {S} study at {O}?", "{Be} {S} a student at {O}?"),
        "{A} {do} not study at {O}.",
    ),
    "hometown": Template(
        ("What is {Sp} hometown?", "Where {be} {S} originally from?", "Where did {S} grow up?"),
        "{Ap} hometown is {O}.",
        ("Is {Sp} hometown {O}?", "Did {S} grow up in {O}?"),
        "{Ap} hometown is not {O}.",
    ),
    # Preferences hold many values, so their canonical question names the value (yes/no).
    "likes": Template(
        ("{Do} {S} like {O}?", "{Be} {S} fond of {O}?", "{Do} {S} enjoy {O}?"),
        "Yes, {A} {like} {O}.",
        ("{Do} {S} like {O}?", "{Be} {S} fond of {O}?", "{Do} {S} enjoy {O}?"),
        "{A} {do} not like {O}.",
    ),
    # A negated dislike; a plain one is asked as "likes", negated.
    "dislikes": Template(
        ("{Do} {S} dislike {O}?", "{Do} {S} hate {O}?"),
        "Yes, {A} {dislike} {O}.",
        ("{Do} {S} dislike {O}?", "{Do} {S} hate {O}?"),
        "{A} {do} not dislike {O}.",
    ),
    "allergic to": Template(
        ("{Be} {S} allergic to {O}?", "{Do} {S} have an allergy to {O}?"),
        "Yes, {A} {are} allergic to {O}.",
        ("{Be} {S} allergic to {O}?", "{Do} {S} have an allergy to {O}?"),
        "{A} {are} not allergic to {O}.",
    ),
    "diet": Template(
        ("What diet {do} {S} follow?", "What is {Sp} diet?"),
        "{A} {are} {O}.",
        ("{Be} {S} {O}?", "{Do} {S} follow a {O} diet?"),
        "{A} {are} not {O}.",
    ),
}

# Verbs a free predicate may start with (as the extractor writes them: "plays", "has a"), by
# their base form; such a predicate is asked as "What do I play?" → "You play tennis.".
VERBS = frozenset(
    """have own play drive speak use want need prefer know teach eat drink read watch visit go run
    write collect support follow attend practise practice learn wear take keep volunteer cook
    ride sing grow build study live work like dislike""".split()  # noqa: SIM905 - a list of words reads best as words
)
_THIRD_PERSON = {"has": "have", "does": "do", "goes": "go", "is": "be"}
# Nothing to ask about: the statement itself says it better.
_VAGUE_PREDICATES = {"", "is", "are", "was", "be", "am", "has", "have", "does", "do", "fact"}
# Names of places and people get capitals when the statement does not show how they are written.
PROPER_VALUES = {
    "lives in",
    "works at",
    "studies at",
    "hometown",
    "nationality",
    "name",
    "partner",
    "married to",
    "birthday",  # "may 3" → "May 3"
}
ARTICLES = {"the", "a", "an", "his", "her", "their", "our"}
LOWER_WORDS = {"of", "the", "and", "de", "da", "del", "la", "le", "van", "von", "der", "am", "im"}
_PREDICATE_CHARS = re.compile(r"^[a-z][a-z' -]{0,39}$")


def template_for(predicate: str) -> Template | None:
    """The template for a canonical predicate: a known one, a favourite, a verb phrase ("plays"),
    or an attribute ("car"); None when the statement says it better than a question would."""
    if predicate in TEMPLATES:
        return TEMPLATES[predicate]
    if predicate in _VAGUE_PREDICATES or not _PREDICATE_CHARS.match(predicate):
        return None
    words = predicate.split()
    if words[0] == "favourite" and len(words) > 1:
        thing = " ".join(words[1:])
        return Template(
            (f"What is {{Sp}} favourite {thing}?", f"Which {thing} {{do}} {{S}} like best?"),
            f"{{Ap}} favourite {thing} is {{O}}.",
            (
                f"Is {{Sp}} favourite {thing} {{O}}?",
                f"Is it true that {{Sp}} favourite {thing} is {{O}}?",
            ),
            f"{{Ap}} favourite {thing} is not {{O}}.",
        )
    base = _base_form(words[0])
    if base is not None:
        rest = " ".join(words[1:])
        phrase = f"{base} {rest}".strip()
        told = f"{{{base}}} {rest}".strip()  # "{play} with" → "play with" / "plays with"
        return Template(
            (f"What {{do}} {{S}} {phrase}?", f"{{Do}} {{S}} {phrase} {{O}}?"),
            f"{{A}} {told} {{O}}.",
            (f"{{Do}} {{S}} {phrase} {{O}}?", f"{{Do}} {{S}} really {phrase} {{O}}?"),
            f"{{A}} {{do}} not {phrase} {{O}}.",
        )
    if len(words) > 4:
        return None
    return is_template(predicate)


def _base_form(word: str) -> str | None:
    if word in VERBS:
        return word
    if word in _THIRD_PERSON:
        base = _THIRD_PERSON[word]
        return base if base in VERBS else None
    for ending, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(ending) and word[: -len(ending)] + replacement in VERBS:
            return word[: -len(ending)] + replacement
    return None


def third_person(verb: str) -> str:
    """A base-form verb as it agrees with he/she/it ("live" → "lives", "study" → "studies")."""
    if verb == "have":
        return "has"
    if verb in ("do", "go"):
        return verb + "es"
    if verb.endswith("y") and len(verb) > 1 and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    return verb + "s"
