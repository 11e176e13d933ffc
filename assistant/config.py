"""User settings: a small JSON file in the config folder (no secrets, no memory text).

Writes are atomic (temporary file + rename) so a crash never leaves half a file. A malformed file is a
clear ConfigError naming the file, never a silent reset that would lose the user's model list.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError


@dataclass
class Settings:
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    active_model: str | None = None
    n_ctx: int = 4096
    n_gpu_layers: int | None = None  # None: all layers when the llama.cpp build can offload
    n_threads: int | None = None
    max_tokens: int = 1024
    temperature: float = 0.7
    seed: int | None = None
    download_endpoint: str | None = None  # None: huggingface_hub's endpoint (HF_ENDPOINT)
    memory_enabled: bool = True  # recall memories into replies
    learning_enabled: bool = True  # the background job that trains recall from signals
    memory_k: int = 5  # memories recalled per reply
    memory_token_budget: int = 600  # most prompt tokens the memory block may take
    encoder: str | None = None  # sentence-transformers model; None: bundled all-MiniLM-L6-v2
    pool_capacity: int = 1_000_000
    fact_extraction: bool = True  # the model reads each exchange for facts, in the background
    # Also read imported documents and mail for facts (inbox only). Off: it keeps the model busy
    # for hours after a big import.
    extract_from_imports: bool = False
    # Consolidation of stable facts into a LoRA adapter (assistant.memory.consolidate).
    consolidation_schedule: str = "off"  # 'off': only when asked; 'idle': when the machine is idle
    # Most memory the training may take, in MB; None: 70% of the memory available when it starts.
    consolidation_max_memory_mb: int | None = None
    consolidation_max_minutes: int = 30  # refused up front when the estimate is longer
    # How much the safety probes' log-likelihood may fall (nats per token) before an adapter is
    # rejected.
    consolidation_tolerance: float = 0.1
    consolidation_min_uses: int = 3  # recalls that make an unpinned user fact "frequently used"
    consolidation_seed: int = 0

    def validate(self, source: Path) -> None:
        def bad(name: str, expected: str) -> ConfigError:
            return ConfigError(f"Setting '{name}' in {source} must be {expected}.")

        if not isinstance(self.models, dict):
            raise bad("models", "an object")
        for name, entry in self.models.items():
            if not isinstance(entry, dict) or "location" not in entry or "kind" not in entry:
                raise bad(f"models.{name}", "an object with 'kind' and 'location'")
        if self.active_model is not None and not isinstance(self.active_model, str):
            raise bad("active_model", "a model name")
        if not isinstance(self.n_ctx, int) or self.n_ctx < 64:
            raise bad("n_ctx", "an integer of at least 64")
        if self.n_gpu_layers is not None and not isinstance(self.n_gpu_layers, int):
            raise bad("n_gpu_layers", "an integer or null")
        if self.n_threads is not None and (
            not isinstance(self.n_threads, int) or self.n_threads < 1
        ):
            raise bad("n_threads", "a positive integer or null")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise bad("max_tokens", "a positive integer")
        if not isinstance(self.temperature, int | float) or self.temperature < 0:
            raise bad("temperature", "a number of at least 0")
        if not isinstance(self.fact_extraction, bool):
            raise bad("fact_extraction", "true or false")
        if not isinstance(self.extract_from_imports, bool):
            raise bad("extract_from_imports", "true or false")
        if not isinstance(self.memory_enabled, bool):
            raise bad("memory_enabled", "true or false")
        if not isinstance(self.learning_enabled, bool):
            raise bad("learning_enabled", "true or false")
        if not isinstance(self.memory_k, int) or not 0 <= self.memory_k <= 100:
            raise bad("memory_k", "an integer from 0 to 100")
        if not isinstance(self.memory_token_budget, int) or self.memory_token_budget < 0:
            raise bad("memory_token_budget", "a non-negative integer")
        if self.encoder is not None and not isinstance(self.encoder, str):
            raise bad("encoder", "a model name or folder, or null")
        if not isinstance(self.pool_capacity, int) or self.pool_capacity < 1:
            raise bad("pool_capacity", "a positive integer")
        if self.consolidation_schedule not in ("off", "idle"):
            raise bad("consolidation_schedule", "'off' or 'idle'")
        if self.consolidation_max_memory_mb is not None and (
            not isinstance(self.consolidation_max_memory_mb, int)
            or self.consolidation_max_memory_mb < 1
        ):
            raise bad("consolidation_max_memory_mb", "a positive integer or null")
        if (
            not isinstance(self.consolidation_max_minutes, int)
            or self.consolidation_max_minutes < 1
        ):
            raise bad("consolidation_max_minutes", "a positive integer")
        if (
            not isinstance(self.consolidation_tolerance, int | float)
            or self.consolidation_tolerance < 0
        ):
            raise bad("consolidation_tolerance", "a number of at least 0")
        if not isinstance(self.consolidation_min_uses, int) or self.consolidation_min_uses < 1:
            raise bad("consolidation_min_uses", "a positive integer")
        if not isinstance(self.consolidation_seed, int):
            raise bad("consolidation_seed", "an integer")


class ConfigStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Settings:
        if not self.path.exists():
            return Settings()
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"Cannot read the settings file {self.path}: {error}") from None
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"The settings file {self.path} is not valid JSON (line {error.lineno}): "
                "fix or remove it."
            ) from None
        if not isinstance(raw, dict):
            raise ConfigError(f"The settings file {self.path} must hold a JSON object.")
        known = {f.name for f in fields(Settings)}
        settings = Settings(**{key: value for key, value in raw.items() if key in known})
        settings.validate(self.path)
        return settings

    def save(self, settings: Settings) -> None:
        """Side effect: atomically replaces the settings file."""
        settings.validate(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(settings), indent=2, sort_keys=True)
        handle, temporary = tempfile.mkstemp(prefix=".config-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text + "\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
