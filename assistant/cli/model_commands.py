"""`mneme models list | add | download | use | remove`."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.cli.terminal import ProgressBar, open_assistant, print_json
from assistant.types import ModelEntry


def register(commands: Any) -> None:
    models = commands.add_parser("models", help="set up the models Mneme can use")
    sub = models.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = sub.add_parser("list", help="list registered models (* = in use)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    add = sub.add_parser("add", help="register a local .gguf file or an OpenAI-compatible server")
    add.add_argument(
        "location", help="path to a .gguf file, or a server URL such as http://host/v1"
    )
    add.add_argument("--name", help="name to use it by (default: the file name)")
    add.add_argument("--remote-model", help="for servers: the model id to request")
    add.add_argument("--api-key-env", help="for servers: environment variable holding the key")
    add.add_argument("--use", action="store_true", help="make it the model in use")
    add.set_defaults(handler=run_add)

    download = sub.add_parser("download", help="download a .gguf from a Hugging Face repository")
    download.add_argument("repo", help="repository id, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF")
    download.add_argument(
        "file", help="file in the repository, e.g. qwen2.5-0.5b-instruct-q4_k_m.gguf"
    )
    download.add_argument("--revision", default="main")
    download.add_argument("--sha256", help="expected SHA-256 (the server's is used otherwise)")
    download.add_argument("--name", help="name to use it by")
    download.add_argument("--use", action="store_true", help="make it the model in use")
    download.set_defaults(handler=run_download)

    use = sub.add_parser("use", help="choose the model to chat with")
    use.add_argument("name")
    use.set_defaults(handler=run_use)

    remove = sub.add_parser("remove", help="forget a registered model (the file stays on disk)")
    remove.add_argument("name")
    remove.set_defaults(handler=run_remove)


def run_list(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        entries = assistant.models.list()
    if args.json:
        print_json([entry.to_json() for entry in entries])
        return 0
    if not entries:
        print("No models yet: `mneme models add PATH.gguf` or `mneme models download REPO FILE`.")
        return 0
    for entry in entries:
        print(_describe(entry))
    return 0


def run_add(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        location = args.location
        if location.startswith(("http://", "https://")):
            entry = assistant.models.add_server(
                location,
                "server" if args.name is None else args.name,
                remote_model=args.remote_model,
                api_key_env=args.api_key_env,
            )
        else:
            entry = assistant.models.add_file(location, args.name)
        if args.use:
            entry = assistant.models.use(entry.name)
    print(f"added {_describe(entry)}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        bar = ProgressBar(args.file)
        try:
            entry, result = assistant.models.download(
                args.repo,
                args.file,
                revision=args.revision,
                sha256=args.sha256,
                name=args.name,
                progress=bar,
            )
        finally:
            bar.finish()
        if args.use:
            entry = assistant.models.use(entry.name)
    checked = f"SHA-256 {result.sha256} verified" if result.verified else "no checksum offered"
    resumed = f", resumed at {result.resumed_from} bytes" if result.resumed_from else ""
    print(f"downloaded {result.path} ({result.size} bytes, {checked}{resumed})")
    print(f"added {_describe(entry)}")
    return 0


def run_use(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        entry = assistant.models.use(args.name)
    print(f"using {_describe(entry)}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        assistant.models.remove(args.name)
    print(f"removed {args.name}")
    return 0


def _describe(entry: ModelEntry) -> str:
    marker = "*" if entry.active else " "
    size = f"{entry.size_bytes / 1e6:.1f} MB" if entry.size_bytes is not None else ""
    remote = f" model={entry.remote_model}" if entry.remote_model else ""
    note = f" ({entry.note})" if entry.note else ""
    return f"{marker} {entry.name:24} {entry.kind:6} {size:>10}  {entry.location}{remote}{note}"
