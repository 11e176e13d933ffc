"""`python -m assistant.testing tiny-model OUT.gguf [--preset tiny|small] [--seed N]`."""

from __future__ import annotations

import argparse
import sys

from assistant.testing.tiny_model import PRESETS, write_tiny_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    tiny = commands.add_parser("tiny-model", help="write a random-weight F32 llama GGUF")
    tiny.add_argument("output", help="where to write the .gguf file")
    tiny.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    tiny.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = write_tiny_model(args.output, preset=args.preset, seed=args.seed)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
