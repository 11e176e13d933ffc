"""Shared fixtures: an isolated MNEME_HOME, an in-memory keychain, and the tiny GGUF model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from hypothesis import settings
from keyring.backend import KeyringBackend

from assistant import Assistant
from assistant.testing import write_tiny_model

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE: "ci" (the default, what `make test` runs) and
# "fuzz" (`make fuzz`: the fuzz tests run FUZZ_FACTORS["fuzz"] times their CI example counts).
# Fuzz tests assert their own per-item time budget, so no deadline flakes on a busy machine.
# MNEME_FUZZ_FACTOR overrides the fuzz profile's factor (a shorter or longer run).
FUZZ_FACTORS = {"ci": 1, "fuzz": int(os.environ.get("MNEME_FUZZ_FACTOR", "40"))}
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("fuzz", deadline=None, print_blob=True, max_examples=2000)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(HYPOTHESIS_PROFILE)


def fuzz_examples(ci: int) -> int:
    """A fuzz test's example count: `ci` in the CI profile, many more in the "fuzz" profile.
    Use as `@settings(max_examples=fuzz_examples(300))` (`from tests.conftest import ...`)."""
    return ci * FUZZ_FACTORS.get(HYPOTHESIS_PROFILE, 1)


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


@pytest.fixture
def mneme() -> Iterator[Assistant]:
    """An opened Assistant without a model: database, memory and import calls only."""
    instance = Assistant()
    instance.open()
    yield instance
    instance.close()


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
