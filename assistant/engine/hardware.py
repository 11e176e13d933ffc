"""How much memory this machine has for a model, and where a model should run: all on the GPU,
split between GPU and RAM, all in RAM, or nowhere.

No psutil: RAM comes from /proc/meminfo on Linux, `os.sysconf` on other POSIX systems and
GlobalMemoryStatusEx on Windows. Free GPU memory comes from llama.cpp itself (ggml's device registry,
which measures CUDA, Metal, Vulkan, … devices the way llama.cpp will use them), else from an NVIDIA
driver's `nvidia-smi`, and only when the llama.cpp build can offload. Anything else is "unknown", and
the fit is judged on RAM alone (Apple silicon shares RAM with its GPU, so that is right there too).

`plan_offload` is a pure function of sizes so it can be tested with synthetic machines; it picks
llama.cpp's `n_gpu_layers` from the same figures it labels with.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.types import MachineMemory, OffloadPlan

if TYPE_CHECKING:
    from assistant.engine.gguf_file import GGUFInfo

FITS = "fits"
TOO_BIG = "too big for this machine"
FIT_UNKNOWN = "fit unknown"
PARTLY = "partly on GPU"

_MIB = 1 << 20
_GIB = 1 << 30
# Without a model's real figures: a pessimistic f16 K+V cache per context token.
DEFAULT_KV_BYTES_PER_TOKEN = 128 * 1024
# Without a layer count (a suggestion not yet downloaded): typical of 3-8B models.
DEFAULT_LAYERS = 32
# Shares of memory a model may plan on: drivers, the desktop and fragmentation take the rest.
GPU_SHARE = 0.9
RAM_SHARE = 0.85


def partly_label(layers: int) -> str:
    return f"{PARTLY} ({layers} layer{'' if layers == 1 else 's'})"


def compute_overhead(model_bytes: int) -> int:
    """llama.cpp's compute buffers and runtime: they grow with the model; a quarter GiB is the floor
    seen for small models."""
    return max(256 * _MIB, model_bytes // 10)


def memory_needed(model_bytes: int, n_ctx: int, kv_bytes_per_token: int | None = None) -> int:
    """Bytes a loaded model takes: its weights, the KV cache for `n_ctx` tokens, and compute buffers."""
    per_token = DEFAULT_KV_BYTES_PER_TOKEN if kv_bytes_per_token is None else kv_bytes_per_token
    return model_bytes + n_ctx * per_token + compute_overhead(model_bytes)


def plan_offload(
    model_bytes: int,
    n_ctx: int,
    machine: MachineMemory,
    *,
    n_layers: int | None = None,
    kv_bytes_per_token: int | None = None,
    block_bytes: int | None = None,
) -> OffloadPlan:
    """Where a model of `model_bytes` with an `n_ctx` window runs best on `machine`.

    Rules, in order:
    - GPU memory known (a GPU llama.cpp can use): if the whole need (weights + KV cache + compute
      buffers) fits in 90% of the free VRAM: "fits", every layer on the GPU (-1). Otherwise the
      most layers N whose weights and share of the KV cache fit there beside the compute buffers:
      "partly on GPU (N layers)" if the rest fits in 85% of the RAM (on unified memory: if the
      whole need does), else "too big for this machine". If not even one layer fits, judge on RAM.
    - Otherwise (a CPU-only build, or VRAM unreadable) judge on RAM: "fits" if the whole need fits
      in 85% of the RAM (`tight` when that is more than is free now), else "too big for this
      machine"; "fit unknown" if RAM cannot be read. n_gpu_layers is -1 when the build can offload
      (llama.cpp then tries every layer on a GPU it could not measure), else 0.
    `n_layers` and `kv_bytes_per_token` come from the GGUF header when known; `block_bytes` (the
    repeating blocks' tensor bytes) makes the weights per layer exact, else the file is split evenly
    over the layers plus one for embeddings and output.
    """
    known_layers = n_layers if n_layers is not None and n_layers > 0 else None
    layers = known_layers or DEFAULT_LAYERS
    kv_estimated = kv_bytes_per_token is None or kv_bytes_per_token <= 0
    per_token = DEFAULT_KV_BYTES_PER_TOKEN if kv_estimated else int(kv_bytes_per_token or 0)
    kv_cache = max(0, n_ctx) * per_token
    overhead = compute_overhead(model_bytes)
    need = model_bytes + kv_cache + overhead
    if block_bytes is not None and 0 < block_bytes <= model_bytes:
        layer_weights, rest = block_bytes / layers, float(model_bytes - block_bytes)
    else:
        layer_weights = rest = model_bytes / (layers + 1)
    per_layer = layer_weights + kv_cache / layers

    def ram_side(on_gpu: int) -> int:
        return math.ceil((layers - on_gpu) * per_layer + rest + overhead)

    def plan(
        label: str,
        placement: str,
        *,
        n_gpu_layers: int,
        on_gpu: int,
        gpu_bytes: int,
        ram_bytes: int,
        reason: str,
        tight: bool = False,
    ) -> OffloadPlan:
        return OffloadPlan(
            label=label,
            placement=placement,
            n_gpu_layers=n_gpu_layers,
            gpu_layers=on_gpu,
            n_layers=known_layers,
            n_ctx=n_ctx,
            memory_needed=need,
            kv_cache_bytes=kv_cache,
            kv_bytes_per_token=per_token,
            kv_estimated=kv_estimated,
            gpu_bytes=gpu_bytes,
            ram_bytes=ram_bytes,
            reason=reason,
            tight=tight,
        )

    ram_total = machine.ram_total if machine.ram_total and machine.ram_total > 0 else None
    ram_budget = RAM_SHARE * ram_total if ram_total is not None else None
    gpu_free = machine.vram_free if machine.can_offload else None
    if gpu_free is not None:
        gpu_budget = GPU_SHARE * gpu_free
        gpu = machine.gpu_name or "the GPU"
        whole_in_ram = not machine.unified_memory or ram_budget is None or need <= ram_budget
        if need <= gpu_budget and whole_in_ram:
            return plan(
                FITS,
                "gpu",
                n_gpu_layers=-1,
                on_gpu=layers,
                gpu_bytes=need,
                ram_bytes=0,
                reason=f"Every layer on {gpu}: it needs about {_gb(need)} of {_gb(gpu_free)} free.",
            )
        fit = math.floor((gpu_budget - overhead) / per_layer) if per_layer > 0 else layers
        on_gpu = max(0, min(layers, fit))
        if on_gpu > 0:
            # On unified memory the GPU's share is RAM too, so the whole need must fit in RAM.
            in_ram = need if machine.unified_memory else ram_side(on_gpu)
            gpu_bytes = math.ceil(on_gpu * per_layer + overhead)
            if ram_budget is None or in_ram <= ram_budget:
                return plan(
                    partly_label(on_gpu),
                    "split",
                    n_gpu_layers=on_gpu,
                    on_gpu=on_gpu,
                    gpu_bytes=gpu_bytes,
                    ram_bytes=ram_side(on_gpu),
                    reason=f"{on_gpu} of {layers} layers fit in the {_gb(gpu_free)} free on "
                    f"{gpu}; the rest run from RAM (about {_gb(ram_side(on_gpu))}), more slowly.",
                )
            # Loading it anyway (the user's choice) would best try this many layers.
            return plan(
                TOO_BIG,
                "none",
                n_gpu_layers=on_gpu,
                on_gpu=on_gpu,
                gpu_bytes=gpu_bytes,
                ram_bytes=ram_side(on_gpu),
                reason=f"Even with {on_gpu} of {layers} layers on {gpu}, it needs about "
                f"{_gb(in_ram)} of RAM; this computer has {_gb(ram_total or 0)}.",
            )

    # Judged on RAM.
    if gpu_free is not None:
        n_gpu_layers, where = 0, f"in RAM ({_gb(gpu_free)} free on the GPU holds no layer)"
    elif machine.can_offload and machine.unified_memory:
        n_gpu_layers, where = -1, "on the GPU, which shares this computer's memory"
    elif machine.can_offload:
        n_gpu_layers = -1
        where = (
            "on the GPU as far as llama.cpp can (its free memory could not be read; lower GPU "
            "layers in the settings if loading fails)"
        )
    else:
        n_gpu_layers, where = 0, "in RAM (this llama.cpp build runs on the CPU only)"
    on_gpu = layers if n_gpu_layers == -1 else 0
    gpu_bytes = need if on_gpu else 0
    if ram_budget is None or ram_total is None:
        return plan(
            FIT_UNKNOWN,
            "none",
            n_gpu_layers=n_gpu_layers,
            on_gpu=on_gpu,
            gpu_bytes=gpu_bytes,
            ram_bytes=need,
            reason=f"This computer's memory could not be read; it needs about {_gb(need)}.",
        )
    if need > ram_budget:
        return plan(
            TOO_BIG,
            "none",
            n_gpu_layers=n_gpu_layers,
            on_gpu=on_gpu,
            gpu_bytes=gpu_bytes,
            ram_bytes=need,
            reason=f"It needs about {_gb(need)}; this computer has {_gb(ram_total)} of memory.",
        )
    # Without a figure for free RAM, assume a desktop already uses about a third of it.
    available = (
        machine.ram_available if machine.ram_available is not None else int(ram_total * 0.65)
    )
    headroom = min(_GIB, ram_total // 8)
    tight = need > available - headroom
    note = (
        f" Only {_gb(max(0, available))} is free now: close other programs first." if tight else ""
    )
    return plan(
        FITS,
        "gpu" if on_gpu else "cpu",
        n_gpu_layers=n_gpu_layers,
        on_gpu=on_gpu,
        gpu_bytes=gpu_bytes,
        ram_bytes=need,
        reason=f"Runs {where}; it needs about {_gb(need)}.{note}",
        tight=tight,
    )


def plan_for_model(info: GGUFInfo, n_ctx: int, machine: MachineMemory) -> OffloadPlan:
    """`plan_offload` with a GGUF file's own figures, at the window llama.cpp will really use (the
    engine caps `n_ctx` at the model's training context)."""
    if info.context_length:
        n_ctx = min(n_ctx, info.context_length)
    return plan_offload(
        info.size_bytes,
        n_ctx,
        machine,
        n_layers=info.block_count if isinstance(info.block_count, int) else None,
        kv_bytes_per_token=info.kv_bytes_per_token,
        block_bytes=info.block_bytes or None,
    )


def fit_label(
    model_bytes: int,
    n_ctx: int,
    ram_total: int | None,
    vram_free: int | None,
    *,
    ram_available: int | None = None,
    kv_bytes_per_token: int | None = None,
    n_layers: int | None = None,
) -> str:
    """`plan_offload(...).label` for a machine given as figures (a known `vram_free` means a GPU
    llama.cpp can offload to)."""
    machine = MachineMemory(ram_total, ram_available, vram_free=vram_free)
    return plan_offload(
        model_bytes, n_ctx, machine, n_layers=n_layers, kv_bytes_per_token=kv_bytes_per_token
    ).label


def _gb(count: float) -> str:
    return f"{count / 1e9:.1f} GB"


# -- reading this machine ---------------------------------------------------------------------


def machine_memory() -> MachineMemory:
    """Read RAM and, when llama.cpp can offload, its GPUs' free memory now.

    Loads llama.cpp; asking a GPU device may start its driver (a second or so with CUDA, once per
    process). Call it off the UI thread.
    """
    total, available = _ram()
    if not llama_can_offload():
        return MachineMemory(total, available, backend=_cpu_backend_name())
    backends, devices = llama_devices()
    backend = primary_backend(backends)
    gpus = [d for d in devices if d.is_gpu and d.free is not None and d.free > 0]
    if gpus:
        names = list(dict.fromkeys(d.description or d.name for d in gpus))
        unified = any(d.kind == "igpu" for d in gpus) or (
            sys.platform == "darwin" and backend == "Metal"
        )
        return MachineMemory(
            total,
            available,
            vram_total=sum(d.total or d.free or 0 for d in gpus),
            vram_free=sum(d.free or 0 for d in gpus),
            gpu_name=" + ".join(names),
            gpu_offload=True,
            unified_memory=unified,
            backend=backend,
            vram_source="ggml",
        )
    vram_total, vram_free, gpu = _nvidia_vram()
    return MachineMemory(
        total,
        available,
        vram_total=vram_total,
        vram_free=vram_free,
        gpu_name=gpu,
        gpu_offload=True,
        # A Metal build without a device figure is still Apple silicon's shared memory.
        unified_memory=sys.platform == "darwin" and backend == "Metal",
        backend=backend,
        vram_source="nvidia-smi" if vram_free is not None else None,
    )


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
    """(total, free, name) of the NVIDIA GPU with the most free memory, or Nones."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
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
    return parse_nvidia_smi(output)


def parse_nvidia_smi(output: str) -> tuple[int | None, int | None, str | None]:
    """nvidia-smi's `memory.total,memory.free,name` CSV (MiB): the GPU with the most free memory."""
    best: tuple[int | None, int | None, str | None] = (None, None, None)
    for line in output.splitlines():
        parts = [part.strip() for part in line.split(",", 2)]
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            total, free = int(parts[0]) * _MIB, int(parts[1]) * _MIB
            if best[1] is None or free > best[1]:
                best = (total, free, parts[2])
    return best


# -- what llama.cpp was built with -------------------------------------------------------------

# ggml_backend_dev_type: CPU, GPU, IGPU (integrated, host memory), ACCEL (BLAS, AMX). Builds from
# before IGPU existed number ACCEL 2, so a device also counts as a GPU only by its backend's name.
_DEVICE_KINDS = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}
_NOT_GPU_BACKENDS = {"CPU", "BLAS", "AMX", "RPC", "ZenDNN", "KleidiAI"}


