"""GPU offload that picks itself: the plan's labels and layer counts for synthetic models and
machines, the GGUF figures behind them, the engine's choice (and the user's override), and doctor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from gguf import GGUFWriter
from hypothesis import given
from hypothesis import strategies as st

from assistant import Assistant
from assistant.cli import main
from assistant.config import Settings
from assistant.engine import factory, hardware
from assistant.engine.gguf_file import inspect_gguf
from assistant.engine.hardware import (
    DEFAULT_KV_BYTES_PER_TOKEN,
    FIT_UNKNOWN,
    FITS,
    GPU_SHARE,
    RAM_SHARE,
    TOO_BIG,
    Device,
    backends_from_system_info,
    compute_overhead,
    fit_label,
    parse_nvidia_smi,
    plan_for_model,
    plan_offload,
)
from assistant.types import MachineMemory, ModelEntry, OffloadPlan

GB = 1_000_000_000
GIB = 1 << 30
MIB = 1 << 20


def gpu(
    vram_free: int, ram_total: int = 64 * GIB, ram_available: int | None = None
) -> MachineMemory:
    """A machine with a discrete GPU llama.cpp can offload to."""
    available = ram_total * 3 // 4 if ram_available is None else ram_available
    return MachineMemory(
        ram_total, available, vram_total=vram_free, vram_free=vram_free, gpu_name="Test GPU"
    )


def cpu_only(ram_total: int | None, ram_available: int | None = None) -> MachineMemory:
    return MachineMemory(ram_total, ram_available)


# A "4 GB" model: 32 layers, a Llama-like 128 KiB f16 cache per token (32 layers x 8 KV heads x
# (128 + 128) x 2 bytes), the 4096-token window Mneme defaults to.
MODEL = 4 * GB
LAYERS = 32
KV = 32 * 8 * (128 + 128) * 2


def plan(model: int = MODEL, n_ctx: int = 4096, **machine_and_model: object) -> OffloadPlan:
    machine = machine_and_model.pop("machine")
    assert isinstance(machine, MachineMemory)
    return plan_offload(
        model,
        n_ctx,
        machine,
        n_layers=machine_and_model.pop("n_layers", LAYERS),  # type: ignore[arg-type]
        kv_bytes_per_token=machine_and_model.pop("kv", KV),  # type: ignore[arg-type]
    )


def test_a_4_gb_model_fits_a_24_gb_gpu_with_every_layer() -> None:
    result = plan(machine=gpu(24 * GB))
    assert result.label == FITS
    assert (result.placement, result.n_gpu_layers, result.gpu_layers) == ("gpu", -1, LAYERS)
    assert result.kv_cache_bytes == 4096 * KV == 512 * MIB
    assert result.memory_needed == MODEL + 512 * MIB + compute_overhead(MODEL)
    assert result.gpu_bytes == result.memory_needed and result.ram_bytes == 0
    assert "Every layer on Test GPU" in result.reason


def test_it_still_fits_an_8_gb_gpu_but_only_partly_a_4_gb_one() -> None:
    assert plan(machine=gpu(8 * GB)).label == FITS
    partly = plan(machine=gpu(4 * GB))
    n = partly.n_gpu_layers
    assert 0 < n < LAYERS
    assert partly.label == f"partly on GPU ({n} layers)"
    assert (partly.placement, partly.gpu_layers) == ("split", n)
    # N is the most layers whose weights and share of the KV cache fit in 90% of the free VRAM
    # beside the compute buffers: N fit, N + 1 do not.
    per_layer = MODEL / (LAYERS + 1) + 4096 * KV / LAYERS
    budget = GPU_SHARE * 4 * GB - compute_overhead(MODEL)
    assert n * per_layer <= budget < (n + 1) * per_layer
    assert partly.gpu_bytes <= GPU_SHARE * 4 * GB
    assert partly.ram_bytes == math.ceil(
        (LAYERS - n) * per_layer + MODEL / (LAYERS + 1) + compute_overhead(MODEL)
    )


def test_exact_layer_count_with_round_figures() -> None:
    # 33 x 100 MiB of weights (32 layers + embeddings/output), 10 MiB of cache per layer,
    # 330 MiB of compute buffers: each layer costs 110 MiB on the GPU.
    model = 3300 * MIB
    kv = 320 * MIB // 4096
    machine = gpu(2000 * MIB)  # 1800 MiB usable: (1800 - 330) / 110 = 13.4
    result = plan(model, machine=machine, kv=kv)
    assert result.label == "partly on GPU (13 layers)" and result.n_gpu_layers == 13
    assert result.gpu_bytes == 13 * 110 * MIB + 330 * MIB
    assert result.ram_bytes == 19 * 110 * MIB + 100 * MIB + 330 * MIB
    # With the exact tensor split from the header instead of the even estimate: 3000 MiB in the
    # blocks makes a layer 93.75 + 10 MiB, and (1800 - 330) / 103.75 = 14.2.
    exact = plan_offload(
        model, 4096, machine, n_layers=32, kv_bytes_per_token=kv, block_bytes=3000 * MIB
    )
    assert exact.n_gpu_layers == 14
    assert exact.ram_bytes == math.ceil(18 * 103.75 * MIB + 300 * MIB + 330 * MIB)
    one = plan(model, machine=gpu(math.ceil((330 + 110) * MIB / GPU_SHARE)), kv=kv)
    assert one.label == "partly on GPU (1 layer)"


def test_the_boundaries_of_fits_and_of_each_layer() -> None:
    need = plan(machine=gpu(100 * GB)).memory_needed
    just_enough = math.ceil(need / GPU_SHARE)
    assert plan(machine=gpu(just_enough)).label == FITS
    short_by_one = plan(machine=gpu(just_enough - 1))
    assert short_by_one.placement == "split" and short_by_one.n_gpu_layers == LAYERS

    per_layer = MODEL / (LAYERS + 1) + 4096 * KV / LAYERS
    for layers in (1, 7, 20):
        vram = math.ceil((compute_overhead(MODEL) + layers * per_layer) / GPU_SHARE)
        assert plan(machine=gpu(vram)).n_gpu_layers == layers
        below = plan(machine=gpu(vram - 1))
        if layers > 1:
            assert below.n_gpu_layers == layers - 1
        else:  # not even one layer: all in RAM
            assert (below.placement, below.n_gpu_layers) == ("cpu", 0)


def test_a_gpu_too_small_for_one_layer_means_ram() -> None:
    result = plan(machine=gpu(300 * MIB, ram_total=16 * GIB))
    assert result.label == FITS
    assert (result.placement, result.n_gpu_layers, result.gpu_layers) == ("cpu", 0, 0)
    assert "holds no layer" in result.reason


def test_too_big_for_this_machine_with_and_without_a_gpu() -> None:
    # 13 layers on the GPU, but the other 19 need more RAM than 2 GiB holds.
    small_ram = plan(3300 * MIB, machine=gpu(2000 * MIB, ram_total=2 * GIB), kv=80 * 1024)
    assert small_ram.label == TOO_BIG and small_ram.placement == "none"
    assert small_ram.n_gpu_layers == 13  # what loading it anyway would try
    roomier = plan(3300 * MIB, machine=gpu(2000 * MIB, ram_total=4 * GIB), kv=80 * 1024)
    assert roomier.label == "partly on GPU (13 layers)"
    # No GPU: a 20 GB model on a 16 GiB machine.
    assert plan(20 * GB, machine=cpu_only(16 * GIB, 12 * GIB)).label == TOO_BIG


def test_a_cpu_only_machine_judges_on_ram() -> None:
    result = plan(machine=cpu_only(16 * GIB, 12 * GIB))
    assert result.label == FITS
    assert (result.placement, result.n_gpu_layers, result.gpu_bytes) == ("cpu", 0, 0)
    assert result.ram_bytes == result.memory_needed and not result.tight
    assert "CPU only" in result.reason
    # The RAM boundary: 85% of the total.
    need = result.memory_needed
    at_limit = math.ceil(need / RAM_SHARE)
    assert plan(machine=cpu_only(at_limit, at_limit)).label == FITS
    assert plan(machine=cpu_only(at_limit - 1, at_limit - 1)).label == TOO_BIG
    # Fits, but only once other programs give memory back.
    tight = plan(machine=cpu_only(8 * GIB, 2 * GIB))
    assert tight.label == FITS and tight.tight and "close other programs" in tight.reason


def test_unknown_vram_offers_every_layer_and_judges_on_ram() -> None:
    machine = MachineMemory(16 * GIB, 12 * GIB, gpu_offload=True, backend="Vulkan")
    result = plan(machine=machine)
    assert result.label == FITS and result.n_gpu_layers == -1 and result.placement == "gpu"
    assert "could not be read" in result.reason
    assert plan(40 * GB, machine=machine).label == TOO_BIG


def test_unified_memory_needs_the_whole_model_in_ram() -> None:
    # Apple silicon: Metal reports a working-set limit; the GPU's memory is the RAM.
    mac = MachineMemory(
        16 * GIB,
        10 * GIB,
        vram_total=11 * GIB,
        vram_free=11 * GIB,
        gpu_offload=True,
        unified_memory=True,
    )
    assert plan(machine=mac).label == FITS and plan(machine=mac).n_gpu_layers == -1
    partly = plan(
        12 * GB, machine=MachineMemory(32 * GIB, 24 * GIB, vram_free=11 * GIB, unified_memory=True)
    )
    assert partly.placement == "split"
    too_big = plan(
        12 * GB, machine=MachineMemory(14 * GIB, 10 * GIB, vram_free=11 * GIB, unified_memory=True)
    )
    assert too_big.label == TOO_BIG
    # Unified memory without a figure: every layer to the GPU when it fits in RAM.
    no_figure = MachineMemory(16 * GIB, 10 * GIB, gpu_offload=True, unified_memory=True)
    assert plan(machine=no_figure).n_gpu_layers == -1 and "shares" in plan(machine=no_figure).reason


def test_unreadable_ram_is_said_not_guessed() -> None:
    assert plan(machine=cpu_only(None)).label == FIT_UNKNOWN
    # A GPU that holds it all does not need the RAM figure.
    assert plan(machine=MachineMemory(None, None, vram_free=24 * GB)).label == FITS


def test_a_longer_context_pushes_a_model_from_fits_to_partly() -> None:
    machine = gpu(8 * GB)
    short, long = plan(n_ctx=4096, machine=machine), plan(n_ctx=32_768, machine=machine)
    assert short.label == FITS
    assert long.placement == "split" and long.label.startswith("partly on GPU (")
    assert long.kv_cache_bytes - short.kv_cache_bytes == (32_768 - 4096) * KV
    # Even longer: fewer layers still.
    assert plan(n_ctx=65_536, machine=machine).n_gpu_layers < long.n_gpu_layers


def test_unknown_cache_size_is_pessimistic_and_flagged() -> None:
    known = plan(machine=gpu(8 * GB), kv=12_288)
    unknown = plan(machine=gpu(8 * GB), kv=None)
    assert not known.kv_estimated and unknown.kv_estimated
    assert unknown.kv_bytes_per_token == DEFAULT_KV_BYTES_PER_TOKEN
    assert unknown.memory_needed > known.memory_needed
    # An unknown layer count is estimated, and reported as unknown.
    assert plan(machine=gpu(4 * GB), n_layers=None).n_layers is None


RANK = {"gpu": 0.0, "split": 1.0, "cpu": 2.0, "none": 3.0}


def rank(result: OffloadPlan) -> float:
    """Best first: all on the GPU, split (more GPU layers better), all in RAM, too big."""
    if result.placement == "split":
        return 1.0 + 1.0 - result.gpu_layers / (LAYERS + 1)
    return RANK[result.placement]


@given(
    model=st.integers(100 * MIB, 80 * GB),
    extra=st.integers(1, 16 * GB),
    n_ctx=st.integers(64, 131_072),
    ram=st.integers(1 * GIB, 256 * GIB),
    vram=st.none() | st.integers(0, 96 * GB),
    more=st.integers(1, 32 * GB),
)
def test_bigger_models_and_longer_windows_never_fit_better_nor_more_memory_worse(
    model: int, extra: int, n_ctx: int, ram: int, vram: int | None, more: int
) -> None:
    def at(size: int, ctx: int, ram_total: int, vram_free: int | None) -> float:
        machine = MachineMemory(ram_total, ram_total // 2, vram_free=vram_free)
        return rank(plan(size, ctx, machine=machine))

    base = at(model, n_ctx, ram, vram)
    assert at(model + extra, n_ctx, ram, vram) >= base
    assert at(model, n_ctx * 2, ram, vram) >= base
    assert at(model, n_ctx, ram + more, vram) <= base
    if vram is not None:
        assert at(model, n_ctx, ram, vram + more) <= base


def test_fit_label_is_the_plans_label() -> None:
    assert (
        fit_label(MODEL, 4096, 16 * GIB, None, ram_available=12 * GIB, kv_bytes_per_token=KV)
        == FITS
    )
    assert (
        fit_label(
            MODEL,
            4096,
            16 * GIB,
            4 * GB,
            ram_available=12 * GIB,
            kv_bytes_per_token=KV,
            n_layers=32,
        )
        == plan(machine=gpu(4 * GB, 16 * GIB, 12 * GIB)).label
    )


# -- the figures from the GGUF header ------------------------------------------------------------


def test_the_cache_per_token_and_layer_weights_come_from_the_header(tiny_model: Path) -> None:
    info = inspect_gguf(tiny_model)
    # 2 layers x 2 KV heads x (16 + 16) x 2 bytes: head size = 64 embedding / 4 heads.
    assert (info.embedding_length, info.head_count, info.head_count_kv) == (64, 4, 2)
    assert info.kv_bytes_per_token == 2 * 2 * (16 + 16) * 2
    # The blocks' tensors: 2 norms (64) and q, k, v, o, gate, up, down per block, F32.
    per_block = 4 * (64 + 64 * 64 + 32 * 64 + 32 * 64 + 64 * 64 + 64 + 3 * 128 * 64)
    assert info.block_bytes == 2 * per_block
    plan_ = plan_for_model(info, 1 << 20, cpu_only(16 * GIB))
    assert plan_.n_ctx == 4096  # capped at the training context, as the engine does
    assert plan_.kv_cache_bytes == 4096 * info.kv_bytes_per_token and not plan_.kv_estimated
    assert plan_.n_layers == 2


def write_header(path: Path, **shape: object) -> Path:
    """A GGUF with the given attention shape and no tensors (valid for inspect_gguf)."""
    writer = GGUFWriter(str(path), "llama")
    writer.add_block_count(int(shape.get("blocks", 3)))  # type: ignore[call-overload]
    if "embedding" in shape:
        writer.add_embedding_length(shape["embedding"])  # type: ignore[arg-type]
    if "heads" in shape:
        writer.add_head_count(shape["heads"])  # type: ignore[arg-type]
    if "kv_heads" in shape:
        writer.add_head_count_kv(shape["kv_heads"])  # type: ignore[arg-type]
    if "key" in shape:
        writer.add_key_length(shape["key"])  # type: ignore[arg-type]
    if "value" in shape:
        writer.add_value_length(shape["value"])  # type: ignore[arg-type]
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_explicit_and_per_layer_head_shapes(tmp_path: Path) -> None:
    explicit = inspect_gguf(
        write_header(tmp_path / "a.gguf", heads=8, kv_heads=4, key=32, value=16)
    )
    assert explicit.kv_bytes_per_token == 3 * 4 * (32 + 16) * 2
    # Per-layer KV head counts (0: a layer without attention).
    per_layer = inspect_gguf(
        write_header(tmp_path / "b.gguf", heads=8, kv_heads=[2, 0, 2], key=32, value=16)
    )
    assert per_layer.head_count_kv == (2, 0, 2)
    assert per_layer.kv_bytes_per_token == (2 + 0 + 2) * (32 + 16) * 2
    # Without head_count_kv every head has its own K and V (multi-head attention).
    mha = inspect_gguf(write_header(tmp_path / "c.gguf", embedding=256, heads=8))
    assert mha.kv_bytes_per_token == 3 * 8 * (32 + 32) * 2
    # A per-layer array of the wrong length, or no attention shape at all: unknown.
    wrong = inspect_gguf(
        write_header(tmp_path / "d.gguf", heads=8, kv_heads=[2, 2], key=32, value=16)
    )
    assert wrong.kv_bytes_per_token is None
    assert inspect_gguf(write_header(tmp_path / "e.gguf")).kv_bytes_per_token is None


# -- the engine's choice --------------------------------------------------------------------------


def entry(path: Path) -> ModelEntry:
    return ModelEntry(name="tiny", kind="gguf", location=str(path))


def tiny_partly_machine(tiny_model: Path) -> MachineMemory:
    """A GPU with room for the compute buffers and one and a half of the tiny model's layers."""
    info = inspect_gguf(tiny_model)
    assert info.kv_bytes_per_token is not None and info.block_count == 2
    per_layer = info.block_bytes / 2 + 4096 * info.kv_bytes_per_token / 2
    vram = math.ceil((compute_overhead(info.size_bytes) + 1.5 * per_layer) / GPU_SHARE)
    return MachineMemory(16 * GIB, 12 * GIB, vram_free=vram, gpu_name="Test GPU", gpu_offload=True)


