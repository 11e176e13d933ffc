"""OpenAIEngine against a real OpenAI-compatible server on loopback: llama-cpp-python's own
`llama_cpp.server` serving the tiny model."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant, CancelToken
from assistant.engine.base import ChatMessage, GenerationSettings
from assistant.engine.openai import OpenAIEngine
from assistant.errors import RemoteModelNotFoundError, ServerAuthError, ServerUnreachableError

pytestmark = pytest.mark.server
API_KEY = "test-key-123"
MESSAGES = [ChatMessage("system", "You are a test."), ChatMessage("user", "Hello")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tiny_model: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(tiny_model),
            "--model_alias",
            "tiny",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "1024",
            "--api_key",
            API_KEY,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while True:
        try:
            request = urllib.request.Request(url + "/models")
            request.add_header("Authorization", f"Bearer {API_KEY}")
            urllib.request.urlopen(request, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"llama_cpp.server did not start: {process.stderr.read()!r}"
                ) from None
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_lists_models_and_streams_a_reply(server_url: str) -> None:
    engine = OpenAIEngine(server_url, "tiny", api_key=API_KEY)
    assert "tiny" in engine.list_models()
    stream = engine.stream(MESSAGES, GenerationSettings(max_tokens=16, temperature=0.0))
    pieces = list(stream)
    assert len(pieces) > 1
    assert stream.completion is not None
    assert stream.completion.text == "".join(pieces)
    assert stream.completion.finish_reason == "length"


def test_cancel_stops_the_stream(server_url: str) -> None:
    engine = OpenAIEngine(server_url, "tiny", api_key=API_KEY)
    cancel = CancelToken()
    stream = engine.stream(MESSAGES, GenerationSettings(max_tokens=800, temperature=0.0), cancel)
    received = []
    for piece in stream:
        received.append(piece)
        if len(received) == 2:
            cancel.cancel()
    assert len(received) == 2
    assert stream.completion is not None and stream.completion.finish_reason == "cancelled"
    # The server is still fine for the next request.
    assert engine.stream(MESSAGES, GenerationSettings(max_tokens=4)).drain().text


def test_wrong_api_key_is_a_clear_error(server_url: str) -> None:
    with pytest.raises(ServerAuthError, match="rejected the API key"):
        OpenAIEngine(server_url, "tiny", api_key="wrong").check()
    with pytest.raises(ServerAuthError):
        OpenAIEngine(server_url, "tiny").stream(MESSAGES, GenerationSettings())


def test_missing_model_is_a_clear_error(server_url: str) -> None:
    engine = OpenAIEngine(server_url, "llama-70b", api_key=API_KEY)
    with pytest.raises(
        RemoteModelNotFoundError, match=r"does not serve the model 'llama-70b'.*tiny"
    ):
        engine.stream(MESSAGES, GenerationSettings())


def test_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerUnreachableError, match="Cannot reach the model server"):
        OpenAIEngine(url, "tiny").stream(MESSAGES, GenerationSettings())


def test_assistant_chats_through_a_registered_server(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.cli import main

    monkeypatch.setenv("TEST_SERVER_KEY", API_KEY)
    assert (
        main(
            [
                "models",
                "add",
                server_url,
                "--name",
                "box",
                "--remote-model",
                "tiny",
                "--api-key-env",
                "TEST_SERVER_KEY",
            ]
        )
        == 0
    )
    assert main(["ask", "--json", "--max-tokens", "5", "Hello server"]) == 0
    answer = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert answer["reply"] and answer["model"] == f"tiny @ {server_url}"
    with Assistant() as assistant:
        (conversation,) = assistant.conversations()
        assert [m.role for m in assistant.messages(conversation.id)] == ["user", "assistant"]
    monkeypatch.delenv("TEST_SERVER_KEY")
    assert main(["ask", "hello"]) == 1
    assert "$TEST_SERVER_KEY" in capsys.readouterr().err
