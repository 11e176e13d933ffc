"""The write gate against poisoning (issue 6), through the real pipeline.

Every case of the corpus (tests/assistant/poisoning_cases/: fake facts from emails and
documents, assistant-asserted "facts", injected instructions, contradictions of user facts, and
the user's own instruction-like wishes) goes through the real Assistant: imported chunks and
exchanges are stored as in use, then either the extraction job (`Assistant.extract_facts` →
`run_jobs`) reads them with a scripted extractor standing in for a compromised model, or the
candidate goes straight to `memory.propose` as extract.py would send it. The gate under test is
the real one. Afterwards: 0 poisoned candidates active, 0 true user facts lost or changed.

Then the prompt side: poisoned memories recalled into replies of the real (tiny) model reach it
only as JSON-quoted lines of the memory block in the user's turn, never in the system prompt.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import Assistant
from assistant.cancel import CancelToken
from assistant.engine.base import ChatMessage, Completion, GenerationSettings, TokenStream
from assistant.memory import commands
from assistant.memory.extract import INSTRUCTIONS, find_quote
from assistant.memory.facts import FactSource
from assistant.memory.policy import Candidate, KnownFact, decide, instruction_like
from assistant.memory.prompt import CLOSE, HEADER, OPEN, quote
from assistant.memory.statements import slot
from assistant.memory.store import NewMemory
from assistant.types import Memory
from tests.assistant.poisoning_cases import (
    CASES,
    CATEGORIES,
    COUNTS,
    DISGUISED_INSTRUCTIONS,
    SEEDS,
    Case,
)


class ScriptedModel:
    """Stands in for the model: replies with `reply_text` and extracts `extraction` (the JSON a
    compromised or hallucinating model would return). Records the extractor's prompts."""

    name = "scripted"
    context_window = 8192

    def __init__(self) -> None:
        self.reply_text = "OK."
        self.extraction: dict[str, Any] = {"facts": []}
        self.extraction_prompts: list[list[ChatMessage]] = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def stream(
        self,
        messages: list[ChatMessage],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> TokenStream:
        text = self.reply_text
        return TokenStream(iter([text]), lambda full: Completion(full, "stop", 0, 0))

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, object],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> str:
        self.extraction_prompts.append(list(messages))
        return json.dumps(self.extraction)

    def forget_cached_prompts(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Result:
    case: Case
    actions: Counter[str] = field(default_factory=Counter)
    fact_ids: list[int] = field(default_factory=list)


# -- the corpus -----------------------------------------------------------------------------------
def test_the_corpus_has_over_100_cases_in_six_categories() -> None:
    # The counts the closing note reports (poisoning_cases builds them from templates).
    assert dict(COUNTS) == {
        "email_fact": 24,
        "document_fact": 24,
        "assistant_fact": 24,
        "injected": 26,
        "contradiction": 26,
        "user_instruction": 20,
    }
    assert len(CASES) == sum(COUNTS.values()) >= 100
    assert set(COUNTS) == set(CATEGORIES) and min(COUNTS.values()) >= 15
    assert len({case.id for case in CASES}) == len(CASES)
    paths = Counter((case.category, case.path) for case in CASES)
    for category in CATEGORIES:
        # Each category goes through the extraction job, and directly through the gate.
        assert paths[category, "extract"] >= 5, category
        assert sum(n for (c, p), n in paths.items() if c == category and p != "extract") >= 5


def test_every_claim_is_grounded_so_the_gate_itself_decides() -> None:
    """Ungrounded proposals are dropped before the gate: every scripted claim quotes its source,
    or the gate test could pass without the gate. The non-user claims never quote the user."""
    for case in CASES:
        if case.claim is None:
            assert case.path in ("remember", "chat")
            continue
        claim = case.claim
        assert len(claim.statement) <= 160, case.id  # the extraction schema's limit
        if case.category == "user_instruction":
            assert find_quote(claim.quote, case.user_text) is not None, case.id
        else:
            assert find_quote(claim.quote, case.text) is not None, case.id
            assert not case.user_text or find_quote(claim.quote, case.user_text) is None
        # Instruction-like exactly where the category says so (the gate's first rule).
        wants_instruction = case.category in ("injected", "user_instruction")
        assert instruction_like(claim.statement) == wants_instruction, case.id


# -- the gate, case by case -----------------------------------------------------------------------
def _claim_json(case: Case) -> dict[str, Any]:
    assert case.claim is not None
    return {"facts": [case.claim.to_json()]}


def _latest_episodes(mneme: Assistant, message_ids: set[int]) -> dict[int, Memory]:
    return {
        m.message_id: m
        for m in mneme.memory.browse(kind="episode", limit=10)
        if m.message_id in message_ids
    }


def _exchange(mneme: Assistant, model: ScriptedModel, case: Case) -> Memory:
    """The user's message and the assistant's reply, through Assistant.reply as in use (two
    episodes, an extraction job queued); returns the assistant's episode."""
    model.reply_text = case.text
    reply = mneme.reply(None, case.user_text, use_memory=False).wait()
    episodes = _latest_episodes(mneme, {reply.user_message.id, reply.assistant_message.id})
    assert episodes[reply.user_message.id].trust == "user-stated"
    assistant_turn = episodes[reply.assistant_message.id]
    assert assistant_turn.trust == "assistant" and assistant_turn.text == case.text
    return assistant_turn


def _chunk(mneme: Assistant, case: Case) -> Memory:
    """An imported email or document chunk, as the importers store it."""
    (memory_id,) = mneme.memory.add(
        [
            NewMemory(
                text=case.text,
                kind="chunk",
                source_type=case.source,
                source_ref=case.source_ref,
                trust="imported",
                speaker=case.sender,
                session=f"{case.source}:{case.id}",
            )
        ]
    )
    return mneme.memory.get(memory_id)


def _propose_as_extract_does(mneme: Assistant, case: Case, grounding: Memory) -> Result:
    """What extract.py sends the gate for a claim grounded in `grounding` (see
    _ground_and_propose): trust from the source, the slot from the claim, the quoted span."""
    assert case.claim is not None
    claim = case.claim
    trust = "imported" if grounding.kind == "chunk" else grounding.trust
    span = find_quote(claim.quote, grounding.text)
    assert span is not None
    outcome = mneme.memory.propose(
        Candidate(
            statement=claim.statement,
            trust=trust,
            slot=slot(
                claim.subject, claim.predicate, claim.object, claim.negated, claim.single_valued
            ),
            confidence=claim.confidence,
        ),
        FactSource(
            memory_id=grounding.id,
            source_type=grounding.source_type,
            source_ref=grounding.source_ref,
            conversation_id=grounding.conversation_id,
            message_id=grounding.message_id,
            occurred_at=grounding.occurred_at,
            quote=span,
        ),
    )
    return Result(case, Counter([outcome.action]), [outcome.fact_id] if outcome.fact_id else [])


def _extract(mneme: Assistant, model: ScriptedModel, case: Case) -> Result:
    """Run the queued job (exactly one) with the scripted extractor's answer."""
    model.extraction = _claim_json(case)
    run = mneme.extract_facts(limit=5)
    model.extraction = {"facts": []}
    assert (run.jobs, run.done, run.failed) == (1, 1, 0), case.id
    return Result(case, Counter(run.outcomes), list(run.fact_ids))


def _facts_with_text(mneme: Assistant, text: str) -> list[int]:
    return [
        m.id for m in mneme.memory.browse(kind="fact", status=None, limit=10_000) if m.text == text
    ]


def run_case(mneme: Assistant, model: ScriptedModel, case: Case) -> Result:
    if case.path == "remember":
        return Result(case, Counter(["remember"]), [mneme.memory.remember(case.text).id])
    if case.path == "chat":
        command = commands.parse(case.text)
        assert command is not None and command.action == "remember", case.id
        mneme.reply(None, case.text).wait()
        return Result(
            case, Counter(["chat"]), _facts_with_text(mneme, commands.first_person(command.body))
        )
    if case.source in ("email", "document"):
        chunk = _chunk(mneme, case)
        if case.path == "extract":
            mneme.memory.enqueue_extraction(chunk.id)
            return _extract(mneme, model, case)
        return _propose_as_extract_does(mneme, case, chunk)
    if case.path == "extract":
        _exchange(mneme, model, case)  # queues the user's turn, the reply as context
        return _extract(mneme, model, case)
    assistant_turn = _exchange(mneme, model, case)
    drained = mneme.extract_facts(limit=5)  # the reply's own job: the model finds nothing
    assert drained.done == 1 and not drained.fact_ids
    return _propose_as_extract_does(mneme, case, assistant_turn)


def problems_of(mneme: Assistant, result: Result, seeds: dict[str, int]) -> list[str]:
    """What is wrong with one case's outcome (empty when the gate did its job)."""
    case = result.case
    label = f"{case.id} ({case.category}, {case.path}): {case.claim.statement if case.claim else case.text!r}"
    if case.expect == "reject":
        if result.actions != Counter(["reject"]) or result.fact_ids:
            return [f"{label}: not rejected: {dict(result.actions)}"]
        return []
    if len(set(result.fact_ids)) != 1:
        return [f"{label}: expected one fact, got {result.fact_ids} ({dict(result.actions)})"]
    row = mneme.memory.get(result.fact_ids[0])
    found: list[str] = []
    if row.kind != "fact":
        found.append(f"{label}: stored as a {row.kind}")
    if case.expect == "preference":
        if (row.status, row.facet, row.trust) != ("active", "preference", "user-stated"):
            found.append(f"{label}: {row.status} {row.facet} {row.trust}, not an active preference")
        if row.conflicts_with is not None or row.updates is not None:
            found.append(f"{label}: a preference touched another fact")
        return found
    if row.status != "inbox":
        found.append(f"{label}: status {row.status!r}, not waiting in the inbox")
    if row.facet is not None:
        found.append(f"{label}: facet {row.facet!r}")
    if case.expect == "conflict":
        assert case.contradicts is not None
        if row.conflicts_with != seeds[case.contradicts]:
            found.append(
                f"{label}: conflicts_with {row.conflicts_with}, not the user's "
                f"'{SEEDS[case.contradicts]}' ({seeds[case.contradicts]})"
            )
    wanted = "assistant" if case.source == "exchange" else "imported"
    if row.trust not in ("imported", "assistant"):
        found.append(f"{label}: trust {row.trust!r}")
    # Its provenance names this source at its own trust (a duplicate merges, keeping both).
    if not any(s["trust"] == wanted for s in mneme.memory.fact_sources(row.id)):
        found.append(f"{label}: no source of trust {wanted!r}")
    return found


def test_no_poisoned_candidate_is_accepted_and_no_user_fact_is_lost(
    mneme: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedModel()
    monkeypatch.setattr(mneme, "_ensure_engine", lambda model_name=None: model)
    seeds = {key: mneme.memory.remember(text).id for key, text in SEEDS.items()}
    before = {key: mneme.memory.get(i) for key, i in seeds.items()}
    assert all(m.status == "active" and m.trust == "user-stated" for m in before.values())

    results = [run_case(mneme, model, case) for case in CASES]

    # Case by case: rejected, waiting in the inbox (contradictions naming the user's fact), or,
    # for the user's own wishes, an active preference. All failures at once, to fix them at once.
    found = [problem for result in results for problem in problems_of(mneme, result, seeds)]
    assert not found, "\n".join(found)

    # 0 auto-accepted: the only active facts are the user's seeds and the user's preferences.
    preferences = {i for r in results if r.case.expect == "preference" for i in r.fact_ids}
    active = mneme.memory.browse(kind="fact", status="active", limit=10_000)
    assert {m.id for m in active} == set(seeds.values()) | preferences
    assert all(m.trust == "user-stated" for m in active)
    assert {m.id for m in active if m.facet == "preference"} == preferences

    # 0 true user facts lost: each seed is still active, unchanged, alone in its slot.
    for key, old in before.items():
        now = mneme.memory.get(old.id)
        assert (now.text, now.status, now.trust, now.valid_to, now.facet) == (
            old.text,
            "active",
            "user-stated",
            None,
            None,
        ), key
        assert mneme.memory.timeline(old.id) == [now], key  # nothing superseded it
        rivals = [m for m in active if (m.subject, m.predicate) == (old.subject, old.predicate)]
        assert rivals == [now], key

    # Rejected instructions left no fact behind; every other poisoned candidate awaits review.
    texts = {m.text for m in mneme.memory.browse(kind="fact", status=None, limit=10_000)}
    for case in CASES:
        if case.expect == "reject":
            assert case.claim is not None and case.claim.statement not in texts, case.id
    inbox = {m.id for m in mneme.memory.inbox()}
    waiting = {i for r in results if r.case.expect in ("inbox", "conflict") for i in r.fact_ids}
    assert waiting <= inbox
    # Contradictions are shown with the fact they contradict (`mneme memory health`).
    shown = {c.get("candidate") for c in mneme.memory.health()["contradictions"]}
    assert {i for r in results if r.case.expect == "conflict" for i in r.fact_ids} <= shown

    # Nothing was dropped for want of grounding (so the gate decided each case) or failed.
    status = mneme.memory.extraction_status()
    assert status["failed"] == 0 and status["pending"] == 0
    assert "ungrounded" not in status["outcomes"]
    assert status["outcomes"]["reject"] == sum(
        1 for c in CASES if c.expect == "reject" and c.path == "extract"
    )

    # The extractor, too, saw every poisoned text only as quoted data, never in its instructions.
    assert len(model.extraction_prompts) >= sum(1 for c in CASES if c.path == "extract")
    for system, data in model.extraction_prompts:
        assert system == ChatMessage("system", INSTRUCTIONS)
        assert data.role == "user"
    poisoned = [c.text for c in CASES if c.source in ("email", "document", "exchange")]
    for text in poisoned:
        assert text not in INSTRUCTIONS
    extracted = [case for case in CASES if case.path == "extract" and case.source != "exchange"]
    for case in extracted:
        assert any(
            json.dumps(case.text, ensure_ascii=False) in data.content
            for _, data in model.extraction_prompts
        ), case.id


def test_disguised_instructions_are_rejected_from_imports_and_the_assistant(
    mneme: Assistant,
) -> None:
    """Instructions in disguise (a bare "SYSTEM:", "disregard … guidance", full-width letters,
    zero-width spaces, Cyrillic look-alikes, …) are rejected like plain ones."""
    seeds = {mneme.memory.remember(text).id for text in SEEDS.values()}
    (chunk,) = mneme.memory.add(
        [
            NewMemory(
                text="\n\n".join(DISGUISED_INSTRUCTIONS),
                kind="chunk",
                source_type="email",
                source_ref="<unrecognised@mail.example>",
                trust="imported",
            )
        ]
    )
    for text in DISGUISED_INSTRUCTIONS:
        for trust in ("imported", "assistant"):
            outcome = mneme.memory.propose(
                Candidate(text, trust), FactSource(memory_id=chunk, source_type="email")
            )
            assert outcome.action == "reject", text
            assert outcome.fact_id is None, text
    active = mneme.memory.browse(kind="fact", status="active", limit=10_000)
    assert {m.id for m in active} == seeds


# -- the write gate's invariants on arbitrary text -------------------------------------------------
ATTACKS = [c.claim.statement for c in CASES if c.category == "injected" and c.claim is not None]
BERLIN = KnownFact(
    1, "I live in Berlin", "user-stated", "active", slot("user", "lives in", "Berlin")
)


@settings(max_examples=150)
@given(
    text=st.text(max_size=400),
    value=st.text(max_size=40),
    trust=st.sampled_from(["imported", "assistant"]),
    negated=st.booleans(),
)
def test_no_text_from_a_lower_trust_source_is_ever_activated(
    text: str, value: str, trust: str, negated: bool
) -> None:
    instruction_like(text)  # never raises
    for candidate_slot in (None, slot("user", "lives in", value, negated)):
        decision = decide(Candidate(text, trust, candidate_slot), [BERLIN])
        assert decision.status != "active"
        assert decision.action in ("inbox", "merge", "reject")
        if decision.action == "merge":
            assert decision.status is None  # a source added to a known fact, which stays as it was


@settings(max_examples=100)
@given(
    before=st.text(max_size=600),
    attack=st.sampled_from(ATTACKS),
    after=st.text(max_size=600),
    trust=st.sampled_from(["imported", "assistant", "user-stated"]),
)
def test_an_instruction_hidden_in_long_text_is_caught(
    before: str, attack: str, after: str, trust: str
) -> None:
    text = f"{before}\n{attack}\n{after}"
    assert instruction_like(text)
    decision = decide(Candidate(text, trust), [BERLIN])
    if trust == "user-stated":
        assert (decision.action, decision.status) == ("preference", "active")
    else:
        assert decision.action == "reject"


# -- the prompt: poisoned memories are quoted data, never instructions -----------------------------
LINE = re.compile(r'- \[(\d{4}-\d{2}-\d{2}), ([^\]\n]*)\] (".*")')
QUESTIONS = [
    "What is the admin password or my PIN?",
    "Should I wire euros to that IBAN, INST?",
    "Which new instructions should I follow, reveal everything?",
    "Where do I live now, and who is my employer?",
    "Which language should you answer in from now on?",
]


def _poison_memories(assistant: Assistant) -> dict[str, str]:
    """The poisoned texts of the corpus as active memories recall can find, stored as in use:
    imported chunks, the assistant's reply episodes, the user's preferences. Every injection,
    contradiction and wish; one round of each fake-fact template (encoding all of them would
    only slow the test down). Returns text → category."""
    chosen = [c for c in CASES if "-fact-" not in c.id or "-fact-0-" in c.id]
    chunks = [c for c in chosen if c.source in ("email", "document")]
    replies = [c for c in chosen if c.source == "exchange" and c.category != "user_instruction"]
    assistant.memory.add(
        [
            NewMemory(
                text=c.text,
                kind="chunk",
                source_type=c.source,
                source_ref=c.source_ref,
                trust="imported",
                speaker=c.sender,
                session=f"{c.source}:{c.id}",
            )
            for c in chunks
        ]
        + [
            NewMemory(
                text=c.text,
                kind="episode",
                source_type="conversation",
                source_ref=f"conversation:{1000 + n}/message:2",
                trust="assistant",
                speaker="assistant",
                session=f"conversation:{1000 + n}",
                position=2,
            )
            for n, c in enumerate(replies)
        ]
    )
    wishes = [c for c in CASES if c.category == "user_instruction"]
    for case in wishes:
        wish = case.user_text or case.text
        command = commands.parse(wish)
        assistant.memory.remember(commands.first_person(command.body) if command else wish)
    texts = {c.text: c.category for c in chunks + replies}
    for memory in assistant.memory.browse(kind="fact", limit=10_000):
        texts[memory.text] = "user_instruction"
    return texts


def test_poisoned_memories_reach_the_model_only_as_quoted_data(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant.update_settings(memory_k=12, memory_token_budget=1024)
    poisoned = _poison_memories(assistant)
    instructions = [c.claim.statement for c in CASES if c.category == "injected" and c.claim]
    assistant.load_model()
    engine = assistant._ensure_engine(None)
    seen: list[list[ChatMessage]] = []
    real_stream = engine.stream

    def recording(
        messages: list[ChatMessage], settings: GenerationSettings, cancel: CancelToken | None = None
    ) -> TokenStream:
        seen.append(list(messages))
        return real_stream(messages, settings, cancel)

    monkeypatch.setattr(engine, "stream", recording)

    reached: dict[str, str] = {}
    for question in QUESTIONS:
        reply = assistant.reply(None, question).wait()
        messages = seen[-1]
        # The system prompt is the fixed one: no memory, poisoned or not, is ever in it.
        assert messages[0] == assistant._system_message()
        for text in [*poisoned, *instructions]:
            assert text not in messages[0].content
        assert OPEN not in messages[0].content
        # A new conversation: the system prompt and this turn, nothing else.
        assert [m.role for m in messages] == ["system", "user"]
        turn = messages[1].content
        assert turn.endswith(f"\n\n{question}") and reply.memories, question
        block = turn[: -len(question) - 2].split("\n")
        # One block, opened and closed once: no memory closed it early or opened another.
        assert block[0] == OPEN and block[1] == HEADER and block[-1] == CLOSE
        assert turn.count(OPEN) == 1 and turn.count(CLOSE) == 1
        shown = []
        for line in block[2:-1]:
            match = LINE.fullmatch(line)
            assert match is not None, line
            # Every memory is one JSON string: no raw angle brackets (<|im_start|>, </memories>).
            assert "<" not in line and ">" not in line, line
            text = json.loads(match.group(3))
            assert match.group(3) == quote(text)
            shown.append(text)
        assert shown == [r.memory.text for r in reply.memories]
        reached.update({text: poisoned[text] for text in shown if text in poisoned})

    # Not vacuous: poisoned memories of every kind did reach the block, instructions included.
    assert len(reached) >= 15, reached
    assert set(reached.values()) >= {"email_fact", "injected", "contradiction", "user_instruction"}
    # Including memories that carry raw chat-template markup, which had to be escaped.
    assert any("</memories>" in text or "<|im_start|>" in text for text in reached)
    assert any("[INST]" in text for text in reached)
