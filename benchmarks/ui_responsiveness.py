"""How long the UI thread stalls while a reply streams and while an import runs.

A heartbeat timer ticks every 5 ms on the UI thread of the real main window; a stall is how much
later than due a tick fires. Two phases, in one window over a fresh profile:
- streaming: replies from the model (the generated tiny model, or --model PATH) rendered live;
- importing: a generated folder of Markdown notes imported through the import dialog while the
  window stays up (the encoder is not involved: text is keyword-searchable at parse speed);
- inspecting: the memory inspector over --memories synthetic memories (100,000 by default):
  open it, scroll page after page, search, filter by kind, sort.

    python benchmarks/ui_responsiveness.py [--model PATH] [--replies 5] [--documents 400]
                                           [--memories 100000]

Last line: {"max_stall_ms_streaming": …, "max_stall_ms_importing": …, "max_stall_ms_inspector": …}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TICK_MS = 5
WORDS = [
    "garden",
    "letter",
    "river",
    "budget",
    "meeting",
    "recipe",
    "holiday",
    "invoice",
    "project",
    "travel",
    "piano",
    "doctor",
    "birthday",
    "summer",
    "winter",
    "museum",
    "library",
    "train",
    "ticket",
    "coffee",
    "market",
    "report",
]


class Heartbeat:
    """Records how late each tick of a 5 ms timer fires on the UI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst_ms = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.worst_ms = 0.0
        self.ticks = 0
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst_ms

    def _tick(self) -> None:
        now = time.perf_counter()
        late = (now - self.last) * 1000 - TICK_MS
        self.worst_ms = max(self.worst_ms, late)
        if late > 30 and os.environ.get("UI_BENCH_TRACE"):
            print(f"stall {late:.1f} ms at {now:.3f}", flush=True)
        self.last = now
        self.ticks += 1


def write_notes(folder: Path, count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    paths = []
    for index in range(count):
        sections = []
        for section in range(rng.randint(2, 5)):
            paragraphs = [
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 90))).capitalize() + "."
                for _ in range(rng.randint(1, 4))
            ]
            sections.append(f"## Section {section + 1}\n\n" + "\n\n".join(paragraphs))
        path = folder / f"note-{index:04d}.md"
        path.write_text(f"# Note {index}\n\n" + "\n\n".join(sections), encoding="utf-8")
        paths.append(str(path))
    return paths


