"""How much memory this machine has for a model, and whether a model of a given size fits.

No psutil: RAM comes from /proc/meminfo on Linux, `os.sysconf` on other POSIX systems and
GlobalMemoryStatusEx on Windows. Free VRAM is read only where that is cheap and meaningful: an NVIDIA
driver's `nvidia-smi` on PATH and a llama.cpp build that can offload. Anything else is "unknown", and
the fit is judged on RAM alone (Apple silicon shares RAM with its GPU, so that is right there too).

`fit_label` is a pure function of sizes so it can be tested with synthetic machines; picking GPU
layers from the same figures belongs beside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from assistant.types import MachineMemory

FITS_GPU = "fits on GPU"
FITS_RAM = "fits in RAM"
TIGHT = "tight"
TOO_BIG = "too big for this machine"
FIT_UNKNOWN = "fit unknown"

_MIB = 1 << 20
_GIB = 1 << 30
# Without a model's real figures: a pessimistic f16 K+V cache per context token.
DEFAULT_KV_BYTES_PER_TOKEN = 128 * 1024


def memory_needed(model_bytes: int, n_ctx: int, kv_bytes_per_token: int | None = None) -> int:
    """Bytes a loaded model takes: its weights, the KV cache for `n_ctx` tokens, and compute buffers."""
    per_token = DEFAULT_KV_BYTES_PER_TOKEN if kv_bytes_per_token is None else kv_bytes_per_token
    # llama.cpp's compute buffers and runtime grow with the model; a quarter GiB is the floor seen
    # for small models.
    overhead = max(256 * _MIB, model_bytes // 10)
    return model_bytes + n_ctx * per_token + overhead


def fit_label(
    model_bytes: int,
    n_ctx: int,
    ram_total: int | None,
    vram_free: int | None,
    *,
    ram_available: int | None = None,
    kv_bytes_per_token: int | None = None,
) -> str:
    """Whether a model of `model_bytes` with an `n_ctx` window fits this machine.

    - "fits on GPU": the whole model and its cache fit in 90% of the free VRAM.
    - "fits in RAM": it fits in the available RAM while leaving the system some headroom.
    - "tight": it fits only in most of the total RAM (close other programs, or expect swapping).
    - "too big for this machine": otherwise.
    """
    need = memory_needed(model_bytes, n_ctx, kv_bytes_per_token)
    if vram_free is not None and need <= vram_free * 0.9:
        return FITS_GPU
    if ram_total is None or ram_total <= 0:
        return FIT_UNKNOWN
    # Without a figure for free RAM, assume a desktop already uses about a third of it.
    available = ram_available if ram_available is not None else int(ram_total * 0.65)
    headroom = min(_GIB, ram_total // 8)
    if need <= available - headroom:
        return FITS_RAM
    if need <= ram_total * 0.85:
        return TIGHT
    return TOO_BIG


def machine_memory() -> MachineMemory:
    """Read RAM and (cheaply) VRAM now. Takes up to a couple of seconds with an NVIDIA driver."""
    total, available = _ram()
    vram_total, vram_free, gpu = _nvidia_vram()
    return MachineMemory(total, available, vram_total, vram_free, gpu)


def _ram() -> tuple[int | None, int | None]:
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        values: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            for line in meminfo.read_text(encoding="ascii").splitlines():
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[key] = int(parts[0]) * 1024  # the file says kB and means KiB
        if "MemTotal" in values:
            return values["MemTotal"], values.get("MemAvailable", values.get("MemFree"))
    if sys.platform == "win32":
        return _windows_ram()
    return _sysconf_ram()


def _sysconf_ram() -> tuple[int | None, int | None]:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total = os.sysconf("SC_PHYS_PAGES") * page
    except (AttributeError, ValueError, OSError):
        return None, None
    available = None
    with contextlib.suppress(AttributeError, ValueError, OSError):
        available = os.sysconf("SC_AVPHYS_PAGES") * page  # not on macOS
    return (total if total > 0 else None), available


def _windows_ram() -> tuple[int | None, int | None]:
    import ctypes

    class MemoryStatus(ctypes.Structure):
        _fields_ = [  # the ctypes layout of MEMORYSTATUSEX
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    try:
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None, None
    if not ok:
        return None, None
    return int(status.ullTotalPhys), int(status.ullAvailPhys)


def _nvidia_vram() -> tuple[int | None, int | None, str | None]:
    """(total, free, name) of the GPU with the most free memory, or Nones."""
    tool = shutil.which("nvidia-smi")
    if tool is None or not _llama_can_offload():
        return None, None, None
    try:
        output = subprocess.run(
            [tool, "--query-gpu=memory.total,memory.free,name", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=3,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None, None
    best: tuple[int | None, int | None, str | None] = (None, None, None)
    for line in output.splitlines():
        parts = [part.strip() for part in line.split(",", 2)]
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            total, free = int(parts[0]) * _MIB, int(parts[1]) * _MIB
            if best[1] is None or free > best[1]:
                best = (total, free, parts[2])
    return best


def _llama_can_offload() -> bool:
    try:
        import llama_cpp
    except Exception:  # noqa: BLE001 - a broken build cannot offload; doctor reports why
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())
