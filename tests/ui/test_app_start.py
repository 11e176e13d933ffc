"""`mneme` with no arguments starts the desktop app; it opens its database and quits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_desktop_app_starts_offscreen_and_quits(mneme_home: Path) -> None:
    env = {
        **os.environ,
        "MNEME_HOME": str(mneme_home),
        "MNEME_DB_KEY": "start-up test",
        "QT_QPA_PLATFORM": "offscreen",
        "MNEME_QUIT_AFTER_MS": "300",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ui.launcher"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (mneme_home / "data" / "mneme.db").exists()  # the database was created and opened
    assert "Traceback" not in result.stderr
