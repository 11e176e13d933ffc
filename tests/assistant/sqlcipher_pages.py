"""Read a SQLCipher 4 database the way an attacker with the key would: every page, decrypted.

Used by the forgetting tests to look for deleted text anywhere in the files — live rows, free
pages, unused space inside pages, stale write-ahead-log frames — not only where SQL can see it.

SQLCipher 4 defaults (what assistant/storage/database.py uses): 4096-byte pages, each ending in an
80-byte reserve (a 16-byte IV, then a 64-byte HMAC-SHA512); AES-256-CBC without padding over the
rest of the page. Page 1 begins with the 16-byte KDF salt (in place of "SQLite format 3\\0"), so
its ciphertext is bytes 16..4016. A raw key (`x'<64 hex>'`) is the AES key itself (no PBKDF2);
the HMAC key is PBKDF2-HMAC-SHA512(key, salt XOR 0x3a, 2 iterations, 32 bytes), and each page's
HMAC covers its ciphertext and IV followed by the page number (4 bytes, little-endian). Every page
is checked against its HMAC, so a wrong key or a misread layout fails loudly instead of yielding
garbage that would hide nothing and therefore "prove" nothing. (An all-zero page, a hole left
by an interrupted checkpoint, has no HMAC and no text: it reads as zeros.)

A WAL file (`<db>-wal`) is a 32-byte header, then frames of a 24-byte frame header (page number
first, big-endian) and one page encrypted as above. Every complete frame is decrypted, stale ones
(from before the last checkpoint) included: they are still on disk.

Test helper only: plain Python and `cryptography`, no SQLCipher.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

PAGE_SIZE = 4096
IV_SIZE = 16
HMAC_SIZE = 64
RESERVE = IV_SIZE + HMAC_SIZE  # 80
SALT_SIZE = 16
SQLITE_HEADER = b"SQLite format 3\x00"
WAL_HEADER_SIZE = 32
WAL_FRAME_HEADER_SIZE = 24
_HMAC_SALT_MASK = 0x3A
_HMAC_ITERATIONS = 2
_RAW_KEY = re.compile(r"""^(?:"x'([0-9a-fA-F]{64})'"|([0-9a-fA-F]{64}))$""")


class DecryptionError(AssertionError):
    """A page did not authenticate: wrong key, or not a SQLCipher 4 default-layout file."""


@dataclass
class Decrypted:
    """The plaintext of a database and its WAL, page by page."""

    pages: list[bytes] = field(default_factory=list)  # database pages, page 1 first
    wal_frames: list[tuple[int, bytes]] = field(default_factory=list)  # (page number, plaintext)
    wal_bytes: int = 0  # size of the WAL file (0 when absent or truncated)

    @property
    def plaintext(self) -> bytes:
        """Every decrypted page and WAL frame, concatenated (for searching)."""
        return b"".join(self.pages) + b"".join(page for _, page in self.wal_frames)

    def count(self, needle: bytes) -> int:
        """Occurrences of `needle` in the pages and frames (a match never spans two pages:
        SQLite stores a long value across overflow pages, so callers search short needles)."""
        return sum(page.count(needle) for page in self.pages) + sum(
            page.count(needle) for _, page in self.wal_frames
        )


def raw_key_bytes(pragma_or_hex: str) -> bytes:
    """The 32-byte key from 64 hex digits or a `PRAGMA key` value `"x'<64 hex>'"`."""
    text = pragma_or_hex.strip()
    match = _RAW_KEY.match(text)
    if match is None:
        raise ValueError("only raw keys (64 hex digits) are supported, not passphrases")
    return bytes.fromhex(match.group(1) or match.group(2))


def _hmac_key(key: bytes, salt: bytes) -> bytes:
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA512(),
        length=32,
        salt=bytes(b ^ _HMAC_SALT_MASK for b in salt),
        iterations=_HMAC_ITERATIONS,
    )
    return kdf.derive(key)


def decrypt_page(
    raw: bytes, page_number: int, key: bytes, hmac_key: bytes, *, page_size: int = PAGE_SIZE
) -> bytes:
    """One page's plaintext (page_size - RESERVE bytes; page 1 with the SQLite header put back)."""
    if len(raw) != page_size:
        raise DecryptionError(f"page {page_number} is {len(raw)} bytes, not {page_size}")
    if not any(raw):
        # Never written: a checkpoint that stopped at a reader's snapshot grows the file to its
        # final size but leaves the pages of later frames as holes. Zeros hold no text.
        return bytes(page_size - RESERVE)
    start = SALT_SIZE if page_number == 1 else 0
    end = page_size - RESERVE
    ciphertext = raw[start:end]
    iv = raw[end : end + IV_SIZE]
    tag = raw[end + IV_SIZE : page_size]
    check = hmac.HMAC(hmac_key, hashes.SHA512())
    check.update(ciphertext + iv + struct.pack("<I", page_number))
    try:
        check.verify(tag)
    except InvalidSignature:
        raise DecryptionError(f"page {page_number}: HMAC mismatch (wrong key or layout)") from None
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()
    return SQLITE_HEADER + plain if page_number == 1 else plain


