"""LoRA adapters from bytes into a llama.cpp model, without a plain-text copy on disk.

An adapter consolidated from the user's facts holds those facts, so it lives only in the encrypted
database. llama.cpp reads adapters from a C `FILE*`: on Linux and macOS the bytes are handed over
as an in-memory stream (`fmemopen`). Where there is no `fmemopen`, or a C stream cannot be shared
with llama.cpp's C runtime (Windows), they go through a temporary file that only this user can read,
deleted as soon as llama.cpp has read it.

Threading: the model lane (the caller owns the llama.cpp objects).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import tempfile
from typing import Any

from assistant.errors import ModelError


def _libc() -> Any | None:
    if sys.platform == "win32":
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        fmemopen = libc.fmemopen
    except (OSError, AttributeError):
        return None
    fmemopen.restype = ctypes.c_void_p
    fmemopen.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    return libc


def load_adapter(llm: Any, data: bytes) -> Any:
    """A llama.cpp LoRA adapter for `llm` (a llama_cpp.Llama) made from GGUF bytes.

    Raises ModelError when llama.cpp refuses it (for instance, an adapter of another model).
    The caller frees it with `free_adapter` after unsetting it.
    """
    import llama_cpp

    model = llm._model.model
    libc = _libc()
    adapter = None
    if libc is not None:
        buffer = ctypes.create_string_buffer(data, len(data))
        stream = libc.fmemopen(buffer, len(data), b"rb")
        if stream:
            try:
                adapter = llama_cpp.llama_adapter_lora_init_from_file_ptr(
                    model, ctypes.c_void_p(stream)
                )
            finally:
                libc.fclose(stream)
            return _checked(adapter)
    handle, path = tempfile.mkstemp(prefix="mneme-adapter-", suffix=".gguf")
    try:
        with os.fdopen(handle, "wb") as stream_file:  # mkstemp: readable by this user only
            stream_file.write(data)
        adapter = llama_cpp.llama_adapter_lora_init(model, path.encode())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return _checked(adapter)


def _checked(adapter: Any) -> Any:
    if not adapter:
        raise ModelError(
            "llama.cpp could not load the consolidated adapter: it was made for another model."
        )
    return adapter


def apply_adapter(llm: Any, adapter: Any | None, scale: float = 1.0) -> None:
    """Use `adapter` (None: none) in `llm`'s context. The caller clears the KV cache: what it
    holds was computed with the other weights."""
    import llama_cpp

    if adapter is None:
        result = llama_cpp.llama_set_adapters_lora(llm.ctx, None, 0, None)
    else:
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
        scales = (ctypes.c_float * 1)(scale)
        result = llama_cpp.llama_set_adapters_lora(llm.ctx, adapters, 1, scales)
    if result != 0:
        raise ModelError("llama.cpp could not switch the consolidated adapter.")


def free_adapter(adapter: Any) -> None:
    import llama_cpp

    llama_cpp.llama_adapter_lora_free(adapter)
