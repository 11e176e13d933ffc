"""The encrypted SQLCipher database (through sqlite-utils) and its migrations."""

from assistant.storage.database import EncryptedDatabase, open_database

__all__ = ["EncryptedDatabase", "open_database"]
