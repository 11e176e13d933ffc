"""The settings dialog: current values shown, saving persists, bad values rejected inline."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices

from assistant import Assistant
from ui.settings_dialog import (
    MAX_CONTEXT,
    MIN_CONTEXT,
    SettingsDialog,
    describe_offload,
    parse_context_size,
)
from ui.tasks import Lane


@pytest.fixture
def dialog(qtbot, assistant: Assistant) -> Iterator[SettingsDialog]:
    io_lane = Lane("io")
    widget = SettingsDialog(assistant, io_lane)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.loaded, timeout=20_000):
        widget.show()
    yield widget
    io_lane.wait()


def save(qtbot, dialog: SettingsDialog) -> list[str]:
    with qtbot.waitSignal(dialog.saved, timeout=20_000) as blocker:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_shows_the_current_values(dialog: SettingsDialog, assistant: Assistant) -> None:
    assert dialog.model_combo.currentData() == "tiny"
    assert dialog.gpu_layers.text() == "auto"  # n_gpu_layers None
    # Where the model runs: the plan's label and the automatic choice (this sandbox: CPU only).
    plan = assistant.doctor().model["offload"]
    assert dialog.offload_label.text().startswith(f"{plan['label']} · automatic: ")
    assert plan["reason"] in dialog.offload_label.text()
    assert dialog.context_size.currentText() == "4096"
    assert dialog.memory_check.isChecked() and dialog.learning_check.isChecked()
    assert dialog.data_folder.text() == str(assistant.paths.data_dir)
    assert "SQLCipher" in dialog.encryption_label.text()
    assert "keychain" in dialog.encryption_label.text()


def test_encryption_status_of_an_open_database(qtbot, assistant: Assistant) -> None:
    assistant.new_conversation("creates the database")
    io_lane = Lane("io")
    widget = SettingsDialog(assistant, io_lane)
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.loaded, timeout=20_000):
        pass
    assert widget.encryption_label.text().startswith("Encrypted with SQLCipher")
    io_lane.wait()


def test_save_persists_and_says_what_needs_a_reload(
    qtbot, dialog: SettingsDialog, assistant: Assistant, tiny_model: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.gguf"
    shutil.copy(tiny_model, other)
    assistant.models.add_file(other, "other")
    with qtbot.waitSignal(dialog.loaded, timeout=20_000):
        dialog.reload()
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("other"))
    dialog.gpu_layers.setValue(0)
    dialog.context_size.setCurrentText("8k")
    dialog.learning_check.setChecked(False)
    changed = save(qtbot, dialog)
    assert changed == ["learning_enabled", "model", "n_ctx", "n_gpu_layers"]
    assert "reloads" in dialog.status_label.text()
    # The offload line is judged again for the saved choice, and shows the override.
    qtbot.waitUntil(lambda: "you chose no layer on the GPU" in dialog.offload_label.text())
    assert not dialog.error_label.isVisible()
    with Assistant() as fresh:  # written to the settings file, not only in memory
        settings = fresh.settings
        assert (settings.active_model, settings.n_gpu_layers, settings.n_ctx) == ("other", 0, 8192)
        assert settings.learning_enabled is False and settings.memory_enabled is True

    dialog.memory_check.setChecked(False)
    assert save(qtbot, dialog) == ["memory_enabled"]
    assert "in effect now" in dialog.status_label.text()
    assert assistant.settings.memory_enabled is False
    assert save(qtbot, dialog) == []
    assert dialog.status_label.text() == "Nothing changed."

    dialog.gpu_layers.setValue(-1)
    assert save(qtbot, dialog) == ["n_gpu_layers"]
    assert assistant.settings.n_gpu_layers is None


@pytest.mark.parametrize(
    ("typed", "message"),
    [("lots", "whole number"), ("32", "between 64"), ("4096.5", "whole number"), ("", "whole")],
)
def test_invalid_context_sizes_are_rejected_inline(
    qtbot, dialog: SettingsDialog, assistant: Assistant, typed: str, message: str
) -> None:
    dialog.context_size.setCurrentText(typed)
    with qtbot.assertNotEmitted(dialog.saved, wait=50):
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.error_label.isVisible() and message in dialog.error_label.text()
    assert assistant.settings.n_ctx == 4096


def test_a_model_removed_meanwhile_is_refused_and_nothing_is_saved(
    qtbot, dialog: SettingsDialog, assistant: Assistant, tiny_model: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.gguf"
    shutil.copy(tiny_model, other)
    assistant.models.add_file(other, "other")
    with qtbot.waitSignal(dialog.loaded, timeout=20_000):
        dialog.reload()
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("other"))
    dialog.context_size.setCurrentText("2048")
    assistant.models.remove("other")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.error_label.isVisible, timeout=20_000)
    assert "no model named 'other'" in dialog.error_label.text()
    assert assistant.settings.n_ctx == 4096 and assistant.settings.active_model == "tiny"
    assert dialog.save_button.isEnabled()


def test_open_folder_opens_the_data_folder(
    qtbot, dialog: SettingsDialog, assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    qtbot.mouseClick(dialog.open_folder_button, Qt.MouseButton.LeftButton)
    (url,) = opened
    assert Path(url.toLocalFile()) == assistant.paths.data_dir


@given(st.integers(MIN_CONTEXT, MAX_CONTEXT), st.sampled_from(["{:d}", "{:,}", "{:_}", " {:d} "]))
def test_context_sizes_parse_in_the_usual_spellings(value: int, spelling: str) -> None:
    assert parse_context_size(spelling.format(value)) == value
    if value % 1024 == 0:
        assert parse_context_size(f"{value // 1024}k") == value
        assert parse_context_size(f"{value // 1024} K") == value


@given(st.text(max_size=30))
def test_any_text_parses_to_a_valid_size_or_a_clear_error(text: str) -> None:
    try:
        value = parse_context_size(text)
    except ValueError as error:
        assert str(error).startswith("Context size must be")
    else:
        assert MIN_CONTEXT <= value <= MAX_CONTEXT


def test_describe_offload_for_each_plan() -> None:
    def model(label: str, auto: int, setting: int | None, layers: int | None = 32) -> dict:
        plan = {"label": label, "n_gpu_layers": auto, "n_layers": layers, "reason": "Because."}
        return {"kind": "gguf", "offload": plan, "n_gpu_layers_setting": setting}

    assert describe_offload(model("fits", -1, None)) == (
        "fits · automatic: every layer on the GPU.\nBecause."
    )
    assert describe_offload(model("partly on GPU (20 layers)", 20, None)).startswith(
        "partly on GPU (20 layers) · automatic: 20 of 32 layers on the GPU."
    )
    assert describe_offload(model("partly on GPU (20 layers)", 20, 8)).startswith(
        "partly on GPU (20 layers) · you chose 8 of 32 layers on the GPU "
        "(automatic would be 20 of 32 layers on the GPU)."
    )
    assert "no layer on the GPU (CPU only)" in describe_offload(model("fits", 0, None, None))
    assert "1 layer on the GPU" in describe_offload(
        model("too big for this machine", 1, None, None)
    )
    assert "server" in describe_offload({"kind": "openai", "status": "server"})
    assert describe_offload({"status": "no model set up (mneme models add PATH)"}).startswith(
        "no model"
    )
