"""The `mneme` command line: output, stored results, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlcipher3

from assistant import Assistant
from assistant.cli import main
from tests.assistant.cli_helpers import assert_one_line_error, run


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "mneme 0.1.0"


def test_doctor_json_reports_every_part(
    capsys: pytest.CaptureFixture[str], tiny_model: Path
) -> None:
    run(capsys, "models", "add", str(tiny_model))
    code, out, _ = run(capsys, "doctor", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["version"] == "0.1.0"
    assert report["packages"]["llama-cpp-python"]
    assert isinstance(report["llama_cpp"]["gpu_offload"], bool)
    assert report["keyring"]["usable"] is True
    assert report["paths"]["database"].endswith("mneme.db")
    assert report["database"]["exists"] is False  # doctor creates nothing
    assert report["model"]["status"] == "ok"
    threads = report["recall_threads"]
    assert threads["works"] is True and "openblas" in {lib["api"] for lib in threads["libraries"]}
    run(capsys, "ask", "hello", "--max-tokens", "3")
    report = json.loads(run(capsys, "doctor", "--json")[1])
    assert report["database"]["status"] == "ok"
    assert report["database"]["messages"] == 2
    assert (
        "community" in report["database"]["cipher_version"] or report["database"]["cipher_version"]
    )


def test_doctor_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert "llama.cpp: GPU offload" in out and "keychain:" in out and "database:" in out
    assert "recall: one BLAS thread while recalling" in out


def test_models_add_list_use(
    capsys: pytest.CaptureFixture[str], tiny_model: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "other.gguf"
    copy.write_bytes(tiny_model.read_bytes())
    assert run(capsys, "models", "add", str(tiny_model))[0] == 0
    assert run(capsys, "models", "add", str(copy), "--name", "second")[0] == 0
    entries = json.loads(run(capsys, "models", "list", "--json")[1])
    assert [(e["name"], e["active"]) for e in entries] == [("second", False), ("tiny", True)]
    code, out, _ = run(capsys, "models", "use", "second")
    assert code == 0 and "second" in out
    entries = json.loads(run(capsys, "models", "list", "--json")[1])
    assert [e["name"] for e in entries if e["active"]] == ["second"]
    code, out, _ = run(capsys, "models", "list")
    assert "* second" in out


def test_ask_streams_the_reply_and_stores_the_exchange(
    capsys: pytest.CaptureFixture[str], tiny_model: Path
) -> None:
    run(capsys, "models", "add", str(tiny_model))
    code, out, err = run(
        capsys, "ask", "--max-tokens", "12", "--seed", "3", "Where", "is", "Paris?"
    )
    assert code == 0, err
    assert out.strip()
    with Assistant() as assistant:
        (conversation,) = assistant.conversations()
        messages = assistant.messages(conversation.id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[0].content == "Where is Paris?"
    assert messages[1].content == out[:-1]  # stdout is exactly the reply plus a newline


def test_ask_json_and_continuing_a_conversation(
    capsys: pytest.CaptureFixture[str], tiny_model: Path
) -> None:
    code, out, _ = run(
        capsys, "ask", "--json", "--model", str(tiny_model), "--max-tokens", "4", "hi"
    )
    first = json.loads(out)
    assert code == 0 and first["completion_tokens"] == 4 and first["finish_reason"] == "length"
    out = run(
        capsys,
        "ask",
        "--json",
        "--model",
        str(tiny_model),
        "--conversation",
        str(first["conversation_id"]),
        "--max-tokens",
        "4",
        "more",
    )[1]
    assert json.loads(out)["conversation_id"] == first["conversation_id"]


@pytest.mark.parametrize(
    ("make_model", "fragments"),
    [
        (lambda tmp, tiny: tmp / "nowhere.gguf", ["Model file not found", "nowhere.gguf"]),
        (lambda tmp, tiny: _write(tmp / "notes.gguf", b"just some text"), ["not a GGUF"]),
        (
            lambda tmp, tiny: _write(tmp / "cut.gguf", tiny.read_bytes()[:30000]),
            ["truncated", "download it again"],
        ),
        (lambda tmp, tiny: tmp, ["is a folder"]),
        (lambda tmp, tiny: "no-such-model-name", ["neither a registered model nor a .gguf"]),
    ],
)
def test_model_mistakes_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model: Path, make_model, fragments
) -> None:
    model = make_model(tmp_path, tiny_model)
    code, _, err = run(capsys, "ask", "--model", str(model), "hello")
    assert_one_line_error(code, err, *fragments)
    code, _, err = run(capsys, "models", "add", str(model))
    assert code == 1 and len(err.strip().splitlines()) == 1


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_no_model_configured(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ask", "hello")
    assert_one_line_error(code, err, "No model is set up", "mneme models add")


def test_unknown_names_and_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(*run(capsys, "models", "use", "ghost")[::2], "no model named 'ghost'")
    assert_one_line_error(*run(capsys, "conversations", "show", "42")[::2], "no conversation 42")


def test_wrong_key_and_missing_keychain_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNEME_DB_KEY", "the right passphrase")
    assert run(capsys, "conversations", "list")[0] == 0
    monkeypatch.setenv("MNEME_DB_KEY", "a wrong passphrase")
    assert_one_line_error(*run(capsys, "conversations", "list")[::2], "cannot be decrypted")
    monkeypatch.delenv("MNEME_DB_KEY")
    import keyring
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    assert_one_line_error(*run(capsys, "conversations", "list")[::2], "MNEME_DB_KEY")


def test_busy_database_is_one_line(
    capsys: pytest.CaptureFixture[str], tiny_model: Path, memory_keyring, monkeypatch
) -> None:
    run(capsys, "models", "add", str(tiny_model))
    run(capsys, "ask", "--max-tokens", "2", "first")
    for module in ("assistant.cli.chat_commands", "assistant.cli.terminal"):
        monkeypatch.setattr(f"{module}.open_assistant", lambda: Assistant(busy_timeout=0.2))
    (secret,) = memory_keyring.secrets.values()
    with Assistant() as assistant:
        path = assistant.paths.database
    blocker = sqlcipher3.connect(str(path), isolation_level=None)
    blocker.execute(f"PRAGMA key = \"x'{secret}'\"")
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute(
        "INSERT INTO conversations (title, created_at, updated_at) VALUES ('x','1','1')"
    )
    try:
        code, _, err = run(capsys, "ask", "--max-tokens", "2", "second")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert_one_line_error(code, err, "busy")


def test_bad_arguments_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ask", "--max-tokens", "0", "hi"])
    assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_chat_in_a_terminal_session(tiny_model: Path, mneme_home: Path) -> None:
    env = {**os.environ, "MNEME_HOME": str(mneme_home), "MNEME_DB_KEY": "terminal test"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ui.launcher",
            "chat",
            "--model",
            str(tiny_model),
            "--max-tokens",
            "5",
        ],
        input="Hello there\n\nHow are you?\n/exit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("mneme> ") == 2
    with_key = subprocess.run(
        [sys.executable, "-m", "ui.launcher", "conversations", "show", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    shown = json.loads(with_key.stdout)
    assert [m["content"] for m in shown["messages"] if m["role"] == "user"] == [
        "Hello there",
        "How are you?",
    ]


def test_the_console_script_runs_without_a_display(mneme_home: Path) -> None:
    script = Path(sys.executable).parent / "mneme"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "mneme 0.1.0"
