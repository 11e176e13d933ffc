"""`Assistant`: the one front door to the core. The UI and the CLI use nothing else.

Threading rules:
- Database access is serialised inside (one lock), so any thread may call the conversation methods.
- Model work (`load_model`, `reply`) belongs to one lane: the caller runs one at a time, off the UI
  thread. Cancel a reply from any thread with its CancelToken.
- The mixins (assistant.chat_command_methods, assistant.consolidation) state their own rules.
Events: register plain callbacks on `conversation_did_change(conversation_id)`; they run on the thread
that made the change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from assistant.cancel import CancelToken
from assistant.chat_command_methods import ChatCommandMethods
from assistant.config import ConfigStore, Settings
from assistant.consolidation import ConsolidationMethods
from assistant.engine.base import (
    ChatMessage,
    Completion,
    Engine,
    GenerationSettings,
)
from assistant.engine.models import ModelCatalog
from assistant.errors import MnemeError
from assistant.memory import commands
from assistant.memory.api import MemoryApi
from assistant.memory.encoder import Encoder
from assistant.memory.extract import ExtractionRun, run_jobs
from assistant.memory.feedback import (
    LearningRun,
    feedback_signal,
    gain_signal,
    likelihood_gains,
    pending_replies,
    record_reply_memories,
    store_gains,
    used_memories,
)
from assistant.memory.prompt import profile_turns, with_memories
from assistant.memory.store import NewMemory, memory_from_row
from assistant.paths import Paths, resolve_paths
from assistant.reply_stream import ReplyStream
from assistant.resources import read_text
from assistant.secrets import PassphraseProvider, obtain_key
from assistant.storage.conversations import ConversationStore, now_iso, title_from_text
from assistant.storage.database import DEFAULT_BUSY_TIMEOUT_S, EncryptedDatabase, open_database
from assistant.types import (
    Conversation,
    ConversationMatch,
    DoctorReport,
    ImportProgress,
    ImportSummary,
    Memory,
    Message,
    RecalledMemory,
    Reply,
    ReplyStats,
)

MAX_MESSAGE_CHARS = 1_000_000
# The profile's memories. The unary + keeps SQLite on the partial index of pinned memories (with
# the status index it would read every active memory).
PROFILE_QUERY = "SELECT * FROM memories WHERE pinned = 1 AND +status = 'active' ORDER BY id LIMIT ?"
# The pinned profile's share of the prompt: at most this many tokens and 3/8 of the window, so
# recalled memories (up to 1/4), the conversation and the reply keep room. A message that cannot
# fit beside the profile is still answered: the engine leaves the profile out for it.
PROFILE_TOKEN_CAP = 2048
PROFILE_ROWS = 1000  # pinned memories read per reply: far more than the cap can hold


@functools.cache
def _system_prompt() -> str:
    """Read once per process: it is part of every reply's prompt."""
    return read_text("prompts", "system.md").strip()


