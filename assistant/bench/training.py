"""Simulated use for `mneme bench locomo --train-on`: questions whose evidence is known act as the
user confirming which memories answered them. Only the training conversations are touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.bench.locomo import ConversationMemory, Log, questions_of
from assistant.memory.encoder import Encoder
from assistant.memory.learn import Signal, record_signals, train
from assistant.memory.pool import MemoryPool
from assistant.memory.recall import Recaller


def train_from_conversations(
    samples: list[dict[str, Any]], encoder: Encoder, folder: Path, *, log: Log, seed: int = 0
) -> bytes:
    """Train on these conversations' questions; returns the learned pool state."""
    learner = MemoryPool(encoder.dim)
    groups = []
    memories = []
    for sample in samples:
        memory = ConversationMemory(sample, encoder, folder / "train")
        memories.append(memory)
        ids_by_dia = {}
        with memory.database.read() as db:
            for memory_id, ref in db.execute("SELECT id, source_ref FROM memories").fetchall():
                ids_by_dia[ref] = memory_id
        signals = []
        for question in questions_of(sample):
            labels = {ids_by_dia[e]: 1.0 for e in question.evidence if e in ids_by_dia}
            if labels:
                signals.append(Signal("evidence", question.text, labels, memory.as_of.isoformat()))
        record_signals(memory.database, signals)  # the same path user feedback takes
        pool = memory.memory.sync()
        # Every training conversation's pool uses the one adapter and scorer being trained.
        pool.adapter = learner.adapter
        pool.scorer = learner.scorer
        pool.residual = learner.residual
        groups.append((Recaller(memory.memory.store, pool, memory.memory._encode_query), signals))
        log(f"{sample['sample_id']}: {len(signals)} training signals")
    # The app's training settings, but bounded by steps only: a benchmark's figures must not
    # depend on how busy the machine is (a 120 s bound once cut a run to 121 of 400 steps under
    # load). The time limit stays only as a guard against a runaway.
    report = train(learner, groups, seconds=1800.0, seed=seed)
    log(
        f"trained on {report.examples} examples in {report.steps} steps, {report.seconds:.1f} s: "
        f"loss {report.loss_before:.3f} -> {report.loss_after:.3f}"
    )
    for memory in memories:
        memory.close()
    return learner.learned_state()
