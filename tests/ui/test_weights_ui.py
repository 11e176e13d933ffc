"""The inspector's "In the weights" tab and the idle consolidation schedule, offscreen.

Most tests drive `WeightsPane` against `StandIn` (the consolidation methods of the contract, in
memory: a narrow unit test of the pane; the core is tested in the core's tests).
`test_consolidate_with_the_real_core` runs the real consolidation on the tiny model; it is skipped
until the core (`Assistant.consolidate`) exists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from assistant import Assistant
from tests.assistant.test_cli_consolidate import REAL_CORE, REFUSAL, REJECTION, StandIn
from ui.inspector import MemoryInspector
from ui.main_window import IDLE_AFTER_S, MainWindow
from ui.tasks import Lane
from ui.weights_pane import REASON_COLUMN, Consolidation, WeightsPane

WAIT = 10_000


@pytest.fixture
def core() -> Iterator[StandIn]:
    stand_in = StandIn()
    yield stand_in
    stand_in.release.set()  # a test that failed mid-run must not leave a worker waiting


@pytest.fixture
def lanes() -> Iterator[tuple[Lane, Lane]]:
    model_lane, io_lane = Lane("model"), Lane("io")
    yield model_lane, io_lane
    model_lane.wait()
    io_lane.wait()


@pytest.fixture
def pane(qtbot, core: StandIn, lanes: tuple[Lane, Lane]) -> Iterator[WeightsPane]:
    consolidation = Consolidation(core)  # type: ignore[arg-type]
    widget = WeightsPane(core, *lanes, consolidation)  # type: ignore[arg-type]
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    yield widget
    consolidation.cancel()
    consolidation.wait()


def load(qtbot, pane: WeightsPane) -> None:
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.refresh()


def rows(pane: WeightsPane) -> list[list[str]]:
    table = pane.table
    return [
        [table.item(row, column).text() for column in range(table.columnCount())]
        for row in range(table.rowCount())
    ]


def facts(pane: WeightsPane) -> list[str]:
    return [pane.facts_list.item(i).text() for i in range(pane.facts_list.count())]


def select_version(qtbot, pane: WeightsPane, version_id: int) -> None:
    row = next(i for i, v in enumerate(pane.versions) if v.id == version_id)
    with qtbot.waitSignal(
        pane.facts_loaded, timeout=WAIT, check_params_cb=lambda v: v == version_id
    ):
        pane.table.selectRow(row)


# -- status, versions, facts ----------------------------------------------------------------------
def test_status_versions_and_the_active_facts(qtbot, core: StandIn, pane: WeightsPane) -> None:
    core.add_version("active")
    core.add_version("rejected", REJECTION)
    core.add_version("active", facts=3)
    core.facts_ready = 5
    load(qtbot, pane)
    assert pane.status_label.text() == (
        "In the weights: on · version 3 active (3 facts) · 5 facts ready"
    )
    assert pane.enabled_box.isChecked() and pane.enabled_box.isEnabled()
    assert [r[:4] for r in rows(pane)] == [
        ["3", "2025-01-03 10:00", "active", "3"],
        ["2", "2025-01-02 10:00", "rejected", "2"],
        ["1", "2025-01-01 10:00", "kept", "2"],
    ]
    assert rows(pane)[1][4:] == ["+0.700", "-0.400", REJECTION]
    assert pane.facts_label.text().startswith("<b>Facts in the active version 3</b>")
    assert facts(pane)[0] == "Question 0 of version 3? → Answer 0 of version 3.\n    memory 30"
    assert len(facts(pane)) == 3
    assert not pane.rollback_button.isEnabled()  # nothing selected: the active one is shown


def test_a_rejected_version_shows_its_reason_and_cannot_be_used(
    qtbot, core: StandIn, pane: WeightsPane
) -> None:
    core.add_version("active")
    core.add_version("rejected", REJECTION)
    load(qtbot, pane)
    assert pane.table.item(0, REASON_COLUMN).text() == REJECTION
    assert not pane.reason_label.isVisible()
    select_version(qtbot, pane, 2)
    assert pane.reason_label.isVisible()
    assert pane.reason_label.text() == f"Version 2 was rejected: {REJECTION}"
    assert not pane.rollback_button.isEnabled()
    assert pane.roll_back() is None
    assert not any(call[0] == "use_adapter" for call in core.calls)


def test_no_version_yet(qtbot, core: StandIn, pane: WeightsPane) -> None:
    load(qtbot, pane)
    assert "no version yet" in pane.status_label.text()
    assert pane.table.rowCount() == 0
    assert facts(pane) == ["No version is active: nothing is in the weights."]


def test_rebuild_pending_and_off_show_in_the_status(
    qtbot, core: StandIn, pane: WeightsPane
) -> None:
    core.add_version("active")
    core.enabled = False
    core.rebuild_pending = True
    core.schedule = "idle"
    load(qtbot, pane)
    text = pane.status_label.text()
    assert text.startswith("In the weights: off · version 1 active (2 facts)")
    assert "rebuild pending" in text and "runs when you are away" in text
    assert not pane.enabled_box.isChecked()
    assert rows(pane)[0][2] == "active (off)"


# -- the switch and rollback ------------------------------------------------------------------------
def test_the_toggle_calls_set_adapter_enabled(qtbot, core: StandIn, pane: WeightsPane) -> None:
    core.add_version("active")
    load(qtbot, pane)
    with (
        qtbot.waitSignal(pane.loaded, timeout=WAIT),
        qtbot.waitSignal(pane.action_done, timeout=WAIT) as done,
    ):
        pane.enabled_box.click()
    assert core.calls.count(("set_adapter_enabled", False)) == 1
    assert done.args == ["The facts in the weights are off."]
    assert pane.status_label.text().startswith("In the weights: off")
    assert not pane.enabled_box.isChecked() and pane.enabled_box.isEnabled()
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.enabled_box.click()
    assert ("set_adapter_enabled", True) in core.calls
    assert pane.status_label.text().startswith("In the weights: on")
    # Showing the status again does not call the switch (only the user's click does).
    load(qtbot, pane)
    assert [c for c in core.calls if c[0] == "set_adapter_enabled"] == [
        ("set_adapter_enabled", False),
        ("set_adapter_enabled", True),
    ]


def test_rollback_uses_the_selected_version(qtbot, core: StandIn, pane: WeightsPane) -> None:
    core.add_version("active")
    core.add_version("active", facts=3)
    load(qtbot, pane)
    select_version(qtbot, pane, 1)
    assert pane.facts_label.text().startswith("<b>Facts in the version 1</b>")
    assert facts(pane)[0].startswith("Question 0 of version 1?")
    assert pane.rollback_button.isEnabled()
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.rollback_button.click()
    assert ("use_adapter", 1) in core.calls
    assert pane.status_label.text().startswith("In the weights: on · version 1 active")
    assert [r[2] for r in rows(pane)] == ["kept", "active"]
    assert not pane.rollback_button.isEnabled()  # the active one needs no rollback


def test_a_failed_rollback_shows_inline(qtbot, core: StandIn, pane: WeightsPane) -> None:
    core.add_version("active")
    core.add_version("active")
    load(qtbot, pane)
    select_version(qtbot, pane, 1)
    core.versions = [v for v in core.versions if v.id != 1]  # gone meanwhile
    with qtbot.waitSignal(pane.loaded, timeout=WAIT):
        pane.rollback_button.click()
    assert pane.message_label.isVisible()
    assert pane.message_label.text() == "Version 1 cannot be used."
    assert pane.table.rowCount() == 1


# -- consolidating --------------------------------------------------------------------------------
def test_consolidate_shows_progress_then_the_new_version(
    qtbot, core: StandIn, pane: WeightsPane, lanes: tuple[Lane, Lane]
) -> None:
    load(qtbot, pane)
    model_lane, _ = lanes
    # The model lane is busy (a reply streaming): consolidation runs anyway, on its own lane.
    chatting = threading.Event()
    model_lane.submit(lambda task: chatting.wait(WAIT / 1000))
    core.outcome = "block"
    blocked = threading.Event()
    core.on_block = blocked.set
    pane.consolidate_button.click()
    qtbot.waitUntil(lambda: pane.progress_label.text() == "Training 1/3", timeout=WAIT)
    assert blocked.is_set()
    assert not pane.consolidate_button.isEnabled()
    assert pane.cancel_button.isVisible() and pane.progress_bar.isVisible()
    assert (pane.progress_bar.maximum(), pane.progress_bar.value()) == (3, 1)
    assert pane.start_consolidation() is None  # one run at a time
    with (
        qtbot.waitSignal(pane.loaded, timeout=WAIT),
        qtbot.waitSignal(pane.consolidation.finished, timeout=WAIT),
    ):
        core.release.set()
    chatting.set()
    assert core.calls.count(("consolidate",)) == 1
    assert pane.consolidate_button.isEnabled()
    assert not pane.cancel_button.isVisible() and not pane.progress_bar.isVisible()
    assert [r[:3] for r in rows(pane)] == [["1", "2025-01-01 10:00", "active"]]
    assert pane.message_label.text().startswith("Version 1 is active: 2 facts in the weights")
    assert "version 1 active" in pane.status_label.text()
    assert len(facts(pane)) == 2


def test_a_rejected_run_shows_its_reason(qtbot, core: StandIn, pane: WeightsPane) -> None:
    core.add_version("active")
    load(qtbot, pane)
    core.outcome = "rejected"
    with (
        qtbot.waitSignal(pane.loaded, timeout=WAIT),
        qtbot.waitSignal(pane.consolidation.finished, timeout=WAIT),
    ):
        pane.consolidate_button.click()
    assert pane.message_label.isVisible()
    assert pane.message_label.text() == (f"Version 2 was rejected and is not used: {REJECTION}")
    assert rows(pane)[0][2] == "rejected" and rows(pane)[0][REASON_COLUMN] == REJECTION
    assert "version 1 active" in pane.status_label.text()  # the model is unchanged


def test_a_refusal_shows_inline(qtbot, core: StandIn, pane: WeightsPane) -> None:
    load(qtbot, pane)
    core.outcome = "refuse"
    with (
        qtbot.waitSignal(pane.loaded, timeout=WAIT),
        qtbot.waitSignal(pane.consolidation.failed, timeout=WAIT) as failed,
    ):
        pane.consolidate_button.click()
    assert failed.args == [REFUSAL]
    assert pane.message_label.isVisible() and pane.message_label.text() == REFUSAL
    assert "b3261e" in pane.message_label.styleSheet()  # shown as a problem
    assert pane.consolidate_button.isEnabled() and not pane.progress_bar.isVisible()
    assert pane.table.rowCount() == 0


def test_cancel_stops_the_run_and_keeps_nothing(qtbot, core: StandIn, pane: WeightsPane) -> None:
    load(qtbot, pane)
    core.outcome = "block"
    pane.consolidate_button.click()
    qtbot.waitUntil(lambda: pane.progress_label.text() == "Training 1/3", timeout=WAIT)
    with qtbot.waitSignal(pane.consolidation.cancelled, timeout=WAIT):
        pane.cancel_button.click()
        assert pane.progress_label.text() == "Cancelling…"
    assert pane.message_label.text().startswith("Consolidation cancelled")
    assert core.versions == [] and pane.consolidate_button.isEnabled()
    assert not pane.consolidation.busy


# -- the tab and the idle schedule ------------------------------------------------------------------
@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch, core: StandIn) -> Iterator[Assistant]:
    """A real Assistant (no model) whose consolidation methods are the stand-in's."""
    core.install(monkeypatch)
    instance = Assistant()
    yield instance
    instance.close()