def test_the_engine_loads_with_the_plans_layers(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = tiny_partly_machine(tiny_model)
    monkeypatch.setattr(hardware, "llama_can_offload", lambda: True)
    monkeypatch.setattr(hardware, "machine_memory", lambda: machine)
    settings = Settings(n_ctx=4096)
    assert settings.n_gpu_layers is None
    planned = factory.offload_plan(entry(tiny_model), 4096)
    assert planned is not None and planned.label == "partly on GPU (1 layer)"
    assert factory.gpu_layers_for(entry(tiny_model), settings) == 1
    # The real engine takes it (this CPU build of llama.cpp runs every layer on the CPU anyway).
    engine = factory.engine_for(entry(tiny_model), settings)
    try:
        assert engine.n_gpu_layers == 1  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_the_users_number_overrides_the_plan(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardware, "llama_can_offload", lambda: True)

    def no_reading() -> MachineMemory:
        raise AssertionError("an explicit setting needs no plan")

    monkeypatch.setattr(hardware, "machine_memory", no_reading)
    for chosen in (0, 2, -1):
        assert factory.gpu_layers_for(entry(tiny_model), Settings(n_gpu_layers=chosen)) == chosen
    engine = factory.engine_for(entry(tiny_model), Settings(n_gpu_layers=2))
    try:
        assert engine.n_gpu_layers == 2  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_a_cpu_build_plans_nothing(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "llama_can_offload", lambda: False)
    monkeypatch.setattr(hardware, "machine_memory", lambda: pytest.fail("no plan without offload"))
    assert factory.gpu_layers_for(entry(tiny_model), Settings()) is None
    server = ModelEntry(name="remote", kind="openai", location="http://127.0.0.1:9/v1")
    assert factory.offload_plan(server, 4096) is None


# -- reading this machine ---------------------------------------------------------------------------


def devices(*extra: Device) -> tuple[list[str], list[Device]]:
    host = Device("CPU", "Some CPU", "cpu", "CPU", 64 * GIB, 64 * GIB)
    return [d.backend for d in extra] + ["CPU"], [*extra, host]


def test_free_vram_comes_from_llama_cpps_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "llama_can_offload", lambda: True)
    monkeypatch.setattr(hardware, "_nvidia_vram", lambda: pytest.fail("ggml answered"))
    two = devices(
        Device("CUDA0", "NVIDIA A", "gpu", "CUDA", 20 * GB, 24 * GB),
        Device("CUDA1", "NVIDIA B", "gpu", "CUDA", 10 * GB, 12 * GB),
    )
    monkeypatch.setattr(hardware, "llama_devices", lambda: two)
    machine = hardware.machine_memory()
    # llama.cpp splits layers over every GPU: their free memory adds up.
    assert (machine.vram_free, machine.vram_total) == (30 * GB, 36 * GB)
    assert machine.gpu_name == "NVIDIA A + NVIDIA B"
    assert (machine.backend, machine.vram_source, machine.gpu_offload) == ("CUDA", "ggml", True)
    assert not machine.unified_memory

    integrated = devices(Device("Vulkan0", "Intel Graphics", "igpu", "Vulkan", 8 * GB, 8 * GB))
    monkeypatch.setattr(hardware, "llama_devices", lambda: integrated)
    machine = hardware.machine_memory()
    assert machine.unified_memory and machine.backend == "Vulkan"
    # A device of an accelerator backend (BLAS) is not a GPU, whatever its type number says.
    blas = devices(Device("BLAS", "OpenBLAS", "igpu", "BLAS", None, None))
    monkeypatch.setattr(hardware, "llama_devices", lambda: blas)
    monkeypatch.setattr(hardware, "_nvidia_vram", lambda: (None, None, None))
    machine = hardware.machine_memory()
    assert machine.vram_free is None and machine.gpu_offload and machine.vram_source is None


