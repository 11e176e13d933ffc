"""Turn the user's choice of model (a path, a registered name, or the active one) into an engine.

A local GGUF's GPU layers pick themselves: with `n_gpu_layers` unset and a llama.cpp build that can
offload, the model's memory need is planned against this machine (`hardware.plan_for_model`) and
the plan's `n_gpu_layers` is used; a number in the settings always wins.
"""

from __future__ import annotations

import os
from pathlib import Path

from assistant.config import Settings
from assistant.engine.base import Engine
from assistant.engine.models import ModelCatalog
from assistant.errors import ModelError, NotFoundError
from assistant.types import MachineMemory, ModelEntry, OffloadPlan


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


def offload_plan(
    entry: ModelEntry, n_ctx: int, machine: MachineMemory | None = None
) -> OffloadPlan | None:
    """Where the GGUF `entry` would run with an `n_ctx` window on this machine (read now unless
    given); None for a server model. Raises ModelError for a missing or damaged file. Reads the
    file's header and this machine's memory (may start the GPU driver): off the UI thread."""
    if entry.kind != "gguf":
        return None
    from assistant.engine.gguf_file import inspect_gguf
    from assistant.engine.hardware import machine_memory, plan_for_model

    info = inspect_gguf(entry.location)
    return plan_for_model(info, n_ctx, machine if machine is not None else machine_memory())


def gpu_layers_for(entry: ModelEntry, settings: Settings) -> int | None:
    """The `n_gpu_layers` a GGUF model loads with: the setting when set, else the offload plan's
    choice when llama.cpp can offload, else None (the engine then uses the CPU)."""
    if settings.n_gpu_layers is not None or entry.kind != "gguf":
        return settings.n_gpu_layers
    from assistant.engine.hardware import llama_can_offload

    if not llama_can_offload():
        return None
    plan = offload_plan(entry, settings.n_ctx)
    return None if plan is None else plan.n_gpu_layers


def engine_for(entry: ModelEntry, settings: Settings) -> Engine:
    if entry.kind == "gguf":
        from assistant.engine.llamacpp import LlamaCppEngine

        return LlamaCppEngine(
            entry.location,
            n_ctx=settings.n_ctx,
            n_gpu_layers=gpu_layers_for(entry, settings),
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
