"""The first-run setup panel: recommended models, download with cancel and resume, a local file.

Downloads come from a local stand-in for the Hugging Face endpoint serving the tiny GGUF (padded
past the downloader's 1 MiB read so a cancel can land between reads); loading is real llama.cpp.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from assistant import Assistant
from assistant.engine.hardware import FIT_UNKNOWN, FITS, TOO_BIG
from assistant.engine.recommended import download_target
from assistant.types import MachineMemory
from tests.assistant.http_fixtures import FileServer
from ui.setup_panel import SetupPanel, describe_machine
from ui.tasks import Lane

MIB = 1 << 20
GIB = 1 << 30


@pytest.fixture
def first_run() -> Iterator[Assistant]:
    """An Assistant with no model at all, as on first start."""
    instance = Assistant()
    instance.update_settings(n_ctx=512)
    yield instance
    instance.close()


@pytest.fixture
def panel(qtbot, first_run: Assistant) -> Iterator[SetupPanel]:
    model_lane, io_lane = Lane("model"), Lane("io")
    widget = SetupPanel(first_run, model_lane, io_lane)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.models_shown, timeout=20_000):
        widget.show()
    shown(qtbot, widget)
    yield widget
    widget.shutdown()
    model_lane.wait()
    io_lane.wait()


def shown(qtbot, panel: SetupPanel) -> None:
    """Rows added to a visible panel are shown on the next turn of the event loop."""
    qtbot.waitUntil(lambda: all(row.isVisible() for row in panel.rows.values()))


@pytest.fixture
def padded_model(tiny_model: Path) -> bytes:
    data = tiny_model.read_bytes()
    return data + b"\0" * (2 * MIB - len(data))  # llama.cpp ignores bytes after the tensors


def test_lists_the_recommended_models_with_their_fit(
    panel: SetupPanel, first_run: Assistant
) -> None:
    expected = first_run.models.recommended(machine=panel.machine)
    assert list(panel.rows) == [m.name for m in expected]
    for model in expected:
        row = panel.rows[model.name]
        assert row.fit_label.text() == model.fit
        assert model.fit in (FITS, TOO_BIG, FIT_UNKNOWN) or model.fit.startswith("partly on GPU (")
        assert model.fit_reason in row.fit_label.toolTip()
        assert row.download_button.text() == "Download" and row.download_button.isEnabled()
    qwen = panel.rows["qwen2.5-0.5b-instruct-q4_k_m"]
    assert qwen.facts.text().startswith("0.5B parameters")
    assert "MB" in qwen.facts.text()
    assert "memory" in panel.machine_label.text()


def test_download_shows_progress_cancels_resumes_and_loads(
    qtbot, panel: SetupPanel, first_run: Assistant, padded_model: bytes
) -> None:
    name = "qwen2.5-0.5b-instruct-q4_k_m"
    with FileServer() as hub:
        row = panel.rows[name]
        hub.state.files[row.model.filename] = padded_model
        hub.state.hold_at = MIB + 4096  # the server stalls after the first full read
        first_run.update_settings(download_endpoint=hub.url)

        qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
        assert row.cancel_button.isVisible()
        assert not any(r.download_button.isEnabled() for r in panel.rows.values())
        qtbot.waitUntil(lambda: "MB/s" in row.status.text(), timeout=20_000)
        assert row.progress.value() == 500  # 1 MiB of 2 MiB
        assert "1.0 MB of 2.1 MB" in row.status.text()

        # Cancel against a stalled connection returns at once and keeps the bytes.
        with qtbot.waitSignal(panel.models_shown, timeout=20_000):
            qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
        shown(qtbot, panel)
        row = panel.rows[name]
        assert row.model.partial_bytes >= MIB
        assert row.download_button.text() == "Resume" and row.download_button.isEnabled()
        assert "Paused at" in row.status.text()
        assert first_run.models.list() == []
        stopped_at = row.model.partial_bytes

        hub.state.hold_at = None
        hub.state.release.set()
        with qtbot.waitSignal(panel.model_ready, timeout=30_000) as ready:
            qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
        assert hub.state.gets[-1] == f"bytes={stopped_at}-"

    assert ready.args == ["mneme-tiny-random"]
    assert first_run.model_name == "mneme-tiny-random"
    active = first_run.models.active()
    assert active is not None and active.name == name
    target = download_target(first_run.paths.models_dir, row.model.repo_id, row.model.filename)
    assert target.read_bytes() == padded_model
    assert not panel.error_label.isVisible()
    with qtbot.waitSignal(panel.models_shown, timeout=20_000):
        panel.refresh()
    assert panel.rows[name].download_button.text() == "Use"


def test_use_file_registers_and_loads_a_local_model(
    qtbot, panel: SetupPanel, first_run: Assistant, tiny_model: Path
) -> None:
    with qtbot.waitSignal(panel.model_ready, timeout=30_000) as ready:
        panel.use_file(tiny_model)
    assert ready.args == ["mneme-tiny-random"]
    (entry,) = first_run.models.list()
    assert entry.active and Path(entry.location) == tiny_model.resolve()
    assert first_run.model_name == "mneme-tiny-random"
    assert "ready" in panel.loading_label.text()
    assert panel.choose_button.isEnabled()


def test_a_bad_file_shows_an_inline_error(
    qtbot, panel: SetupPanel, first_run: Assistant, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a model" * 10)
    with (
        qtbot.assertNotEmitted(panel.model_ready),
        qtbot.waitSignal(panel.use_file(broken).relay.finished, timeout=20_000),
    ):
        pass
    assert panel.error_label.isVisible()
    assert "GGUF" in panel.error_label.text() or "gguf" in panel.error_label.text()
    assert "Internal error" not in panel.error_label.text()
    assert first_run.models.list() == [] and first_run.model_name is None
    assert panel.choose_button.isEnabled()


def test_no_network_shows_an_inline_error(qtbot, panel: SetupPanel, first_run: Assistant) -> None:
    first_run.update_settings(download_endpoint="http://127.0.0.1:9")
    row = panel.rows["qwen2.5-0.5b-instruct-q4_k_m"]
    with qtbot.waitSignal(panel.models_shown, timeout=30_000):
        qtbot.mouseClick(row.download_button, Qt.MouseButton.LeftButton)
    assert "Cannot reach" in panel.error_label.text() and panel.error_label.isVisible()
    assert all(r.download_button.isEnabled() for r in panel.rows.values())


def test_the_labels_on_a_gpu_machine_and_their_colours(
    qtbot, first_run: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A synthetic machine with 2 GiB free on its GPU: the small models fit on it, Phi-3.5 only
    partly, and each label has its colour."""
    machine = MachineMemory(
        16 * GIB, 12 * GIB, vram_free=2 * GIB, gpu_name="Test GPU", gpu_offload=True, backend="CUDA"
    )
    monkeypatch.setattr(first_run.models, "machine", lambda: machine)
    model_lane, io_lane = Lane("model"), Lane("io")
    widget = SetupPanel(first_run, model_lane, io_lane)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.models_shown, timeout=20_000):
        widget.show()
    try:
        qwen = widget.rows["qwen2.5-0.5b-instruct-q4_k_m"].fit_label
        phi = widget.rows["Phi-3.5-mini-instruct-Q4_K_M"].fit_label
        assert qwen.text() == FITS and "#1b7a3d" in qwen.styleSheet()
        assert phi.text().startswith("partly on GPU (") and "#1f5f9a" in phi.styleSheet()
        assert "layers fit in the" in phi.toolTip()
        assert "Test GPU (CUDA): 2.15 GB free" in widget.machine_label.text()
    finally:
        widget.shutdown()
        model_lane.wait()
        io_lane.wait()


def test_describe_machine_says_how_fit_is_judged() -> None:
    cpu = describe_machine(MachineMemory(8 * GIB, 4 * GIB, backend="CPU"))
    assert "no GPU offload in this llama.cpp build" in cpu
    unified = MachineMemory(
        16 * GIB, 8 * GIB, gpu_offload=True, unified_memory=True, backend="Metal"
    )
    assert "the GPU (Metal) shares this memory" in describe_machine(unified)
    unread = MachineMemory(16 * GIB, 8 * GIB, gpu_offload=True, backend="Vulkan")
    assert "could not be read" in describe_machine(unread)
