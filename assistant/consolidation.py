"""The Assistant's consolidation methods: facts into the model's weights (a LoRA adapter).

Mixed into `assistant.app.Assistant` (the front door); the work is in assistant.memory.consolidate
and assistant.memory.adapter_store.

Threading:
- `consolidate` is long and CPU-bound: run it on a worker of its own. It never touches the chat
  engine (it loads private copies of the model), so replies go on meanwhile.
- The adapter reaches the chat engine on the model lane: every change (a new version, the off
  switch, a rollback, a forgotten fact) only marks it stale, and the next model use applies it
  (`_sync_adapter`, called from `_ensure_engine`), clearing the KV cache.
- The rest are quick database reads and writes: any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.cancel import CancelToken
from assistant.errors import ConsolidationRefused, MnemeError
from assistant.types import (
    AdapterVersion,
    ConsolidatedFact,
    ConsolidationProgress,
    ConsolidationStatus,
)

if TYPE_CHECKING:
    from assistant.config import ConfigStore
    from assistant.engine.models import ModelCatalog
    from assistant.memory.adapter_store import AdapterStore
    from assistant.storage.database import EncryptedDatabase

RETRY_AFTER = timedelta(hours=1)  # the idle schedule's pause after any attempt


class ConsolidationMethods:
    _config: ConfigStore
    models: ModelCatalog
    _engine: Any
    _engine_key: Any
    _adapter_stale: bool
    _applied_adapter: int | None
    _adapter_fingerprints: dict[tuple[str, int, float], str]

    def _opened_database(self) -> EncryptedDatabase:
        raise NotImplementedError

    def _system_message_text(self) -> str:
        raise NotImplementedError

    def _adapters(self) -> AdapterStore:
        from assistant.memory.adapter_store import AdapterStore

        return AdapterStore(self._opened_database())

    # -- reading -----------------------------------------------------------------------------
    def consolidation_status(self) -> ConsolidationStatus:
        from assistant.memory.consolidate import snapshot_ids

        store = self._adapters()
        settings = self._config.load()
        return ConsolidationStatus(
            enabled=store.enabled(),
            active=store.active(),
            rebuild_pending=store.rebuild_pending(),
            facts_ready=len(snapshot_ids(self._opened_database(), settings.consolidation_min_uses)),
            schedule=settings.consolidation_schedule,
            last_error=store.last_error(),
        )

    def adapter_versions(self) -> list[AdapterVersion]:
        return self._adapters().versions()

    def adapter_facts(self, adapter_id: int | None = None) -> list[ConsolidatedFact]:
        store = self._adapters()
        if adapter_id is None:
            active = store.active()
            if active is None:
                return []
            adapter_id = active.id
        return store.facts(adapter_id)

    def consolidation_due(self) -> bool:
        """Whether the idle schedule should start a run now (see the module docstring)."""
        from assistant.memory.consolidate import snapshot_ids

        settings = self._config.load()
        if settings.consolidation_schedule != "idle":
            return False
        store = self._adapters()
        last = store.last_attempt()
        if last is not None:
            when = datetime.fromisoformat(last)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            if datetime.now(UTC) - when < RETRY_AFTER:
                return False
        ready = snapshot_ids(self._opened_database(), settings.consolidation_min_uses)
        if not ready:
            return False
        active = store.active()
        return store.rebuild_pending() or active is None or store.fact_ids(active.id) != ready

    # -- changing ----------------------------------------------------------------------------
    def consolidate(
        self,
        *,
        progress: Callable[[ConsolidationProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> AdapterVersion:
        """Train the current snapshot of stable facts into a new adapter version, check it, and
        (if it passes the safety gate) make it the active one. See assistant.memory.consolidate.
        Raises ConsolidationRefused with the reason when it cannot run. Long: its own worker."""
        from assistant.engine.factory import resolve_model
        from assistant.memory.consolidate import Consolidator

        try:
            entry = resolve_model(self.models, None)
        except MnemeError as error:
            raise ConsolidationRefused(f"Consolidation needs a model: {error}") from None
        if entry.kind != "gguf":
            raise ConsolidationRefused(
                "Consolidation needs a local GGUF model; the active model runs on a server."
            )
        settings = self._config.load()
        consolidator = Consolidator(
            self._opened_database(), Path(entry.location), settings, self._system_message_text()
        )
        version = consolidator.run(progress, cancel)
        self._adapter_stale = True
        return version

    def set_adapter_enabled(self, enabled: bool) -> None:
        """The off switch (persisted): off, no adapter is applied to the model."""
        self._adapters().set_enabled(enabled)
        self._adapter_stale = True

    def use_adapter(self, adapter_id: int) -> AdapterVersion:
        """Roll back (or forward) to a kept version; it becomes the active one."""
        version = self._adapters().use(adapter_id)
        if version is None:
            raise MnemeError(
                f"There is no usable adapter version {adapter_id}: see `mneme memory adapters`."
            )
        self._adapter_stale = True
        return version

    # -- the model lane ----------------------------------------------------------------------
    def _sync_adapter(self, engine: Any, model_path: str | None) -> None:
        """Apply the adapter the database names (or none) to `engine`. Model lane only."""
        from assistant.memory.consolidate import fingerprint

        self._adapter_stale = False
        set_adapter = getattr(engine, "set_adapter", None)
        if set_adapter is None or model_path is None:
            return
        wanted = self._adapters().applied()
        if wanted is not None:
            path = Path(model_path)
            stat = path.stat()
            key = (str(path), stat.st_size, stat.st_mtime)
            if key not in self._adapter_fingerprints:
                self._adapter_fingerprints[key] = fingerprint(path)
            if self._adapter_fingerprints[key] != wanted[2]:
                wanted = None  # trained on another model: it would not fit this one
        if wanted is None:
            if getattr(engine, "adapter_in_use", False):
                set_adapter(None)
            self._applied_adapter = None
            return
        if self._applied_adapter == wanted[0] and getattr(engine, "adapter_in_use", False):
            return
        self._applied_adapter = None
        set_adapter(wanted[1])
        self._applied_adapter = wanted[0]
