"""Forgetting, as methods of `MemoryApi` (mixed in; the work is in assistant.memory.forget).

Threading: database calls, safe from any thread, but slow on big databases (the index merge that
leaves no deleted text in the files): not on the UI thread. `memory_did_forget` callbacks run on
the thread that forgot.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from assistant.memory import forget
from assistant.memory.forget import ForgetReport
from assistant.memory.store import MemoryStore
from assistant.storage.database import EncryptedDatabase

if TYPE_CHECKING:
    from assistant.memory.pool import MemoryPool


class ForgettingMethods:
    """Needs, from `MemoryApi`: the database, the lock, the pool and `_changed`."""

    _database: Callable[[], EncryptedDatabase]
    _lock: threading.RLock
    _pool: MemoryPool | None
    _scrub_pending: bool
    memory_did_forget: list[Callable[[list[int]], None]]

    @property
    def store(self) -> MemoryStore:
        raise NotImplementedError

    def _changed(self, ids: list[int]) -> None:
        raise NotImplementedError

    def forget(self, memory_id: int) -> ForgetReport:
        """Delete the memory completely: see `forget_completely`. Raises NotFoundError for an
        unknown id."""
        self.store.get(memory_id)
        return self.forget_completely([memory_id])

    def forget_many(self, ids: Sequence[int], *, scrub: bool = True) -> int:
        """`forget_completely`, returning how many rows went. `scrub` False leaves the index merge
        and WAL truncation to the caller (an import replacing many files does it once, at the end).
        """
        return self.forget_completely(ids, scrub=scrub).memories

    def forget_completely(self, ids: Sequence[int], *, scrub: bool = True) -> ForgetReport:
        """Forget memories and everything derived from them, completely (assistant.memory.forget):
        all versions, the facts read only in them, FTS entries, vectors, windows, reply links,
        signals, the conversation text they were made of; then the indexes are merged and the
        WAL emptied so no deleted text stays in the files, the pool is rebuilt, and
        `memory_did_forget` callbacks run (the Assistant drops the model's cached prompts).
        Unknown ids are skipped. Slow on big databases (index merge): not on the UI thread.
        """
        report = forget.forget(self._database(), ids)
        if report.ids:
            if report.signals:
                # The stored weights went with the signals; the copy in memory goes too (the
                # learning job retrains from the signals that remain).
                with self._lock:
                    if self._pool is not None:
                        self._pool.reset_learning()
            if scrub:
                self.scrub()
            else:
                self._scrub_pending = True
            self._changed(report.ids)
            for callback in list(self.memory_did_forget):
                with contextlib.suppress(Exception):
                    callback(report.ids)
        return report

    def forget_plan(self, ids: Sequence[int] = (), **source: Any) -> ForgetReport:
        """What `forget_completely(ids)` (or `forget_source(**source)` when given) would delete,
        without deleting anything: `ids` (all of them), `facts_derived`, `facts_kept`."""
        if source:
            ids = forget.source_ids(self._database(), **source)
        everything, derived, kept = forget.plan(self._database(), ids)
        return ForgetReport(ids=everything, facts_derived=derived, facts_kept=len(kept))

    def scrub(self) -> bool:
        """Merge the keyword indexes and empty the WAL, so no forgotten text stays in the files
        (forget_many does it unless told not to). Up to a second per 100k memories. False when
        another connection kept the WAL busy: `scrub_pending` stays set and the Assistant tries
        again when it closes (and any later forget does)."""
        done = forget.scrub(self._database())
        self._scrub_pending = not done
        return done

    @property
    def scrub_pending(self) -> bool:
        return self._scrub_pending

    def forget_source(
        self,
        *,
        conversation_id: int | None = None,
        source_type: str | None = None,
        source_ref: str | None = None,
        speaker: str | None = None,
        scrub: bool = True,
    ) -> int:
        """Forget everything from one source: a conversation, a document path (all its pages), an
        email Message-ID, a sender/speaker. Given criteria must all hold. Facts also read in
        other sources stay, with this provenance removed. A forgotten file's import record goes
        too, so importing it again reads it again (a forgotten sender's mail does not come back
        when its mbox is imported again). Returns how many rows went."""
        ids = forget.source_ids(
            self._database(),
            conversation_id=conversation_id,
            source_type=source_type,
            source_ref=source_ref,
            speaker=speaker,
        )
        removed = self.forget_many(ids, scrub=False)
        if source_ref is not None and speaker is None and conversation_id is None:
            with self._database().write() as db:
                db.execute("DELETE FROM imported_files WHERE path = ?", [source_ref])
        if scrub and (removed or self._scrub_pending):
            self.scrub()
        return removed
