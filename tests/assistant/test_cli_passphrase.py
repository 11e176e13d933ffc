"""Without a keychain, the CLI asks for a passphrase on the terminal (a pseudo-terminal here)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")


def run_in_terminal(args: list[str], answers: list[str], home: Path) -> tuple[int, str]:
    """Run `mneme ARGS` on a pseudo-terminal, typing each answer when a passphrase prompt shows.

    Returns (exit code, everything the terminal showed). getpass flushes input typed ahead of its
    prompt, so each answer is written only after its prompt arrived.
    """
    controller, terminal = pty.openpty()
    env = {
        **os.environ,
        "MNEME_HOME": str(home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    env.pop("MNEME_DB_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.launcher", *args],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        start_new_session=True,  # no controlling terminal: getpass uses the pty on stdin
    )
    os.close(terminal)
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                if pending and shown.endswith(b": "):  # a prompt waits for input
                    os.write(controller, (pending.pop(0) + "\n").encode())
            elif process.poll() is not None:
                break
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    return code, shown.decode(errors="replace")


def test_passphrase_is_asked_twice_on_first_run_then_once(mneme_home: Path) -> None:
    secret = "my long passphrase"
    code, shown = run_in_terminal(["conversations", "list"], [secret, secret], mneme_home)
    assert code == 0, shown
    assert "No usable OS keychain" in shown and "Repeat the passphrase" in shown
    assert secret not in shown  # typed without echo
    assert (mneme_home / "data" / "mneme.db").exists()
    code, shown = run_in_terminal(["conversations", "list"], [secret], mneme_home)
    assert code == 0, shown
    assert "Repeat" not in shown
    code, shown = run_in_terminal(["conversations", "list"], ["not it"], mneme_home)
    assert code == 1
    assert shown.strip().splitlines()[-1].startswith("mneme: error: The database")


def test_mismatched_passphrases_create_nothing(mneme_home: Path) -> None:
    code, shown = run_in_terminal(["conversations", "list"], ["one", "two"], mneme_home)
    assert code == 1
    assert "passphrases differ" in shown
    assert not (mneme_home / "data" / "mneme.db").exists()
