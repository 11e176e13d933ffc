"""Start the desktop app: open the encrypted database (asking for a passphrase if needed), show the
main window, run the event loop."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox, QWidget

from assistant import Assistant, MnemeError
from assistant.resources import resource_path
from ui.first_frame import after_first_frame
from ui.main_window import MainWindow

# benchmarks/startup.py sets it to a file: the app writes `time.time()` there once the main window
# has painted its first frame, then closes the window (exit status 0).
STARTUP_PROBE = "MNEME_STARTUP_PROBE"


def write_startup_probe(window: QWidget, path: Path) -> None:
    """Once `window` has painted its first frame, write the wall clock (seconds since the epoch,
    comparable with the launching process's `time.time()`) to `path` and close the window, which
    ends the app with exit status 0. Used only when STARTUP_PROBE is set."""

    def record() -> None:
        path.write_text(f"{time.time():.6f}\n", encoding="utf-8")
        window.close()

    after_first_frame(window, record)


def dialog_passphrase(creating: bool) -> str | None:
    prompt = (
        "No usable OS keychain was found.\nChoose a passphrase for your encrypted memory:"
        if creating
        else "Enter the passphrase of your encrypted memory:"
    )
    text, ok = QInputDialog.getText(None, "Mneme", prompt, QLineEdit.EchoMode.Password)
    return text if ok and text else None


def run(argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("Mneme")
    # The icon, and the .desktop file's name so Wayland docks match the window to mneme.desktop.
    app.setWindowIcon(QIcon(str(resource_path("icons", "mneme.png"))))
    app.setDesktopFileName("mneme")
    assistant = Assistant(passphrase_provider=dialog_passphrase)
    try:
        assistant.open()
    except MnemeError as error:
        QMessageBox.critical(None, "Mneme", str(error))
        return 1
    window = MainWindow(assistant)
    probe = os.environ.get(STARTUP_PROBE)
    if probe:
        write_startup_probe(window, Path(probe))
    window.show()
    # For smoke tests and packaging checks: quit by itself after this many milliseconds.
    quit_after = os.environ.get("MNEME_QUIT_AFTER_MS")
    if quit_after:
        QTimer.singleShot(int(quit_after), window.close)
    try:
        return int(app.exec())
    finally:
        assistant.close()
