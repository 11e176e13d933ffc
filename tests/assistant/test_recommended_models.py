"""Recommended models (catalog, fit for this machine), the learning switch, encryption status."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant import Assistant
from assistant.engine.hardware import (
    FIT_UNKNOWN,
    FITS,
    TOO_BIG,
    fit_label,
    machine_memory,
    memory_needed,
    plan_offload,
)
from assistant.engine.recommended import download_target, suggestions
from assistant.errors import ConfigError, NoModelError
from assistant.types import MachineMemory

GIB = 1 << 30
MIB = 1 << 20


def test_fit_labels_for_synthetic_machines() -> None:
    small = 500 * MIB
    # 16 GiB RAM, 12 free, no GPU: a 0.5 GB model is comfortable.
    assert fit_label(small, 4096, 16 * GIB, None, ram_available=12 * GIB) == FITS
    # The same with 8 GiB free VRAM: on the GPU.
    on_gpu = plan_offload(small, 4096, MachineMemory(16 * GIB, 12 * GIB, vram_free=8 * GIB))
    assert (on_gpu.label, on_gpu.placement, on_gpu.n_gpu_layers) == (FITS, "gpu", -1)
    # VRAM too small for it: back to RAM.
    in_ram = plan_offload(small, 4096, MachineMemory(16 * GIB, 12 * GIB, vram_free=256 * MIB))
    assert (in_ram.label, in_ram.placement, in_ram.n_gpu_layers) == (FITS, "cpu", 0)
    # 4 GiB machine with 1.5 GiB free and a 2 GB model: fits only if other programs make room.
    tight = plan_offload(
        2 * GIB, 2048, MachineMemory(4 * GIB, GIB + GIB // 2), kv_bytes_per_token=16384
    )
    assert tight.label == FITS and tight.tight
    # A 7 GB model on a 4 GiB machine.
    assert fit_label(7 * GIB, 2048, 4 * GIB, None, ram_available=3 * GIB) == TOO_BIG
    # RAM unreadable and no GPU figure: say so rather than guess.
    assert fit_label(small, 4096, None, None) == FIT_UNKNOWN


def test_the_context_window_counts() -> None:
    # Phi-3.5's large per-token cache: fine at 4k, not at 128k on a 16 GiB machine.
    model, per_token = 2_393_232_672, 393_216
    assert (
        fit_label(model, 4096, 16 * GIB, None, ram_available=12 * GIB, kv_bytes_per_token=per_token)
        == FITS
    )
    assert (
        fit_label(
            model, 131_072, 16 * GIB, None, ram_available=12 * GIB, kv_bytes_per_token=per_token
        )
        == TOO_BIG
    )
    assert (
        memory_needed(model, 8192, per_token) - memory_needed(model, 4096, per_token)
        == 4096 * per_token
    )


@given(
    model=st.integers(1, 64 * GIB),
    extra=st.integers(1, 16 * GIB),
    n_ctx=st.integers(64, 131_072),
    ram=st.integers(1 * GIB, 256 * GIB),
    free_share=st.floats(0.0, 1.0),
)
def test_a_bigger_model_never_fits_better(
    model: int, extra: int, n_ctx: int, ram: int, free_share: float
) -> None:
    # Without a GPU: fits (comfortably, then tight), then too big; more RAM never hurts.
    order = [(FITS, False), (FITS, True), (TOO_BIG, False)]

    def at(size: int, total: int, available: int) -> int:
        result = plan_offload(size, n_ctx, MachineMemory(total, available))
        return order.index((result.label, result.tight))

    available = int(ram * free_share)
    assert at(model + extra, ram, available) >= at(model, ram, available)
    assert at(model, ram * 2, available * 2) <= at(model, ram, available)


def test_the_shipped_catalog_loads_and_is_usable() -> None:
    items = suggestions()
    assert len(items) >= 5
    names = [item.name for item in items]
    assert len(set(names)) == len(names)
    for item in items:
        assert re.match(r"^[\w.-]+/[\w.-]+$", item.repo_id)
        assert item.filename.lower().endswith(".gguf") and "/" not in item.filename
        assert re.match(r"^[\w.@+-]{1,80}$", item.name)  # usable as a registered model name
        assert 100 * MIB < item.size_bytes < 8 * GIB
        assert item.kv_bytes_per_token > 0 and item.description and item.parameters
    assert any("qwen2.5-0.5b" in name.lower() for name in names)


def test_recommended_reports_fit_and_what_is_on_disk() -> None:
    with Assistant() as assistant:
        tiny_machine = MachineMemory(ram_total=2 * GIB, ram_available=GIB)
        big_machine = MachineMemory(ram_total=64 * GIB, ram_available=48 * GIB)
        on_tiny = {m.name: m for m in assistant.models.recommended(machine=tiny_machine)}
        on_big = {m.name: m for m in assistant.models.recommended(machine=big_machine)}
        assert {m.fit for m in on_big.values()} == {FITS}
        assert all(m.n_gpu_layers == 0 and "CPU only" in m.fit_reason for m in on_big.values())
        assert on_tiny["qwen2.5-0.5b-instruct-q4_k_m"].fit == FITS
        assert on_tiny["Phi-3.5-mini-instruct-Q4_K_M"].fit == TOO_BIG
        # A GPU with 2 GiB free: the small ones fit on it, Phi-3.5 only partly.
        small_gpu = MachineMemory(16 * GIB, 12 * GIB, vram_free=2 * GIB, gpu_name="Test GPU")
        on_gpu = {m.name: m for m in assistant.models.recommended(machine=small_gpu)}
        assert on_gpu["qwen2.5-0.5b-instruct-q4_k_m"].fit == FITS
        assert on_gpu["qwen2.5-0.5b-instruct-q4_k_m"].n_gpu_layers == -1
        phi = on_gpu["Phi-3.5-mini-instruct-Q4_K_M"]
        assert phi.fit == f"partly on GPU ({phi.n_gpu_layers} layers)" and phi.n_gpu_layers > 0
        assert all(m.local_path is None and m.partial_bytes == 0 for m in on_big.values())

        first, second = suggestions()[:2]
        target = download_target(assistant.paths.models_dir, first.repo_id, first.filename)
        target.parent.mkdir(parents=True)
        target.write_bytes(b"GGUF")
        part = download_target(assistant.paths.models_dir, second.repo_id, second.filename)
        part = part.with_name(part.name + ".part")
        part.parent.mkdir(parents=True)
        part.write_bytes(b"x" * 1234)
        listed = {m.name: m for m in assistant.models.recommended(machine=big_machine)}
        assert listed[first.name].local_path == str(target)
        assert listed[second.name].partial_bytes == 1234 and listed[second.name].local_path is None
        # The context setting is the default window.
        assistant.update_settings(n_ctx=65_536)
        wide = {m.name: m for m in assistant.models.recommended(machine=big_machine)}
        assert wide[first.name].memory_needed > listed[first.name].memory_needed


def test_machine_memory_reads_this_machine() -> None:
    machine = machine_memory()
    if Path("/proc/meminfo").exists():
        assert machine.ram_total is not None and machine.ram_total > 256 * MIB
        assert machine.ram_available is not None and 0 < machine.ram_available <= machine.ram_total


def test_learning_enabled_is_validated(mneme_home: Path) -> None:
    with Assistant() as assistant:
        assert assistant.settings.learning_enabled is True
        with pytest.raises(ConfigError, match="learning_enabled"):
            assistant.update_settings(learning_enabled="no")
        assert assistant.settings.learning_enabled is True  # nothing half-saved
        assistant.update_settings(learning_enabled=False)
        assert assistant.settings.learning_enabled is False
        config = assistant.paths.config_file
    raw = json.loads(config.read_text())
    raw["learning_enabled"] = 1
    config.write_text(json.dumps(raw))
    with Assistant() as again, pytest.raises(ConfigError, match="learning_enabled"):
        _ = again.settings


def test_learning_off_makes_the_learning_job_a_no_op() -> None:
    with Assistant() as assistant:
        # On, the job needs a model (there is none): proof that it would do work.
        with pytest.raises(NoModelError):
            assistant.learn()
        assistant.update_settings(learning_enabled=False)
        run = assistant.learn()
        assert (run.replies, run.gains, run.signals, run.trained_examples) == (0, 0, 0, 0)


def test_encryption_status_names_the_key_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Assistant() as assistant:
        before = assistant.encryption_status()
        assert before["exists"] is False and before["encrypted"] is None
        assert before["key_source"] == "keychain"
        assert not assistant.paths.database.exists()  # asking created nothing
        assistant.new_conversation("x")
        after = assistant.encryption_status()
        assert after["encrypted"] is True and after["cipher_version"]
        assert after["key_source"] == "keychain" and "keychain" in after["summary"]
    monkeypatch.setenv("MNEME_DB_KEY", "correct horse battery staple")
    with Assistant(tmp_path / "second-home") as second:
        second.new_conversation("y")
        status = second.encryption_status()
        assert status["encrypted"] is True and status["key_source"] == "environment"
        assert "MNEME_DB_KEY" in status["summary"]
        assert "correct horse" not in json.dumps(status)
