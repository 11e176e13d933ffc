"""Cold start: the desktop app shows its window before torch, the encoder or llama.cpp load.

Each test starts the app in a fresh interpreter (other tests have imported those libraries into
this one), offscreen, over the `mneme` fixture's profile, with the start-up probe that
benchmarks/startup.py uses: the app writes the time of its first frame to a file and quits.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.memory.store import NewMemory
from tests.assistant.test_lazy_imports import HEAVY, ROOT
from ui.app import STARTUP_PROBE

# The real `ui.app.run`, with a main window that notes which heavy libraries are loaded when it
# paints its first frame (before the paint: what showing the window needed).
FIRST_FRAME_SCRIPT = """
import json, sys
import ui.app
from ui.main_window import MainWindow

HEAVY = {heavy!r}
seen = []

class NotingMainWindow(MainWindow):
    def paintEvent(self, event):
        if not seen:
            seen.append(sorted(name for name in HEAVY if name in sys.modules))
        super().paintEvent(event)

ui.app.MainWindow = NotingMainWindow
status = ui.app.run([sys.argv[0]])
print(json.dumps({{"status": status, "first_frame": seen[0] if seen else None}}))
"""


@pytest.fixture
def db_key(monkeypatch: pytest.MonkeyPatch, mneme_home: Path) -> str:
    """A raw key in MNEME_DB_KEY, so the app in another process opens the same database (the
    in-memory keychain of the tests is not there). Request it before `mneme`."""
    key = secrets.token_hex(32)
    monkeypatch.setenv("MNEME_DB_KEY", key)
    return key


def launch(args: list[str], probe: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", STARTUP_PROBE: str(probe)}
    env.pop("MNEME_QUIT_AFTER_MS", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("with_model", [False, True], ids=["first-run", "model-configured"])
def test_the_window_shows_before_any_heavy_library_loads(
    db_key: str, mneme: Assistant, tiny_model: Path, tmp_path: Path, with_model: bool
) -> None:
    # Memories without vectors yet: filling them loads torch and the encoder, which must wait
    # until the window is on screen.
    mneme.memory.remember("I live in Lisbon")
    mneme.memory.add([NewMemory(text=f"garden note {i}", kind="episode") for i in range(20)])
    mneme.new_conversation("Trip planning")
    if with_model:
        mneme.models.add_file(tiny_model)
    assert mneme.memory.pending_vectors() > 0
    probe = tmp_path / "first-frame"

    result = launch(["-c", FIRST_FRAME_SCRIPT.format(heavy=HEAVY)], probe)

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["status"] == 0
    assert seen["first_frame"] == []
    assert probe.exists()


def test_the_startup_probe_writes_the_first_frame_time_and_the_app_quits(
    db_key: str, mneme_home: Path, tmp_path: Path
) -> None:
    probe = tmp_path / "first-frame"
    before = time.time()

    result = launch(["-m", "ui.launcher"], probe)

    after = time.time()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    stamp = float(probe.read_text(encoding="utf-8"))
    assert before < stamp < after  # the launcher's clock, between spawn and exit
    assert (mneme_home / "data" / "mneme.db").exists()  # a real start: the database was created