@dataclass(frozen=True)
class Device:
    """One ggml device llama.cpp can run on, with its memory as ggml reports it (bytes)."""

    name: str
    description: str
    kind: str  # cpu · gpu · igpu · accel
    backend: str
    free: int | None
    total: int | None

    @property
    def is_gpu(self) -> bool:
        return self.kind in ("gpu", "igpu") and self.backend not in _NOT_GPU_BACKENDS

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "type": self.kind,
            "backend": self.backend,
            "memory_free": self.free,
            "memory_total": self.total,
        }


def llama_can_offload() -> bool:
    try:
        import llama_cpp
    except Exception:  # noqa: BLE001 - a broken build cannot offload; doctor reports why
        return False
    return bool(llama_cpp.llama_supports_gpu_offload())


def llama_devices() -> tuple[list[str], list[Device]]:
    """The backends (ggml's registry names: "CPU", "CUDA", "Metal", "Vulkan", …) and devices of the
    installed llama.cpp. Falls back to the backend names in llama.cpp's system info (and no
    devices) where ggml's registry cannot be reached through ctypes; ([], []) without llama.cpp."""
    try:
        return _registry(_ggml())
    except Exception:  # noqa: BLE001 - an older or static build: names from the system info
        return backends_from_system_info(_system_info()), []