def test_nvidia_smi_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "llama_can_offload", lambda: True)
    monkeypatch.setattr(hardware, "llama_devices", lambda: (["CUDA", "CPU"], []))
    monkeypatch.setattr(hardware, "_nvidia_vram", lambda: (24 * GIB, 20 * GIB, "NVIDIA RTX"))
    machine = hardware.machine_memory()
    assert (machine.vram_free, machine.gpu_name, machine.vram_source) == (
        20 * GIB,
        "NVIDIA RTX",
        "nvidia-smi",
    )


def test_parsers_of_nvidia_smi_and_system_info() -> None:
    output = "24576, 1024, NVIDIA GeForce RTX 4090\n81559, 80000, NVIDIA H100 80GB HBM3\nbogus\n"
    assert parse_nvidia_smi(output) == (81559 * MIB, 80000 * MIB, "NVIDIA H100 80GB HBM3")
    assert parse_nvidia_smi("") == (None, None, None)
    cuda = "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | CPU : SSE3 = 1 | AVX = 1 | "
    assert backends_from_system_info(cuda) == ["CUDA", "CPU"]
    assert backends_from_system_info("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 | ") == [
        "Metal",
        "CPU",
    ]
    assert hardware.primary_backend(["CPU", "BLAS"]) == "CPU"
    assert hardware.primary_backend(["CPU", "Vulkan"]) == "Vulkan"