def test_the_inspector_builds_the_tab_when_first_shown(
    qtbot, core: StandIn, plain: Assistant, lanes: tuple[Lane, Lane]
) -> None:
    core.add_version("active")
    inspector = MemoryInspector(plain, *lanes)
    qtbot.addWidget(inspector)
    inspector.show()
    tabs = inspector.tabs
    index = tabs.indexOf(inspector.weights_tab)
    assert tabs.tabText(index) == "In the weights"
    assert not inspector.weights_tab.built  # no consolidation call at start-up
    tabs.setCurrentIndex(index)
    assert inspector.weights_tab.built
    pane = inspector.weights_tab.pane
    qtbot.waitUntil(lambda: pane.table.rowCount() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: "version 1 active" in pane.status_label.text(), timeout=WAIT)
    with qtbot.waitSignal(inspector.action_done, timeout=WAIT) as done:
        pane.enabled_box.click()
    assert done.args == ["The facts in the weights are off."]
    inspector.consolidation.wait()


@pytest.fixture
def window(qtbot, plain: Assistant) -> Iterator[MainWindow]:
    main = MainWindow(plain)
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()


def test_the_idle_schedule_consolidates_when_due_and_away(
    qtbot, core: StandIn, window: MainWindow
) -> None:
    consolidation = window.inspector.consolidation
    assert window.idle_timer.isActive() and window.idle_timer.interval() == 60_000
    core.due = True
    # The user was typing a moment ago: nothing is asked.
    window.input.setPlainText("half a thought")
    assert window._idle_check() is None
    # Away for long enough, but nothing is due: nothing starts.
    window._last_activity -= IDLE_AFTER_S + 1
    core.due = False
    task = window._idle_check()
    assert task is not None
    qtbot.waitUntil(lambda: task.result is not None or task.error is not None, timeout=WAIT)
    assert not consolidation.busy and ("consolidate",) not in core.calls
    # Away and due: one run, whose outcome the status bar tells.
    core.due = True
    with qtbot.waitSignal(consolidation.finished, timeout=WAIT):
        assert window._idle_check() is not None
    assert core.calls.count(("consolidate",)) == 1
    assert window.statusBar().currentMessage().startswith("Version 1 is active")


