"""Mneme's desktop app (PySide6). Talks to the core only through `assistant.Assistant`."""
