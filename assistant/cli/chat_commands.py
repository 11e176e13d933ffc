"""`mneme ask TEXT` and `mneme chat`: stream replies from the model to the terminal.

After each reply the model reads the exchange for facts (`Assistant.extract_facts`), as the
desktop app does in the background; `--no-memory` skips it. It prints nothing (except with
`--verbose`, on stderr, or in `ask --json` as "extraction") and never changes the exit code: a
failed job is recorded and shown by `mneme memory status`; a job that could not run stays queued.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from assistant.app import Assistant, ReplyStream
from assistant.cancel import CancelToken
from assistant.cli.fact_commands import describe_run
from assistant.cli.terminal import open_assistant, print_json
from assistant.engine.base import GenerationSettings
from assistant.errors import MnemeError
from assistant.types import RecalledMemory


def register(commands: Any) -> None:
    ask = commands.add_parser("ask", help="ask one question; the reply streams to stdout")
    ask.add_argument("text", nargs="+", help="the question ('-' reads it from stdin)")
    ask.add_argument("--conversation", type=int, help="continue this conversation id")
    ask.add_argument("--json", action="store_true", help="print the stored reply as JSON")
    ask.add_argument(
        "--show-memories", action="store_true", help="print the memories recalled for the reply"
    )
    _generation_options(ask)
    ask.set_defaults(handler=run_ask)

    chat = commands.add_parser("chat", help="a conversation in the terminal")
    chat.add_argument("--conversation", type=int, help="continue this conversation id")
    _generation_options(chat)
    chat.set_defaults(handler=run_chat)


def _generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="a .gguf file or registered model name for this run")
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="no memory recall, and no fact extraction after the reply",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="say what fact extraction learned (on stderr)"
    )
    parser.add_argument("--max-tokens", type=_positive, help="longest reply in tokens")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0 = greedy)")
    parser.add_argument("--seed", type=int, help="sampling seed, for repeatable replies")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _settings(assistant: Assistant, args: argparse.Namespace) -> GenerationSettings:
    stored = assistant.settings
    return GenerationSettings(
        max_tokens=args.max_tokens or stored.max_tokens,
        temperature=stored.temperature if args.temperature is None else args.temperature,
        seed=stored.seed if args.seed is None else args.seed,
    )


def _stream_to_terminal(stream: ReplyStream, cancel: CancelToken, *, echo: bool = True) -> bool:
    """Print the reply as it arrives. Ctrl-C stops the reply (kept, marked cancelled).

    Returns False when the user interrupted.
    """
    try:
        for piece in stream:
            if echo:
                sys.stdout.write(piece)
                sys.stdout.flush()
    except KeyboardInterrupt:
        cancel.cancel()
        stream.close()
        if echo:
            print("\n[stopped]", file=sys.stderr)
        return False
    if echo:
        sys.stdout.write("\n")
        sys.stdout.flush()
    return True


def _print_memories(memories: tuple[RecalledMemory, ...]) -> None:
    if not memories:
        print("(no memories recalled)")
        return
    print("Memories used:")
    for item in memories:
        memory = item.memory
        text = " ".join(memory.text.split())
        print(f"  [{memory.id}] {memory.occurred_at[:10]} {memory.trust}: {text}")
        print(f"        score {item.score:.3f} · {'; '.join(item.reasons)}")
    print()


def run_ask(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == ["-"] else " ".join(args.text)
    with open_assistant() as assistant:
        cancel = CancelToken()
        stream = assistant.reply(
            args.conversation,
            text,
            model=args.model,
            cancel=cancel,
            settings=_settings(assistant, args),
            use_memory=False if args.no_memory else None,
        )
        if args.show_memories and not args.json:
            _print_memories(stream.memories)
        finished = _stream_to_terminal(stream, cancel, echo=not args.json)
        extraction = _learn_facts(assistant, args, finished=finished)
        if args.json and stream.result is not None:
            reply = stream.result
            print_json(
                {
                    "conversation_id": reply.conversation.id,
                    "user_message_id": reply.user_message.id,
                    "assistant_message_id": reply.assistant_message.id,
                    "reply": reply.assistant_message.content,
                    "model": reply.stats.model,
                    "finish_reason": reply.stats.finish_reason,
                    "prompt_tokens": reply.stats.prompt_tokens,
                    "completion_tokens": reply.stats.completion_tokens,
                    "tokens_per_second": round(reply.stats.tokens_per_second, 2),
                    "memories": [m.to_json() for m in reply.memories],
                    "extraction": extraction,
                }
            )
    return 0 if finished else 130


def run_chat(args: argparse.Namespace) -> int:
    with open_assistant() as assistant:
        conversation_id = args.conversation
        if conversation_id is not None:
            assistant.conversation(conversation_id)  # fail early on a wrong id
        name = assistant.load_model(args.model)
        print(f"Chatting with {name}. /new starts over, /exit or Ctrl-D quits.", file=sys.stderr)
        while True:
            try:
                text = input("you> ")
            except (EOFError, KeyboardInterrupt):
                print(file=sys.stderr)
                return 0
            if text.strip() in ("/exit", "/quit"):
                return 0
            if text.strip() == "/new":
                conversation_id = None
                print("(new conversation)", file=sys.stderr)
                continue
            if not text.strip():
                continue
            cancel = CancelToken()
            try:
                stream = assistant.reply(
                    conversation_id,
                    text,
                    model=args.model,
                    cancel=cancel,
                    settings=_settings(assistant, args),
                    use_memory=False if args.no_memory else None,
                )
            except MnemeError as error:
                print(f"mneme: error: {error}", file=sys.stderr)
                continue
            conversation_id = stream.conversation.id
            sys.stdout.write("mneme> ")
            finished = _stream_to_terminal(stream, cancel)
            _learn_facts(assistant, args, finished=finished)


def _learn_facts(
    assistant: Assistant, args: argparse.Namespace, *, finished: bool
) -> dict[str, Any]:
    """Run fact extraction for the exchange just stored (and any older queued ones, a few at a
    time). Returns what happened as JSON; never raises, except under MNEME_DEBUG=1.

    With `--model` naming another model than the active one, it leaves the jobs queued:
    extraction uses the active model, and loading it here would replace the one just used.
    """
    if args.no_memory:
        result: dict[str, Any] = {"skipped": "--no-memory"}
    elif not finished:
        result = {"skipped": "the reply was stopped"}
    elif not _uses_active_model(assistant, args.model):
        result = {"skipped": "not the active model; `mneme memory extract` reads it later"}
    else:
        cancel = CancelToken()
        try:
            result = assistant.extract_facts(cancel=cancel).to_json()
        except KeyboardInterrupt:
            cancel.cancel()
            result = {"skipped": "interrupted"}
        except Exception as error:
            if os.environ.get("MNEME_DEBUG"):
                raise
            message = str(error) if isinstance(error, MnemeError) else type(error).__name__
            result = {"error": message}
    if args.verbose:
        if "jobs" in result:
            line = describe_run(result)
        elif "skipped" in result:
            line = f"fact extraction skipped: {result['skipped']}"
        else:
            line = f"fact extraction failed: {result['error']} (the job stays queued)"
        print(line, file=sys.stderr)
    return result


def _uses_active_model(assistant: Assistant, model: str | None) -> bool:
    if model is None:
        return True
    try:
        active = assistant.models.active()
    except MnemeError:
        return False
    return active is not None and model == active.name
