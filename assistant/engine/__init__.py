"""Generation backends: llama.cpp in-process, OpenAI-compatible HTTP servers, and model files."""

from assistant.engine.base import ChatMessage, Completion, Engine, GenerationSettings, TokenStream

__all__ = ["ChatMessage", "Completion", "Engine", "GenerationSettings", "TokenStream"]
