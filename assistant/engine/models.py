"""The user's models: local GGUF files and OpenAI-compatible servers, kept in the settings file."""

from __future__ import annotations

import builtins
import os
import re
from pathlib import Path

from assistant.cancel import CancelToken
from assistant.config import ConfigStore, Settings
from assistant.engine.download import Downloaded, Progress, download, huggingface_url
from assistant.engine.gguf_file import inspect_gguf
from assistant.engine.recommended import download_target, recommended
from assistant.errors import ConfigError, ModelError, NoModelError, NotFoundError
from assistant.types import MachineMemory, ModelEntry, RecommendedModel

_NAME = re.compile(r"^[\w.@+-]{1,80}$")
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")


class ModelCatalog:
    """Threading: settings are re-read on each call, so the CLI and the app see each other's edits."""

    def __init__(self, config: ConfigStore, models_dir: Path) -> None:
        self._config = config
        self._models_dir = models_dir

    def list(self) -> list[ModelEntry]:
        settings = self._config.load()
        return [self._entry(name, settings) for name in sorted(settings.models)]

    def active(self) -> ModelEntry | None:
        settings = self._config.load()
        if settings.active_model is None:
            return None
        if settings.active_model not in settings.models:
            raise ConfigError(
                f"The active model '{settings.active_model}' is not in the model list; "
                "choose one with `mneme models use NAME`."
            )
        return self._entry(settings.active_model, settings)

    def require_active(self) -> ModelEntry:
        entry = self.active()
        if entry is None:
            raise NoModelError(
                "No model is set up yet: add a .gguf file with `mneme models add PATH` or "
                "download one with `mneme models download REPO FILE`."
            )
        return entry

    def add_file(self, path: str | Path, name: str | None = None) -> ModelEntry:
        info = inspect_gguf(path)
        location = info.path.resolve()
        chosen = location.stem if name is None else name
        return self._add(chosen, {"kind": "gguf", "location": str(location)})

    def add_server(
        self,
        url: str,
        name: str,
        *,
        remote_model: str | None = None,
        api_key_env: str | None = None,
    ) -> ModelEntry:
        if not re.match(r"^https?://[^\s/]+", url):
            raise ModelError(f"'{url}' is not an http(s) URL of an OpenAI-compatible server.")
        entry = {
            "kind": "openai",
            "location": url.rstrip("/"),
            "remote_model": remote_model,
            "api_key_env": api_key_env,
        }
        return self._add(name, entry)

    def use(self, name: str) -> ModelEntry:
        settings = self._config.load()
        if name not in settings.models:
            known = ", ".join(sorted(settings.models)) or "none yet"
            raise NotFoundError(f"There is no model named '{name}' (known: {known}).")
        settings.active_model = name
        self._config.save(settings)
        return self._entry(name, settings)

    def remove(self, name: str) -> None:
        """Forget the entry (the file stays on disk)."""
        settings = self._config.load()
        if name not in settings.models:
            raise NotFoundError(f"There is no model named '{name}'.")
        del settings.models[name]
        if settings.active_model == name:
            settings.active_model = None
        self._config.save(settings)

    def download(
        self,
        repo_id: str,
        filename: str,
        *,
        revision: str = "main",
        sha256: str | None = None,
        name: str | None = None,
        progress: Progress | None = None,
        cancel: CancelToken | None = None,
    ) -> tuple[ModelEntry, Downloaded]:
        """Download `filename` from a Hugging Face repo into the models folder and register it.

        Long-running: call it off the UI thread; `progress` is called on the calling thread.
        """
        if not _REPO.match(repo_id):
            raise ModelError(f"'{repo_id}' is not a repository id like 'owner/name'.")
        if not filename.lower().endswith(".gguf") or ".." in Path(filename).parts:
            raise ModelError(f"'{filename}' is not a .gguf file name inside the repository.")
        settings = self._config.load()
        url = huggingface_url(
            repo_id, filename, revision=revision, endpoint=settings.download_endpoint
        )
        target = download_target(self._models_dir, repo_id, filename)
        result = download(
            url,
            target,
            expected_sha256=sha256,
            token=_huggingface_token(),
            progress=progress,
            cancel=cancel,
        )
        return self.add_file(result.path, name or target.stem), result

    def recommended(
        self, *, n_ctx: int | None = None, machine: MachineMemory | None = None
    ) -> builtins.list[RecommendedModel]:
        """The shipped small models, each with whether it fits this machine at `n_ctx` (default:
        the setting) and whether it is downloaded or partly downloaded.

        Reads RAM and, where cheap, free VRAM (`machine()`): call it off the UI thread.
        """
        context = self._config.load().n_ctx if n_ctx is None else n_ctx
        return recommended(self._models_dir, context, machine or self.machine())

    def machine(self) -> MachineMemory:
        """This machine's RAM and (when an NVIDIA driver answers) free VRAM, read now."""
        from assistant.engine.hardware import machine_memory

        return machine_memory()

    def _add(self, name: str, entry: dict[str, str | None]) -> ModelEntry:
        if not _NAME.match(name):
            raise ModelError(
                f"'{name}' is not a usable model name (letters, digits, . _ - @ +; up to 80)."
            )
        settings = self._config.load()
        existing = settings.models.get(name)
        if existing is not None and existing.get("location") != entry["location"]:
            raise ModelError(
                f"A different model is already named '{name}'; pick another name with --name."
            )
        settings.models[name] = entry
        if settings.active_model is None:
            settings.active_model = name
        self._config.save(settings)
        return self._entry(name, settings)

    def _entry(self, name: str, settings: Settings) -> ModelEntry:
        raw = settings.models[name]
        size = None
        note = None
        if raw["kind"] == "gguf":
            try:
                size = Path(raw["location"]).stat().st_size
            except OSError:
                note = "file missing"
        return ModelEntry(
            name=name,
            kind=raw["kind"],
            location=raw["location"],
            size_bytes=size,
            remote_model=raw.get("remote_model"),
            api_key_env=raw.get("api_key_env"),
            active=settings.active_model == name,
            note=note,
        )


def _huggingface_token() -> str | None:
    try:
        from huggingface_hub import get_token

        token = get_token()
    except Exception:  # noqa: BLE001 - no token is the normal case
        token = None
    return token or os.environ.get("HF_TOKEN") or None
