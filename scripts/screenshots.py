"""`make screenshots`: PNGs of the main window, the memory inspector, the import dialog and the
first-run setup panel.

The window is the real one over a throwaway demo profile. The tiny test model only produces noise,
so the demo conversation's answers are written into the profile directly (marked below); everything
else — memories, the inspector, the import — goes through the front door.

    python scripts/screenshots.py docs/screenshots
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NOTES = {
    "garden-plan.md": "# Garden plan 2026\n\n## Spring\n\nSow tomatoes indoors in March; the "
    "balcony gets sun after 2 pm.\n\n## Summer\n\nWater the herbs every other day. Basil "
    "does badly next to the mint.\n",
    "trip-lisbon.md": "# Lisbon trip\n\nFlights on 14 May, back on 21 May. Hotel in Alfama, "
    "near the tram 28 stop.\n\n## To see\n\nBelém tower, the tile museum, LX Factory on Sunday.\n",
    "reading.txt": "Books to read: The Left Hand of Darkness; Piranesi; The Overstory.\n",
}
CHAT = [
    ("user", "I'm allergic to penicillin, and my doctor is Dr. Okafor at the Elm Street clinic."),
    (
        "assistant",
        "Noted. I'll remember that you are **allergic to penicillin** and that your doctor is "
        "Dr. Okafor at the Elm Street clinic.",
    ),
    ("user", "What should I tell the pharmacist when I pick up the prescription?"),
    (
        "assistant",
        "Tell them two things:\n\n1. **You are allergic to penicillin**, so they check the "
        "prescription for penicillin-class antibiotics (amoxicillin, ampicillin).\n"
        "2. The prescriber is **Dr. Okafor** (Elm Street clinic), in case they need to call.\n\n"
        "A short note helps:\n\n```text\nAllergy: penicillin\nDoctor: Dr. Okafor, Elm Street\n```",
    ),
]


def settle(app: object, task: object = None) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(20)

    def check() -> None:
        done = task is None or task.result is not None or task.error is not None  # type: ignore[attr-defined]
        if done:
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    QTimer.singleShot(400, check)
    loop.exec()
    poll.stop()
    app.processEvents()  # type: ignore[attr-defined]


def settle_until(app: object, ready: object, limit_s: float = 20.0) -> None:
    """Let the event loop run until `ready()` holds (rows arrive from the io lane) or time runs out."""
    import time

    deadline = time.monotonic() + limit_s
    while not ready() and time.monotonic() < deadline:  # type: ignore[operator]
        settle(app)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MNEME_HOME"] = str(root / "home")
        os.environ.setdefault("MNEME_DB_KEY", "screenshots")
        from PySide6.QtWidgets import QApplication

        from assistant import Assistant
        from assistant.memory.feedback import record_reply_memories
        from assistant.testing import write_tiny_model
        from assistant.types import RecalledMemory
        from ui.main_window import MainWindow

        app = QApplication.instance() or QApplication(sys.argv[:1])
        assistant = Assistant()
        assistant.open()
        assistant.models.add_file(write_tiny_model(root / "tiny.gguf"), "qwen2.5-3b-instruct")

        facts = [
            assistant.memory.remember("My sister Ana's birthday is on 3 June.", pinned=True),
            assistant.memory.remember("I prefer window seats on flights."),
            assistant.memory.remember("The spare key is under the blue flowerpot."),
        ]
        notes = root / "notes"
        notes.mkdir()
        for name, text in NOTES.items():
            (notes / name).write_text(text, encoding="utf-8")
        (notes / "broken.txt").write_bytes(b"\x00\x01binary junk\xff")

        # The demo conversation (written directly: the tiny model cannot write these answers).
        store = assistant._store  # a demo profile: internals are fine here
        conversation = store.create("Pharmacy and allergies")
        for role, text in CHAT:
            message = store.add_message(conversation.id, role, text, model="qwen2.5-3b-instruct")
            assistant._remember_turn(conversation, message)
            if role == "assistant" and text.startswith("Tell them"):
                used = [
                    m
                    for m in assistant.memory.search("penicillin Okafor")
                    if m.trust == "user-stated"
                ]
                record_reply_memories(
                    assistant._opened_database(),
                    message.id,
                    [RecalledMemory(m, 1.0 - 0.1 * i) for i, m in enumerate(used[:2])],
                )
        for title in ("Lisbon trip planning", "Garden: what to sow in March", "Tax return 2025"):
            store.create(title)

        window = MainWindow(assistant)
        window.resize(1280, 800)
        window.show()
        settle(app)
        window.open_conversation(conversation.id)
        settle(app)
        window.speed_label.setText("38.2 tok/s")
        settle(app)
        window.grab().save(str(out / "main-window.png"))

        panel = window.setup_panel  # built on first use: wait for its model list
        window.pages.setCurrentWidget(panel)  # what a first run shows
        settle(app, panel.refresh())
        window.grab().save(str(out / "setup-panel.png"))
        window.pages.setCurrentWidget(window.chat_page)

        dialog = window.open_import()
        job = dialog.start([str(notes)])
        settle(app, job)
        settle(app)
        dialog.grab().save(str(out / "import-dialog.png"))
        dialog.close()

        window.resize(1600, 860)
        window.show_memory(facts[0].id)
        settle_until(app, lambda: window.inspector.model.row_of(facts[0].id) is not None)
        settle(app)
        window.grab().save(str(out / "memory-inspector.png"))

        window.close()
        assistant.close()
    print("\n".join(str(p) for p in sorted(out.glob("*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
