"""LlamaCppEngine: a GGUF model in-process through llama-cpp-python.

- The chat template comes from the GGUF (`tokenizer.chat_template`); ChatML when the file has none.
- The prompt is rendered and tokenized here, so the window can be managed in tokens and the KV cache
  reused: llama-cpp-python keeps the previous prompt's KV state and evaluates only the tokens after
  the longest common prefix, so an unchanged system prompt and history are not evaluated again.
- Replies end on the model's end-of-generation tokens (EOS, ChatML's <|im_end|>, …), which llama.cpp
  knows from the GGUF; no stop strings, which would cost a detokenize per token.
- All layers go to the GPU when the build can offload (override with `n_gpu_layers`).

Threading: one stream at a time; the object belongs to the model lane. Cancel from any thread.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.cancel import CancelToken
from assistant.engine.base import ChatMessage, Completion, GenerationSettings, TokenStream
from assistant.engine.gguf_file import GGUFInfo, inspect_gguf
from assistant.engine.window import fit_to_window
from assistant.errors import ModelError

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


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
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.info.path),
                n_ctx=n_ctx,
                n_gpu_layers=self.n_gpu_layers,
                n_threads=n_threads,
                seed=seed if seed is not None else llama_cpp.LLAMA_DEFAULT_SEED,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as error:
            raise ModelError(f"llama.cpp could not load {self.info.path}: {error}") from None
        self._name = self.info.name or self.info.path.stem
        self._scorer: Any = None
        self._grammars: dict[str, Any] = {}
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
            )
        return self._scorer

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

    def stream(
        self,
        messages: list[ChatMessage],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> TokenStream:
        window = self.context_window
        reserve = max(1, min(settings.max_tokens, window // 2))
        rendered: dict[int, list[int]] = {}

        def count(candidate: list[ChatMessage]) -> int:
            rendered[len(candidate)] = self.tokenize_messages(candidate)
            return len(rendered[len(candidate)])

        kept, prompt_len, dropped = fit_to_window(messages, count, window - reserve)
        prompt = rendered[len(kept)]
        cached = self._llm._input_ids  # what the KV cache holds now
        common = 0
        for held, wanted in zip(cached, prompt, strict=False):
            if held != wanted:
                break
            common += 1
        reused = min(common, len(prompt) - 1)
        max_tokens = max(1, min(settings.max_tokens, window - prompt_len))
        state: dict[str, Any] = {"finish": "stop", "first": None}
        started = time.perf_counter()

        def pieces() -> Iterator[str]:
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
                reused_prompt_tokens=reused,
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

        Runs on the chat context: the next chat turn re-evaluates its prompt after the common
        prefix (the KV cache holds this prompt now)."""
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
        """Clear the KV caches (contents too) of the chat and scoring contexts."""
        import llama_cpp

        for llm in (self._llm, self._scorer):
            if llm is None:
                continue
            llm.reset()
            memory = llama_cpp.llama_get_memory(llm.ctx)
            llama_cpp.llama_memory_clear(memory, True)

    def close(self) -> None:
        self._llm.close()
        if self._scorer is not None:
            self._scorer.close()

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="ignore")