class Assistant(ConsolidationMethods, ChatCommandMethods):
    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        passphrase_provider: PassphraseProvider | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        self.paths: Paths = resolve_paths(home)
        self.paths.ensure()
        self._config = ConfigStore(self.paths.config_file)
        self._passphrase_provider = passphrase_provider
        self._busy_timeout = busy_timeout
        self._database: EncryptedDatabase | None = None
        self._key_source: str | None = None  # where the open database's key came from
        self._open_lock = threading.Lock()
        self._conversations: ConversationStore | None = None
        self._engine: Engine | None = None
        self._engine_key: tuple[object, ...] | None = None
        self._memory: MemoryApi | None = None
        # Set when memories are forgotten; the model lane then clears the KV cache before its
        # next use (clearing it from the forgetting thread could race a running reply).
        self._prompt_cache_stale = False
        # The consolidated adapter to apply before the model's next use (assistant.consolidation).
        self._adapter_stale = True
        self._applied_adapter: int | None = None
        self._adapter_fingerprints: dict[tuple[str, int, float], str] = {}
        self.models = ModelCatalog(self._config, self.paths.models_dir)
        self.conversation_did_change: list[Callable[[int], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the encrypted database now. Side effect: may create the key."""
        # The UI's lanes may both reach here first: one thread opens, the other waits for it.
        with self._open_lock:
            if self._database is not None:
                return
            path = self.paths.database
            exists = path.exists() and path.stat().st_size > 0
            key = obtain_key(path, exists=exists, passphrase_provider=self._passphrase_provider)
            self._database = open_database(path, key, busy_timeout=self._busy_timeout)
            self._key_source = key.source
            self._conversations = ConversationStore(self._database)

    def close(self) -> None:
        if self._memory is not None and self._database is not None and self._memory.scrub_pending:
            with contextlib.suppress(Exception):
                self._memory.scrub()  # a forget found the WAL busy: no forgotten text stays
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        if self._database is not None:
            self._database.close()
            self._database = None

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def settings(self) -> Settings:
        return self._config.load()

    def update_settings(self, **changes: object) -> Settings:
        settings = self._config.load()
        for name, value in changes.items():
            if not hasattr(settings, name):
                raise MnemeError(f"There is no setting named '{name}'.")
            setattr(settings, name, value)
        self._config.save(settings)
        return settings

    # -- conversations -----------------------------------------------------------------------

    @property
    def _store(self) -> ConversationStore:
        self.open()
        assert self._conversations is not None
        return self._conversations

    def conversations(self) -> list[Conversation]:
        return self._store.all()

    def conversation(self, conversation_id: int) -> Conversation:
        return self._store.get(conversation_id)

    def new_conversation(
        self, title: str | None = None, *, incognito: bool = False
    ) -> Conversation:
        """An empty conversation. Incognito: its turns never become memories or learning signals."""
        conversation = self._store.create(title or "New conversation", incognito=incognito)
        self._did_change(conversation.id)
        return conversation

    def search_conversations(self, text: str, limit: int = 50) -> list[ConversationMatch]:
        """Conversations whose title or messages contain `text`, newest first."""
        return self._store.search(text, limit)

    def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        conversation = self._store.rename(conversation_id, title)
        self._did_change(conversation_id)
        return conversation

    def delete_conversation(self, conversation_id: int, *, forget_memories: bool = False) -> int:
        """Delete the conversation and its messages. With `forget_memories`, every memory that came
        from it goes too (with its vectors, FTS entry and learning signals); otherwise they stay,
        no longer linked to a message. Returns how many memories were forgotten."""
        self._store.get(conversation_id)  # NotFoundError before anything is touched
        forgotten = 0
        if forget_memories:
            forgotten = self.memory.forget_source(conversation_id=conversation_id, scrub=False)
        self._store.delete(conversation_id)
        if forget_memories:
            self.memory.scrub()  # after the messages went too: none of their text stays
        self._did_change(conversation_id)
        return forgotten

    def messages(self, conversation_id: int) -> list[Message]:
        return self._store.messages(conversation_id)

    def memories_used(self, message_id: int) -> list[RecalledMemory]:
        """The memories that went into an assistant reply's prompt, in prompt order."""
        return used_memories(self._opened_database(), self.memory.store, message_id)

    def regenerate(self, conversation_id: int, **options: Any) -> ReplyStream:
        """Answer the conversation's last user message again: that message and everything after
        it are replaced (their memories too). Options as for `reply`."""
        last = [m for m in self._store.messages(conversation_id) if m.role == "user"]
        if not last:
            raise MnemeError("There is no message to answer again in this conversation.")
        return self.edit_message(last[-1].id, last[-1].content, **options)

    def edit_message(self, message_id: int, text: str, **options: Any) -> ReplyStream:
        """Replace a sent user message with `text` and answer it: the message and every later one
        are deleted (with the memories made from them), then `reply` runs as usual.

        Raises before anything is deleted if the text is unusable or no model can be loaded.
        """
        message = self._store.message(message_id)
        if message.role != "user":
            raise MnemeError("Only your own messages can be edited and sent again.")
        if not text.strip():
            raise MnemeError("The message is empty.")
        self._ensure_engine(options.get("model"))
        later = self._store.messages_from(message.conversation_id, message.id)
        self._forget_messages(later)
        self._store.delete_messages(message.conversation_id, later)
        self._did_change(message.conversation_id)
        return self.reply(message.conversation_id, text, **options)

    def _forget_messages(self, message_ids: list[int]) -> None:
        """Forget the memories made from these messages (forget_many takes their versions too)."""
        marks = ",".join("?" * len(message_ids))
        with self._opened_database().read() as db:
            rows = db.execute(f"SELECT id FROM memories WHERE message_id IN ({marks})", message_ids)
            ids = [row[0] for row in rows]
        if ids:
            self.memory.forget_many(ids)

    def database_counts(self) -> dict[str, int]:
        return self._store.count()

    # -- the model ---------------------------------------------------------------------------

    def load_model(self, model: str | Path | None = None) -> str:
        """Load `model` (a .gguf path, a registered name, or the active model). Returns its name.

        Slow the first time (seconds for a real model): run it on the model lane.
        """
        self._ensure_engine(model)
        assert self._engine is not None
        return self._engine.name

    @property
    def model_name(self) -> str | None:
        return self._engine.name if self._engine is not None else None

    def reply(
        self,
        conversation_id: int | None,
        text: str,
        *,
        model: str | Path | None = None,
        cancel: CancelToken | None = None,
        settings: GenerationSettings | None = None,
        use_memory: bool | None = None,
    ) -> ReplyStream:
        """Recall memories, store the user's message, stream the answer and store it as it ends.

        `conversation_id` None starts a new conversation titled after the message. `use_memory`
        None follows the `memory_enabled` setting; with memory on, pinned memories come right after
        the system message as the profile (assistant.memory.prompt.profile_turns) and recalled
        ones before the message in its turn. Both turns become episode memories at once
        (except in incognito conversations). Raises before anything is stored if no model can be
        loaded, the message is empty, or it does not fit the context window.
        """
        if not text.strip():
            raise MnemeError("The message is empty.")
        if len(text) > MAX_MESSAGE_CHARS:
            raise MnemeError(
                f"The message is {len(text):,} characters long; the limit is "
                f"{MAX_MESSAGE_CHARS:,}. Import long documents instead."
            )
        command = commands.parse(text)
        if command is not None:
            return self._run_command(conversation_id, text, command)
        engine = self._ensure_engine(model)
        store = self._store
        conversation = store.get(conversation_id) if conversation_id is not None else None
        past = store.messages(conversation.id) if conversation is not None else []
        configured = self._config.load()
        remembering = configured.memory_enabled if use_memory is None else use_memory
        # The stable prefix: the system message, then the pinned profile (the same for every
        # turn and conversation while the pinned set is unchanged, so its KV state is reused).
        history = [self._system_message()]
        profile: list[ChatMessage] = []
        in_profile: set[int] = set()
        if remembering:
            profile, pinned = profile_turns(
                self._pinned_memories(),
                engine.count_tokens,
                min(PROFILE_TOKEN_CAP, engine.context_window * 3 // 8),
            )
            in_profile = {m.id for m in pinned}
        history += profile
        history += [ChatMessage(m.role, m.content) for m in past if m.content]
        recalled: list[RecalledMemory] = []
        prompt_text = text
        if remembering and configured.memory_k:
            current = conversation.id if conversation is not None else None
            recalled = self.memory.recall(
                text,
                configured.memory_k,
                # This conversation's own turns are already in the prompt as history, and the
                # profile's memories are in it too.
                exclude=lambda m: (
                    (current is not None and m.conversation_id == current) or m.id in in_profile
                ),
            )
            if recalled:
                budget = min(configured.memory_token_budget, engine.context_window // 4)
                prompt_text, recalled = with_memories(text, recalled, engine.count_tokens, budget)
        history.append(ChatMessage("user", prompt_text))
        cancel = cancel or CancelToken()
        # The engine fits the window now, so a message too long for it fails before anything is stored.
        tokens = engine.stream(history, settings or self._generation_settings(), cancel)
        if conversation is None:
            conversation = store.create(title_from_text(text))
        user = store.add_message(conversation.id, "user", text)
        user_memory = self._remember_turn(conversation, user)
        self._did_change(conversation.id)
        started = time.perf_counter()
        chosen = conversation
        used = tuple(recalled)

        def store_reply(reply_text: str, finish: str, completion: Completion | None) -> Reply:
            reply = self._store_reply(
                chosen,
                user,
                engine.name,
                reply_text,
                finish,
                completion,
                time.perf_counter() - started,
            )
            reply_memory = self._remember_turn(chosen, reply.assistant_message)
            record_reply_memories(self._opened_database(), reply.assistant_message.id, used)
            if user_memory is not None and self._config.load().fact_extraction:
                self.memory.enqueue_extraction(user_memory, reply_memory)
            return dataclasses.replace(reply, memories=used)

        stream = ReplyStream(tokens, conversation, user, cancel, store_reply)
        stream.memories = used
        return stream

    def feedback(self, message_id: int, value: int) -> None:
        """Thumbs up (+1) or down (−1) on a reply: a learning signal for the memories it used."""
        signal = feedback_signal(self._opened_database(), message_id, value)
        self.memory.record_signals([signal])

    def learn(self, *, replies: int = 20, cancel: CancelToken | None = None) -> LearningRun:
        """The background learning job: likelihood gains for recent replies, then retraining.

        Bounded: at most `replies` replies are scored (k+1 llama.cpp evaluations each) and training
        is capped in steps and seconds. Run it on the model lane when the app is idle.
        With the `learning_enabled` setting off it does nothing and returns an empty run.
        """
        run = LearningRun()
        if not self._config.load().learning_enabled:
            return run
        database = self._opened_database()
        engine = self._ensure_engine(None)
        logprob = getattr(engine, "continuation_logprob", None)
        signals = []
        if logprob is not None:
            system = self._system_message()
            for message_id, question, reply, memory_ids in pending_replies(database, replies):
                memories = list(self.memory.store.get_many(memory_ids).values())
                gains = likelihood_gains(
                    system, question, reply, memories, logprob, engine.count_tokens, cancel=cancel
                )
                store_gains(database, message_id, gains)
                run.replies += 1
                run.gains += len(gains)
                signal = gain_signal(question, gains)
                if signal is not None:
                    signals.append(signal)
        run.signals = self.memory.record_signals(signals)
        report = self.memory.retrain(cancel=cancel)
        run.trained_examples = report.examples
        return run

    @property
    def memory(self) -> MemoryApi:
        """Recall, remember, pin, forget, learning. See assistant.memory.api."""
        if self._memory is None:
            self._memory = MemoryApi(
                self._opened_database,
                lambda: Encoder(self._config.load().encoder),
                capacity=lambda: self._config.load().pool_capacity,
            )
            self._memory.memory_did_forget.append(self._memories_forgotten)
        return self._memory

    def extract_facts(
        self, *, limit: int = 5, retry_failed: bool = False, cancel: CancelToken | None = None
    ) -> ExtractionRun:
        """The background extraction job: the model reads queued exchanges for facts, which go
        through the write gate (assistant.memory.policy). Invalid output is retried; a final
        failure stays visible in `memory.extraction_status()` and is retried with
        `retry_failed`. Bounded by `limit` jobs; run it on the model lane after a reply."""
        database = self._opened_database()
        if not self._config.load().fact_extraction:
            return ExtractionRun()
        if not self.memory.extraction_status()["pending"] and not retry_failed:
            return ExtractionRun()  # nothing queued: do not load a model for it
        engine = self._ensure_engine(None)
        run = run_jobs(database, engine, limit=limit, retry_failed=retry_failed, cancel=cancel)
        if run.fact_ids:
            self.memory._changed(run.fact_ids)
        return run

    def _memories_forgotten(self, ids: list[int]) -> None:
        self._prompt_cache_stale = True
        self._adapter_stale = True  # an adapter trained on them is gone with them

    def _opened_database(self) -> EncryptedDatabase:
        self.open()
        assert self._database is not None
        return self._database

    def _remember_turn(self, conversation: Conversation, message: Message) -> int | None:
        """Every exchange becomes an episode memory as it happens (no model needed); returns
        its id (None in incognito conversations, which remember nothing)."""
        if conversation.incognito or not message.content.strip():
            return None
        (memory_id,) = self.memory.add(
            [
                NewMemory(
                    text=message.content,
                    kind="episode",
                    source_type="conversation",
                    source_ref=f"conversation:{conversation.id}/message:{message.id}",
                    trust="user-stated" if message.role == "user" else "assistant",
                    occurred_at=message.created_at,
                    conversation_id=conversation.id,
                    message_id=message.id,
                    speaker="user" if message.role == "user" else "assistant",
                    session=f"conversation:{conversation.id}",
                    position=message.id,
                )
            ]
        )
        return memory_id

    def _store_reply(
        self,
        conversation: Conversation,
        user: Message,
        model_name: str,
        text: str,
        finish: str,
        completion: Completion | None,
        elapsed: float,
    ) -> Reply:
        assistant_message = self._store.add_message(
            conversation.id,
            "assistant",
            text,
            model=model_name,
            finish_reason=finish,
            prompt_tokens=completion.prompt_tokens if completion else None,
            completion_tokens=completion.completion_tokens if completion else None,
        )
        self._did_change(conversation.id)
        stats = ReplyStats(
            model=model_name,
            finish_reason=finish,
            prompt_tokens=completion.prompt_tokens if completion else 0,
            completion_tokens=completion.completion_tokens if completion else 0,
            reused_prompt_tokens=completion.reused_prompt_tokens if completion else 0,
            dropped_turns=completion.dropped_turns if completion else 0,
            first_token_s=completion.first_token_s if completion else None,
            total_s=completion.total_s if completion else elapsed,
        )
        return Reply(self._store.get(conversation.id), user, assistant_message, stats)

    def _pinned_memories(self) -> list[Memory]:
        """The active pinned memories (at most PROFILE_ROWS), oldest first: the profile."""
        with self._opened_database().read() as db:
            rows = db.query(PROFILE_QUERY, [PROFILE_ROWS])
            return [memory_from_row(row) for row in rows]

    def _system_message_text(self) -> str:
        """The system prompt without the day, which changes: consolidation trains with it."""
        return _system_prompt()

    def _system_message(self) -> ChatMessage:
        text = _system_prompt()
        # Day granularity keeps the prompt prefix stable (and its KV cache reusable) all day.
        return ChatMessage("system", f"{text}\nToday is {date.today().isoformat()}.")

    def _generation_settings(self) -> GenerationSettings:
        settings = self._config.load()
        return GenerationSettings(
            max_tokens=settings.max_tokens, temperature=settings.temperature, seed=settings.seed
        )

    def _ensure_engine(self, model: str | Path | None) -> Engine:
        from assistant.engine.factory import engine_for, resolve_model

        settings = self._config.load()
        target = resolve_model(self.models, model)
        key = (target, settings.n_ctx, settings.n_gpu_layers, settings.n_threads)
        if self._engine is None or self._engine_key != key:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            self._engine = engine_for(target, settings)
            self._engine_key = key
            self._prompt_cache_stale = False
            self._adapter_stale = True
            self._applied_adapter = None
        if self._prompt_cache_stale:
            self._prompt_cache_stale = False
            self._engine.forget_cached_prompts()
        if self._adapter_stale and self._database is not None:
            self._sync_adapter(self._engine, target.location if target.kind == "gguf" else None)
        return self._engine

    # -- import ------------------------------------------------------------------------------

    def import_(
        self,
        paths: Sequence[str | os.PathLike[str]],
        progress: Callable[[ImportProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportSummary:
        """Import files and folders (recursively) into memory as "imported" chunks.

        Incremental: unchanged files are skipped, changed ones replace their old chunks. A file
        that cannot be read is listed in the summary and the job goes on. Cancel stops between
        files or chunks; finished files stay, the current one is left as it was. Long: run it on
        its own lane. `progress` runs on this thread. See assistant.importers.job.
        """
        from assistant.importers import run_import

        database = self._opened_database()
        started = now_iso()  # not max(id): a replaced chunk's id can be reused by its successor
        summary = run_import(paths, self.memory, database, progress=progress, cancel=cancel)
        settings = self._config.load()
        if settings.extract_from_imports and settings.fact_extraction:
            # Opt-in: the model reads each new chunk for facts, which can only reach the inbox.
            with database.read() as db:
                new = db.execute(
                    "SELECT id FROM memories WHERE created_at >= ? AND kind = 'chunk'", [started]
                ).fetchall()
            for (memory_id,) in new:
                self.memory.enqueue_extraction(memory_id)
        return summary

    def forget_missing(self, missing: Sequence[tuple[str, str | None]]) -> int:
        """Forget what files (item None) or items of a file (an email's key) that an import found
        missing (`ImportSummary.missing`) had added, with their import records. The user chooses:
        an import never removes them by itself. Returns how many memory rows went."""
        from assistant.importers.job import forget_missing

        return forget_missing(self.memory, self._opened_database(), missing)

    # -- diagnostics ---------------------------------------------------------------------------

    def doctor(self) -> DoctorReport:
        """Versions, llama.cpp offload, keychain, paths, database and model status. Creates nothing."""
        from assistant.doctor import build_report

        return build_report(self)

    def encryption_status(self) -> dict[str, object]:
        """Whether the database is encrypted (SQLCipher) and where its key lives. Opens the database
        if it exists (never creates it); reads nothing secret."""
        from assistant.doctor import encryption_status

        return encryption_status(self)

    def _did_change(self, conversation_id: int) -> None:
        for callback in list(self.conversation_did_change):
            with contextlib.suppress(Exception):
                callback(conversation_id)
