"""Test support that ships with the core: the tiny random-weight GGUF generator.

`python -m assistant.testing tiny-model OUT.gguf` writes the model the test suite loads; it is a
real llama-architecture GGUF, so tests exercise the real llama.cpp path in milliseconds.
"""

from assistant.testing.tiny_model import PRESETS, write_tiny_model

__all__ = ["PRESETS", "write_tiny_model"]
