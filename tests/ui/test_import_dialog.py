"""The import dialog: progress, cancel, per-file errors and the summary (offscreen, no sleeps)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant import Assistant, CancelToken
from assistant.types import ImportProgress, ImportSummary
from ui.import_dialog import BAR_STEPS, ImportDialog
from ui.tasks import Lane


@pytest.fixture
def dialog(qtbot, mneme: Assistant) -> Iterator[ImportDialog]:
    lane = Lane("import")
    widget = ImportDialog(mneme, lane)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.cancel()
    lane.wait()


def make_files(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"note{index:03}.md").write_text(f"# Note {index}\n\nbody of note {index}")
    return folder


def run(qtbot, dialog: ImportDialog, paths: list[str]) -> ImportSummary:
    with qtbot.waitSignal(dialog.imported, timeout=30_000) as blocker:
        dialog.start(paths)
    summary = blocker.args[0]
    assert isinstance(summary, ImportSummary)
    qtbot.waitUntil(lambda: not dialog.running)
    return summary


def test_progress_updates_the_bar_and_counts(qtbot, dialog: ImportDialog, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "docs", 12)
    seen: list[ImportProgress] = []
    assert not dialog.start_button.isEnabled()  # nothing chosen yet
    dialog.add_paths([str(folder)])
    assert dialog.start_button.isEnabled() and dialog.paths() == [str(folder)]
    with qtbot.waitSignal(dialog.imported, timeout=30_000):
        task = dialog.start()
        task.on_progress(seen.append)
        assert dialog.running and not dialog.start_button.isEnabled()
        assert dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running)
    assert [p.files_done for p in seen if p.current is None] == list(range(13))
    assert dialog.progress_bar.value() == BAR_STEPS
    assert dialog.counts_label.text().startswith("12 / 12 files · 12 chunks")
    assert dialog.summary_label.text() == "Imported 12 files (12 chunks)."
    assert dialog.error_list.isHidden()
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_the_bar_follows_progress_signals(qtbot, dialog: ImportDialog) -> None:
    dialog._on_progress(ImportProgress(1, 10, 5, 100, 1000, "/x/first.md"))
    dialog._on_progress(ImportProgress(3, 10, 40, 250, 1000, "/x/a.md"))
    # Shown within the refresh interval, and only the latest of a burst.
    qtbot.waitUntil(lambda: dialog.progress_bar.value() == BAR_STEPS // 4)
    assert dialog.counts_label.text().startswith("3 / 10 files · 40 chunks")
    assert dialog.current_label.text() == "/x/a.md"


def test_cancel_mid_import_keeps_what_was_done(
    qtbot, dialog: ImportDialog, mneme: Assistant, tmp_path: Path, monkeypatch
) -> None:
    folder = make_files(tmp_path / "docs", 40)
    real_import = mneme.import_

    def import_(
        paths: list[str],
        progress: Callable[[ImportProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportSummary:
        assert progress is not None and cancel is not None

        def report(update: ImportProgress) -> None:
            progress(update)
            if update.files_done == 5:
                cancel.cancel()  # the dialog's own token, from the job's progress callback

        return real_import(paths, progress=report, cancel=cancel)

    monkeypatch.setattr(mneme, "import_", import_)
    summary = run(qtbot, dialog, [str(folder)])
    assert summary.cancelled and summary.files_imported == 5
    assert len(mneme.memory.browse(kind="chunk")) == 5
    assert dialog.isVisible()  # the dialog stays open with what was done
    assert dialog.summary_label.text().startswith("Cancelled. Imported 5 files (5 chunks)")
    assert dialog.progress_bar.value() < BAR_STEPS
    # importing again finishes the rest, without duplicates
    monkeypatch.setattr(mneme, "import_", real_import)
    rest = run(qtbot, dialog, [str(folder)])
    assert (rest.files_imported, rest.files_skipped) == (35, 5)
    assert len(mneme.memory.browse(kind="chunk")) == 40


def test_the_cancel_button_stops_the_job(
    qtbot, dialog: ImportDialog, mneme: Assistant, tmp_path: Path
) -> None:
    folder = make_files(tmp_path / "docs", 20)
    with qtbot.waitSignal(dialog.imported, timeout=30_000) as blocker:
        dialog.start([str(folder)])
        dialog.cancel_button.click()  # before the worker picks the job up: nothing is imported
        assert not dialog.cancel_button.isEnabled()
    assert blocker.args[0].cancelled and blocker.args[0].files_imported == 0
    assert mneme.memory.browse(kind="chunk") == []


def test_errors_are_listed_with_a_summary(qtbot, dialog: ImportDialog, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "docs", 3)
    (folder / "junk.txt").write_bytes(b"\x00\x01\x02 binary junk")
    (folder / "image.png").write_bytes(b"\x89PNG")
    summary = run(qtbot, dialog, [str(folder)])
    assert summary.files_imported == 3 and len(summary.files_failed) == 1
    assert dialog.error_list.isVisible()
    rows = [dialog.error_list.item(i).text() for i in range(dialog.error_list.count())]
    assert any("junk.txt" in row and "binary" in row for row in rows)
    assert any("image.png" in row and "skipped" in row for row in rows)
    assert dialog.summary_label.text() == (
        "Imported 3 files (3 chunks) · 1 failed · 1 not supported."
    )
    # a second run over the same folder: everything unchanged
    again = run(qtbot, dialog, [str(folder)])
    assert again.files_skipped == 3
    assert "3 unchanged" in dialog.summary_label.text()


def texts(mneme: Assistant) -> list[str]:
    return [m.text for m in mneme.memory.browse(limit=1000)]


def test_files_gone_since_the_last_import_are_offered_for_forgetting(
    qtbot, dialog: ImportDialog, mneme: Assistant, tmp_path: Path
) -> None:
    folder = make_files(tmp_path / "docs", 3)
    run(qtbot, dialog, [str(folder)])
    assert any("body of note 1" in text for text in texts(mneme))
    (folder / "note001.md").unlink()
    summary = run(qtbot, dialog, [str(folder)])
    assert [Path(path).name for path, _ in summary.missing] == ["note001.md"]
    assert dialog.remove_missing_button.isVisible()
    assert "gone since the last import" in dialog.summary_label.text()
    assert any("body of note 1" in text for text in texts(mneme))  # never without asking
    dialog.confirm = lambda text: False
    assert dialog.forget_missing() is None
    assert any("body of note 1" in text for text in texts(mneme))
    dialog.confirm = lambda text: True
    with qtbot.waitSignal(dialog.imported, timeout=30_000):
        dialog.forget_missing()
    qtbot.waitUntil(lambda: not dialog.remove_missing_button.isVisible())
    assert not any("body of note 1" in text for text in texts(mneme))
    assert any("body of note 2" in text for text in texts(mneme))
