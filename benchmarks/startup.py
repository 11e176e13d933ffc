"""Cold start: seconds from launching the desktop app to its main window's first painted frame.

Each run spawns `mneme` (the desktop app: the `mneme` script beside this Python, else
`python -m ui.launcher`) as a fresh process with offscreen Qt and MNEME_STARTUP_PROBE=FILE: the app
writes `time.time()` to FILE once the main window has painted its first frame, then closes (see
ui/app.py). A run is that time minus `time.time()` taken just before the spawn, so it includes the
interpreter's start, every import, opening the encrypted database and building the window.

Two profiles (MNEME_DB_KEY is a raw 64-hex-digit key, as the OS keychain holds, so nothing asks):
- fresh: an empty MNEME_HOME per run (first launch: the database is created, no model yet);
- existing: one profile reused by every run, set up once beforehand: --memories memories with
  their vectors filled, a few conversations, and the tiny generated model configured (the common
  case: someone starting the app they use every day).

Page caches are warm after the first run (the interpreter, Qt and the database stay on disk).

    python benchmarks/startup.py [--runs 5] [--profile both|fresh|existing] [--memories 1000]
                                 [--command "path/to/mneme"]

Last line: {"window_visible_s": …, "runs": […], "profiles": {…}}: window_visible_s is the median of
the slower profile, runs that profile's runs in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_TIMEOUT_S = 180
WORDS = [
    "garden", "letter", "river", "budget", "meeting", "recipe", "holiday", "invoice", "project",
    "travel", "piano", "doctor", "birthday", "summer", "winter", "museum", "library", "train",
    "ticket", "coffee", "market", "report",
]  # fmt: skip


def default_command() -> list[str]:
    script = Path(sys.executable).with_name("mneme")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "ui.launcher"]


def launch(command: list[str], home: Path, key: str) -> float:
    """One cold launch; returns seconds until the first frame (raises if the app failed)."""
    probe = home.parent / f"{home.name}.probe"
    probe.unlink(missing_ok=True)
    env = {
        **os.environ,
        "MNEME_HOME": str(home),
        "MNEME_DB_KEY": key,
        "QT_QPA_PLATFORM": "offscreen",
        "MNEME_STARTUP_PROBE": str(probe),
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("MNEME_QUIT_AFTER_MS", None)
    started = time.time()
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=LAUNCH_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0 or not probe.exists():
        raise SystemExit(
            f"the app failed (exit status {result.returncode}, probe written: {probe.exists()}):\n"
            f"{result.stderr[-4000:]}"
        )
    return float(probe.read_text(encoding="utf-8")) - started


def build_existing_profile(home: Path, key: str, memories: int) -> None:
    """A profile as a daily user has it: memories with vectors, conversations, a model chosen."""
    os.environ["MNEME_HOME"] = str(home)
    os.environ["MNEME_DB_KEY"] = key
    os.environ["HF_HUB_OFFLINE"] = "1"
    from assistant import Assistant
    from assistant.memory.store import NewMemory
    from assistant.testing import write_tiny_model

    rng = random.Random(7)
    model = write_tiny_model(home.parent / "tiny.gguf")
    with Assistant() as assistant:
        assistant.open()
        entry = assistant.models.add_file(model)
        assistant.models.use(entry.name)
        assistant.update_settings(n_ctx=2048, max_tokens=8, temperature=0.0, seed=7)
        assistant.memory.add(
            [
                NewMemory(
                    text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18))),
                    kind="fact" if i % 50 == 0 else "episode",
                    session=f"s{i // 20}",
                    position=i % 20,
                    occurred_at=f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00",
                )
                for i in range(memories)
            ]
        )
        for question in ("When is the piano lesson?", "What did the doctor say?", "Budget?"):
            stream = assistant.reply(None, question)
            for _ in stream:
                pass
        # Every vector filled: what a profile looks like once the app has been running a while
        # (otherwise the first launch would start encoding in the background at once).
        assistant.memory.fill_vectors()
        assert assistant.memory.pending_vectors() == 0


def summary(values: list[float]) -> dict[str, object]:
    return {"median_s": round(statistics.median(values), 3), "runs": [round(v, 3) for v in values]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="launches per profile")
    parser.add_argument("--profile", choices=("both", "fresh", "existing"), default="both")
    parser.add_argument("--memories", type=int, default=1000, help="memories in 'existing'")
    parser.add_argument("--command", help="what to launch (default: this Python's mneme)")
    args = parser.parse_args(argv)
    command = shlex.split(args.command) if args.command else default_command()
    profiles = ("fresh", "existing") if args.profile == "both" else (args.profile,)
    key = secrets.token_hex(32)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="mneme-startup-") as temp:
        root = Path(temp)
        if "existing" in profiles:
            started = time.perf_counter()
            build_existing_profile(root / "existing", key, args.memories)
            print(
                f"existing profile: {args.memories} memories, tiny model "
                f"(built in {time.perf_counter() - started:.1f} s)"
            )
        print(f"launching: {shlex.join(command)}  ({os.cpu_count()} CPUs)")
        print(f"{'profile':<10}{'run':>4}{'window visible (s)':>22}")
        for profile in profiles:
            results[profile] = []
            for run in range(1, args.runs + 1):
                home = root / (f"fresh-{run}" if profile == "fresh" else "existing")
                seconds = launch(command, home, key)
                results[profile].append(seconds)
                print(f"{profile:<10}{run:>4}{seconds:>22.3f}", flush=True)
    medians = {p: statistics.median(v) for p, v in results.items()}
    for profile, median in medians.items():
        print(f"{profile:<10}{'med':>4}{median:>22.3f}")
    slowest = max(medians, key=lambda p: medians[p])
    print(
        json.dumps(
            {
                "window_visible_s": round(medians[slowest], 3),
                "runs": [round(v, 3) for v in results[slowest]],
                "profile": slowest,
                "profiles": {p: summary(v) for p, v in results.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
