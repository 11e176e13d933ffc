"""A LoRA adapter as GGUF bytes that llama.cpp loads (`llama_adapter_lora_init`).

The layout is what llama.cpp's `convert_lora_to_gguf.py` writes: `general.type` "adapter",
`adapter.type` "lora", `adapter.lora.alpha`, and per adapted weight two F32 tensors
`blk.N.<name>.weight.lora_a` (rank × inputs) and `.lora_b` (outputs × rank). llama.cpp scales the
product by alpha / rank, as peft does.

Why a permutation: llama.cpp's converter reorders the rows of each llama attention q and k weight
(rotary embedding pairs interleaved instead of split into halves). transformers undoes this when
it loads a GGUF, so the adapter trained there sees the Hugging Face order; its `lora_b` (whose
rows are the weight's rows) must be reordered the same way before llama.cpp adds it.

The bytes are built in memory: an adapter holds what the user told Mneme, so it is written only
into the encrypted database, never to a plain file.

Pure numpy; any thread.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

GGUF_MAGIC = 0x46554747
GGUF_VERSION = 3
ALIGNMENT = 32
_TYPE_UINT32 = 4
_TYPE_FLOAT32 = 6
_TYPE_STRING = 8
_GGML_F32 = 0

# Hugging Face module name → llama.cpp tensor name.
LLAMA_TENSOR_NAMES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}


@dataclass(frozen=True)
class LoraWeights:
    """Trained low-rank pairs by (layer, module): A is rank × inputs, B is outputs × rank, in the
    Hugging Face (unpermuted) row order."""

    pairs: Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]]
    rank: int
    alpha: float


def permute_rows(weight: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's converter's reordering of q/k rows (LlamaModel.permute in convert_hf_to_gguf)."""
    heads = n_head_kv if n_head_kv is not None and n_head_kv != n_head else n_head
    return (
        weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def llama_tensors(
    weights: LoraWeights, *, n_head: int, n_head_kv: int, permute: bool = True
) -> dict[str, np.ndarray]:
    """The adapter's tensors under llama.cpp's names. `permute=False` exists for the test that
    shows the reordering is needed."""
    tensors: dict[str, np.ndarray] = {}
    for (layer, module), (a, b) in sorted(weights.pairs.items()):
        name = LLAMA_TENSOR_NAMES[module]
        if permute and module == "q_proj":
            b = permute_rows(b, n_head, n_head)
        elif permute and module == "k_proj":
            b = permute_rows(b, n_head, n_head_kv)
        tensors[f"blk.{layer}.{name}.weight.lora_a"] = np.ascontiguousarray(a, dtype=np.float32)
        tensors[f"blk.{layer}.{name}.weight.lora_b"] = np.ascontiguousarray(b, dtype=np.float32)
    return tensors


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _padding(length: int) -> bytes:
    return b"\0" * ((-length) % ALIGNMENT)


def gguf_bytes(
    tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str | float | int]
) -> bytes:
    """A GGUF v3 file of F32 tensors with string, float32 and uint32 metadata."""
    header = bytearray(struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(tensors), len(metadata)))
    for key, value in metadata.items():
        header += _string(key)
        if isinstance(value, str):
            header += struct.pack("<I", _TYPE_STRING) + _string(value)
        elif isinstance(value, float):
            header += struct.pack("<If", _TYPE_FLOAT32, value)
        else:
            header += struct.pack("<II", _TYPE_UINT32, int(value))
    offset = 0
    for name, array in tensors.items():
        header += _string(name) + struct.pack("<I", array.ndim)
        header += b"".join(struct.pack("<Q", dim) for dim in reversed(array.shape))
        header += struct.pack("<IQ", _GGML_F32, offset)
        offset += array.nbytes + len(_padding(array.nbytes))
    header += _padding(len(header))
    parts = [bytes(header)]
    for array in tensors.values():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        parts += [data, _padding(len(data))]
    return b"".join(parts)


def adapter_gguf(
    weights: LoraWeights,
    *,
    architecture: str,
    n_head: int,
    n_head_kv: int,
    name: str = "mneme-consolidated",
) -> bytes:
    """The adapter as a GGUF LoRA file's bytes (see the module docstring)."""
    metadata: dict[str, str | float | int] = {
        "general.architecture": architecture,
        "general.type": "adapter",
        "general.name": name,
        "adapter.type": "lora",
        "adapter.lora.alpha": float(weights.alpha),
    }
    tensors = llama_tensors(weights, n_head=n_head, n_head_kv=n_head_kv)
    return gguf_bytes(tensors, metadata)
