"""Time to first token: a cold first turn against a second turn that reuses the stable prefix.

The stable prefix is the system prompt plus a profile of pinned memories of about
--profile-tokens tokens (realistic facts and preferences, pinned through the front door). Each
repeat, through the real `Assistant.reply` path (figures from `ReplyStats.first_token_s`: from the
engine receiving the messages to the first text piece, rendering and fitting included):

- first: cold. Every cached prompt state is dropped first (`forget_cached_prompts`, as after a
  forget: the KV cache and the saved prefix state), then a new conversation asks question A;
- extraction: the app's background fact extraction runs on the same llama.cpp context
  (`Assistant.extract_facts`), replacing the prefix in the KV cache (skip with --no-extraction);
- second: a new conversation with the same profile asks question B, of the same token length as A,
  so both prompts have the same length and only the prefix's state differs;
- plain second (shown in the table): a third new conversation, question C of the same length,
  with nothing in between (the prefix is still in the KV cache: no restore needed);
- baseline (shown in the table): extraction again, then question B with the saved prefix state
  switched off, as before prefix states were kept: the prompt is evaluated again after the few
  tokens it shares with the extraction prompt.

Recall is off (memory_k 0): recalled memories would change the prompt's length between turns; the
profile is on. Medians over --repeats after one warm-up round.

    python benchmarks/ttft.py                          # the generated tiny model
    python benchmarks/ttft.py --preset small           # a generated ~100 MB model
    python benchmarks/ttft.py --model PATH.gguf        # any GGUF

Last line: {"ttft_first_ms": …, "ttft_second_ms": …, "ttft_ratio": …, …} (second after extraction
unless --no-extraction).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant import Assistant
from assistant.app import PROFILE_TOKEN_CAP
from assistant.engine.base import ChatMessage
from assistant.engine.llamacpp import LlamaCppEngine
from assistant.memory import extract
from assistant.memory.prompt import CLOSE, OPEN, PROFILE_HEADER, line_of, profile_turns
from assistant.testing import write_tiny_model
from assistant.types import ReplyStats

QUESTIONS = [
    "What should I cook for dinner tonight, given what you know about me?",
    "Which city should I visit next spring, given what you know about my plans?",
    "Who could I ask for advice about a new job, given what you know about my friends?",
]
FILLERS = [" a", " .", ".", " ok", " please"]
PEOPLE = ["Alice", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas"]
RELATIONS = ["sister", "brother", "cousin", "colleague", "neighbour", "friend", "manager", "coach"]
CITIES = ["Lisbon", "Porto", "Berlin", "Paris", "Madrid", "Vienna", "Prague", "Oslo", "Dublin"]
JOBS = ["a nurse", "an architect", "a teacher", "a chef", "a pilot", "a lawyer", "a baker"]
PREFERENCES = [
    "I prefer short answers with the main point first.",
    "I prefer metric units and 24-hour times.",
    "I am vegetarian and I do not eat mushrooms.",
    "I live in Lisbon with my partner Sam.",
    "I work as a data engineer at a small logistics company.",
    "I am learning Portuguese and practise every morning.",
    "I am allergic to peanuts.",
    "I prefer trains to planes for trips under six hours.",
]


@dataclass
class Round:
    first: ReplyStats
    second: ReplyStats
    plain: ReplyStats
    unsaved: ReplyStats | None  # after extraction, without the saved prefix state (baseline)


def profile_facts() -> list[str]:
    """Distinct statements: fixed preferences, then people (each a subject of their own)."""
    facts = list(PREFERENCES)
    for index, (person, relation, city, job) in enumerate(
        zip(
            itertools.cycle(PEOPLE),
            itertools.cycle(RELATIONS),
            itertools.cycle(CITIES),
            itertools.cycle(JOBS),
            strict=False,
        )
    ):
        name = f"{person} {chr(65 + index % 26)}{index}"
        facts.append(f"My {relation} {name} works as {job} in {city}.")
        if len(facts) > 2000:
            break
    return facts


def pin_profile(app: Assistant, engine: LlamaCppEngine, tokens: int) -> int:
    """Pin facts until the profile block holds about `tokens` tokens (within the app's profile
    budget); returns the profile block's token count."""
    budget = min(PROFILE_TOKEN_CAP, engine.context_window * 3 // 8)
    if tokens > budget:
        print(
            f"note: the profile budget is {budget} tokens for a {engine.context_window}-token window"
        )
    target = min(tokens, budget)
    used = engine.count_tokens(f"{OPEN}\n{PROFILE_HEADER}\n{CLOSE}")
    for text in profile_facts():
        memory = app.memory.remember(text, pinned=True)
        used += engine.count_tokens(line_of(memory) + "\n")
        if used >= target - 40:  # the next fact would take the block past the target
            break
    turns, fitted = profile_turns(app._pinned_memories(), engine.count_tokens, budget)
    assert len(fitted) == len(app._pinned_memories()), "every pinned memory is in the profile"
    return engine.count_tokens(turns[0].content)


def equal_length(questions: list[str], engine: LlamaCppEngine) -> list[str]:
    """Pad questions with short fillers until each takes as many prompt tokens as the longest."""

    def length(question: str) -> int:
        return len(engine.tokenize_messages([ChatMessage("user", question)]))

    target = max(length(q) for q in questions)
    padded = []
    for question in questions:
        for _ in range(256):
            have = length(question)
            if have >= target:
                break
            fits = [question + f for f in FILLERS if length(question + f) <= target]
            if not fits:
                break
            question = max(fits, key=length)
        padded.append(question)
    return padded


def turn(app: Assistant, question: str) -> ReplyStats:
    reply = app.reply(None, question).wait()
    assert reply.stats.first_token_s is not None, "the reply produced no text"
    return reply.stats


def one_round(
    app: Assistant, engine: LlamaCppEngine, questions: list[str], extraction: bool
) -> Round:
    a, b, c = questions
    engine.forget_cached_prompts()  # cold: nothing cached, as on a fresh engine
    first = turn(app, a)
    if extraction:
        # What the app runs on the model lane after each reply: one queued exchange (the queue
        # grows by one a reply; each call here takes the oldest).
        app.extract_facts(limit=1)
    second = turn(app, b)
    plain = turn(app, c)
    unsaved = None
    if extraction:
        # The baseline: the same second turn with the saved prefix state switched off.
        app.extract_facts(limit=1)
        engine._prefix._enabled = False
        try:
            unsaved = turn(app, b)
        finally:
            engine._prefix._enabled = True
    return Round(first, second, plain, unsaved)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF (default: a generated model)")
    parser.add_argument("--preset", choices=["tiny", "small"], default="tiny")
    parser.add_argument("--profile-tokens", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=8, help="reply length per turn")
    parser.add_argument("--no-extraction", action="store_true", help="nothing between turns")
    args = parser.parse_args()
    extraction = not args.no_extraction

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["MNEME_HOME"] = str(Path(scratch) / "home")
        os.environ["MNEME_DB_KEY"] = secrets.token_hex(32)  # a raw key: no keychain needed
        model = args.model or write_tiny_model(
            Path(scratch) / f"{args.preset}.gguf", preset=args.preset
        )
        with Assistant() as app:
            app.update_settings(
                n_ctx=args.n_ctx,
                max_tokens=args.max_tokens,
                temperature=0.0,
                seed=1,
                memory_k=0,
                fact_extraction=extraction,
                learning_enabled=False,
            )
            if args.model is None:
                # A random model never closes its JSON: it would write MAX_TOKENS tokens three
                # times a job. A real model stops after a few facts.
                extract.MAX_TOKENS = 64
            app.models.add_file(model)
            app.load_model()
            engine = app._engine
            if not isinstance(engine, LlamaCppEngine):
                print(f"{model} did not load as a llama.cpp model", file=sys.stderr)
                return 1
            profile_tokens = pin_profile(app, engine, args.profile_tokens)
            questions = equal_length(QUESTIONS, engine)
            one_round(app, engine, questions, extraction)  # warm-up: pages in weights, code
            rounds = [one_round(app, engine, questions, extraction) for _ in range(args.repeats)]
            prefix_tokens = len(engine._prefix.tokens)
            state_mb = engine._prefix.nbytes / 1e6

    def ms(pick: str) -> float:
        values = [getattr(r, pick).first_token_s for r in rounds]
        return statistics.median(values) * 1000

    size = Path(model).stat().st_size / 1e6 if args.model else None
    print(
        f"model: {args.model or 'generated:' + args.preset}" + (f" ({size:.0f} MB)" if size else "")
    )
    print(
        f"profile: {profile_tokens} tokens; stable prefix {prefix_tokens} tokens, saved state "
        f"{state_mb:.1f} MB; repeats {args.repeats}; extraction between turns: {extraction}"
    )
    print(f"{'turn':<46} {'ttft ms':>9} {'prompt':>7} {'reused':>7}")
    rows = [
        ("first (cold)", "first"),
        ("second (new conversation" + (", after extraction)" if extraction else ")"), "second"),
        ("second, nothing in between", "plain"),
    ]
    if extraction:
        rows.append(("second after extraction, no saved state", "unsaved"))
    for label, pick in rows:
        last = getattr(rounds[-1], pick)
        print(
            f"{label:<46} {ms(pick):>9.2f} {last.prompt_tokens:>7} {last.reused_prompt_tokens:>7}"
        )
    first_ms, second_ms = ms("first"), ms("second")
    ratio = second_ms / first_ms
    print(f"ratio second/first: {ratio:.3f} (goal: at most 0.5)")
    print(
        json.dumps(
            {
                "ttft_first_ms": round(first_ms, 3),
                "ttft_second_ms": round(second_ms, 3),
                "ttft_ratio": round(ratio, 4),
                "ttft_second_plain_ms": round(ms("plain"), 3),
                "ttft_second_unsaved_ms": round(ms("unsaved"), 3) if extraction else None,
                "prompt_tokens": [r.prompt_tokens for r in (rounds[-1].first, rounds[-1].second)],
                "reused_tokens": rounds[-1].second.reused_prompt_tokens,
                "prefix_tokens": prefix_tokens,
                "profile_tokens": profile_tokens,
                "extraction_between": extraction,
                "model": str(args.model or f"generated:{args.preset}"),
                "repeats": args.repeats,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