def test_the_idle_schedule_waits_for_a_running_consolidation(
    qtbot, core: StandIn, window: MainWindow
) -> None:
    consolidation = window.inspector.consolidation
    core.due = True
    core.outcome = "block"
    blocked = threading.Event()
    core.on_block = blocked.set
    consolidation.start()
    qtbot.waitUntil(blocked.is_set, timeout=WAIT)
    window._last_activity -= IDLE_AFTER_S + 1
    assert window._idle_check() is None  # one is running already
    with qtbot.waitSignal(consolidation.finished, timeout=WAIT):
        core.release.set()
    assert core.calls.count(("consolidate",)) == 1


# -- the real core ----------------------------------------------------------------------------------
@pytest.mark.skipif(
    not REAL_CORE, reason="waits for the consolidation core (Assistant.consolidate, issue 8)"
)
def test_consolidate_with_the_real_core(
    qtbot, assistant: Assistant, lanes: tuple[Lane, Lane]
) -> None:
    for text in ("My cat is called Miso", "I live in Lisbon", "My sister is named Ana"):
        assistant.memory.remember(text, pinned=True)
    consolidation = Consolidation(assistant)
    pane = WeightsPane(assistant, *lanes, consolidation)
    qtbot.addWidget(pane)
    pane.show()
    load(qtbot, pane)
    assert pane.table.rowCount() == 0
    assert "ready" in pane.status_label.text()
    progress: list[object] = []
    consolidation.progress.connect(progress.append)
    with (
        qtbot.waitSignal(pane.loaded, timeout=300_000),
        qtbot.waitSignal(consolidation.finished, timeout=300_000) as finished,
    ):
        pane.consolidate_button.click()
    version = finished.args[0]
    assert progress and {p.phase for p in progress} >= {"training"}  # type: ignore[attr-defined]
    assert pane.table.rowCount() == 1
    assert pane.table.item(0, 0).text() == str(version.id)
    if version.status == "rejected":
        assert pane.table.item(0, REASON_COLUMN).text() == version.reason
        assert version.reason in pane.message_label.text()
    else:
        assert f"version {version.id} active" in pane.status_label.text()
        assert pane.facts_list.count() == version.facts
        with qtbot.waitSignal(pane.loaded, timeout=WAIT):
            pane.enabled_box.click()
        assert assistant.consolidation_status().enabled is False
    consolidation.wait()
