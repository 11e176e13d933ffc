"""Where the database key comes from, and what happens without a keychain."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from assistant import Assistant
from assistant.errors import KeychainError, WrongKeyError
from assistant.secrets import KEYCHAIN_SERVICE, keychain_account


def everything_on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_first_run_creates_a_32_byte_key_in_the_keychain_and_reuses_it(
    mneme_home: Path, memory_keyring
) -> None:
    with Assistant() as assistant:
        assistant.new_conversation("one")
        account = keychain_account(assistant.paths.database)
    stored = memory_keyring.secrets[(KEYCHAIN_SERVICE, account)]
    assert len(bytes.fromhex(stored)) == 32
    with Assistant() as again:
        assert [c.title for c in again.conversations()] == ["one"]
    assert memory_keyring.secrets[(KEYCHAIN_SERVICE, account)] == stored
    # The key is never written beside the database, in any form.
    disk = everything_on_disk(mneme_home)
    assert stored.encode() not in disk
    assert bytes.fromhex(stored) not in disk


def test_no_keychain_and_no_other_source_is_a_clear_error_and_creates_nothing(
    mneme_home: Path,
) -> None:
    keyring.set_keyring(fail.Keyring())
    assistant = Assistant()
    with pytest.raises(KeychainError, match=r"No usable OS keychain.*MNEME_DB_KEY"):
        assistant.open()
    assert not assistant.paths.database.exists()


def test_no_keychain_asks_for_a_passphrase(mneme_home: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    asked: list[bool] = []

    def provider(creating: bool) -> str:
        asked.append(creating)
        return "correct horse battery staple"

    with Assistant(passphrase_provider=provider) as assistant:
        assistant.new_conversation("with passphrase")
    with Assistant(passphrase_provider=provider) as assistant:
        assert [c.title for c in assistant.conversations()] == ["with passphrase"]
    assert asked == [True, False]
    with pytest.raises(WrongKeyError):
        Assistant(passphrase_provider=lambda creating: "wrong").open()
    with pytest.raises(KeychainError, match="No passphrase"):
        Assistant(passphrase_provider=lambda creating: None).open()


@pytest.mark.parametrize("value", ["a headless passphrase", "0123456789abcdef" * 4])
def test_environment_key_for_headless_use(
    mneme_home: Path, monkeypatch: pytest.MonkeyPatch, memory_keyring, value: str
) -> None:
    monkeypatch.setenv("MNEME_DB_KEY", value)
    with Assistant() as assistant:
        assistant.new_conversation("headless")
    assert memory_keyring.secrets == {}  # the keychain was not touched
    with Assistant() as assistant:
        assert len(assistant.conversations()) == 1
    monkeypatch.setenv("MNEME_DB_KEY", "something else")
    with pytest.raises(WrongKeyError):
        Assistant().open()


def test_existing_database_without_its_key_is_not_given_a_new_one(
    mneme_home: Path, memory_keyring
) -> None:
    with Assistant() as assistant:
        assistant.new_conversation("precious")
    memory_keyring.secrets.clear()
    with pytest.raises(KeychainError, match="holds no key"):
        Assistant().open()
    assert memory_keyring.secrets == {}  # no replacement key that would orphan the data


def test_threads_racing_to_open_share_one_key_and_one_database(memory_keyring) -> None:
    import threading

    assistant = Assistant()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def first_use() -> None:
        barrier.wait()
        try:
            assistant.new_conversation("raced")
        except BaseException as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assistant.close()
    assert errors == []
    assert len(memory_keyring.secrets) == 1
    with Assistant() as again:
        assert [c.title for c in again.conversations()] == ["raced"] * 4