def _registry(library: Any) -> tuple[list[str], list[Device]]:
    backends = [
        _text(library.ggml_backend_reg_name(library.ggml_backend_reg_get(i)))
        for i in range(library.ggml_backend_reg_count())
    ]
    devices = []
    for index in range(library.ggml_backend_dev_count()):
        device = library.ggml_backend_dev_get(index)
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        library.ggml_backend_dev_memory(device, ctypes.byref(free), ctypes.byref(total))
        devices.append(
            Device(
                name=_text(library.ggml_backend_dev_name(device)),
                description=_text(library.ggml_backend_dev_description(device)),
                kind=_DEVICE_KINDS.get(library.ggml_backend_dev_type(device), "unknown"),
                backend=_text(
                    library.ggml_backend_reg_name(library.ggml_backend_dev_backend_reg(device))
                ),
                free=free.value or None,
                total=total.value or None,
            )
        )
    return backends, devices


def primary_backend(backends: list[str]) -> str:
    """The backend llama.cpp offloads to ("CUDA", "Metal", "Vulkan", …), else "CPU"."""
    for name in backends:
        if name not in _NOT_GPU_BACKENDS:
            return name
    return "CPU"


def backends_from_system_info(info: str) -> list[str]:
    """Backend names in `llama_print_system_info()`: "CUDA : ARCHS = 890 | … | CPU : SSE3 = 1 | …"."""
    return list(dict.fromkeys(re.findall(r"(?:^|\|)\s*([A-Za-z][\w.-]*) : ", info)))


