"""The `mneme` entry point: no arguments start the desktop app, anything else is the CLI.

Qt is imported only when the desktop app starts, so `mneme --version` and the CLI stay fast and work
on machines without a display.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        from ui.app import run

        return run()
    from assistant.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
