"""`mneme bench locomo`: turn-level evidence recall on LoCoMo conversations.

Each conversation is ingested into a fresh encrypted memory through the same MemoryApi the app uses
(text `Speaker said, "text"` + ` and shared <caption>`, the session date as the memory's time, the
dia_id as its source), then every question is asked against that conversation only. Scoring follows
the dataset README: per question, the fraction of its evidence dia_ids in the top k (no evidence → 1),
averaged over all questions, adversarial included.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from assistant.errors import MnemeError
from assistant.memory.api import MemoryApi
from assistant.memory.encoder import Encoder
from assistant.memory.store import NewMemory
from assistant.secrets import raw_key
from assistant.storage.database import open_database

CATEGORIES = {4: "single-hop", 1: "multi-hop", 2: "temporal", 3: "open-domain", 5: "adversarial"}
KS = (5, 10, 25)
_STAMP = re.compile(
    r"(\d{1,2}):(\d{2})\s*([ap]m)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})", re.IGNORECASE
)

Log = Callable[[str], None]


@dataclass
class Question:
    text: str
    evidence: list[str]
    category: str


def parse_session_time(text: str) -> datetime:
    match = _STAMP.search(text)
    if match is None:
        raise MnemeError(f"Cannot read the session time '{text}'.")
    hour, minute, half, day, month, year = match.groups()
    moment = datetime.strptime(f"{day} {month[:3]} {year}", "%d %b %Y")
    hour_24 = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
    return moment.replace(hour=hour_24, minute=int(minute))


def turns_of(sample: dict[str, Any]) -> list[NewMemory]:
    conversation = sample["conversation"]
    memories = []
    session = 1
    while f"session_{session}" in conversation:
        when = parse_session_time(conversation[f"session_{session}_date_time"])
        for position, turn in enumerate(conversation[f"session_{session}"]):
            text = f'{turn["speaker"]} said, "{turn["text"]}"'
            if turn.get("blip_caption"):
                text += f" and shared {turn['blip_caption']}"
            memories.append(
                NewMemory(
                    text=text,
                    kind="episode",
                    source_type="benchmark",
                    source_ref=turn["dia_id"],
                    trust="user-stated",
                    occurred_at=(when + timedelta(seconds=position)).isoformat(),
                    speaker=turn["speaker"],
                    session=f"{sample['sample_id']}:{session}",
                    position=position,
                )
            )
        session += 1
    return memories


def questions_of(sample: dict[str, Any]) -> list[Question]:
    return [
        Question(
            str(qa["question"]),
            [str(e) for e in qa.get("evidence") or []],
            CATEGORIES.get(int(qa["category"]), str(qa["category"])),
        )
        for qa in sample["qa"]
    ]


def load_samples(path: Path, wanted: list[str] | None) -> list[dict[str, Any]]:
    try:
        samples = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise MnemeError(f"Cannot read LoCoMo data from {path}: {error}") from None
    if not isinstance(samples, list) or not all(isinstance(s, dict) for s in samples):
        raise MnemeError(f"{path} is not a LoCoMo file (a list of samples).")
    known = [s.get("sample_id") for s in samples]
    if wanted:
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise MnemeError(f"Unknown conversation ids {unknown}; the file has {known}.")
        samples = [s for s in samples if s.get("sample_id") in wanted]
    return samples


def evidence_recall(ranked: list[str], evidence: list[str], k: int) -> float:
    if not evidence:
        return 1.0
    top = set(ranked[:k])
    return sum(1 for e in evidence if e in top) / len(evidence)


def reciprocal_rank(ranked: list[str], evidence: list[str]) -> float:
    if not evidence:
        return 1.0
    for rank, dia_id in enumerate(ranked, start=1):
        if dia_id in evidence:
            return 1.0 / rank
    return 0.0


def ndcg(ranked: list[str], evidence: list[str], k: int = 10) -> float:
    if not evidence:
        return 1.0
    relevant = set(evidence)
    gain = sum(1.0 / math.log2(r + 2) for r, d in enumerate(ranked[:k]) if d in relevant)
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    return gain / ideal


class ConversationMemory:
    """A fresh encrypted memory holding one LoCoMo conversation."""

    def __init__(self, sample: dict[str, Any], encoder: Encoder, folder: Path) -> None:
        self.sample = sample
        self.database = open_database(
            folder / f"{sample['sample_id']}.db", raw_key(secrets.token_bytes(32))
        )
        self.memory = MemoryApi(lambda: self.database, lambda: encoder)
        turns = turns_of(sample)
        self.memory.add(turns)
        self.memory.sync()
        self.as_of = max(datetime.fromisoformat(t.occurred_at or "") for t in turns) + timedelta(
            days=1
        )

    def ranked(self, question: str, k: int) -> list[str]:
        recalled = self.memory.recall(question, k, as_of=self.as_of, touch=False)
        return [r.memory.source_ref or "" for r in recalled]

    def close(self) -> None:
        self.database.close()


def run_locomo(
    data: Path,
    *,
    conversations: list[str] | None = None,
    train_on: list[str] | None = None,
    encoder: Encoder | None = None,
    log: Log = lambda line: None,
) -> dict[str, Any]:
    samples = load_samples(data, None)
    by_id = {s["sample_id"]: s for s in samples}
    train_ids = list(train_on or [])
    for wanted in [*(conversations or []), *train_ids]:
        if wanted not in by_id:
            raise MnemeError(f"Unknown conversation id '{wanted}'; the file has {list(by_id)}.")
    evaluated = [s for s in samples if (not conversations or s["sample_id"] in conversations)]
    evaluated = [s for s in evaluated if s["sample_id"] not in train_ids]
    if not evaluated:
        raise MnemeError("No conversation is left to evaluate (all of them are training data).")
    encoder = encoder or Encoder()

    learned_state: bytes | None = None
    with tempfile.TemporaryDirectory(prefix="mneme-bench-") as scratch:
        folder = Path(scratch)
        if train_ids:
            from assistant.bench.training import train_from_conversations

            learned_state = train_from_conversations(
                [by_id[i] for i in train_ids], encoder, folder, log=log
            )
        per_question: list[dict[str, Any]] = []
        latencies: list[float] = []
        for sample in evaluated:
            started = time.perf_counter()
            memory = ConversationMemory(sample, encoder, folder)
            if learned_state is not None:
                memory.memory.sync().load_learned_state(learned_state)
            log(
                f"{sample['sample_id']}: {len(turns_of(sample))} turns ingested in {time.perf_counter() - started:.1f} s"
            )
            for question in questions_of(sample):
                begin = time.perf_counter()
                ranked = memory.ranked(question.text, max(KS))
                latencies.append((time.perf_counter() - begin) * 1000)
                per_question.append(
                    {
                        "conversation": sample["sample_id"],
                        "category": question.category,
                        **{
                            f"recall@{k}": evidence_recall(ranked, question.evidence, k) for k in KS
                        },
                        "mrr": reciprocal_rank(ranked, question.evidence),
                        "ndcg@10": ndcg(ranked, question.evidence),
                    }
                )
            memory.close()
    return summarise(
        per_question,
        latencies,
        learned=bool(train_ids),
        evaluated=[s["sample_id"] for s in evaluated],
        trained=train_ids,
    )


def summarise(
    rows: list[dict[str, Any]],
    latencies: list[float],
    *,
    learned: bool,
    evaluated: list[str],
    trained: list[str],
) -> dict[str, Any]:
    def mean(key: str, subset: list[dict[str, Any]]) -> float:
        return round(100 * statistics.fmean(r[key] for r in subset), 2) if subset else 0.0

    by_category = {}
    for name in CATEGORIES.values():
        subset = [r for r in rows if r["category"] == name]
        by_category[name] = {
            "recall@5": mean("recall@5", subset),
            "recall@10": mean("recall@10", subset),
            "n": len(subset),
        }
    by_conversation = {
        name: {
            "recall@5": mean("recall@5", [r for r in rows if r["conversation"] == name]),
            "recall@10": mean("recall@10", [r for r in rows if r["conversation"] == name]),
        }
        for name in evaluated
    }
    ordered = sorted(latencies)
    return {
        **{f"recall@{k}": mean(f"recall@{k}", rows) for k in KS},
        "mrr": mean("mrr", rows),
        "ndcg@10": mean("ndcg@10", rows),
        "by_category": by_category,
        "by_conversation": by_conversation,
        "n_questions": len(rows),
        "latency_ms": {
            "p50": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2)
            if ordered
            else None,
        },
        "learned": learned,
        "conversations": evaluated,
        "trained_on": trained,
    }
