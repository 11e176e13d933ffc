"""Consolidating facts into the model's weights: what it learns, what forgetting takes back, what
it costs.

    python benchmarks/consolidate.py                      # 100 facts, the tiny "speaking" model
    python benchmarks/consolidate.py --model PATH.gguf    # any llama-architecture GGUF

N facts about made-up people (`--facts`, default 100; 20 names × 5 attributes with random
values) are stated by the user and pinned, through the front door (`Assistant.memory.propose`,
the path extracted facts take, slots included). Then:

1. the base model's log-likelihood of each fact's answer given its question, read from
   llama.cpp's logits with the adapter switched off;
2. `Assistant.consolidate()`, timed; the adapter is hot-swapped into the chat engine and the
   same log-likelihoods are read again: `loglik_gain` is the mean gain, in nats per answer token;
3. `--forget` facts (default 10: all five facts of two people) are forgotten (`forget_completely`), which deletes the adapter;
   a rebuild runs, and `after_forget_delta` is the mean change of the forgotten facts' answers
   against the base model (0 = back to the base), beside the kept facts' gain after the rebuild.
   The unseen control: 10 facts of the same kinds about two people never mentioned, read the
   same way. What the adapter learns about the user's facts in general (which cities, which
   names come up) moves them too; a forgotten fact should end up like them.

Without `--model`, the model is the tiny test model trained on the phrasing of answers (made
in a child process first, so its training does not count in this process's peak memory; a
random-weight model would gain on any English answer, forgotten ones included). `peak_rss_mb`
is this process's peak resident memory: the chat engine, the training copy and llama.cpp's
checking copy together. The last line is one JSON object:
{"facts", "loglik_gain", "after_forget_delta", "seconds", "peak_rss_mb", …}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from assistant import Assistant
from assistant.engine.base import ChatMessage
from assistant.errors import ConsolidationRefused
from assistant.memory.facts import FactSource
from assistant.memory.policy import Candidate
from assistant.memory.statements import Slot
from assistant.testing.pretrained_model import NAMES, THIRD_PERSON, pairs_for, third_person

# The benchmark's people: 20 names with 5 attributes each make 100 facts; the last two names are
# never stated, and their facts (same templates, random values) are the unseen control.
PEOPLE, STRANGERS = NAMES[:20], NAMES[20:22]


def make_facts(
    count: int, seed: int, people: list[str] = PEOPLE
) -> list[tuple[str, tuple[str, str, str]]]:
    rng = np.random.default_rng(seed)
    predicates = list(THIRD_PERSON)
    facts = []
    for index in range(count):
        name = people[index // len(predicates) % len(people)]
        if index >= len(people) * len(predicates):
            name = f"{name} {chr(ord('A') + index // (len(people) * len(predicates)))}"
        text, slot = third_person(predicates[index % len(predicates)], name, rng)
        assert slot is not None
        facts.append((text, slot))
    return facts


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a llama-architecture GGUF (default: tiny)")
    parser.add_argument("--facts", type=int, default=100)
    parser.add_argument("--forget", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-minutes", type=int, default=30, help="consolidation_max_minutes for this run"
    )
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="mneme-bench-consolidate-")
    os.environ["MNEME_HOME"] = home
    os.environ.setdefault("MNEME_DB_KEY", secrets.token_hex(32))
    model = args.model
    if model is None:
        model = Path(home) / "speaking.gguf"
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "assistant.testing", "speaking-model", str(model)],
            check=True,
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.DEVNULL,
        )
        print(f"made the tiny speaking model in {time.monotonic() - started:.1f} s")

    assistant = Assistant()
    assistant.open()
    assistant.models.add_file(model)
    assistant.update_settings(consolidation_max_minutes=args.max_minutes)
    facts = make_facts(args.facts, args.seed)
    ids = []
    for text, (subject, predicate, value) in facts:
        outcome = assistant.memory.propose(
            Candidate(text, "user-stated", Slot(subject, predicate, value), explicit=True),
            FactSource(),
        )
        assert outcome.fact_id is not None, outcome
        assistant.memory.pin(outcome.fact_id)
        ids.append(outcome.fact_id)
    unseen = make_facts(len(STRANGERS) * len(THIRD_PERSON), args.seed + 1, STRANGERS)
    canonical = [pairs_for((text, slot))[0] for text, slot in facts + unseen]
    stated = len(facts)

    def logliks() -> np.ndarray:
        assistant.load_model()
        engine = assistant._engine
        system = ChatMessage("system", assistant._system_message_text())
        values = []
        for pair in canonical:
            total, count = engine.continuation_logprob(  # type: ignore[union-attr]
                [system, ChatMessage("user", pair.question)], pair.answer
            )
            values.append(total / count)
        return np.array(values)

    assistant.set_adapter_enabled(False)
    base = logliks()
    assistant.set_adapter_enabled(True)

    started = time.monotonic()
    try:
        version = assistant.consolidate()
    except ConsolidationRefused as refusal:
        print(f"refused: {refusal}")
        print(json.dumps({"facts": len(ids), "status": "refused", "reason": str(refusal)}))
        return 1
    seconds = time.monotonic() - started
    print(
        f"first run: {version.status}, {seconds:.1f} s, peak RSS so far {peak_rss_mb():.0f} MB",
        flush=True,
    )
    after = logliks()
    gains = (after - base)[:stated]
    unseen_first = (after - base)[stated:]

    # Everything about the first people (5 facts each): "forget all you know about Anna".
    forgotten = list(range(min(args.forget, len(ids))))
    assistant.memory.forget_completely([ids[i] for i in forgotten])
    off = not assistant.consolidation_status().active
    started = time.monotonic()
    try:
        rebuilt = assistant.consolidate()
    except ConsolidationRefused as refusal:
        print(f"rebuild refused: {refusal}")
        print(
            json.dumps(
                {
                    "facts": version.facts,
                    "loglik_gain": round(float(gains.mean()), 3),
                    "seconds": round(seconds, 1),
                    "peak_rss_mb": round(peak_rss_mb()),
                    "status": version.status,
                    "rebuild": "refused",
                }
            )
        )
        return 1
    rebuild_seconds = time.monotonic() - started
    again = logliks()
    kept = [i for i in range(len(ids)) if i not in set(forgotten)]
    after_forget = again[forgotten] - base[forgotten]
    forgotten_before = after[forgotten] - base[forgotten]
    kept_gain = again[kept] - base[kept]
    unseen_rebuilt = (again - base)[stated:]
    assistant.close()

    rows = [
        ("facts consolidated", f"{version.facts}"),
        ("status / safety probes (nats/token)", f"{version.status} / {version.probe_delta:+.3f}"),
        ("log-likelihood gain (nats/token)", f"{gains.mean():+.3f} (min {gains.min():+.3f})"),
        ("consolidation time", f"{seconds:.1f} s"),
        (f"after forgetting {len(forgotten)}: adapter off", f"{off}"),
        ("rebuild time / status", f"{rebuild_seconds:.1f} s / {rebuilt.status}"),
        ("forgotten facts vs base, before forgetting", f"{forgotten_before.mean():+.3f}"),
        ("forgotten facts vs base, after the rebuild", f"{after_forget.mean():+.3f}"),
        (
            f"unseen control ({len(unseen)} facts never stated)",
            f"{unseen_first.mean():+.3f} / {unseen_rebuilt.mean():+.3f} (first / rebuilt)",
        ),
        ("kept facts' gain after the rebuild", f"{kept_gain.mean():+.3f}"),
        ("peak RSS", f"{peak_rss_mb():.0f} MB"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"model: {model.name}")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(
        json.dumps(
            {
                "facts": version.facts,
                "loglik_gain": round(float(gains.mean()), 3),
                "after_forget_delta": round(float(after_forget.mean()), 3),
                "seconds": round(seconds, 1),
                "peak_rss_mb": round(peak_rss_mb()),
                "status": version.status,
                "probe_delta": round(version.probe_delta or 0.0, 3),
                "forgotten": len(forgotten),
                "kept_gain_after_rebuild": round(float(kept_gain.mean()), 3),
                "forgotten_gain_before": round(float(forgotten_before.mean()), 3),
                "unseen_delta": round(float(unseen_rebuilt.mean()), 3),
                "rebuild_seconds": round(rebuild_seconds, 1),
                "model": model.name,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
