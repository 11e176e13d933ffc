"""`Assistant.memory`: the memory part of the front door.

Threading: recall, vector filling and training use torch and the encoder: run them on the model lane.
torch, the encoder's libraries and faiss are imported only when those run (they take seconds).
Row operations (list, show, pin, forget, remember) are database calls, safe from any thread.
Events: `memory_did_change(memory_ids)` callbacks run on the thread that made the change.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from assistant.cancel import Cancelled, CancelToken
from assistant.errors import MnemeError
from assistant.memory import browse, eviction, export, extract, facts, health, vectors
from assistant.memory.encoder import Encoder
from assistant.memory.facts import FactSource, Outcome
from assistant.memory.forget_methods import ForgettingMethods
from assistant.memory.policy import Candidate
from assistant.memory.signals import (
    POOL_STATE_NAME,
    Signal,
    TrainingReport,
    load_signals,
    record_signals,
)
from assistant.memory.statements import parse_first_person
from assistant.memory.store import MemoryStore, NewMemory
from assistant.storage.conversations import now_iso
from assistant.storage.database import EncryptedDatabase
from assistant.types import Memory, MemoryFilter, RecalledMemory

if TYPE_CHECKING:
    # torch (seconds to import) comes in with these: the methods that need them import them when
    # they run, on the model lane, so importing the front door and showing the window stay fast.
    from assistant.memory.pool import MemoryPool

Progress = Callable[[int, int], None]
RECHECK_S = 30.0
# Recall encodes at most this many missing vectors itself (the newest); fill_vectors does the rest.
INLINE_ENCODES = 64
# Memories per encoder call in fill_vectors: large, so the encoder's own batching does the work.
FILL_BATCH = 1024


class MemoryApi(ForgettingMethods):
    def __init__(
        self,
        database: Callable[[], EncryptedDatabase],
        encoder: Callable[[], Encoder],
        *,
        capacity: Callable[[], int] = lambda: 1_000_000,
    ) -> None:
        self._database = database
        self._encoder_factory = encoder
        self._encoder: Encoder | None = None
        self._capacity = capacity
        self._pool: MemoryPool | None = None
        self._stale = True
        self._checked_at = 0.0
        self._fill_after = 0  # fill_vectors goes on after this id (memories below were done)
        self._vectors_checked: tuple[int, str] | None = None  # (database, encoder) of use_encoder
        self._lock = threading.RLock()
        self.memory_did_change: list[Callable[[list[int]], None]] = []
        self.memory_did_forget: list[Callable[[list[int]], None]] = []
        self._scrub_pending = False

    @property
    def store(self) -> MemoryStore:
        return MemoryStore(self._database())

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        return self._encoder

    def warm_up(self) -> None:
        """Load the encoder (batch and query paths) now rather than at the first recall or fill.

        Slow (seconds) and, while its native libraries load, it holds the GIL for up to a few
        hundred milliseconds at a time (measured): the desktop app runs it on the model lane right
        after start-up, when nobody is typing yet, instead of in the middle of use.
        """
        with self._lock:
            self.encoder.encode(["warm up"])
            self.encoder.encode_query("warm up")

    # -- writing ----------------------------------------------------------------------------------
    def add(self, memories: Sequence[NewMemory]) -> list[int]:
        """Store memories now (keyword-searchable at once); their vectors come from
        `fill_vectors` (or, for the newest few, the next recall)."""
        ids = self.store.add_many(memories)
        self._changed(ids)
        return ids

    def remember(
        self,
        text: str,
        *,
        kind: str = "fact",
        pinned: bool = False,
        occurred_at: str | None = None,
        source: FactSource | None = None,
    ) -> Memory:
        """A memory the user states directly (trust "user-stated").

        A fact goes through the write gate as an explicit statement: it is always kept (a
        preference if it reads like an instruction), merges into the same fact if known, and
        supersedes an older user fact it updates ("I live in Lisbon" after "… in Berlin").
        Returns the stored (or merged-into) memory."""
        text = text.strip()
        if kind != "fact":
            (memory_id,) = self.add(
                [
                    NewMemory(
                        text=text,
                        kind=kind,
                        source_type="user",
                        source_ref="remember",
                        trust="user-stated",
                        occurred_at=occurred_at,
                        pinned=pinned,
                    )
                ]
            )
            return self.store.get(memory_id)
        if not text:
            raise MnemeError("A memory cannot be empty.")
        outcome = self.propose(
            Candidate(text, "user-stated", slot=parse_first_person(text), explicit=True),
            source
            or FactSource(source_type="user", source_ref="remember", occurred_at=occurred_at),
        )
        assert outcome.fact_id is not None  # user statements are never rejected
        if pinned:
            return self.pin(outcome.fact_id)
        return self.store.get(outcome.fact_id)

    def propose(self, candidate: Candidate, source: FactSource) -> Outcome:
        """Pass a candidate fact through the write gate (assistant.memory.policy) and store what
        it decides. Returns the outcome (action, reason, fact id)."""
        outcome = facts.propose(self._database(), candidate, source)
        changed = [i for i in (outcome.fact_id, outcome.existing) if i is not None]
        if changed:
            self._changed(changed)
        return outcome

    def fact_sources(self, fact_id: int) -> list[dict[str, Any]]:
        """Every memory a fact was read in (merged duplicates keep all of them)."""
        return facts.sources_of(self._database(), fact_id)

    def enqueue_extraction(self, memory_id: int, context_memory_id: int | None = None) -> None:
        """Queue a memory (a user turn, with the reply as context; or an imported chunk) for
        fact extraction by the model (`Assistant.extract_facts`)."""
        extract.enqueue(self._database(), memory_id, context_memory_id)

    def extraction_status(self) -> dict[str, Any]:
        """Extraction jobs pending / done / failed, outcome totals and the last failure."""
        return extract.status(self._database())

    def health(self) -> dict[str, Any]:
        """Duplicates, stale facts, contradictions, inbox size: see assistant.memory.health."""
        return health.report(self._database(), self._capacity())

    def export(self) -> Iterator[str]:
        """Every memory with provenance as JSON text pieces (see assistant.memory.export)."""
        return export.chunks(self._database())

    def evicted_since(self, when: datetime, limit: int | None = None) -> list[Memory]:
        """Memories the capacity bound took out of recall since `when`, newest first."""
        return browse.evicted_since(self._database(), when, limit)

    def pin(self, memory_id: int, pinned: bool = True) -> Memory:
        """Pin (always keep, never evicted; an evicted memory comes back into recall) or unpin."""
        memory = self.store.set_pinned(memory_id, pinned)
        self._changed([memory_id])
        return memory

    def edit(self, memory_id: int, text: str) -> Memory:
        """Replace the memory's text with a new version (returned); the old one stays in its
        history as `superseded`. The new version gets its vectors on the next sync."""
        memory = browse.edit(self._database(), memory_id, text)
        self._changed([memory_id, memory.id])
        return memory

    def accept(self, memory_id: int, text: str | None = None) -> Memory:
        """Accept a memory from the review inbox (active, trust "user-confirmed"), edited first
        when `text` is given. Returns the accepted memory (a new version if edited)."""
        current = self.store.get(memory_id)
        if current.status != "inbox":  # before any edit: a refused accept changes nothing
            raise MnemeError(f"Memory {memory_id} is not waiting in the review inbox.")
        if text is not None and text.strip() != current.text:
            memory_id = browse.edit(self._database(), memory_id, text).id
        memory = browse.accept(self._database(), memory_id)
        self._changed([memory_id])
        return memory

    def reject(self, memory_id: int) -> None:
        """Delete a proposed memory from the review inbox completely."""
        if self.store.get(memory_id).status != "inbox":
            raise MnemeError(f"Memory {memory_id} is not waiting in the review inbox.")
        self.forget(memory_id)

    # -- reading ----------------------------------------------------------------------------------
    def get(self, memory_id: int) -> Memory:
        return self.store.get(memory_id)

    def browse(
        self,
        *,
        kind: str | None = None,
        status: str | None = "active",
        limit: int = 100,
        offset: int = 0,
    ) -> list[Memory]:
        return self.store.rows(kind=kind, status=status, limit=limit, offset=offset)

    def query(
        self, memory_filter: MemoryFilter | None = None, limit: int = 100, offset: int = 0
    ) -> list[Memory]:
        """A page of memories matching the filter (facts first, then its sort). Fast on large
        sets; see assistant.memory.browse."""
        memory_filter = memory_filter or MemoryFilter()
        browse.check_filter(memory_filter)
        return browse.query(self._database(), memory_filter, limit, offset)

    def count(self, memory_filter: MemoryFilter | None = None) -> int:
        memory_filter = memory_filter or MemoryFilter()
        browse.check_filter(memory_filter)
        return browse.count(self._database(), memory_filter)

    def history(self, memory_id: int) -> list[Memory]:
        """Every version of a memory (edits), newest first."""
        return browse.history(self._database(), memory_id)

    def timeline(self, memory_id: int) -> list[Memory]:
        """A fact with the facts it updated or that updated it, newest first (validity dates
        say when each held)."""
        return browse.timeline(self._database(), memory_id)

    def inbox(self) -> list[Memory]:
        """Proposed memories waiting for review, newest first."""
        return self.query(MemoryFilter(status="inbox", facts_first=False), limit=10_000)

    def learned_since(self, when: datetime, limit: int | None = None) -> list[Memory]:
        """Memories added, edited or accepted since `when` (naive means local time), facts
        first, then newest first; at most `limit`."""
        return browse.learned_since(self._database(), when, limit)

    def last_recall(self, memory_id: int) -> dict[str, Any] | None:
        """Why the memory was recalled last time: message_id, conversation_id, rank, score,
        reasons, created_at of the newest reply it went into; None if never used."""
        return browse.last_recall(self._database(), memory_id)

    def provenance(self, memory_id: int) -> dict[str, Any]:
        """Where the memory came from; see assistant.memory.browse.provenance."""
        return browse.provenance(self._database(), self.store.get(memory_id))

    def search(self, text: str, limit: int = 20) -> list[Memory]:
        """Keyword search (FTS5), best match first; needs no encoder."""
        hits = self.store.keyword_search(text, limit)
        found = self.store.get_many(i for i, _ in hits)
        return [found[i] for i, _ in hits if i in found]

    def recall(
        self,
        query: str,
        k: int = 10,
        *,
        as_of: date | datetime | None = None,
        exclude: Callable[[Memory], bool] | None = None,
        touch: bool = True,
    ) -> list[RecalledMemory]:
        """Ranked memories for `query`, with scores and reasons.

        Uses the vectors that are ready (encoding at most INLINE_ENCODES missing ones); memories
        still waiting for theirs are found through keywords."""
        if not self.store.has_active():
            return []  # nothing to recall: do not pay for loading the encoder
        from assistant.memory.recall import Recaller

        with self._lock:
            pool = self._ready_pool()
            recaller = Recaller(self.store, pool, self._encode_query)
            recalled = recaller.recall(query, k, as_of=as_of, exclude=exclude)
        if touch and recalled:
            self.store.touch([r.memory.id for r in recalled])
        return recalled

    def status(self) -> dict[str, Any]:
        pending = self.pending_vectors()
        with self._database().read() as db:
            signals = db.execute("SELECT count(*) FROM learning_signals").fetchone()[0]
            learned = db.execute(
                "SELECT updated_at FROM pool_state WHERE name = ?", [POOL_STATE_NAME]
            ).fetchone()
        return {
            "memories": self.store.count(),
            "vectors_pending": pending,
            "signals": signals,
            "learned_at": learned[0] if learned else None,
            "pool_size": len(self._pool) if self._pool is not None else None,
        }

    # -- the pool ---------------------------------------------------------------------------------
    def pending_vectors(self) -> int:
        """How many memories still lack a dense vector (one count query; no encoder needed)."""
        self._encoder_name()  # vectors of another encoder are gone first
        return vectors.pending(self._database())

    def fill_vectors(
        self,
        *,
        limit: int | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
        threads: int | None = None,
    ) -> int:
        """Encode the missing text, window and sentences vectors of up to `limit` memories (all
        when None), oldest first, in large batches; store them and mark the pool for a rebuild on
        the next recall. Returns how many memories were completed.

        `progress(done, total)` counts memories (total: what this call will do at most, fixed at
        the start). A cancelled `cancel` stops it between (and inside) batches; what was stored
        stays, and it returns the count so far instead of raising. `threads` caps torch's threads
        for this call (the desktop app leaves a core to its UI thread; None: torch's setting).
        Threading: run it on the model lane (it uses the encoder); forgetting on another thread
        meanwhile is safe (see vectors.py). Each batch holds the memory lock, so a recall waits
        at most one batch.
        """
        if threads is not None:
            import torch

            if threads != torch.get_num_threads():
                previous = torch.get_num_threads()
                torch.set_num_threads(max(1, threads))
                try:
                    return self.fill_vectors(limit=limit, progress=progress, cancel=cancel)
                finally:
                    torch.set_num_threads(previous)
        total = self.pending_vectors()
        if limit is not None:
            total = min(total, limit)
        done = 0
        wrapped = False
        while done < total and not (cancel is not None and cancel.cancelled):
            size = min(FILL_BATCH, total - done)
            with self._lock:
                self._encoder_name()
                encoder = self.encoder
                rows = vectors.missing(self._database(), limit=size, after_id=self._fill_after)
                if not rows:
                    if wrapped or self._fill_after == 0:
                        break
                    # Older memories may have lost a vector meanwhile (a neighbour was
                    # forgotten, rewriting their window): look again from the start, once.
                    self._fill_after, wrapped = 0, True
                    continue

                def report(
                    encoded: int, count: int, base: int = done, size: int = len(rows)
                ) -> None:
                    if progress is not None:  # memories, in proportion to the texts encoded
                        progress(base + size * encoded // max(count, 1), total)

                try:
                    vectors.fill(self._database(), encoder, rows, progress=report, cancel=cancel)
                except Cancelled:
                    break
                self._fill_after = rows[-1].id
                self._stale = True  # the pool is rebuilt lazily, once, by the next recall
            done += len(rows)
            if progress is not None:
                progress(done, total)
        return done

    def sync(
        self, *, progress: Progress | None = None, cancel: CancelToken | None = None
    ) -> MemoryPool:
        """Encode every memory that has no vectors yet and rebuild the key matrix if anything
        changed. Slow after a large import: recall does not call it (see `_ready_pool`)."""
        with self._lock:
            if self._fresh():
                assert self._pool is not None
                return self._pool
            self._checked_at = time.monotonic()
            self.fill_vectors(progress=progress, cancel=cancel)
            if cancel is not None:
                cancel.raise_if_cancelled()
            return self._built_pool()

    def _ready_pool(self) -> MemoryPool:
        """The pool for recall, from the memories that have vectors now.

        Encodes at most INLINE_ENCODES texts first (the newest memories missing vectors: what the
        user just said is found by meaning at once); the rest come in through keywords until
        `fill_vectors` reaches them. Rebuilds the key matrix only if something changed.
        """
        with self._lock:
            if self._fresh():
                assert self._pool is not None
                return self._pool
            # Looking for missing vectors scans the table: only after a change, or now and then
            # (another process, such as the CLI beside the app, may have added memories).
            self._checked_at = time.monotonic()
            self._encoder_name()
            encoder = self.encoder
            database = self._database()
            # One scan for every kind of vector (it reads every row when nothing is missing).
            rows = vectors.missing(database, limit=INLINE_ENCODES, newest_first=True)
            if rows:
                vectors.fill(database, encoder, rows, budget=INLINE_ENCODES)
                self._stale = True
            return self._built_pool()

    def _fresh(self) -> bool:
        return (
            self._pool is not None
            and not self._stale
            and time.monotonic() - self._checked_at < RECHECK_S
        )

    def _built_pool(self) -> MemoryPool:
        if self._pool is None:
            from assistant.memory.pool import MemoryPool

            self._pool = MemoryPool(self.encoder.dim, capacity=self._capacity())
            self._load_learned(self._pool)
            self._stale = True
        if self._stale:
            self._stale = False  # before: a change during the rebuild marks it stale again
            try:
                self._rebuild(self._pool)
            except BaseException:
                self._stale = True
                raise
        return self._pool

    def _encoder_name(self) -> str:
        """The encoder's name (known without loading the model, which takes seconds), after
        making sure the stored vectors are all this encoder's (once per database and encoder)."""
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        name = self._encoder.name
        database = self._database()
        if self._vectors_checked != (id(database), name):
            vectors.use_encoder(database, name)
            self._vectors_checked = (id(database), name)
        return name

    def _rebuild(self, pool: MemoryPool) -> None:
        rows = self.store.pool_rows(self.encoder.name)
        dim = pool.dim
        text = np.zeros((len(rows), dim), dtype=np.float32)
        window = np.zeros((len(rows), dim), dtype=np.float32)
        for index, row in enumerate(rows):
            text[index] = np.frombuffer(row["text_vector"], dtype=np.float32)
            source = row["window_vector"] or row["text_vector"]
            window[index] = np.frombuffer(source, dtype=np.float32)
        pool.load_rows(
            [r["id"] for r in rows],
            [r["session"] for r in rows],
            [r["occurred_at"] for r in rows],
            [r["trust"] for r in rows],
            [bool(r["pinned"]) for r in rows],
            [r["access_count"] for r in rows],
            text,
            window,
            speakers=[r["speaker"] for r in rows],
            words=[r["words"] for r in rows],
        )
        over = len(pool) - pool.capacity
        if over > 0:
            evicted = eviction.choose(self._database(), over)
            if evicted:
                self.store.set_in_pool(evicted, False)
                self._rebuild(pool)
                # Tell the panes ("What I learned" lists evictions) without marking the pool
                # stale again: it was just rebuilt without them.
                for callback in list(self.memory_did_change):
                    with contextlib.suppress(Exception):
                        callback(evicted)

    def _encode_query(self, query: str) -> np.ndarray:
        return self.encoder.encode_query(query)

    def _load_learned(self, pool: MemoryPool) -> None:
        with self._database().read() as db:
            row = db.execute(
                "SELECT state FROM pool_state WHERE name = ?", [POOL_STATE_NAME]
            ).fetchone()
        if row is not None:
            pool.load_learned_state(row[0])

    def save_learned(self) -> None:
        assert self._pool is not None
        state = self._pool.learned_state()
        with self._database().write() as db:
            db.execute(
                "INSERT OR REPLACE INTO pool_state (name, state, updated_at) VALUES (?, ?, ?)",
                [POOL_STATE_NAME, state, now_iso()],
            )

    def record_signals(self, signals: list[Signal]) -> int:
        return record_signals(self._database(), signals)

    def retrain(self, *, seed: int = 0, cancel: CancelToken | None = None) -> TrainingReport:
        """Start from the defaults and train on every stored signal; saves the result."""
        from assistant.memory.learn import train
        from assistant.memory.recall import Recaller

        with self._lock:
            pool = self.sync()
            pool.reset_learning()
            recaller = Recaller(self.store, pool, self._encode_query)
            report = train(
                pool, [(recaller, load_signals(self._database()))], seed=seed, cancel=cancel
            )
            if report.examples:
                self.save_learned()
            else:
                self.reset_learning()
            return report

    def reset_learning(self) -> None:
        """Forget what the pool learned (the signals stay, so it can be retrained)."""
        with self._lock:
            with self._database().write() as db:
                db.execute("DELETE FROM pool_state WHERE name = ?", [POOL_STATE_NAME])
            if self._pool is not None:
                self._pool.reset_learning()

    def _changed(self, ids: list[int]) -> None:
        self._stale = True
        for callback in list(self.memory_did_change):
            with contextlib.suppress(Exception):
                callback(ids)
