"""Consolidated LoRA adapters in the encrypted database: versions, manifests, the off switch.

Tables from migration m011_adapters. Deleting a fact deletes (by trigger, whatever path deleted
it) every adapter trained on it and marks a rebuild pending; a fact of the active adapter that
stops being active marks a rebuild pending. While a rebuild is pending no adapter is applied.

Threading: database work only; any thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assistant.errors import ConsolidationRefused
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase
from assistant.types import AdapterVersion, ConsolidatedFact

KEEP_VERSIONS = 5  # kept besides the active one; older inactive and rejected versions go

_COLUMNS = (
    "id, created_at, status, base_model, seed, fact_gain, probe_delta, reason, seconds,"
    " coalesce(length(data), 0), (SELECT count(*) FROM adapter_facts f WHERE f.adapter_id = a.id)"
)


@dataclass(frozen=True)
class NewAdapter:
    base_model: str
    base_fingerprint: str
    seed: int
    manifest: dict[str, Any]  # facts (memory_id, sha256, question, answer), settings, probes
    fact_ids: list[int]
    fact_gain: float | None
    probe_delta: float | None
    reason: str | None  # None: passed the gate and becomes the active version
    seconds: float
    data: bytes | None


def _version(row: Any) -> AdapterVersion:
    return AdapterVersion(
        id=int(row[0]),
        created_at=str(row[1]),
        status=str(row[2]),
        base_model=str(row[3]),
        seed=int(row[4]),
        fact_gain=None if row[5] is None else float(row[5]),
        probe_delta=None if row[6] is None else float(row[6]),
        reason=row[7],
        seconds=float(row[8]),
        size_bytes=int(row[9]),
        facts=int(row[10]),
    )


class AdapterStore:
    def __init__(self, database: EncryptedDatabase) -> None:
        self._database = database

    # -- state -------------------------------------------------------------------------------
    def _state(self, db: Any, name: str) -> str | None:
        row = db.execute("SELECT value FROM consolidation_state WHERE name = ?", [name]).fetchone()
        return None if row is None else str(row[0])

    def _set_state(self, db: Any, name: str, value: str | None) -> None:
        if value is None:
            db.execute("DELETE FROM consolidation_state WHERE name = ?", [name])
        else:
            db.execute(
                "INSERT OR REPLACE INTO consolidation_state(name, value) VALUES (?, ?)",
                [name, value],
            )

    def enabled(self) -> bool:
        with self._database.read() as db:
            return self._state(db, "enabled") != "0"

    def set_enabled(self, enabled: bool) -> None:
        with self._database.write() as db:
            self._set_state(db, "enabled", "1" if enabled else "0")

    def rebuild_pending(self) -> bool:
        with self._database.read() as db:
            return self._state(db, "rebuild_pending") == "1"

    def last_error(self) -> str | None:
        with self._database.read() as db:
            return self._state(db, "last_error")

    def set_last_error(self, message: str | None) -> None:
        with self._database.write() as db:
            self._set_state(db, "last_error", message)

    def last_attempt(self) -> str | None:
        with self._database.read() as db:
            return self._state(db, "last_attempt")

    def mark_attempt(self) -> None:
        with self._database.write() as db:
            self._set_state(db, "last_attempt", now_iso())

    def cached_probe_scores(self, key: str) -> list[tuple[float, int]] | None:
        with self._database.read() as db:
            found = self._state(db, "base_probes")
        if found is None:
            return None
        data = json.loads(found)
        if data.get("key") != key:
            return None
        return [(float(total), int(count)) for total, count in data["scores"]]

    def cache_probe_scores(self, key: str, scores: list[tuple[float, int]]) -> None:
        with self._database.write() as db:
            self._set_state(db, "base_probes", json.dumps({"key": key, "scores": scores}))

    # -- versions ----------------------------------------------------------------------------
    def versions(self) -> list[AdapterVersion]:
        with self._database.read() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM adapters a ORDER BY id DESC").fetchall()
        return [_version(row) for row in rows]

    def get(self, adapter_id: int) -> AdapterVersion | None:
        with self._database.read() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM adapters a WHERE id = ?", [adapter_id])
            found = row.fetchone()
        return None if found is None else _version(found)

    def active(self) -> AdapterVersion | None:
        with self._database.read() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM adapters a WHERE status = 'active' ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else _version(row)

    def data(self, adapter_id: int) -> tuple[bytes, str] | None:
        """(the adapter's GGUF bytes, its base model's fingerprint)."""
        with self._database.read() as db:
            row = db.execute(
                "SELECT data, base_fingerprint FROM adapters WHERE id = ? AND data IS NOT NULL",
                [adapter_id],
            ).fetchone()
        return None if row is None else (bytes(row[0]), str(row[1]))

    def manifest(self, adapter_id: int) -> dict[str, Any] | None:
        with self._database.read() as db:
            row = db.execute("SELECT manifest FROM adapters WHERE id = ?", [adapter_id]).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def facts(self, adapter_id: int) -> list[ConsolidatedFact]:
        manifest = self.manifest(adapter_id)
        if manifest is None:
            return []
        with self._database.read() as db:
            found: list[ConsolidatedFact] = []
            for item in manifest.get("facts", []):
                row = db.execute(
                    "SELECT text FROM memories WHERE id = ?", [item["memory_id"]]
                ).fetchone()
                found.append(
                    ConsolidatedFact(
                        memory_id=int(item["memory_id"]),
                        text="(forgotten)" if row is None else str(row[0]),
                        question=str(item["question"]),
                        answer=str(item["answer"]),
                    )
                )
        return found

    def fact_ids(self, adapter_id: int) -> set[int]:
        with self._database.read() as db:
            rows = db.execute(
                "SELECT memory_id FROM adapter_facts WHERE adapter_id = ?", [adapter_id]
            ).fetchall()
        return {int(row[0]) for row in rows}

    def add(self, adapter: NewAdapter) -> AdapterVersion:
        """Store a new version. One that passed the gate becomes the active version (the old one
        inactive) and clears a pending rebuild. Old versions past KEEP_VERSIONS go."""
        status = "active" if adapter.reason is None else "rejected"
        with self._database.write() as db:
            if self._any_gone(db, adapter.fact_ids):
                # Forgotten (or changed) while it trained: the weights hold it, so they go.
                self._set_state(db, "rebuild_pending", "1")
                raise ConsolidationRefused(
                    "A fact changed or was forgotten while consolidating; run it again."
                )
            if status == "active":
                db.execute("UPDATE adapters SET status = 'inactive' WHERE status = 'active'")
                self._set_state(db, "rebuild_pending", None)
            cursor = db.execute(
                "INSERT INTO adapters (created_at, status, base_model, base_fingerprint, seed,"
                " manifest, fact_gain, probe_delta, reason, seconds, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    now_iso(),
                    status,
                    adapter.base_model,
                    adapter.base_fingerprint,
                    adapter.seed,
                    json.dumps(adapter.manifest, sort_keys=True),
                    adapter.fact_gain,
                    adapter.probe_delta,
                    adapter.reason,
                    adapter.seconds,
                    # A rejected adapter is never applied: only its manifest and reason stay.
                    adapter.data if status == "active" else None,
                ],
            )
            new_id = int(cursor.lastrowid or 0)
            db.conn.executemany(
                "INSERT OR IGNORE INTO adapter_facts (adapter_id, memory_id) VALUES (?, ?)",
                [(new_id, fact_id) for fact_id in adapter.fact_ids],
            )
            stale = db.execute(
                "SELECT id FROM adapters WHERE status != 'active' ORDER BY id DESC LIMIT -1 OFFSET ?",
                [KEEP_VERSIONS],
            ).fetchall()
            db.conn.executemany("DELETE FROM adapters WHERE id = ?", [(row[0],) for row in stale])
        version = self.get(new_id)
        assert version is not None
        return version

    @staticmethod
    def _any_gone(db: Any, fact_ids: list[int]) -> bool:
        for start in range(0, len(fact_ids), 500):
            chunk = fact_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            still = db.execute(
                f"SELECT count(*) FROM memories WHERE id IN ({marks}) AND status = 'active'", chunk
            ).fetchone()[0]
            if int(still) != len(chunk):
                return True
        return False

    def use(self, adapter_id: int) -> AdapterVersion | None:
        """Make a kept, non-rejected version the active one (roll back); None if there is none.
        The user chose its facts: a pending rebuild is cleared."""
        with self._database.write() as db:
            row = db.execute(
                "SELECT status FROM adapters WHERE id = ? AND data IS NOT NULL", [adapter_id]
            ).fetchone()
            if row is None or row[0] == "rejected":
                return None
            db.execute("UPDATE adapters SET status = 'inactive' WHERE status = 'active'")
            db.execute("UPDATE adapters SET status = 'active' WHERE id = ?", [adapter_id])
            self._set_state(db, "rebuild_pending", None)
        return self.get(adapter_id)

    def applied(self) -> tuple[int, bytes, str] | None:
        """(id, bytes, base fingerprint) of the adapter the model should use now, or None: off
        switch, pending rebuild, or no active version."""
        if not self.enabled() or self.rebuild_pending():
            return None
        active = self.active()
        if active is None:
            return None
        found = self.data(active.id)
        return None if found is None else (active.id, *found)
