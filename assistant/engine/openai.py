"""OpenAIEngine: any OpenAI-compatible chat server (llama-server, vLLM, Ollama, llama_cpp.server).

Uses only the standard library's HTTP client so there is nothing extra to install or to go wrong.
Errors a user can cause become one clear sentence: unreachable server, rejected API key, model not
served. Cancel closes the HTTP response, which wakes a blocked read and tells the server to stop.

Threading: one stream at a time; cancel from any thread.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse
from typing import Any

from assistant.cancel import CancelToken
from assistant.engine.base import ChatMessage, Completion, GenerationSettings, TokenStream
from assistant.errors import (
    EngineError,
    RemoteModelNotFoundError,
    ServerAuthError,
    ServerUnreachableError,
)


class OpenAIEngine:
    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        context_window: int = 8192,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self._timeout = timeout
        self._context_window = context_window
        self._checked = False

    @property
    def name(self) -> str:
        return f"{self.model or 'default'} @ {self.base_url}"

    @property
    def context_window(self) -> int:
        return self._context_window

    def count_tokens(self, text: str) -> int:
        # The server does not expose its tokenizer; about four characters a token is the usual rule.
        return len(text) // 4 + 1

    def list_models(self) -> list[str]:
        """The model ids the server offers (GET /models)."""
        with self._open("GET", "/models") as response:
            body = json.loads(response.read() or b"{}")
        return [str(item.get("id")) for item in body.get("data", []) if isinstance(item, dict)]

    def check(self) -> None:
        """Reach the server and make sure it serves `model`; raises a clear EngineError if not."""
        available = self.list_models()
        if self.model is not None and self.model not in available:
            offered = ", ".join(available) or "none"
            raise RemoteModelNotFoundError(
                f"The server at {self.base_url} does not serve the model '{self.model}' "
                f"(it offers: {offered})."
            )
        self._checked = True

    def stream(
        self,
        messages: list[ChatMessage],
        settings: GenerationSettings,
        cancel: CancelToken | None = None,
    ) -> TokenStream:
        if not self._checked:
            self.check()
        payload = self._payload(messages, settings, stream=True)
        state: dict[str, Any] = {"finish": "stop", "first": None, "pieces": 0, "usage": None}
        started = time.perf_counter()

        def pieces() -> Iterator[str]:
            response = self._open("POST", "/chat/completions", payload)
            unregister = cancel.on_cancel(response.close) if cancel is not None else None
            try:
                yield from self._read_events(response, state, cancel, started)
            except (OSError, ValueError, AttributeError):
                # A cancel closes the response under the reader; anything else is a real failure.
                if cancel is None or not cancel.cancelled:
                    raise EngineError(f"The server at {self.base_url} closed the stream.") from None
                state["finish"] = "cancelled"
            finally:
                if unregister is not None:
                    unregister()
                with contextlib.suppress(Exception):
                    response.close()

        def finish(text: str) -> Completion:
            usage = state["usage"] or {}
            return Completion(
                text=text,
                finish_reason=state["finish"],
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or state["pieces"]),
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
        """A non-streamed completion with `response_format` json_schema (llama-server, vLLM and
        Ollama honour it; a server that ignores it returns free text, which the caller rejects)."""
        if not self._checked:
            self.check()
        payload = self._payload(messages, settings, stream=False)
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "facts", "schema": schema, "strict": True},
        }
        if cancel is not None:
            cancel.raise_if_cancelled()
        response = self._open("POST", "/chat/completions", payload)
        try:
            body = json.loads(response.read() or b"{}")
        except (json.JSONDecodeError, OSError, ValueError):
            raise EngineError(f"The server at {self.base_url} sent an unreadable reply.") from None
        finally:
            with contextlib.suppress(Exception):
                response.close()
        try:
            return str(body["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise EngineError(f"The server at {self.base_url} sent no completion.") from None

    def forget_cached_prompts(self) -> None:
        """Nothing is cached on this side; the server's own prompt cache is its business."""

    def close(self) -> None:
        pass

    def _payload(
        self, messages: list[ChatMessage], settings: GenerationSettings, *, stream: bool
    ) -> dict[str, Any]:
        """The chat-completions request body shared by streaming and JSON completions."""
        payload: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "stream": stream,
        }
        if self.model is not None:
            payload["model"] = self.model
        if settings.seed is not None:
            payload["seed"] = settings.seed
        return payload

    def _read_events(
        self,
        response: HTTPResponse,
        state: dict[str, Any],
        cancel: CancelToken | None,
        started: float,
    ) -> Iterator[str]:
        for raw_line in response:
            if cancel is not None and cancel.cancelled:
                state["finish"] = "cancelled"
                return
            line = raw_line.decode("utf-8", errors="replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                event = json.loads(data)
            except json.JSONDecodeError:
                continue
            if "error" in event:
                raise EngineError(f"The server reported an error: {_error_text(event)}")
            if event.get("usage"):
                state["usage"] = event["usage"]
            for choice in event.get("choices") or []:
                if choice.get("finish_reason"):
                    state["finish"] = choice["finish_reason"]
                text = (choice.get("delta") or {}).get("content")
                if text:
                    if state["first"] is None:
                        state["first"] = time.perf_counter() - started
                    state["pieces"] += 1
                    yield text
        if cancel is not None and cancel.cancelled:
            state["finish"] = "cancelled"

    def _open(self, method: str, path: str, payload: Any = None) -> HTTPResponse:
        data = json.dumps(payload).encode("utf-8") if payload is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "text/event-stream, application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._api_key:
            request.add_header("Authorization", f"Bearer {self._api_key}")
        try:
            response: HTTPResponse = urllib.request.urlopen(request, timeout=self._timeout)
        except urllib.error.HTTPError as error:
            raise self._http_error(error) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise ServerUnreachableError(
                f"Cannot reach the model server at {self.base_url}: {reason}."
            ) from None
        return response

    def _http_error(self, error: urllib.error.HTTPError) -> EngineError:
        try:
            detail = _error_text(json.loads(error.read() or b"{}"))
        except (json.JSONDecodeError, OSError, ValueError):
            detail = error.reason
        if error.code in (401, 403):
            return ServerAuthError(
                f"The model server at {self.base_url} rejected the API key ({error.code}); "
                "check the key."
            )
        if error.code == 404 and self.model and "model" in str(detail).lower():
            return RemoteModelNotFoundError(
                f"The server at {self.base_url} does not serve the model '{self.model}': {detail}"
            )
        if error.code == 404:
            return ServerUnreachableError(
                f"{self.base_url} does not look like an OpenAI-compatible API (404); "
                "the URL usually ends in /v1."
            )
        return EngineError(f"The model server at {self.base_url} answered {error.code}: {detail}")


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(body)