def test_this_machine_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    backends, found = hardware.llama_devices()
    assert "CPU" in backends and any(d.kind == "cpu" for d in found)
    machine = hardware.machine_memory()
    assert machine.backend in backends
    if not hardware.llama_can_offload():  # this sandbox's CPU build
        assert machine.vram_free is None and machine.backend == "CPU" and not machine.gpu_offload


# -- doctor ----------------------------------------------------------------------------------------


def test_doctor_reports_the_backend_free_vram_and_the_plan(
    capsys: pytest.CaptureFixture[str], tiny_model: Path
) -> None:
    assert main(["models", "add", str(tiny_model)]) == 0
    capsys.readouterr()
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    llama = report["llama_cpp"]
    # The keys tools already read are still there; the new ones are added.
    assert {"importable", "version", "gpu_offload", "mmap", "system_info"} <= set(llama)
    assert llama["backend"] in llama["backends"] and "CPU" in llama["backends"]
    assert all(
        {"name", "type", "backend", "memory_free", "memory_total"} <= set(d)
        for d in llama["devices"]
    )
    hardware_ = report["hardware"]
    assert {
        "ram_total",
        "ram_available",
        "vram_free",
        "vram_total",
        "gpu_name",
        "backend",
        "note",
    } <= set(hardware_)
    model = report["model"]
    assert model["status"] == "ok"
    offload = model["offload"]
    assert (
        offload["label"] == FITS
        or offload["label"].startswith("partly on GPU")
        or offload["label"] == TOO_BIG
    )
    assert offload["n_layers"] == 2 and offload["n_ctx"] == 4096 and offload["reason"]
    assert model["n_gpu_layers_setting"] is None
    assert model["n_gpu_layers"] == offload["n_gpu_layers"]
    if not llama["gpu_offload"]:
        assert hardware_["vram_free"] is None and llama["backend"] == "CPU"
        assert model["n_gpu_layers"] == 0 and offload["placement"] == "cpu"
        assert "CPU only" in hardware_["note"]


def test_doctor_shows_the_users_override(tiny_model: Path) -> None:
    with Assistant() as assistant:
        assistant.models.add_file(tiny_model)
        assistant.update_settings(n_gpu_layers=5)
        model = assistant.doctor().model
    assert (model["n_gpu_layers"], model["n_gpu_layers_setting"]) == (5, 5)
    assert model["offload"]["n_gpu_layers"] in (-1, 0, 1, 2)  # what the plan alone would pick


def test_backend_names_come_from_system_info_without_the_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def too_old() -> None:
        raise AttributeError("ggml_backend_dev_memory")

    monkeypatch.setattr(hardware, "_ggml", too_old)
    monkeypatch.setattr(hardware, "_system_info", lambda: "Vulkan : WARP = 1 | CPU : AVX = 1 | ")
    assert hardware.llama_devices() == (["Vulkan", "CPU"], [])
