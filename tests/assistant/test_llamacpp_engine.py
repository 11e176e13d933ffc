"""LlamaCppEngine against the tiny GGUF through the real llama.cpp."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest

from assistant.cancel import CancelToken
from assistant.engine.base import ChatMessage, GenerationSettings
from assistant.engine.llamacpp import LlamaCppEngine, resolve_gpu_layers
from assistant.errors import ContextOverflowError, ModelError

GREEDY = GenerationSettings(max_tokens=24, temperature=0.0, seed=1)


@pytest.fixture
def engine(tiny_model: Path) -> Iterator[LlamaCppEngine]:
    loaded = LlamaCppEngine(tiny_model, n_ctx=512, seed=1)
    yield loaded
    loaded.close()


def chat(*turns: str) -> list[ChatMessage]:
    messages = [ChatMessage("system", "You are a test.")]
    for index, text in enumerate(turns):
        messages.append(ChatMessage("user" if index % 2 == 0 else "assistant", text))
    return messages


def test_streams_text_piece_by_piece(engine: LlamaCppEngine) -> None:
    stream = engine.stream(chat("Hello world"), GREEDY)
    pieces = list(stream)
    assert len(pieces) > 5
    assert stream.completion is not None
    assert stream.completion.text == "".join(pieces)
    assert stream.completion.text.strip()
    assert stream.completion.finish_reason == "length"
    assert stream.completion.completion_tokens == GREEDY.max_tokens


def test_prompt_uses_the_chat_template_from_the_gguf(engine: LlamaCppEngine) -> None:
    tokens = engine.tokenize_messages(chat("Hello"))
    text = engine._llm.detokenize(tokens, special=True).decode()
    assert text.startswith("<|im_start|>system\nYou are a test.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")
    assert tokens.count(3) == 3  # <|im_start|> is one control token per turn


def test_greedy_generation_is_repeatable(engine: LlamaCppEngine) -> None:
    first = engine.stream(chat("Hello"), GREEDY).drain().text
    engine.stream(chat("Something else entirely"), GREEDY).drain()
    assert engine.stream(chat("Hello"), GREEDY).drain().text == first


def test_cancel_stops_mid_stream(engine: LlamaCppEngine) -> None:
    cancel = CancelToken()
    long = GenerationSettings(max_tokens=400, temperature=0.0)
    stream = engine.stream(chat("Tell me a long story"), long, cancel)
    received = []
    for piece in stream:
        received.append(piece)
        if len(received) == 3:
            cancel.cancel()
    assert len(received) == 3
    assert stream.completion is not None
    assert stream.completion.finish_reason == "cancelled"
    # The engine stays usable after a cancel.
    assert engine.stream(chat("Hello"), GREEDY).drain().finish_reason == "length"


def test_cancel_from_another_thread(engine: LlamaCppEngine) -> None:
    cancel = CancelToken()
    stream = engine.stream(
        chat("Tell me a long story"), GenerationSettings(max_tokens=3000, temperature=0.0), cancel
    )
    first = next(stream)
    worker = threading.Thread(target=cancel.cancel)
    worker.start()
    worker.join()
    rest = list(stream)
    assert first
    assert stream.completion is not None
    assert stream.completion.finish_reason == "cancelled"
    assert len(rest) < 3000


def test_breaking_out_of_the_loop_ends_generation(engine: LlamaCppEngine) -> None:
    stream = engine.stream(chat("Hello"), GenerationSettings(max_tokens=300, temperature=0.0))
    for _ in stream:
        break
    stream.close()
    assert engine.stream(chat("Hello"), GREEDY).drain().text


def count_evaluated(engine: LlamaCppEngine) -> list[int]:
    """Spy on llama.cpp's eval to count the prompt tokens actually computed."""
    evaluated: list[int] = []
    original = engine._llm.eval

    def spy(tokens: list[int]) -> None:
        evaluated.append(len(tokens))
        original(tokens)

    engine._llm.eval = spy  # type: ignore[method-assign]
    return evaluated


def test_kv_cache_is_reused_for_an_unchanged_prefix(engine: LlamaCppEngine) -> None:
    history = chat("First question about the weather", "An answer", "A follow-up question")
    prompt_len = len(engine.tokenize_messages(history))
    evaluated = count_evaluated(engine)

    first = engine.stream(history, GREEDY).drain()
    assert first.reused_prompt_tokens == 0
    # The whole prompt, once: the stable prefix (the system message) on its own, so its state
    # can be saved, then the rest.
    assert evaluated[0] == len(engine._prefix.tokens) > 0
    assert evaluated[0] + evaluated[1] == prompt_len

    evaluated.clear()
    longer = [*history, ChatMessage("assistant", first.text), ChatMessage("user", "And more?")]
    second = engine.stream(longer, GREEDY).drain()
    new_prompt = len(engine.tokenize_messages(longer))
    assert second.reused_prompt_tokens >= prompt_len
    # Only the tokens after the shared prefix were computed for the prompt.
    assert evaluated[0] == new_prompt - second.reused_prompt_tokens
    assert evaluated[0] <= new_prompt - prompt_len


def test_conversation_is_kept_inside_the_window_dropping_oldest_turns(tiny_model: Path) -> None:
    small = LlamaCppEngine(tiny_model, n_ctx=256)
    try:
        turns = [f"turn {i} " + "water " * 10 for i in range(30)]
        messages = chat(*turns[:-1] if len(turns) % 2 == 0 else turns)
        settings = GenerationSettings(max_tokens=32, temperature=0.0)
        completion = small.stream(messages, settings).drain()
        assert completion.dropped_turns > 0
        assert completion.prompt_tokens <= 256 - 32
        kept = messages[:1] + messages[1 + completion.dropped_turns :]
        assert small.tokenize_messages(kept)[:8] == small.tokenize_messages(messages[:1])[:8]
        assert len(small.tokenize_messages(kept)) == completion.prompt_tokens
    finally:
        small.close()


def test_a_message_larger_than_the_window_is_a_clear_error(tiny_model: Path) -> None:
    small = LlamaCppEngine(tiny_model, n_ctx=128)
    try:
        with pytest.raises(ContextOverflowError, match="too long for this model's context"):
            small.stream(chat("water " * 500), GREEDY)
    finally:
        small.close()


def test_gpu_layers_follow_what_the_build_supports(tiny_model: Path) -> None:
    expected = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    assert resolve_gpu_layers(None) == expected
    assert resolve_gpu_layers(0) == 0
    assert resolve_gpu_layers(5) == 5
    engine = LlamaCppEngine(tiny_model, n_ctx=128, n_gpu_layers=0)
    assert engine.n_gpu_layers == 0
    engine.close()


@pytest.mark.parametrize("kind", ["missing", "not-gguf", "truncated"])
def test_bad_model_files_are_clear_errors(tiny_model: Path, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.gguf"
    if kind == "not-gguf":
        path.write_text("<html>a login page saved as .gguf</html>")
    elif kind == "truncated":
        path.write_bytes(tiny_model.read_bytes()[:50_000])
    with pytest.raises(ModelError) as caught:
        LlamaCppEngine(path)
    assert str(path) in str(caught.value)
