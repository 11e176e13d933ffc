"""LlamaCppEngine: a GGUF model in-process through llama-cpp-python.

- The chat template comes from the GGUF (`tokenizer.chat_template`); ChatML when the file has none.
- The prompt is rendered and tokenized here, so the window can be managed in tokens and the KV cache
  reused: llama-cpp-python keeps the previous prompt's KV state and evaluates only the tokens after
  the longest common prefix, so an unchanged system prompt and history are not evaluated again.
- The stable prefix (system message + the pinned profile pair, assistant.memory.prompt) is
  evaluated on its own once and its KV state saved (`_PrefixState`, bounded in bytes). When other
  work has replaced it in the context (fact extraction runs here too) or a new conversation starts,
  the state is restored instead of evaluated again. `forget_cached_prompts` drops it too.
- Replies end on the model's end-of-generation tokens (EOS, ChatML's <|im_end|>, …), which llama.cpp
  knows from the GGUF; no stop strings, which would cost a detokenize per token.
- All layers go to the GPU when the build can offload (override with `n_gpu_layers`).

Threading: one stream at a time; the object belongs to the model lane. Cancel from any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.cancel import CancelToken
from assistant.engine.base import ChatMessage, Completion, GenerationSettings, TokenStream
from assistant.engine.gguf_file import GGUFInfo, inspect_gguf
from assistant.engine.window import fit_to_window
from assistant.errors import ContextOverflowError, ModelError
from assistant.memory.prompt import profile_length

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# The saved prefix state is the KV cache of its tokens (no logits), f16: 2 × layers × KV heads ×
# head size × 2 bytes a token. For 1,500 tokens: ~55 MB for Qwen2.5 3B, ~190 MB for Llama 3.1 8B,
# ~750 MB for Llama 2 7B (no grouped-query attention). A larger state is not saved: that model
# falls back to the plain common-prefix reuse of consecutive turns.
MAX_PREFIX_STATE_BYTES = 384 << 20
# Models this small (test fixtures) run faster on one thread: waking a second one for a few
# thousand multiplications costs more than they do, up to 100× more on a busy machine.
SINGLE_THREAD_BELOW_BYTES = 32 << 20
# Shorter prefixes evaluate in about the time a restore takes: not worth a saved state.
MIN_PREFIX_TOKENS = 16


def common_prefix(held: Sequence[int], wanted: Sequence[int]) -> int:
    count = 0
    for a, b in zip(held, wanted, strict=False):
        if a != b:
            break
        count += 1
    return count


def gpu_offload_supported() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def resolve_gpu_layers(requested: int | None) -> int:
    """None means "all layers if this llama.cpp build can offload, else none"."""
    if requested is not None:
        return requested
    return -1 if gpu_offload_supported() else 0


class LlamaCppEngine:
    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_gpu_layers: int | None = None,
        n_threads: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.info: GGUFInfo = inspect_gguf(model_path)
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if self.info.context_length:
            n_ctx = min(n_ctx, self.info.context_length)
        self.n_gpu_layers = resolve_gpu_layers(n_gpu_layers)
        if n_threads is None and self.info.size_bytes < SINGLE_THREAD_BELOW_BYTES:
            n_threads = 1
        self._threads: dict[str, Any] = (
            {"n_threads": n_threads, "n_threads_batch": n_threads} if n_threads else {}
        )
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.info.path),
                n_ctx=n_ctx,
                n_gpu_layers=self.n_gpu_layers,
                seed=seed if seed is not None else llama_cpp.LLAMA_DEFAULT_SEED,
                verbose=False,
                **self._threads,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelError(f"llama.cpp could not load {self.info.path}: {error}") from None
        self._name = self.info.name or self.info.path.stem
        self._prefix = _PrefixState(self._llm)
        self._stable_memo: tuple[tuple[ChatMessage, ...], list[int]] | None = None
        self._scorer: Any = None
        self._grammars: dict[str, Any] = {}
        # The consolidated LoRA adapter in use (GGUF bytes) and its llama.cpp handles, one per
        # context's model (chat, scoring).
        self._adapter_data: bytes | None = None
        self._adapters: dict[int, Any] = {}
        self._adapter_scale = 1.0
        template = self._llm.metadata.get("tokenizer.chat_template") or CHATML_TEMPLATE
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(eos),
            bos_token=self._token_text(bos),
            stop_token_ids=[eos],
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def context_window(self) -> int:
        return int(self._llm.n_ctx())

    def continuation_logprob(
        self, messages: list[ChatMessage], continuation: str, *, max_tokens: int = 256
    ) -> tuple[float, int]:
        """Log-probability (nats) of `continuation` as the reply to `messages`, and its length.

        Runs on a second llama.cpp context that keeps every position's logits (the chat context
        keeps only the last), created on first use. Slow for big models: a background job.
        """
        import numpy as np

        prompt = self.tokenize_messages(messages)
        reply = list(self._llm.tokenize(continuation.encode("utf-8"), add_bos=False, special=False))
        reply = reply[: max(0, min(max_tokens, self.context_window - len(prompt)))]
        if not reply:
            return 0.0, 0
        scorer = self._scoring_context()
        scorer.reset()
        scorer.eval(prompt + reply)
        logits = np.asarray(
            scorer.scores[len(prompt) - 1 : len(prompt) + len(reply) - 1], dtype=np.float64
        )
        top = logits.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        picked = logits[np.arange(len(reply)), reply]
        return float((picked - log_norm).sum()), len(reply)

    def _scoring_context(self) -> Any:
        if self._scorer is None:
            import llama_cpp

            self._scorer = llama_cpp.Llama(
                model_path=str(self.info.path),
                n_ctx=self.context_window,
                n_gpu_layers=self.n_gpu_layers,
                logits_all=True,
                verbose=False,
                **self._threads,
            )
            if self._adapter_data is not None:
                self._attach_adapter(self._scorer)
        return self._scorer

    @property
    def adapter_in_use(self) -> bool:
        return self._adapter_data is not None

    def set_adapter(self, data: bytes | None, *, scale: float = 1.0) -> None:
        """Use a LoRA adapter (GGUF bytes, assistant.memory.lora_export) in the chat and scoring
        contexts, or none. The KV caches and the saved prefix state are cleared, since they were
        computed with the other weights (a stale cache gives wrong logits). Raises ModelError
        when llama.cpp refuses the adapter; the engine then runs without one."""
        from assistant.engine.adapters import apply_adapter, free_adapter

        for llm in (self._llm, self._scorer):
            if llm is not None and id(llm) in self._adapters:
                apply_adapter(llm, None)
                free_adapter(self._adapters.pop(id(llm)))
        self._adapter_data = None
        self.forget_cached_prompts()
        if data is None:
            return
        self._adapter_scale = scale
        self._adapter_data = data
        try:
            for llm in (self._llm, self._scorer):
                if llm is not None:
                    self._attach_adapter(llm)
        except Exception:
            self.set_adapter(None)
            raise

    def _attach_adapter(self, llm: Any) -> None:
        from assistant.engine.adapters import apply_adapter, load_adapter

        assert self._adapter_data is not None
        adapter = load_adapter(llm, self._adapter_data)
        self._adapters[id(llm)] = adapter
        apply_adapter(llm, adapter, self._adapter_scale)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def tokenize_messages(self, messages: list[ChatMessage]) -> list[int]:
        """The exact prompt tokens for `messages`, generation prompt included."""
        rendered = self._formatter(
            messages=[{"role": m.role, "content": m.content} for m in messages]  # type: ignore[misc]
        )
        tokens = self._llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return list(tokens)

    def tokenize_exchange(
        self, messages: list[ChatMessage], answer: str
    ) -> tuple[list[int], list[int]]:
        """(prompt tokens, answer tokens) of `answer` as the assistant's reply to `messages`, the
        answer including the chat template's end-of-turn tokens: what training on an exchange
        needs to match what the model sees when it answers."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        prompt = self.tokenize_messages(messages)
        closed = Jinja2ChatFormatter(
            template=self._formatter.template,
            eos_token=self._formatter.eos_token,
            bos_token=self._formatter.bos_token,
            add_generation_prompt=False,
        )
        rendered = closed(
            messages=[
                {"role": m.role, "content": m.content}  # type: ignore[misc]
                for m in [*messages, ChatMessage("assistant", answer)]
            ]
        )
        full = list(
            self._llm.tokenize(
                rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
            )
        )
        if full[: len(prompt)] == prompt and len(full) > len(prompt):
            return prompt, full[len(prompt) :]
        # A template that renders the reply differently from its generation prompt: the answer's
        # own tokens, then end-of-sequence.
        own = self._llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False)
        return prompt, [*own, self._llm.token_eos()]

    def stream(
        self,
        messages: list[ChatMessage],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> TokenStream:
        # The first-token time counts from here: rendering and fitting the prompt are part of it.
        started = time.perf_counter()
        window = self.context_window
        reserve = max(1, min(settings.max_tokens, window // 2))
        kept, prompt, dropped = self._fit(messages, window - reserve)
        prompt_len = len(prompt)
        stable = self._stable_length(kept[: 1 + profile_length(kept)], prompt)
        max_tokens = max(1, min(settings.max_tokens, window - prompt_len))
        state: dict[str, Any] = {"finish": "stop", "first": None, "reused": 0}

        def pieces() -> Iterator[str]:
            # Inside the stream, so a stream never iterated evaluates nothing and the first-token
            # time includes restoring or evaluating the prefix.
            state["reused"] = min(self._prefix.prepare(prompt, stable), len(prompt) - 1)
            chunks: Any = self._llm.create_completion(
                prompt=prompt,
                max_tokens=max_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                seed=settings.seed,
                stream=True,
            )
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.cancelled:
                        state["finish"] = "cancelled"
                        return
                    choice = chunk["choices"][0]
                    if choice.get("finish_reason"):
                        state["finish"] = choice["finish_reason"]
                    if choice["text"]:
                        if state["first"] is None:
                            state["first"] = time.perf_counter() - started
                        yield choice["text"]
                    if cancel is not None and cancel.cancelled:
                        state["finish"] = "cancelled"
                        return
            finally:
                chunks.close()

        def finish(text: str) -> Completion:
            generated = max(0, self._llm.n_tokens - prompt_len)
            if state["finish"] in ("length", "cancelled") and text:
                generated += 1  # the last sampled token is never evaluated
            return Completion(
                text=text,
                finish_reason=state["finish"],
                prompt_tokens=prompt_len,
                completion_tokens=generated,
                reused_prompt_tokens=state["reused"],
                dropped_turns=dropped,
                first_token_s=state["first"],
                total_s=time.perf_counter() - started,
            )

        return TokenStream(pieces(), finish)

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, object],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> str:
        """Generation constrained by a GBNF grammar made from `schema` (cached per schema).

        Runs on the chat context: the next chat turn restores its stable prefix from the saved
        state and evaluates the rest (the KV cache holds this prompt now)."""
        import json

        from llama_cpp.llama_grammar import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        prompt = self.tokenize_messages(messages)
        room = self.context_window - len(prompt)
        if room < 16:
            raise ModelError("The text is too long for the model's context window.")
        chunks: Any = self._llm.create_completion(
            prompt=prompt,
            grammar=self._grammars[key],
            max_tokens=max(1, min(settings.max_tokens, room)),
            temperature=settings.temperature,
            top_p=settings.top_p,
            seed=settings.seed,
            stream=True,
        )
        text: list[str] = []
        try:
            for chunk in chunks:
                if cancel is not None and cancel.cancelled:
                    break
                text.append(chunk["choices"][0]["text"])
        finally:
            chunks.close()
        if cancel is not None:
            cancel.raise_if_cancelled()
        return "".join(text)

    def forget_cached_prompts(self) -> None:
        """Clear the KV caches (contents too) of the chat and scoring contexts, and the saved
        prefix state: the next reply evaluates its whole prompt."""
        import llama_cpp

        self._prefix.clear()
        self._stable_memo = None
        for llm in (self._llm, self._scorer):
            if llm is None:
                continue
            llm.reset()
            memory = llama_cpp.llama_get_memory(llm.ctx)
            llama_cpp.llama_memory_clear(memory, True)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.set_adapter(None)
        self._prefix.clear()
        self._llm.close()
        if self._scorer is not None:
            self._scorer.close()

    def _fit(
        self, messages: list[ChatMessage], budget: int
    ) -> tuple[list[ChatMessage], list[int], int]:
        """fit_to_window that keeps the profile pair beside the system message: old turns go
        first, the profile only when the newest message cannot fit beside it.
        Returns (kept messages, their prompt tokens, how many messages were dropped)."""
        pinned = profile_length(messages)
        turns = messages[:1] + messages[1 + pinned :]  # the system message and the conversation
        profile = messages[1 : 1 + pinned]
        rendered: dict[int, list[int]] = {}

        def with_profile(candidate: list[ChatMessage]) -> list[ChatMessage]:
            # fit_to_window never drops the system message, so the profile goes right after it.
            return candidate[:1] + profile + candidate[1:]

        def count(candidate: list[ChatMessage]) -> int:
            rendered[len(candidate)] = self.tokenize_messages(with_profile(candidate))
            return len(rendered[len(candidate)])

        if profile:
            try:
                kept, _, dropped = fit_to_window(turns, count, budget)
                return with_profile(kept), rendered[len(kept)], dropped
            except ContextOverflowError:
                profile = []
                rendered.clear()
        kept, _, dropped = fit_to_window(turns, count, budget)
        return kept, rendered[len(kept)], dropped + pinned

    def _stable_length(self, head: list[ChatMessage], prompt: list[int]) -> int:
        """How many of `prompt`'s tokens are the stable head's (system message, profile pair)."""
        if not head or head[0].role != "system":
            return 0
        key = tuple(head)
        if self._stable_memo is None or self._stable_memo[0] != key:
            self._stable_memo = (key, self.tokenize_messages(head))
        # The head rendered alone ends in a generation prompt; the common part is the head itself.
        return common_prefix(self._stable_memo[1], prompt)

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="ignore")


class _PrefixState:
    """The saved KV state of one stable prompt prefix, restored when the context lost it.

    Holds at most one state of at most MAX_PREFIX_STATE_BYTES (host memory): the KV cells of
    sequence 0 for exactly the prefix tokens, copied out with llama.cpp's sequence-state API.
    Threading: the engine's (the model lane's).
    """

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._tokens: list[int] = []
        self._data: Any = None  # ctypes uint8 array
        self._size = 0
        # Recurrent and hybrid models cannot drop the tail of their memory: no prefix reuse.
        self._enabled = not (
            getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)
        )

    @property
    def tokens(self) -> list[int]:
        """The saved prefix ([] when none)."""
        return list(self._tokens)

    @property
    def nbytes(self) -> int:
        return self._size

    def prepare(self, prompt: list[int], stable: int) -> int:
        """Make the context hold `prompt`'s first `stable` tokens before generation: kept if held,
        restored if saved, else evaluated now and saved. Returns how many of the prompt's tokens
        this call did not evaluate (held or restored); generation evaluates the rest."""
        llm = self._llm
        held = common_prefix(llm._input_ids, prompt)
        if not self._enabled or stable < MIN_PREFIX_TOKENS or held >= stable:
            return held
        saved = len(self._tokens)
        if held < saved < len(prompt) and prompt[:saved] == self._tokens and self._restore():
            held = saved
        if held >= stable or self._tokens[:stable] == prompt[:stable]:
            # Held now; or a shorter prefix of the saved one (a reply without the profile):
            # generation evaluates it, and the saved state stays for the next ordinary turn.
            return held
        llm.n_tokens = held  # eval drops the KV cells from here on first
        llm.eval(prompt[held:stable])
        self._save(prompt[:stable])
        return held

    def clear(self) -> None:
        self._tokens, self._data, self._size = [], None, 0

    def _save(self, tokens: list[int]) -> None:
        import llama_cpp

        self.clear()  # the old state's memory goes before the new one is allocated
        ctx = self._llm.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        if size <= 0 or size > MAX_PREFIX_STATE_BYTES:
            return
        data = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_seq_get_data(ctx, data, size, 0))
        if written <= 0:
            return
        self._tokens, self._data, self._size = list(tokens), data, written

    def _restore(self) -> bool:
        import llama_cpp

        llm = self._llm
        if not llama_cpp.llama_state_seq_set_data(llm.ctx, self._data, self._size, 0):
            # The context is in an unknown state: empty it and evaluate from scratch.
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
            llm.n_tokens = 0
            self.clear()
            return False
        count = len(self._tokens)
        llm.input_ids[:count] = self._tokens
        llm.n_tokens = count
        llm._requires_eval = True  # sample only after a decode refreshed the logits
        return True
