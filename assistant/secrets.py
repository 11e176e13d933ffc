"""The database key: 32 random bytes kept in the OS keychain through `keyring`.

Order of sources:
1. `MNEME_DB_KEY` (headless use): 64 hex digits are a raw key, anything else is a passphrase.
2. The OS keychain: the key of an existing database is read from it; for a new database a key is made,
   stored, and read back before the database file is created.
3. A passphrase from the caller's `passphrase_provider` (the CLI asks on the terminal, the desktop app in
   a dialog), when there is no usable keychain.

The key is never written to disk beside the database, and never logged.
"""

from __future__ import annotations

import os
import re
import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keyring
import keyring.errors

from assistant.errors import KeychainError

KEY_ENV = "MNEME_DB_KEY"
KEYCHAIN_SERVICE = "mneme"
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")

PassphraseProvider = Callable[[bool], "str | None"]
"""Called with `creating=True` for a new database (ask twice), False to unlock; None means "no"."""


@dataclass(frozen=True)
class DatabaseKey:
    """What `PRAGMA key` needs. `repr` hides the secret so it cannot leak into logs."""

    pragma_value: str = field(repr=False)
    source: str  # "keychain" | "environment" | "passphrase"


def raw_key(secret: bytes) -> DatabaseKey:
    return DatabaseKey(f"\"x'{secret.hex()}'\"", "keychain")


def passphrase_key(passphrase: str, source: str = "passphrase") -> DatabaseKey:
    # SQLCipher derives the real key from a passphrase with PBKDF2.
    return DatabaseKey("'" + passphrase.replace("'", "''") + "'", source)


def key_from_environment(value: str) -> DatabaseKey:
    if _HEX_KEY.match(value):
        return DatabaseKey(f"\"x'{value.lower()}'\"", "environment")
    return passphrase_key(value, "environment")


def keychain_backend_name() -> str:
    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def keychain_usable() -> bool:
    """True if the keyring backend can actually store secrets (the `fail` backend cannot)."""
    try:
        keyring.get_password(KEYCHAIN_SERVICE, "__mneme_probe__")
    except (keyring.errors.KeyringError, RuntimeError):
        return False
    return True


def keychain_account(database: Path) -> str:
    return f"database-key:{database.resolve()}"


def obtain_key(
    database: Path,
    *,
    exists: bool,
    passphrase_provider: PassphraseProvider | None = None,
) -> DatabaseKey:
    """The key for `database`, creating and storing one if the database does not exist yet.

    Side effect: may write a new key to the OS keychain (only when `exists` is False).
    Raises KeychainError with a message that says what to do when no source can give a key.
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return key_from_environment(from_env)

    if keychain_usable():
        account = keychain_account(database)
        stored = keyring.get_password(KEYCHAIN_SERVICE, account)
        if stored:
            if not _HEX_KEY.match(stored):
                raise KeychainError(
                    f"The keychain entry '{KEYCHAIN_SERVICE}/{account}' is not a Mneme key; "
                    "remove it or set MNEME_DB_KEY."
                )
            return raw_key(bytes.fromhex(stored))
        if not exists:
            return _create_keychain_key(account)
        if passphrase_provider is not None:
            return _ask_passphrase(passphrase_provider, creating=False)
        raise KeychainError(
            f"The database {database} exists but the keychain ({keychain_backend_name()}) holds no "
            "key for it; restore the keychain entry or set MNEME_DB_KEY."
        )

    if passphrase_provider is not None:
        return _ask_passphrase(passphrase_provider, creating=not exists)
    raise KeychainError(
        f"No usable OS keychain was found (keyring backend: {keychain_backend_name()}). "
        "Set MNEME_DB_KEY to a passphrase (or 64 hex digits) for headless use, "
        "or start Mneme in a terminal to enter a passphrase."
    )


def _create_keychain_key(account: str) -> DatabaseKey:
    secret = _random.token_bytes(32)
    try:
        keyring.set_password(KEYCHAIN_SERVICE, account, secret.hex())
        read_back = keyring.get_password(KEYCHAIN_SERVICE, account)
    except keyring.errors.KeyringError as error:
        raise KeychainError(f"The OS keychain refused to store the database key: {error}") from None
    if read_back != secret.hex():
        raise KeychainError("The OS keychain did not keep the database key; set MNEME_DB_KEY.")
    return raw_key(secret)


def _ask_passphrase(provider: PassphraseProvider, *, creating: bool) -> DatabaseKey:
    passphrase = provider(creating)
    if not passphrase:
        raise KeychainError("No passphrase was given, so the encrypted database stays closed.")
    return passphrase_key(passphrase)
