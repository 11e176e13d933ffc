"""Turn the user's choice of model (a path, a registered name, or the active one) into an engine."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.config import Settings
from assistant.engine.base import Engine
from assistant.engine.models import ModelCatalog
from assistant.errors import ModelError, NotFoundError
from assistant.types import ModelEntry


def resolve_model(catalog: ModelCatalog, model: str | Path | None) -> ModelEntry:
    if model is None:
        return catalog.require_active()
    text = str(model)
    looks_like_path = isinstance(model, Path) or text.lower().endswith(".gguf") or os.sep in text
    if not looks_like_path:
        for entry in catalog.list():
            if entry.name == text:
                return entry
        if not Path(text).exists():
            raise NotFoundError(
                f"'{text}' is neither a registered model nor a .gguf file; see `mneme models list`."
            )
    path = Path(text).expanduser().resolve()
    return ModelEntry(name=path.stem, kind="gguf", location=str(path))


def engine_for(entry: ModelEntry, settings: Settings) -> Engine:
    if entry.kind == "gguf":
        from assistant.engine.llamacpp import LlamaCppEngine

        return LlamaCppEngine(
            entry.location,
            n_ctx=settings.n_ctx,
            n_gpu_layers=settings.n_gpu_layers,
            n_threads=settings.n_threads,
            seed=settings.seed,
        )
    if entry.kind == "openai":
        from assistant.engine.openai import OpenAIEngine

        api_key = None
        if entry.api_key_env:
            api_key = os.environ.get(entry.api_key_env)
            if not api_key:
                raise ModelError(
                    f"The model '{entry.name}' takes its API key from ${entry.api_key_env}, "
                    "which is not set."
                )
        return OpenAIEngine(
            entry.location, entry.remote_model, api_key=api_key, context_window=settings.n_ctx
        )
    raise ModelError(f"The model '{entry.name}' has an unknown kind '{entry.kind}'.")
