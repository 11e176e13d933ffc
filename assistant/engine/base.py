"""What every generation backend offers: a token stream over chat messages, with cancel."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from assistant.cancel import CancelToken


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationSettings:
    max_tokens: int = 1024
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    """The outcome of one stream. `finish_reason`: stop · length · cancelled."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    reused_prompt_tokens: int = 0
    dropped_turns: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0


class TokenStream:
    """Iterate to receive text pieces as they are generated; `completion` is set once it ends.

    Threading: consume it on one thread; cancel it from any thread through the CancelToken given to
    the engine. Stopping iteration early (break) also ends generation.
    """

    def __init__(self, pieces: Iterator[str], finish: Callable[[str], Completion]) -> None:
        self._pieces = pieces
        self._finish = finish
        self._text: list[str] = []
        self._started = time.perf_counter()
        self._first_token_s: float | None = None
        self.completion: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.completion is not None:
            raise StopIteration
        try:
            piece = next(self._pieces)
        except StopIteration:
            self.completion = self._finish("".join(self._text))
            raise
        if self._first_token_s is None:
            self._first_token_s = time.perf_counter() - self._started
        self._text.append(piece)
        return piece

    @property
    def first_token_s(self) -> float | None:
        return self._first_token_s

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self._started

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    def drain(self) -> Completion:
        for _ in self:
            pass
        assert self.completion is not None
        return self.completion


class Engine(Protocol):
    """A loaded model that can chat. Not thread-safe: one stream at a time (the model lane)."""

    @property
    def name(self) -> str: ...

    @property
    def context_window(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` takes in a prompt (an estimate where the backend cannot say)."""
        ...

    def stream(
        self,
        messages: list[ChatMessage],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> TokenStream: ...

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, object],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> str:
        """Text constrained to JSON of `schema` (llama.cpp grammar / the server's response_format).

        Output can still be invalid (cut off at `max_tokens`): callers parse and validate it.
        """
        ...

    def forget_cached_prompts(self) -> None:
        """Drop every cached prompt state (the KV cache), so no forgotten memory is reused."""
        ...

    def close(self) -> None: ...
