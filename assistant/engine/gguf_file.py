"""Check a GGUF file before llama.cpp sees it, and read the few facts Mneme shows about it.

llama.cpp answers a bad file with a bare "failed to load model"; this reader says which of the user's
mistakes it was (missing, not a GGUF, truncated, damaged) and is hardened against hostile headers:
every length is bounded before anything is allocated.

It also reads what judging GPU offload needs: the attention shape (for the KV cache's size per
token) and how many bytes the repeating blocks' tensors take (for the weights per layer).
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
_INTEGERS = {0, 1, 2, 3, 4, 5, 10, 11}
_WANTED = ("general.architecture", "general.name", "general.file_type", "general.alignment")
# Architecture-prefixed keys ("llama.block_count", …) read for the model's shape.
_WANTED_SUFFIXES = (
    ".context_length",
    ".block_count",
    ".embedding_length",
    ".attention.head_count",
    ".attention.head_count_kv",
    ".attention.key_length",
    ".attention.value_length",
)
# Some architectures give head counts per layer; longer arrays are skipped, never allocated.
_MAX_KEPT_ARRAY = 4096
# llama-cpp-python's default KV cache type is f16.
KV_BYTES_PER_VALUE = 2


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
    embedding_length: int | None = None
    head_count: int | tuple[int, ...] | None = None
    head_count_kv: int | tuple[int, ...] | None = None
    key_length: int | None = None
    value_length: int | None = None
    block_bytes: int = 0
    """Bytes of the repeating blocks' tensors (`blk.N.*`), all blocks together."""

    @property
    def kv_bytes_per_token(self) -> int | None:
        """The f16 K+V cache one context token takes in every layer, from the header; None when
        the header lacks the attention shape (then callers use a pessimistic default).

        n_layer × n_kv_heads × (key_length + value_length) × 2 bytes; key and value lengths
        default to embedding_length / head_count, as in llama.cpp.
        """
        n_layer = _positive(self.block_count)
        if n_layer is None:
            return None
        heads = _per_layer(self.head_count, n_layer)
        kv_heads = (
            _per_layer(self.head_count_kv, n_layer) if self.head_count_kv is not None else heads
        )
        if heads is None or kv_heads is None:
            return None
        key, value = _positive(self.key_length), _positive(self.value_length)
        if key is None or value is None:
            embedding, widest = _positive(self.embedding_length), max(heads)
            if embedding is None or widest <= 0:
                return None
            key = key or embedding // widest
            value = value or embedding // widest
        return sum(kv_heads) * (key + value) * KV_BYTES_PER_VALUE


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _per_layer(value: int | tuple[int, ...] | None, n_layer: int) -> tuple[int, ...] | None:
    """A head count for each of `n_layer` layers (0: a layer without attention), or None."""
    if isinstance(value, tuple):
        if len(value) != n_layer or not all(isinstance(v, int) and v >= 0 for v in value):
            return None
        return value
    single = _positive(value)
    return None if single is None else (single,) * n_layer


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
        wanted = key in _WANTED or key.endswith(_WANTED_SUFFIXES)
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
    block_bytes = 0
    for _ in range(n_tensors):
        tensor_name = _read_string(stream)
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
        tensor_bytes = elements // block * type_size
        data_end = max(data_end, offset + tensor_bytes)
        if tensor_name.startswith("blk."):
            block_bytes += tensor_bytes
    data_start = -(-stream.tell() // alignment) * alignment
    if data_start + data_end > size:
        raise _Truncated()

    architecture = metadata.get("general.architecture")

    def shape(suffix: str) -> Any:
        """A count from the header; per-layer arrays only for head counts; anything else None."""
        value = metadata.get(f"{architecture}.{suffix}")
        if isinstance(value, tuple) and suffix.startswith("attention.head_count"):
            return value
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return GGUFInfo(
        path=path,
        size_bytes=size,
        version=version,
        architecture=architecture,
        name=metadata.get("general.name"),
        context_length=shape("context_length"),
        block_count=shape("block_count"),
        n_tensors=n_tensors,
        has_chat_template=has_template,
        embedding_length=shape("embedding_length"),
        head_count=shape("attention.head_count"),
        head_count_kv=shape("attention.head_count_kv"),
        key_length=shape("attention.key_length"),
        value_length=shape("attention.value_length"),
        block_bytes=block_bytes,
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
        if keep and item_type in _INTEGERS and count <= _MAX_KEPT_ARRAY:
            return tuple(_read(stream, _SCALARS[item_type]) for _ in range(count))
        if item_type in _SCALARS:
            stream.seek(count * struct.calcsize(_SCALARS[item_type]), 1)
        else:
            for _ in range(count):
                _read_value(stream, item_type, keep=False)
        return None
    raise ModelError(f"{getattr(stream, 'name', 'The file')} has an unknown GGUF value type.")
