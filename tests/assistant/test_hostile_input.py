"""Malformed and hostile input: clear errors, nothing lost, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import Assistant
from assistant.cli import main
from assistant.config import ConfigStore, Settings
from assistant.errors import ConfigError

SLOW_OK = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SLOW_OK
@given(text=st.text(min_size=1, max_size=2000))
def test_any_text_is_stored_and_read_back_exactly(mneme_home: Path, text: str) -> None:
    with Assistant() as assistant:
        conversation = assistant.new_conversation("round trip")
        stored = assistant._store.add_message(conversation.id, "user", text)
        assert assistant.messages(conversation.id)[-1].content == text
        assert stored.content == text


@SLOW_OK
@given(content=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_a_garbled_settings_file_is_a_clear_error_and_is_kept(
    mneme_home: Path, content: bytes
) -> None:
    path = mneme_home / "config" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    try:
        ConfigStore(path).load()
    except ConfigError as error:
        assert str(path) in str(error)
    assert path.read_bytes() == content  # never silently reset: the user's model list is in there


@pytest.mark.parametrize(
    "content",
    [
        '{"models": [], "active_model": null}',
        '{"n_ctx": "big"}',
        '{"models": {"x": {"kind": "gguf"}}}',
        '{"max_tokens": -5}',
        "[1, 2, 3]",
        '{"n_ctx": 4096,',
    ],
)
def test_settings_mistakes_make_commands_fail_with_one_line(
    mneme_home: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = mneme_home / "config" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    assert main(["models", "list"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]


def test_settings_are_written_atomically(mneme_home: Path) -> None:
    store = ConfigStore(mneme_home / "config" / "config.json")
    store.save(Settings(n_ctx=2048))
    assert json.loads(store.path.read_text())["n_ctx"] == 2048
    bad = Settings(n_ctx=1)
    with pytest.raises(ConfigError):
        store.save(bad)
    assert json.loads(store.path.read_text())["n_ctx"] == 2048
    assert [p.name for p in store.path.parent.iterdir()] == ["config.json"]


@pytest.mark.parametrize("name", ["", "two words", "a/b", "x" * 81, "../escape"])
def test_odd_model_names_are_refused(
    tiny_model: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["models", "add", str(tiny_model), "--name", name]) == 1
    assert "not a usable model name" in capsys.readouterr().err
