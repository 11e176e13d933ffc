"""Learning signals as stored in the database, and the row name of the pool's learned weights.

The parts of learning that need no torch: the front door (`MemoryApi`, feedback) records and counts
signals without importing torch, which costs seconds at start-up; training (learn.py) and the pool
(pool.py) import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase

# The `pool_state` row holding the pool's learned weights (MemoryApi saves and loads it).
POOL_STATE_NAME = "pool-v1"


@dataclass(frozen=True)
class Signal:
    kind: str  # evidence · feedback · likelihood
    query: str
    labels: dict[int, float]  # memory id → label
    as_of: str | None = None


@dataclass
class TrainingReport:
    signals: int
    examples: int
    steps: int
    seconds: float
    loss_before: float
    loss_after: float


def record_signals(database: EncryptedDatabase, signals: list[Signal]) -> int:
    """Store signals (one transaction). Labels naming deleted memories are dropped."""
    stored = 0
    with database.write() as db:
        for signal in signals:
            existing = (
                [
                    row[0]
                    for row in db.execute(
                        f"SELECT id FROM memories WHERE id IN ({','.join('?' * len(signal.labels))})",
                        list(signal.labels),
                    ).fetchall()
                ]
                if signal.labels
                else []
            )
            if not existing:
                continue
            cursor = db.execute(
                "INSERT INTO learning_signals (kind, query, created_at, as_of) VALUES (?, ?, ?, ?)",
                [signal.kind, signal.query, now_iso(), signal.as_of],
            )
            db.conn.executemany(
                "INSERT INTO signal_memories (signal_id, memory_id, label) VALUES (?, ?, ?)",
                [(cursor.lastrowid, m, float(signal.labels[m])) for m in existing],
            )
            stored += 1
    return stored


def load_signals(database: EncryptedDatabase) -> list[Signal]:
    with database.read() as db:
        rows = db.execute(
            "SELECT s.id, s.kind, s.query, s.as_of, m.memory_id, m.label FROM learning_signals s "
            "JOIN signal_memories m ON m.signal_id = s.id ORDER BY s.id"
        ).fetchall()
    grouped: dict[int, Signal] = {}
    for signal_id, kind, query, as_of, memory_id, label in rows:
        if signal_id not in grouped:
            grouped[signal_id] = Signal(kind, query, {}, as_of)
        grouped[signal_id].labels[memory_id] = label
    return list(grouped.values())
