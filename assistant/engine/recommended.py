"""The shipped list of recommended small models (`resources/models/recommended.json`).

Each suggestion is judged against this machine's memory (`hardware.plan_offload`: "fits", "partly on
GPU (N layers)" or "too big for this machine") and the models folder (already downloaded, or a partial
download to resume).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from assistant.engine.hardware import plan_offload
from assistant.errors import ConfigError
from assistant.resources import read_text
from assistant.types import MachineMemory, RecommendedModel

CATALOG = ("models", "recommended.json")


@dataclass(frozen=True)
class Suggestion:
    title: str
    repo_id: str
    filename: str
    size_bytes: int
    parameters: str
    license: str
    kv_bytes_per_token: int
    description: str
    block_count: int | None = None  # the model's layers; without it a typical 32 is assumed

    @property
    def name(self) -> str:
        return Path(self.filename).stem


@functools.cache
def suggestions() -> tuple[Suggestion, ...]:
    """Read once per process. A damaged file is a ConfigError naming it (it ships with the app)."""
    try:
        raw = json.loads(read_text(*CATALOG))
        return tuple(Suggestion(**entry) for entry in raw["models"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"The list of recommended models is damaged: {error}") from None


def download_target(models_dir: Path, repo_id: str, filename: str) -> Path:
    """Where `ModelCatalog.download` puts a file (its `.part` sits beside it while incomplete)."""
    return models_dir / repo_id.replace("/", "--") / Path(filename).name


def recommended(models_dir: Path, n_ctx: int, machine: MachineMemory) -> list[RecommendedModel]:
    result = []
    for item in suggestions():
        target = download_target(models_dir, item.repo_id, item.filename)
        part = target.with_name(target.name + ".part")
        partial = part.stat().st_size if part.exists() else 0
        plan = plan_offload(
            item.size_bytes,
            n_ctx,
            machine,
            n_layers=item.block_count,
            kv_bytes_per_token=item.kv_bytes_per_token,
        )
        result.append(
            RecommendedModel(
                name=item.name,
                title=item.title,
                repo_id=item.repo_id,
                filename=item.filename,
                size_bytes=item.size_bytes,
                parameters=item.parameters,
                description=item.description,
                license=item.license,
                fit=plan.label,
                memory_needed=plan.memory_needed,
                local_path=str(target) if target.is_file() else None,
                partial_bytes=partial,
                fit_reason=plan.reason,
                n_gpu_layers=plan.n_gpu_layers,
                tight=plan.tight,
            )
        )
    return result
