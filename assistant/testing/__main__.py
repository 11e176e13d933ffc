"""`python -m assistant.testing tiny-model OUT.gguf [--preset tiny|small] [--seed N]`, and
`python -m assistant.testing speaking-model OUT.gguf [--seed N]` (the tiny model trained on the
phrasing of answers: assistant.testing.pretrained_model)."""

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
    speaking = commands.add_parser("speaking-model", help="the tiny model trained on phrasing")
    speaking.add_argument("output", help="where to write the .gguf file")
    speaking.add_argument("--seed", type=int, default=0)
    speaking.add_argument("--exchanges", type=int, default=600)
    speaking.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "speaking-model":
        from assistant.app import _system_prompt
        from assistant.testing.pretrained_model import write_pretrained_tiny_model

        path = write_pretrained_tiny_model(
            args.output,
            system_prompt=_system_prompt(),
            seed=args.seed,
            exchanges=args.exchanges,
            epochs=args.epochs,
        )
    else:
        path = write_tiny_model(args.output, preset=args.preset, seed=args.seed)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
