"""ChatGPT exports (`conversations.json`): each conversation becomes episode memories.

The export is a JSON list of conversations, each with `id` (or `conversation_id`), `title`,
`create_time` and `mapping` (node id → {message, parent, children}). It is streamed with ijson,
one conversation at a time, so an export of any size is read in the memory of its largest
conversation. Each conversation is one `ImportUnit` (key `chatgpt:<id>`, sha256 of its JSON), so
a large export resumes after the last conversation written and an unchanged one is skipped.

Turns are taken from the branch the user last saw (from `current_node` back to the root; with no
`current_node`, every message by time). User and assistant turns with text become episode memories:
source_type "conversation", trust "imported" (whoever spoke, it is imported text, not something the
user told Mneme), speaker "user"/"assistant", session `chatgpt:<id>`, position the order in the
conversation, occurred_at the message's time (else the conversation's, else the file's). A long
turn is cut into chunks. source_ref `chatgpt:<id>#message=<node id>` (forget_source with
`chatgpt:<id>` removes a whole conversation). A malformed conversation becomes a unit with an
`error` (reported per item); a file that is not a JSON list raises ImportFileError.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from assistant.cancel import CancelToken
from assistant.importers.chunking import chunk_blocks
from assistant.importers.documents import text_blocks
from assistant.importers.registry import Importer, ImportFileError, ImportUnit, SourceFile, register
from assistant.memory.store import NewMemory

MAX_NODES = 100_000  # messages in one conversation
MAX_ID = 200  # characters of a conversation or message id
MAX_DEPTH = 64  # JSON nesting inside one conversation (real exports use about 8)
_TOO_DEEP = object()
_OPEN = object()
MAX_TURN_CHARS = 1000  # a longer turn is cut into chunks of at most this
ROLES = {"user": "user", "assistant": "assistant"}
EXPORT_NAME = "conversations.json"
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _Malformed(Exception):
    """One conversation cannot be read; the message says why."""


def _iso(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    seconds = float(value)
    if not math.isfinite(seconds):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return None


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts")
    pieces: list[str] = []
    if isinstance(parts, list):
        pieces = [part for part in parts if isinstance(part, str)]
    elif isinstance(content.get("text"), str):  # content_type "code" and similar
        pieces = [content["text"]]
    text = "\n\n".join(piece for piece in pieces if piece.strip()).strip()
    # Lone surrogates (legal in JSON, not in UTF-8) and control characters cannot be stored.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROLS.sub(" ", text).strip()


def _branch(mapping: dict[str, Any], current: Any) -> list[tuple[str, dict[str, Any]]]:
    """(node id, message) of the visible branch, root first."""
    if len(mapping) > MAX_NODES:
        raise _Malformed(f"it has over {MAX_NODES:,} messages")
    if isinstance(current, str) and current in mapping:
        chain: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        node_id: Any = current
        while isinstance(node_id, str) and node_id in mapping and node_id not in seen:
            seen.add(node_id)
            node = mapping[node_id]
            if not isinstance(node, dict):
                raise _Malformed(f"node {node_id[:40]!r} is not an object")
            message = node.get("message")
            if isinstance(message, dict):
                chain.append((node_id, message))
            node_id = node.get("parent")
        chain.reverse()
        return chain
    found = [
        (node_id, node["message"])
        for node_id, node in mapping.items()
        if isinstance(node, dict) and isinstance(node.get("message"), dict)
    ]

    def when(item: tuple[str, dict[str, Any]]) -> float:
        value: Any = item[1].get("create_time")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return math.inf
        return float(value) if math.isfinite(value) else math.inf

    return sorted(found, key=when)


def conversation_unit(
    conversation: Any, index: int, source: SourceFile, cancel: CancelToken
) -> ImportUnit:
    """One conversation as an ImportUnit (with `error` set when it is malformed)."""
    key = f"chatgpt:#{index}"
    try:
        digest = _digest(conversation)
    except RecursionError:
        return ImportUnit(key, "", (), f"Conversation {index + 1} is skipped: nested too deeply.")
    try:
        if not isinstance(conversation, dict):
            raise _Malformed("it is not an object")
        ident = conversation.get("id") or conversation.get("conversation_id")
        if not isinstance(ident, str) or not ident.strip():
            raise _Malformed("it has no id")
        if len(ident) > MAX_ID:
            raise _Malformed("its id is too long")
        key = f"chatgpt:{ident}"
        mapping = conversation.get("mapping")
        if not isinstance(mapping, dict):
            raise _Malformed("it has no message mapping")
        started = _iso(conversation.get("create_time")) or source.mtime
        memories: list[NewMemory] = []
        for node_id, message in _branch(mapping, conversation.get("current_node")):
            cancel.raise_if_cancelled()
            author = message.get("author")
            role = author.get("role") if isinstance(author, dict) else None
            speaker = ROLES.get(role) if isinstance(role, str) else None
            metadata = message.get("metadata")
            hidden = isinstance(metadata, dict) and metadata.get(
                "is_visually_hidden_from_conversation"
            )
            text = _text(message)
            if speaker is None or hidden or not text:
                continue
            occurred = _iso(message.get("create_time")) or started
            for chunk in chunk_blocks(text, text_blocks(text), MAX_TURN_CHARS):
                memories.append(
                    NewMemory(
                        text=chunk.text,
                        kind="episode",
                        source_type="conversation",
                        source_ref=f"{key}#message={node_id[:MAX_ID]}",
                        trust="imported",
                        occurred_at=occurred,
                        speaker=speaker,
                        session=key,
                        position=len(memories),
                    )
                )
    except _Malformed as error:
        return ImportUnit(key, digest, (), f"Conversation {index + 1} ({key}) is skipped: {error}.")
    return ImportUnit(key, digest, tuple(memories))


def parse_chatgpt(source: SourceFile, cancel: CancelToken) -> Iterator[ImportUnit]:
    import ijson  # imported here: only ChatGPT imports need it

    name = source.path.name
    with source.open() as stream:
        head = stream.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head.startswith(b"["):
            raise ImportFileError(f"{name} is not a ChatGPT export (it is not a JSON list).")
        stream.seek(0)
        if stream.read(3) != b"\xef\xbb\xbf":
            stream.seek(0)
        done = 0
        try:
            for conversation in _items(ijson.basic_parse(stream, use_float=True)):
                cancel.raise_if_cancelled()
                if conversation is _TOO_DEEP:
                    key = f"chatgpt:#{done}"
                    message = f"Conversation {done + 1} is skipped: it is nested too deeply."
                    yield ImportUnit(key, "", (), message)
                else:
                    yield conversation_unit(conversation, done, source, cancel)
                done += 1
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as error:
            raise ImportFileError(
                f"{name} is damaged JSON after {done:,} conversations ({_reason(error)})."
            ) from None


def _items(events: Iterator[tuple[str, Any]]) -> Iterator[Any]:
    """The elements of the top-level JSON array, built from ijson's basic events one at a time.
    (ijson.items is quadratic in the nesting depth.) An element nested deeper than MAX_DEPTH is
    skipped and given as _TOO_DEEP."""
    event, _ = next(events, ("end", None))
    if event != "start_array":
        raise ValueError("the file is not a JSON list")
    stack: list[Any] = []  # open containers of the current element
    keys: list[str | None] = []  # per open container: the key awaiting a value (maps)
    skipping = 0  # depth inside an element being skipped

    def put(value: Any) -> Any:
        """Add a finished value to its container; returns it when it is a whole element."""
        if not stack:
            return value
        if isinstance(stack[-1], list):
            stack[-1].append(value)
        else:
            stack[-1][keys[-1]] = value
        return _OPEN

    for event, value in events:
        if skipping:
            skipping += 1 if event in ("start_map", "start_array") else 0
            skipping -= 1 if event in ("end_map", "end_array") else 0
            if not skipping:
                yield _TOO_DEEP
            continue
        if event in ("start_map", "start_array"):
            if len(stack) >= MAX_DEPTH:
                skipping, stack, keys = len(stack) + 1, [], []  # to the element's end
                continue
            stack.append({} if event == "start_map" else [])
            keys.append(None)
            continue
        if event == "map_key":
            keys[-1] = value
            continue
        if event in ("end_map", "end_array"):
            if not stack:  # the end of the top-level list
                return
            keys.pop()
            whole = put(stack.pop())
        else:
            whole = put(value)
        if whole is not _OPEN:
            yield whole
    raise ValueError("the list is not closed")


def _digest(conversation: Any) -> str:
    raw = json.dumps(conversation, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split())[:120] or type(error).__name__


CHATGPT = register(Importer("chatgpt", (), parse_chatgpt, None, names=(EXPORT_NAME,)))
