"""The `mneme` command line. It mirrors the front door: everything goes through `Assistant`.

A user mistake prints one line on stderr and exits non-zero; tracebacks only with MNEME_DEBUG=1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from assistant._version import __version__
from assistant.cli import (
    bench_commands,
    chat_commands,
    import_commands,
    memory_commands,
    model_commands,
    other_commands,
)
from assistant.cli.terminal import fail
from assistant.errors import MnemeError

EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mneme",
        description="Mneme: a private assistant with a memory, running a local model.",
    )
    parser.add_argument("--version", action="version", version=f"mneme {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    other_commands.register(commands)
    chat_commands.register(commands)
    model_commands.register(commands)
    memory_commands.register(commands)
    import_commands.register(commands)
    bench_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except MnemeError as error:
        if os.environ.get("MNEME_DEBUG"):
            raise
        return fail(str(error))
    except Exception as error:
        if os.environ.get("MNEME_DEBUG"):
            raise
        return fail(
            f"internal error: {type(error).__name__}: {error} "
            "(run with MNEME_DEBUG=1 for details and please report it)"
        )
