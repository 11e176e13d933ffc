"""Start the desktop app: open the encrypted database (asking for a passphrase if needed), show the
main window, run the event loop."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox

from assistant import Assistant, MnemeError
from ui.main_window import MainWindow


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
    assistant = Assistant(passphrase_provider=dialog_passphrase)
    try:
        assistant.open()
    except MnemeError as error:
        QMessageBox.critical(None, "Mneme", str(error))
        return 1
    window = MainWindow(assistant)
    window.show()
    # For smoke tests and packaging checks: quit by itself after this many milliseconds.
    quit_after = os.environ.get("MNEME_QUIT_AFTER_MS")
    if quit_after:
        QTimer.singleShot(int(quit_after), window.close)
    try:
        return int(app.exec())
    finally:
        assistant.close()