def _cpu_backend_name() -> str | None:
    try:
        import llama_cpp  # noqa: F401
    except Exception:  # noqa: BLE001 - no llama.cpp, no backend
        return None
    return "CPU"


def _system_info() -> str:
    try:
        import llama_cpp

        return str(llama_cpp.llama_print_system_info().decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - doctor reports a broken build elsewhere
        return ""


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""


@functools.cache
def _ggml() -> Any:
    """ggml's shared library as llama-cpp-python loaded it, with the registry calls typed."""
    from llama_cpp._ggml import libggml

    pointer, size, text = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p
    signatures: dict[str, tuple[list[Any], Any]] = {
        "ggml_backend_reg_count": ([], size),
        "ggml_backend_reg_get": ([size], pointer),
        "ggml_backend_reg_name": ([pointer], text),
        "ggml_backend_dev_count": ([], size),
        "ggml_backend_dev_get": ([size], pointer),
        "ggml_backend_dev_name": ([pointer], text),
        "ggml_backend_dev_description": ([pointer], text),
        "ggml_backend_dev_type": ([pointer], ctypes.c_int),
        "ggml_backend_dev_backend_reg": ([pointer], pointer),
        "ggml_backend_dev_memory": ([pointer, ctypes.POINTER(size), ctypes.POINTER(size)], None),
    }
    for name, (arguments, result) in signatures.items():
        function = getattr(libggml, name)  # AttributeError: too old a build; callers fall back
        function.argtypes, function.restype = arguments, result
    return libggml