def check_header(page_one: bytes) -> None:
    """Raise unless `page_one` starts like a SQLite database with 4096-byte pages and SQLCipher's
    80-byte reserve (bytes 16-17: page size, big-endian; byte 20: reserved bytes per page)."""
    if not page_one.startswith(SQLITE_HEADER):
        raise DecryptionError("page 1 does not start with the SQLite header")
    (page_size,) = struct.unpack(">H", page_one[16:18])
    if page_size != PAGE_SIZE:
        raise DecryptionError(f"page 1 says the page size is {page_size}, not {PAGE_SIZE}")
    if page_one[20] != RESERVE:
        raise DecryptionError(f"page 1 says {page_one[20]} reserved bytes, not {RESERVE}")


def decrypt_database(path: Path, key: bytes) -> Decrypted:
    """Decrypt every page of `path` and every complete frame of `path`-wal (if present).

    Raises DecryptionError if any page fails authentication or page 1 is not a SQLite header.
    Reads the files as they are on disk now: the caller's open connection may keep writing.
    """
    data = path.read_bytes()
    if len(data) % PAGE_SIZE:
        raise DecryptionError(f"{path} is {len(data)} bytes, not a whole number of pages")
    result = Decrypted()
    wal = path.with_name(path.name + "-wal")
    if not data:
        if wal.exists() and wal.stat().st_size:
            # Never silently "nothing": the salt (and so the HMAC key) is in page 1.
            raise DecryptionError(f"{path} is empty but its WAL is not")
        return result
    salt = data[:SALT_SIZE]
    hmac_key = _hmac_key(key, salt)
    for index in range(len(data) // PAGE_SIZE):
        page = data[index * PAGE_SIZE : (index + 1) * PAGE_SIZE]
        result.pages.append(decrypt_page(page, index + 1, key, hmac_key))
    check_header(result.pages[0])
    if wal.exists():
        result.wal_bytes, result.wal_frames = _decrypt_wal(wal.read_bytes(), key, hmac_key)
    return result


def _decrypt_wal(data: bytes, key: bytes, hmac_key: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    frames: list[tuple[int, bytes]] = []
    if len(data) < WAL_HEADER_SIZE:
        return len(data), frames
    magic, _version, page_size = struct.unpack(">III", data[:12])
    if magic not in (0x377F0682, 0x377F0683):
        raise DecryptionError(f"the WAL header's magic number is {magic:#x}")
    if page_size != PAGE_SIZE:
        raise DecryptionError(f"the WAL says the page size is {page_size}")
    step = WAL_FRAME_HEADER_SIZE + PAGE_SIZE
    offset = WAL_HEADER_SIZE
    while offset + step <= len(data):
        (page_number,) = struct.unpack(">I", data[offset : offset + 4])
        page = data[offset + WAL_FRAME_HEADER_SIZE : offset + step]
        frames.append((page_number, decrypt_page(page, page_number, key, hmac_key)))
        offset += step
    return len(data), frames


def database_key(database: Path) -> bytes:
    """The raw key of `database` as the app finds it: MNEME_DB_KEY (64 hex digits), else the
    keychain entry (in tests, the in-memory keyring of tests/conftest.py)."""
    import keyring

    from assistant.secrets import KEY_ENV, KEYCHAIN_SERVICE, keychain_account

    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return raw_key_bytes(from_env)
    stored = keyring.get_password(KEYCHAIN_SERVICE, keychain_account(database))
    if not stored:
        raise ValueError(f"the keychain holds no key for {database}")
    return raw_key_bytes(stored)


def files_under(folder: Path) -> dict[Path, bytes]:
    """Every regular file under `folder`, recursively, as raw bytes (symlinks not followed)."""
    found: dict[Path, bytes] = {}
    for root, _dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                found[path] = path.read_bytes()
    return found
