"""Shared fixtures: an isolated MNEME_HOME, an in-memory keychain, and the tiny GGUF model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from assistant import Assistant
from assistant.testing import write_tiny_model


class MemoryKeyring(KeyringBackend):
    """A keychain in memory: the real `keyring` API with a backend the test can inspect.

    CI machines have no OS keychain; this stands in for one. It is used only by tests.
    """

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


@pytest.fixture(autouse=True)
def mneme_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mneme-home"
    monkeypatch.setenv("MNEME_HOME", str(home))
    monkeypatch.delenv("MNEME_DB_KEY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny.gguf")


@pytest.fixture
def assistant(tiny_model: Path) -> Iterator[Assistant]:
    """An Assistant with the tiny model registered, a small window and short replies."""
    instance = Assistant()
    instance.models.add_file(tiny_model)
    instance.update_settings(n_ctx=4096, max_tokens=24, temperature=0.0, seed=7)
    yield instance
    instance.close()