def wait_for(condition: object, timeout_s: float) -> None:
    """Run the real Qt event loop until `condition()` holds (polled every 10 ms)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s
    timed_out = []

    def check() -> None:
        if condition():  # type: ignore[operator]
            loop.quit()
        elif time.monotonic() > deadline:
            timed_out.append(True)
            loop.quit()

    poll = QTimer()
    poll.setInterval(10)
    poll.timeout.connect(check)
    poll.start()
    check()
    if not condition():  # type: ignore[operator]
        loop.exec()
    poll.stop()
    if timed_out:
        raise TimeoutError("the benchmark phase did not finish in time")


def finished(task: object) -> object:
    """A condition that holds once the task's callbacks have all run on the UI thread."""
    done: list[bool] = []
    task.done(lambda: done.append(True))  # type: ignore[attr-defined]
    return lambda: bool(done)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF model (default: the tiny test model)")
    parser.add_argument("--replies", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=400)
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: the app's)")
    parser.add_argument("--memories", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["MNEME_HOME"] = str(root / "home")
        os.environ.setdefault("MNEME_DB_KEY", "ui-responsiveness-benchmark")
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication

        from assistant import Assistant
        from assistant.testing import write_tiny_model
        from ui.main_window import MainWindow

        app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - keeps it alive
        model = args.model or write_tiny_model(root / "tiny.gguf")
        assistant = Assistant()
        assistant.open()
        entry = assistant.models.add_file(model)
        assistant.models.use(entry.name)
        assistant.update_settings(max_tokens=args.max_tokens)  # memory on, as the app ships
        if args.threads:
            assistant.update_settings(n_threads=args.threads)
        window = MainWindow(assistant)
        window.show()
        load = window.use_model_file(str(model))
        wait_for(finished(load), 300)
        # Start-up work (the encoder loads in the background WARM_UP_DELAY_MS after the window
        # opens) is not what this measures: wait until it is done.
        from ui.main_window import WARM_UP_DELAY_MS

        wait_for(lambda: window.warm_up_task is not None, WARM_UP_DELAY_MS / 1000 + 30)
        idle = window.model_lane.submit(lambda task: True)  # queued behind the warm-up
        wait_for(finished(idle), 300)
        heartbeat = Heartbeat()

        # Streaming.
        tokens = 0
        heartbeat.start()
        started = time.perf_counter()
        for index in range(args.replies):
            window.input.setPlainText(f"Tell me a long story about the {WORDS[index]}.")
            if os.environ.get("UI_BENCH_TRACE"):
                print(f"reply {index} starts at {time.perf_counter():.3f}", flush=True)
            task = window.send()
            assert task is not None, "the window refused to send"
            wait_for(finished(task), 600)
            if task.error:
                raise SystemExit(f"reply failed: {task.error}")
            tokens += task.result.stats.completion_tokens
        streaming_s = time.perf_counter() - started
        stall_streaming = heartbeat.stop()

        # Importing.
        notes = root / "notes"
        notes.mkdir()
        paths = write_notes(notes, args.documents)
        dialog = window.open_import()
        heartbeat.start()
        started = time.perf_counter()
        job = dialog.start([str(notes)])
        wait_for(finished(job), 900)
        importing_s = time.perf_counter() - started
        stall_importing = heartbeat.stop()
        if job.error:
            raise SystemExit(f"import failed: {job.error}")
        summary = job.result

        # Inspecting a large memory.
        from assistant.memory.store import NewMemory

        rng = random.Random(1)
        started = time.perf_counter()
        batch = 20_000
        for first in range(0, args.memories, batch):
            assistant.memory.add(
                [
                    NewMemory(
                        text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))),
                        kind="fact" if i % 50 == 0 else "episode",
                        session=f"s{i // 20}",
                        position=i % 20,
                        occurred_at=f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00",
                    )
                    for i in range(first, min(first + batch, args.memories))
                ]
            )
        insert_s = time.perf_counter() - started
        inspector = window.inspector
        table_model = inspector.model

        def settled() -> bool:
            return not table_model.loading and table_model.total is not None

        heartbeat.start()
        started = time.perf_counter()
        window.toggle_inspector()
        wait_for(settled, 120)
        table = inspector.table
        for _ in range(10):  # scroll to the end of what is loaded: the next page loads
            table.scrollToBottom()
            wait_for(settled, 120)
        loaded_rows = table_model.rowCount()
        inspector.search.setText("river budget")
        wait_for(lambda: settled() and table_model.memory_filter.text == "river budget", 120)
        inspector.search.setText("")
        inspector.kind_filter.setCurrentIndex(inspector.kind_filter.findData("fact"))
        wait_for(lambda: settled() and table_model.memory_filter.kind == "fact", 120)
        table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        wait_for(settled, 120)
        inspecting_s = time.perf_counter() - started
        stall_inspector = heartbeat.stop()

        window.close()
        assistant.close()
        print(
            f"streaming: {args.replies} replies, {tokens} tokens in {streaming_s:.1f} s, "
            f"heartbeat ticks {heartbeat.ticks}"
        )
        print(
            f"importing: {len(paths)} notes, {summary.chunks_added} chunks in {importing_s:.1f} s"
        )
        print(
            f"inspecting: {args.memories} memories (stored in {insert_s:.1f} s), "
            f"{loaded_rows} rows scrolled, search, filter, sort in {inspecting_s:.1f} s"
        )
        print(f"model: {Path(model).name}")
        print(
            json.dumps(
                {
                    "max_stall_ms_streaming": round(stall_streaming, 1),
                    "max_stall_ms_importing": round(stall_importing, 1),
                    "max_stall_ms_inspector": round(stall_inspector, 1),
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
