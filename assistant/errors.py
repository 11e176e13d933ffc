"""User-facing errors.

Every error a user can cause (a missing model file, a wrong key, a busy database, an unreachable
server) is a `MnemeError` whose message is one complete sentence that says what went wrong and, where
possible, what to do. The CLI prints it as one line; the desktop app shows it inline.
"""

from __future__ import annotations


class MnemeError(Exception):
    """Base class of every error meant to be shown to the user as it is."""


class ConfigError(MnemeError):
    """The settings file is unreadable or names something that does not exist."""


class ModelError(MnemeError):
    """A model file is missing, not a GGUF, truncated, or llama.cpp refused it."""


class NoModelError(ModelError):
    """No model is configured yet."""


class ContextOverflowError(MnemeError):
    """The newest message alone does not fit the model's context window."""


class EngineError(MnemeError):
    """A generation backend failed."""


class ServerUnreachableError(EngineError):
    """An OpenAI-compatible server could not be reached."""


class ServerAuthError(EngineError):
    """An OpenAI-compatible server rejected the API key."""


class RemoteModelNotFoundError(EngineError):
    """An OpenAI-compatible server does not serve the requested model."""


class DownloadError(MnemeError):
    """A model download failed (network, HTTP status, checksum)."""


class ChecksumMismatchError(DownloadError):
    """A downloaded file does not match its expected SHA-256."""


class StorageError(MnemeError):
    """The encrypted database cannot be opened or written."""


class WrongKeyError(StorageError):
    """The key does not decrypt the database (or the file is not a Mneme database)."""


class DatabaseBusyError(StorageError):
    """Another process holds the database lock for longer than the busy timeout."""


class KeychainError(StorageError):
    """The OS keychain is unusable and no other key source was given."""


class NotFoundError(MnemeError):
    """A conversation, message or model named by the user does not exist."""


class ConsolidationRefused(MnemeError):
    """Consolidating facts into the model's weights cannot run here (machine too small, no local
    GGUF model, an architecture it does not support, nothing to consolidate)."""
