from hypothesis import given
from hypothesis import strategies as st

from assistant.engine.base import ChatMessage
from assistant.engine.window import fit_to_window
from assistant.errors import ContextOverflowError


def cost(messages: list[ChatMessage]) -> int:
    return sum(len(m.content) + 2 for m in messages)


def conversation(lengths: list[int]) -> list[ChatMessage]:
    messages = [ChatMessage("system", "s" * 10)]
    for index, length in enumerate(lengths):
        messages.append(ChatMessage("user" if index % 2 == 0 else "assistant", "x" * length))
    return messages


def test_everything_fits_nothing_dropped() -> None:
    messages = conversation([5, 5, 5])
    kept, tokens, dropped = fit_to_window(messages, cost, 1000)
    assert kept == messages and dropped == 0 and tokens == cost(messages)


def test_drops_whole_oldest_turns_and_keeps_the_system_prompt() -> None:
    messages = conversation([50, 50, 50, 50, 5])
    kept, tokens, dropped = fit_to_window(messages, cost, 120)
    assert kept[0].role == "system"
    assert kept[1].role == "user"  # a turn starts with the user, never with a dangling reply
    assert kept[-1] == messages[-1]
    assert dropped == 4 and tokens <= 120


@given(
    lengths=st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=30),
    budget=st.integers(min_value=1, max_value=2000),
)
def test_window_invariants(lengths: list[int], budget: int) -> None:
    messages = conversation(lengths)
    try:
        kept, tokens, dropped = fit_to_window(messages, cost, budget)
    except ContextOverflowError:
        assert cost([messages[0], messages[-1]]) > budget
        return
    assert tokens == cost(kept) <= budget
    assert kept[0] == messages[0] and kept[-1] == messages[-1]
    assert kept[1:] == messages[1 + dropped :]
