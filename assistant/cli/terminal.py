"""Terminal helpers: error lines, passphrase prompts, a progress bar, opening the Assistant."""

from __future__ import annotations

import getpass
import json
import sys
import time
from typing import Any

from assistant.app import Assistant


def fail(message: str, code: int = 1) -> int:
    print(f"mneme: error: {message}", file=sys.stderr)
    return code


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def terminal_passphrase(creating: bool) -> str | None:
    """Ask on the terminal (twice for a new database)."""
    print("No usable OS keychain: Mneme's database is protected by a passphrase.", file=sys.stderr)
    first = getpass.getpass("Passphrase: ")
    if creating and getpass.getpass("Repeat the passphrase: ") != first:
        print("mneme: the passphrases differ.", file=sys.stderr)
        return None
    return first


def open_assistant() -> Assistant:
    # Without a terminal there is nobody to ask: the error then points at MNEME_DB_KEY.
    provider = terminal_passphrase if sys.stdin.isatty() else None
    return Assistant(passphrase_provider=provider)


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._started = time.monotonic()
        self._drawn = 0.0
        self._interactive = sys.stderr.isatty()

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self._drawn < 0.1 and (total is None or done < total):
            return
        self._drawn = now
        rate = done / max(now - self._started, 1e-6)
        if total:
            filled = int(30 * done / total)
            bar = "#" * filled + "-" * (30 - filled)
            line = f"{self._label} [{bar}] {done / total:6.1%} {_size(done)}/{_size(total)}"
        else:
            line = f"{self._label} {_size(done)}"
        line += f" {_size(int(rate))}/s"
        if self._interactive:
            print("\r" + line, end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self._interactive:
            print(file=sys.stderr)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GB"
