"""Structure-aware chunks of a document's text, with provenance.

A parser turns a document into `Block`s (headings and paragraphs, as character spans of the
document's text); `chunk_blocks` packs them into chunks of at most `max_chars` characters. A heading
starts a new chunk (a chunk never spans two sections), consecutive paragraphs share one, and a
paragraph longer than a chunk is cut at whitespace — only a single "word" longer than a chunk is
cut inside. Every chunk's text is exactly `text[start:end]`, so its offsets can be checked.

Everything here is linear in the text and iterative: no input can make it recurse or go quadratic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

MAX_CHARS = 1000
MAX_TITLE = 80
HEADING_MARK = " § "
HEADING_JOIN = " > "
_SPACES = (" ", "\n", "\t", "\r", "\f", "\v", "\u3000")
_SOURCE_REF = re.compile(r"^(.*?)#(\d+)-(\d+)(?: § (.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """A span of the text: a heading (`level` 1–6, with its `title`) or body text (`level` 0).
    `start`/`end` must not include surrounding whitespace."""

    start: int
    end: int
    level: int = 0
    title: str = ""


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    headings: tuple[str, ...] = ()


def chunk_blocks(text: str, blocks: Iterable[Block], max_chars: int = MAX_CHARS) -> Iterator[Chunk]:
    """Chunks of `text` from its blocks (in order), each at most `max_chars` characters."""
    stack: list[tuple[int, str]] = []
    start: int | None = None
    end = 0
    has_body = False

    def emit(first: int, last: int) -> Chunk:
        return Chunk(text[first:last], first, last, tuple(title for _, title in stack if title))

    for block in blocks:
        if block.level:
            if start is not None and (has_body or block.end - start > max_chars):
                yield emit(start, end)
                start, has_body = None, False
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, _title(block.title)))
            if block.end - block.start > max_chars:  # a heading longer than a chunk
                yield from _pieces(text, block.start, block.end, max_chars, emit)
                continue
            if start is None:
                start = block.start
            end = block.end
            continue
        if start is not None and block.end - start <= max_chars:
            end, has_body = block.end, True
            continue
        if start is not None and (has_body or block.start - start > max_chars // 2):
            yield emit(start, end)
            start, has_body = None, False
        # Headings alone so far stay at the head of the paragraph's first piece.
        first = block.start if start is None else start
        if block.end - first <= max_chars:
            start, end, has_body = first, block.end, True
        else:
            yield from _pieces(text, first, block.end, max_chars, emit)
            start, has_body = None, False
    if start is not None:
        yield emit(start, end)


def _pieces(
    text: str, start: int, end: int, max_chars: int, emit: Callable[[int, int], Chunk]
) -> Iterator[Chunk]:
    for first, last in split_at_whitespace(text, start, end, max_chars):
        yield emit(first, last)


def split_at_whitespace(
    text: str, start: int, end: int, max_chars: int
) -> Iterator[tuple[int, int]]:
    """Spans of `text[start:end]`, each at most `max_chars` long, cut at whitespace (which is
    dropped at the cuts); a run without whitespace longer than `max_chars` is cut inside."""
    position = start
    while position < end:
        while position < end and text[position].isspace():
            position += 1
        if position >= end:
            return
        if end - position <= max_chars:
            last = end
        else:
            limit = position + max_chars
            cut = max(text.rfind(space, position + 1, limit + 1) for space in _SPACES)
            last = cut if cut > position else limit
        stop = last
        while stop > position and text[stop - 1].isspace():
            stop -= 1
        yield position, stop
        position = last


def _title(title: str) -> str:
    flat = " ".join(title.split())
    return flat if len(flat) <= MAX_TITLE else flat[: MAX_TITLE - 1] + "…"


def format_source_ref(path: str, start: int, end: int, headings: tuple[str, ...] = ()) -> str:
    """`path#start-end`, then ` § ` and the heading path (`A > B`) when there is one."""
    ref = f"{path}#{start}-{end}"
    if headings:
        ref += HEADING_MARK + HEADING_JOIN.join(headings)
    return ref


def parse_source_ref(ref: str) -> tuple[str, int, int, tuple[str, ...]] | None:
    """(path, start, end, headings) of a chunk's source_ref; None if it is not one."""
    match = _SOURCE_REF.match(ref)
    if match is None:
        return None
    path, start, end, headings = match.groups()
    return path, int(start), int(end), tuple(headings.split(HEADING_JOIN)) if headings else ()
