"""Keep a conversation inside the context window by dropping its oldest turns.

The system prompt is never dropped, nor the newest message. Turns go oldest first, a user message
together with the replies that follow it, so the template still sees alternating roles.
"""

from __future__ import annotations

from collections.abc import Callable

from assistant.engine.base import ChatMessage
from assistant.errors import ContextOverflowError


def fit_to_window(
    messages: list[ChatMessage],
    count_tokens: Callable[[list[ChatMessage]], int],
    budget: int,
) -> tuple[list[ChatMessage], int, int]:
    """Return (kept messages, their prompt token count, number of messages dropped).

    `count_tokens` renders and tokenizes a candidate list; it is called O(turns) times at worst,
    and once when everything fits.
    """
    system = [m for m in messages[:1] if m.role == "system"]
    turns = messages[len(system) :]
    if not turns:
        return messages, count_tokens(messages), 0
    dropped = 0
    while True:
        candidate = system + turns
        tokens = count_tokens(candidate)
        if tokens <= budget:
            return candidate, tokens, dropped
        if len(turns) == 1:
            raise ContextOverflowError(
                f"The message is too long for this model's context window: the prompt needs "
                f"{tokens} tokens but only {budget} are available; shorten it or raise n_ctx."
            )
        cut = 1
        while cut < len(turns) - 1 and turns[cut].role != "user":
            cut += 1
        turns = turns[cut:]
        dropped += cut
