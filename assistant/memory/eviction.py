"""The capacity bound: which memories leave recall when the pool is full.

Value decays with age and disuse: trust weight × (1 + ln(1 + times recalled)) × ½^(days since
last recalled, or since stored / HALF_LIFE_DAYS). The lowest-valued go first. Never evicted:
pinned memories and facts from the user (user-stated or user-confirmed) — beyond those the pool
stays over capacity and `mneme memory health` says so, rather than dropping them without asking.
An evicted memory keeps its row (browsable, keyword-searchable in the inspector, listed in "What
I learned" under evicted) and comes back when pinned. Threading: database calls; any thread.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from assistant.storage.database import EncryptedDatabase

HALF_LIFE_DAYS = 90.0
TRUST_WEIGHT = {"user-stated": 4.0, "user-confirmed": 3.0, "imported": 2.0, "assistant": 1.0}


def _age_days(stamp: str | None, now: datetime) -> float:
    if not stamp:
        return 0.0
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds() / 86400)


def value(trust: str, access_count: int, last_used: str | None, now: datetime) -> float:
    decay = 0.5 ** (_age_days(last_used, now) / HALF_LIFE_DAYS)
    return TRUST_WEIGHT.get(trust, 1.0) * (1.0 + math.log1p(max(0, access_count))) * decay


def choose(database: EncryptedDatabase, over: int, now: datetime | None = None) -> list[int]:
    """Up to `over` memory ids to evict, least valuable first (only evictable ones)."""
    if over <= 0:
        return []
    now = now or datetime.now(UTC)
    with database.read() as db:
        rows = db.execute(
            "SELECT id, trust, access_count, coalesce(last_accessed_at, created_at) FROM memories"
            " WHERE status = 'active' AND in_pool = 1 AND pinned = 0"
            " AND NOT (kind = 'fact' AND trust IN ('user-stated', 'user-confirmed'))"
        ).fetchall()
    ranked = sorted(rows, key=lambda r: (value(r[1], r[2], r[3], now), r[0]))
    return [int(r[0]) for r in ranked[:over]]
