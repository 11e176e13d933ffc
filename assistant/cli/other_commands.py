"""`mneme doctor` and `mneme conversations …`."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.cli.terminal import open_assistant, print_json


def register(commands: Any) -> None:
    doctor = commands.add_parser("doctor", help="check this installation")
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.set_defaults(handler=run_doctor)

    conversations = commands.add_parser("conversations", help="list or show stored conversations")
    sub = conversations.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="list conversations, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list_conversations)
    show = sub.add_parser("show", help="print one conversation")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show_conversation)
    delete = sub.add_parser("delete", help="delete a conversation and its messages")
    delete.add_argument("id", type=int)
    delete.set_defaults(handler=run_delete_conversation)


def run_doctor(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        report = assistant.doctor().to_json()
    if args.json:
        print_json(report)
        return 0
    print(f"mneme {report['version']} · Python {report['python']} · {report['platform']}")
    print("packages:")
    for name, version in report["packages"].items():
        print(f"  {name:24} {version or 'MISSING'}")
    llama = report["llama_cpp"]
    if llama.get("importable"):
        offload = "yes" if llama["gpu_offload"] else "no (CPU build)"
        print(f"llama.cpp: GPU offload {offload} · backend {llama.get('backend', 'CPU')}")
        print(f"  {llama['system_info']}")
        hardware = report.get("hardware") or {}
        free = (
            f"{hardware['vram_free'] / 1e9:.1f} GB free on {hardware.get('gpu_name') or 'the GPU'}"
            if hardware.get("vram_free") is not None
            else "free VRAM unknown"
        )
        ram = (
            f"{hardware['ram_total'] / 1e9:.1f} GB RAM"
            if hardware.get("ram_total")
            else "RAM unknown"
        )
        print(f"memory: {ram} · {free}")
        if hardware.get("note"):
            print(f"  {hardware['note']}")
    else:
        print(f"llama.cpp: NOT IMPORTABLE ({llama.get('error')})")
    threads = report["recall_threads"]
    found = ", ".join(
        f"{lib['api']} {lib['version'] or ''}".strip() for lib in threads["libraries"]
    )
    state = "one BLAS thread while recalling" if threads["works"] else "NOT limited (slower)"
    print(
        f"recall: {state} · {found or 'no BLAS found'}"
        + (f" ({threads['note']})" if threads.get("note") else "")
    )
    keychain = report["keyring"]
    usable = "usable" if keychain["usable"] else "NOT usable"
    print(f"keychain: {keychain['backend']} ({usable})")
    for name, value in report["paths"].items():
        print(f"  {name:12} {value}")
    database = report["database"]
    print(f"database: {database['status']}")
    for name in ("conversations", "messages", "cipher_version", "journal_mode"):
        if name in database:
            print(f"  {name:15} {database[name]}")
    model = report["model"]
    if "name" in model:
        print(f"model: {model['name']} ({model['kind']}) {model['location']} · {model['status']}")
        if "offload" in model:
            how = "automatic" if model.get("n_gpu_layers_setting") is None else "your setting"
            print(
                f"  offload: {model['offload']['label']} · n_gpu_layers "
                f"{model.get('n_gpu_layers')} ({how})"
            )
            print(f"  {model['offload']['reason']}")
    else:
        print(f"model: {model['status']}")
    return 0


def run_list_conversations(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        conversations = assistant.conversations()
    if args.json:
        print_json([_conversation_json(c) for c in conversations])
        return 0
    for conversation in conversations:
        print(f"{conversation.id:5}  {conversation.updated_at[:16]}  {conversation.title}")
    return 0


def run_show_conversation(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        conversation = assistant.conversation(args.id)
        messages = assistant.messages(args.id)
    if args.json:
        data = _conversation_json(conversation)
        data["messages"] = [
            {
                "id": m.id,
                "role": m.role,
                "content": m.content,
                "created_at": m.created_at,
                "model": m.model,
                "finish_reason": m.finish_reason,
            }
            for m in messages
        ]
        print_json(data)
        return 0
    print(f"# {conversation.title}")
    for message in messages:
        print(f"\n[{message.role}] {message.content}")
    return 0


def run_delete_conversation(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        assistant.delete_conversation(args.id)
    print(f"deleted conversation {args.id}")
    return 0


def _conversation_json(conversation: Any) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
    }
