"""Check a GGUF file before llama.cpp sees it, and read the few facts Mneme shows about it.

llama.cpp answers a bad file with a bare "failed to load model"; this reader says which of the user's
mistakes it was (missing, not a GGUF, truncated, damaged) and is hardened against hostile headers:
every length is bounded before anything is allocated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from assistant.errors import ModelError

GGUF_MAGIC = b"GGUF"
_MAX_STRING = 64 * 1024 * 1024
_MAX_COUNT = 1 << 32
_MAX_DIMS = 8
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_WANTED = ("general.architecture", "general.name", "general.file_type", "general.alignment")


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    size_bytes: int
    version: int
    architecture: str | None
    name: str | None
    context_length: int | None
    block_count: int | None
    n_tensors: int
    has_chat_template: bool


class _Truncated(Exception):
    pass


def inspect_gguf(path: str | Path) -> GGUFInfo:
    """Validate `path` as a complete GGUF file; raise ModelError with a clear reason otherwise."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelError(f"Model file not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a folder, not a .gguf model file.")
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            return _parse(stream, path, size)
    except _Truncated:
        raise ModelError(
            f"{path} is truncated (an interrupted download?); download it again."
        ) from None
    except OSError as error:
        raise ModelError(f"Cannot read the model file {path}: {error.strerror or error}") from None


def _parse(stream: BinaryIO, path: Path, size: int) -> GGUFInfo:
    magic = stream.read(4)
    if magic != GGUF_MAGIC:
        if len(magic) < 4 and size < 4:
            raise ModelError(f"{path} is empty or too small to be a GGUF model file.")
        raise ModelError(f"{path} is not a GGUF model file (llama.cpp needs .gguf).")
    version = _read(stream, "<I")
    if version not in (2, 3):
        raise ModelError(f"{path} uses GGUF version {version}, which this llama.cpp cannot read.")
    n_tensors = _read(stream, "<Q")
    n_kv = _read(stream, "<Q")
    if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
        raise ModelError(f"{path} has a damaged GGUF header.")

    metadata: dict[str, Any] = {}
    has_template = False
    for _ in range(n_kv):
        key = _read_string(stream)
        value_type = _read(stream, "<I")
        wanted = key in _WANTED or key.endswith((".context_length", ".block_count"))
        value = _read_value(stream, value_type, keep=wanted)
        if wanted:
            metadata[key] = value
        if key == "tokenizer.chat_template":
            has_template = True

    # Imported here: the gguf package pulls in numpy, which the CLI's quick commands do not need.
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    alignment = int(metadata.get("general.alignment") or 32)
    if alignment <= 0 or alignment & (alignment - 1):
        raise ModelError(f"{path} has a damaged GGUF header (alignment {alignment}).")
    data_end = 0
    for _ in range(n_tensors):
        _read_string(stream)
        n_dims = _read(stream, "<I")
        if n_dims > _MAX_DIMS:
            raise ModelError(f"{path} has a damaged tensor table.")
        elements = 1
        for _ in range(n_dims):
            elements *= _read(stream, "<Q")
        type_id = _read(stream, "<I")
        offset = _read(stream, "<Q")
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(type_id)]
        except (ValueError, KeyError):
            raise ModelError(
                f"{path} uses tensor type {type_id}, unknown to this version of Mneme."
            ) from None
        data_end = max(data_end, offset + elements // block * type_size)
    data_start = -(-stream.tell() // alignment) * alignment
    if data_start + data_end > size:
        raise _Truncated()

    architecture = metadata.get("general.architecture")
    return GGUFInfo(
        path=path,
        size_bytes=size,
        version=version,
        architecture=architecture,
        name=metadata.get("general.name"),
        context_length=metadata.get(f"{architecture}.context_length"),
        block_count=metadata.get(f"{architecture}.block_count"),
        n_tensors=n_tensors,
        has_chat_template=has_template,
    )


def _read(stream: BinaryIO, fmt: str) -> Any:
    width = struct.calcsize(fmt)
    data = stream.read(width)
    if len(data) != width:
        raise _Truncated()
    return struct.unpack(fmt, data)[0]


def _read_string(stream: BinaryIO, keep: bool = True) -> str:
    length = _read(stream, "<Q")
    if length > _MAX_STRING:
        raise ModelError(f"{getattr(stream, 'name', 'The file')} has a damaged GGUF string.")
    if not keep:
        stream.seek(length, 1)
        return ""
    data = stream.read(length)
    if len(data) != length:
        raise _Truncated()
    return data.decode("utf-8", errors="replace")


def _read_value(stream: BinaryIO, value_type: int, *, keep: bool) -> Any:
    if value_type in _SCALARS:
        return _read(stream, _SCALARS[value_type])
    if value_type == _STRING:
        return _read_string(stream, keep)
    if value_type == _ARRAY:
        item_type = _read(stream, "<I")
        count = _read(stream, "<Q")
        if count > _MAX_COUNT:
            raise ModelError(f"{getattr(stream, 'name', 'The file')} has a damaged GGUF array.")
        if item_type in _SCALARS:
            stream.seek(count * struct.calcsize(_SCALARS[item_type]), 1)
        else:
            for _ in range(count):
                _read_value(stream, item_type, keep=False)
        return None
    raise ModelError(f"{getattr(stream, 'name', 'The file')} has an unknown GGUF value type.")
