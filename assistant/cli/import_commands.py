"""`mneme import PATH… [--json]`: files and folders into memory, progress on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from assistant.cancel import CancelToken
from assistant.cli.terminal import open_assistant, print_json
from assistant.importers import supported_suffixes
from assistant.types import ImportProgress, ImportSummary

EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = 130


def register(commands: Any) -> None:
    command = commands.add_parser(
        "import",
        help="import documents (files or folders, recursively) into memory",
        description="Import files and folders into memory. Unchanged files are skipped, changed "
        f"ones replace what they added before. Reads: {' '.join(supported_suffixes())}.",
    )
    command.add_argument("paths", nargs="+", metavar="PATH")
    command.add_argument("--json", action="store_true", help="print the summary as JSON")
    command.set_defaults(handler=run_import)


class _Progress:
    """One line on stderr, redrawn at most ten times a second (only on a terminal)."""

    def __init__(self) -> None:
        self._drawn = 0.0
        self._interactive = sys.stderr.isatty()

    def __call__(self, progress: ImportProgress) -> None:
        now = time.monotonic()
        if not self._interactive or (now - self._drawn < 0.1 and progress.current is not None):
            return
        self._drawn = now
        line = (
            f"importing {progress.files_done}/{progress.files_total} files · "
            f"{progress.chunks} chunks"
        )
        if progress.current:
            line += f" · {_tail(progress.current)}"
        print("\r\033[K" + line, end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self._interactive and self._drawn:
            print(file=sys.stderr)


def _tail(path: str, width: int = 50) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1) :]


def run_import(args: argparse.Namespace) -> int:
    cancel = CancelToken()
    progress = _Progress()
    try:
        with open_assistant() as assistant:
            summary = assistant.import_(args.paths, progress=progress, cancel=cancel)
    finally:
        progress.finish()
    if args.json:
        print_json(summary.to_json())
    else:
        _print_summary(summary)
    if summary.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if summary.files_failed else 0


def _print_summary(summary: ImportSummary) -> None:
    print(
        f"imported {summary.files_imported} files ({summary.files_updated} updated) · "
        f"{summary.chunks_added} chunks added, {summary.chunks_removed} replaced · "
        f"{summary.files_skipped} unchanged · {len(summary.files_failed)} failed · "
        f"{len(summary.files_unsupported)} not supported · {summary.elapsed_s:.1f} s"
    )
    for path, message in summary.files_failed:
        print(f"failed: {path}: {message}")
    for path, reason in summary.files_unsupported:
        print(f"skipped: {path}: {reason}")
    if summary.items_imported or summary.items_skipped:
        print(f"items: {summary.items_imported} written, {summary.items_skipped} unchanged")
    for path, key, message in summary.items_failed:
        print(f"failed item: {path} [{key}]: {message}")
    if summary.missing:
        print(
            f"gone since the last import: {len(summary.missing)} file(s) or item(s); their "
            "memories are kept until you forget them (the desktop app's import dialog offers it)"
        )
    if summary.cancelled:
        print("cancelled: the files above were imported; the rest were not.")
