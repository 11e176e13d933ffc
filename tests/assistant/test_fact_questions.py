"""Consolidation's training pairs: question/answer templates per predicate, the second-person
fallback, robustness on any text, and the shipped probe and replay sets."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.memory.fact_questions import MAX_QUESTION, QA, questions_for, second_person
from assistant.resources import read_text
from tests.conftest import fuzz_examples


def canonical(*args: object, **kwargs: object) -> QA:
    return questions_for(*args, **kwargs)[0]  # type: ignore[arg-type]


def assert_well_formed(pairs: list[QA]) -> None:
    assert 2 <= len(pairs) <= 4
    questions = [pair.question for pair in pairs]
    assert len(set(questions)) == len(questions)
    assert len({pair.answer for pair in pairs}) == 1  # paraphrases share the canonical answer
    for pair in pairs:
        assert pair.question.strip() and pair.answer.strip()
        assert len(pair.question) <= MAX_QUESTION
        assert pair.answer.rstrip()[-1] in ".!?…"


# ----- templates from slot columns -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "slot", "question", "answer"),
    [
        (
            "The user lives in Berlin.",
            ("user", "lives in", "berlin"),
            "Where do I live?",
            "You live in Berlin.",
        ),
        (
            "Anna lives in Berlin.",
            ("anna", "lives in", "berlin"),
            "Where does Anna live?",
            "Anna lives in Berlin.",
        ),
        (
            "The user works at Siemens.",
            ("user", "works for", "siemens"),
            "Where do I work?",
            "You work at Siemens.",
        ),
        (
            "The user works as a nurse.",
            ("user", "occupation", "nurse"),
            "What do I do for a living?",
            "You work as a nurse.",
        ),
        (
            "Anna's birthday is on May 3.",
            ("anna", "birthday", "may 3"),
            "When is Anna's birthday?",
            "Anna's birthday is on May 3.",
        ),
        (
            "The user's email is bob@example.com.",
            ("user", "email address", "bob@example.com"),
            "What is my email address?",
            "Your email address is bob@example.com.",
        ),
        (
            "The user is 42 years old.",
            ("user", "age", "42"),
            "How old am I?",
            "You are 42 years old.",
        ),
        (
            "The user's brother is called Max.",
            ("user", "brother's name", "max"),
            "What is my brother's name?",
            "Your brother's name is Max.",
        ),
        (
            "Tom's wife is Sara.",
            ("tom", "wife", "sara"),
            "Who is Tom's partner?",
            "Tom's partner is Sara.",
        ),
        (
            "Anna plays tennis.",
            ("anna", "plays", "tennis"),
            "What does Anna play?",
            "Anna plays tennis.",
        ),
        (
            "The user likes coffee.",
            ("user", "likes", "coffee"),
            "Do I like coffee?",
            "Yes, you like coffee.",
        ),
        (
            "The user's favourite colour is green.",
            ("user", "favorite colour", "green"),
            "What is my favourite color?",
            "Your favourite color is green.",
        ),
    ],
)
def test_templates_per_predicate_and_subject(
    text: str, slot: tuple[str, str, str], question: str, answer: str
) -> None:
    pairs = questions_for(text, *slot)
    assert pairs[0] == QA(question, answer)
    assert_well_formed(pairs)


@pytest.mark.parametrize(
    ("slot", "question", "answer"),
    [
        (("user", "likes", "coffee"), "Do I like coffee?", "No, you do not like coffee."),
        (
            ("anna", "lives in", "paris"),
            "Does Anna live in Paris?",
            "No, Anna does not live in Paris.",
        ),
        (
            ("user", "allergic to", "cats"),
            "Am I allergic to cats?",
            "No, you are not allergic to cats.",
        ),
        (("user", "name", "bob"), "Is my name Bob?", "No, your name is not Bob."),
    ],
)
def test_negated_facts_are_asked_yes_no_and_answered_no(
    slot: tuple[str, str, str], question: str, answer: str
) -> None:
    pairs = questions_for("(statement)", *slot, negated=True)
    assert pairs[0] == QA(question, answer)
    assert_well_formed(pairs)


def test_a_dislike_is_a_negated_like() -> None:
    assert canonical("The user hates olives.", "user", "hates", "olives") == QA(
        "Do I like olives?", "No, you do not like olives."
    )


def test_values_keep_the_statements_spelling_and_article() -> None:
    assert canonical("I work as an Engineer", "user", "works as", "engineer").answer == (
        "You work as an Engineer."
    )
    assert canonical("I live in the Netherlands", "user", "lives in", "netherlands").answer == (
        "You live in the Netherlands."
    )
    # Not in the text and lower case: a place gets its capitals.
    assert canonical("", "user", "lives in", "new york").answer == "You live in New York."
    assert canonical("", "user", "birthday", "may 3").answer == "Your birthday is on May 3."
    assert canonical("", "anna", "works as", "engineer").answer == "Anna works as an engineer."


# ----- slots parsed from plain first-person text ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "question", "answer"),
    [
        ("I live in Berlin", "Where do I live?", "You live in Berlin."),
        ("i live in berlin", "Where do I live?", "You live in Berlin."),
        ("My sister is called Anna", "What is my sister's name?", "Your sister's name is Anna."),
        ("My sister's name is Ana.", "What is my sister's name?", "Your sister's name is Ana."),
        (
            "I am allergic to peanuts",
            "Am I allergic to peanuts?",
            "Yes, you are allergic to peanuts.",
        ),
        ("Anna's birthday is on May 3", "When is Anna's birthday?", "Anna's birthday is on May 3."),
        ("I don't like coffee", "Do I like coffee?", "No, you do not like coffee."),
        ("I'm 30 years old", "How old am I?", "You are 30 years old."),
        ("I work as a teacher", "What do I do for a living?", "You work as a teacher."),
        ("I am vegetarian", "What diet do I follow?", "You are vegetarian."),
        ("I like my cat", "Do I like my cat?", "Yes, you like your cat."),
    ],
)
def test_plain_statements_get_a_slot_template(text: str, question: str, answer: str) -> None:
    pairs = questions_for(text)
    assert pairs[0] == QA(question, answer)
    assert_well_formed(pairs)


# ----- the fallback: the statement in the second person --------------------------------------


def test_fallback_asks_about_content_words_and_answers_in_second_person() -> None:
    pairs = questions_for("I have two cats, Tom and Jerry, and I'm proud of myself")
    assert pairs[0] == QA(
        "What do you remember about two cats Tom Jerry?",
        "You have two cats, Tom and Jerry, and you're proud of yourself.",
    )
    assert_well_formed(pairs)


def test_a_longer_text_is_taught_whole() -> None:
    """A slot parsed from the first sentence would lose the rest."""
    assert canonical("I live in Berlin. My cat likes me; I am happy").answer == (
        "You live in Berlin. Your cat likes you; you are happy."
    )


def test_fallback_keeps_my_before_the_first_content_word() -> None:
    assert canonical("my grandmother turned ninety").question == (
        "What do you remember about my grandmother turned ninety?"
    )
    assert canonical("The user's sister is a doctor.") == QA(
        "What do you know about my sister?", "Your sister is a doctor."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I am happy", "You are happy"),
        (
            "Anna and I were at my place, which is mine",
            "Anna and you were at your place, which is yours",
        ),
        ("I'm sure. I was there myself", "You're sure. You were there yourself"),
        ("Anna told me", "Anna told you"),
        ("Anna and I", "Anna and you"),  # "I" is upper case anywhere, "you" is not
        ("MY CAR IS RED", "YOUR CAR IS RED"),
        ("The user always drinks tea", "You always drink tea"),
        ("The user's dog is old and the user has a cat", "Your dog is old and you have a cat"),
        ("The user studies law", "You study law"),
        ("I get up at 7 am", "You get up at 7 am"),  # "am" after a number is the time
    ],
)
def test_second_person(text: str, expected: str) -> None:
    assert second_person(text) == expected


def test_fallback_answers_are_sentences() -> None:
    assert canonical("i met Anna at the lake").answer == "You met Anna at the lake."
    assert canonical("I won the race!").answer == "You won the race!"
    assert canonical("My flight leaves at 9;").answer == "Your flight leaves at 9."


def test_empty_and_wordless_text_still_give_pairs() -> None:
    for text in ["", "   \n\t", "!!!", "…", "I"]:
        assert_well_formed(questions_for(text))
    assert canonical("").question == "What do you remember about me?"


def test_huge_text_caps_the_question_not_the_answer() -> None:
    text = "I like " + " ".join(f"word{i}" for i in range(20_000))
    pairs = questions_for(text, None, None, None)
    assert_well_formed(pairs)
    assert len(pairs[0].answer) > len(text)  # "you" is longer than "I"; nothing is cut
    long_value = "x" * 5_000
    pairs = questions_for("", "user", "likes", long_value)
    assert_well_formed(pairs)
    assert long_value in pairs[0].answer


def test_deterministic() -> None:
    texts = ["I live in Berlin", "Something about my weekend in Rome with Anna", "", "ß ☃ 漢字"]
    for text in texts:
        assert questions_for(text) == questions_for(text)
    assert questions_for("x", "anna", "plays", "chess", True) == questions_for(
        "x", "anna", "plays", "chess", True
    )


def test_a_slot_with_an_unusable_predicate_falls_back_to_the_text() -> None:
    pairs = questions_for("I collect stamps from Peru", "user", "is", "collector")
    assert pairs[0].answer == "You collect stamps from Peru."
    pairs = questions_for("I collect stamps", "user", "{weird}", "stamps")
    assert pairs[0].answer == "You collect stamps."


_maybe_text = st.one_of(st.none(), st.text(max_size=200))


@settings(max_examples=fuzz_examples(300))
@given(
    text=st.text(max_size=2_000),
    subject=_maybe_text,
    predicate=st.one_of(
        _maybe_text, st.sampled_from(["lives in", "likes", "name", "plays", "age"])
    ),
    value=_maybe_text,
    negated=st.booleans(),
)
def test_never_raises_and_always_well_formed(
    text: str, subject: str | None, predicate: str | None, value: str | None, negated: bool
) -> None:
    pairs = questions_for(text, subject, predicate, value, negated)
    assert_well_formed(pairs)
    assert pairs == questions_for(text, subject, predicate, value, negated)


@settings(max_examples=fuzz_examples(200))
@given(st.text(alphabet=st.sampled_from("Ii'’m my am was me the user's .,!? \n"), max_size=80))
def test_pronoun_soup_never_raises(text: str) -> None:
    assert_well_formed(questions_for(text))


# ----- shipped resources ---------------------------------------------------------------------


def _probes() -> list[dict[str, str]]:
    data = json.loads(read_text("consolidation", "probes.json"))
    assert data["version"] == 1
    return data["probes"]


def _replay() -> list[str]:
    data = json.loads(read_text("consolidation", "replay.json"))
    assert data["version"] == 1
    return data["prompts"]


def test_probe_set_shape() -> None:
    probes = _probes()
    kinds = [probe["kind"] for probe in probes]
    assert set(kinds) == {"general", "refusal"}
    assert kinds.count("general") >= 35 and kinds.count("refusal") >= 12
    for probe in probes:
        assert set(probe) == {"question", "answer", "kind"}
        assert probe["question"].strip() == probe["question"] and probe["question"]
        assert probe["answer"].strip() == probe["answer"] and probe["answer"]
        assert probe["answer"][-1] in ".!"
    questions = [probe["question"].lower() for probe in probes]
    assert len(set(questions)) == len(questions)
    refusals = {probe["answer"] for probe in probes if probe["kind"] == "refusal"}
    assert all(re.search(r"\b(can't|cannot|won't)\b", answer) for answer in refusals)


def test_replay_set_shape_and_disjoint_from_probes() -> None:
    prompts = _replay()
    assert len(prompts) >= 25
    assert all(isinstance(p, str) and p.strip() == p and p for p in prompts)
    lowered = [p.lower() for p in prompts]
    assert len(set(lowered)) == len(lowered)
    assert not set(lowered) & {probe["question"].lower() for probe in _probes()}


def test_probe_and_replay_sets_hold_no_personal_memory() -> None:
    """Nothing about a particular user: no "my name", no "remember", no e-mail or phone."""
    texts = [p["question"] + " " + p["answer"] for p in _probes()] + _replay()
    for text in texts:
        assert not re.search(r"\b(my name|remember|I live|my (wife|husband|sister))\b", text, re.I)
        assert not re.search(r"@|\+?\d[\d -]{7,}\d", text)
