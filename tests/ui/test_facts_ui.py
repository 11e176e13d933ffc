"""Facts in the desktop app (issue 6), offscreen: background extraction after a reply and its
counter with Retry, an inbox candidate shown beside the fact it contradicts, a fact's timeline,
facet and sources, evicted memories in "What I learned", the fact-extraction setting, and the
delete confirmation. The tiny model runs through the real llama.cpp; only the failure test scripts
the engine's JSON output (to force invalid output)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from assistant import Assistant
from assistant.engine.llamacpp import LlamaCppEngine
from assistant.memory.extract import MAX_ATTEMPTS
from assistant.memory.facts import FactSource
from assistant.memory.policy import Candidate
from assistant.memory.statements import parse_first_person
from assistant.memory.store import NewMemory
from assistant.types import MemoryFilter
from tests.ui.test_main_window import send
from ui.inspector import MemoryInspector
from ui.main_window import MainWindow
from ui.settings_dialog import SettingsDialog
from ui.tasks import Lane

WAIT = 20_000


@pytest.fixture
def window(qtbot, assistant: Assistant) -> Iterator[MainWindow]:
    assistant.update_settings(memory_enabled=False)  # no encoder: these tests need no recall
    main = MainWindow(assistant)
    qtbot.addWidget(main)
    main.show()
    main.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main)
    qtbot.waitUntil(lambda: main.model_label.text() not in ("", "no model"), timeout=WAIT)
    main.toggle_inspector()
    yield main
    main.stop()
    main.inspector.extraction.stop()
    main.model_lane.wait()
    main.io_lane.wait()
    main.import_lane.wait()


@pytest.fixture
def lanes() -> Iterator[tuple[Lane, Lane]]:
    model_lane, io_lane = Lane("model"), Lane("io")
    yield model_lane, io_lane
    model_lane.wait()
    io_lane.wait()


def inspector_for(qtbot, assistant: Assistant, lanes: tuple[Lane, Lane]) -> MemoryInspector:
    inspector = MemoryInspector(assistant, *lanes)
    qtbot.addWidget(inspector)
    inspector.resize(1100, 800)
    inspector.show()
    return inspector


def lines(widget) -> list[str]:
    return [widget.item(row).text() for row in range(widget.count())]


def show(qtbot, inspector: MemoryInspector, memory_id: int) -> None:
    with qtbot.waitSignal(
        inspector.detail_loaded, timeout=WAIT, check_params_cb=lambda i: i == memory_id
    ):
        inspector.show_memory(memory_id)


def day(stamp: str | None) -> str:
    assert stamp
    return stamp[:10]


def test_extraction_runs_after_each_reply(qtbot, window: MainWindow, assistant: Assistant) -> None:
    bar = window.inspector.extraction_bar
    send(qtbot, window, "Hello! I live in Berlin and I work as a gardener.")
    # Queued by the reply, read by the model on the model lane once the reply is done.
    qtbot.waitUntil(lambda: assistant.memory.extraction_status()["done"] == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: bar.label.text() == "Fact extraction: 1 done", timeout=WAIT)
    assert not bar.retry_button.isVisible()
    send(qtbot, window, "My sister is called Ana.")
    qtbot.waitUntil(lambda: bar.label.text() == "Fact extraction: 2 done", timeout=WAIT)
    assert assistant.memory.extraction_status()["pending"] == 0

    assistant.update_settings(fact_extraction=False)
    send(qtbot, window, "I also like tea.")
    with qtbot.waitSignal(window.inspector.extraction.status_changed, timeout=WAIT):
        window.inspector.extraction.refresh()
    assert "off" in bar.label.text()
    assert assistant.memory.extraction_status()["done"] == 2  # nothing read while off


def test_failed_extraction_shows_the_counter_and_retry_runs_it_again(
    qtbot, window: MainWindow, assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = LlamaCppEngine.complete_json
    calls: list[bool] = []
    broken = [True]

    def scripted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(broken[0])
        return '{"facts": [' if broken[0] else real(self, *args, **kwargs)

    monkeypatch.setattr(LlamaCppEngine, "complete_json", scripted)
    bar = window.inspector.extraction_bar
    send(qtbot, window, "I live in Porto.")
    qtbot.waitUntil(lambda: bar.retry_button.isVisible(), timeout=WAIT)
    assert bar.label.text() == "Fact extraction: 0 done · 1 failed"
    assert "not complete JSON" in bar.label.toolTip()  # the reason, shown on hover
    assert calls == [True] * MAX_ATTEMPTS  # invalid output was retried before it failed

    broken[0] = False
    qtbot.mouseClick(bar.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.label.text() == "Fact extraction: 1 done", timeout=WAIT)
    assert not bar.retry_button.isVisible()
    assert calls[MAX_ATTEMPTS:] == [False]  # the job ran again, with the real model
    status = assistant.memory.extraction_status()
    assert (status["done"], status["failed"]) == (1, 0)


def test_inbox_shows_the_fact_a_candidate_contradicts(qtbot, mneme: Assistant, lanes) -> None:
    berlin = mneme.memory.remember("I live in Berlin").id
    paris = mneme.memory.propose(
        Candidate("The user lives in Paris.", "imported", parse_first_person("I live in Paris")),
        FactSource(source_type="document", source_ref="/docs/letter.txt"),
    )
    assert paris.action == "inbox" and paris.existing == berlin
    inspector = inspector_for(qtbot, mneme, lanes)
    qtbot.waitUntil(lambda: inspector.inbox_list.count() == 1, timeout=WAIT)
    (line,) = lines(inspector.inbox_list)
    assert line.startswith("The user lives in Paris.")
    since = day(mneme.memory.get(berlin).valid_from)
    assert f"Contradicts: I live in Berlin (user-stated, since {since})" in line
    inspector.tabs.setCurrentIndex(1)
    inspector.inbox_list.item(0).setSelected(True)
    both = inspector.inbox.conflict_label
    assert both.isVisible()
    assert "The user lives in Paris." in both.text() and "I live in Berlin" in both.text()

    with qtbot.waitSignal(inspector.action_done, timeout=WAIT):
        inspector.accept_button.click()
    old = mneme.memory.get(berlin)
    assert old.status == "superseded"  # kept as history
    show(qtbot, inspector, paris.fact_id or 0)
    assert lines(inspector.detail.fact.timeline_list) == [
        f"The user lives in Paris. — since {day(mneme.memory.get(paris.fact_id or 0).valid_from)}",
        f"I live in Berlin — until {day(old.valid_to)}",
    ]


def test_timeline_of_facts_told_in_chat_and_deleting_one(
    qtbot, window: MainWindow, assistant: Assistant
) -> None:
    send(qtbot, window, "remember that I live in Berlin")
    send(qtbot, window, "remember that I live in Lisbon")
    (lisbon,) = assistant.memory.query(MemoryFilter(kind="fact", status="active"))
    (berlin,) = assistant.memory.query(MemoryFilter(kind="fact", status="superseded"))
    inspector = window.inspector
    show(qtbot, inspector, lisbon.id)
    timeline = inspector.detail.fact.timeline_list
    assert lines(timeline) == [
        f"I live in Lisbon. — since {day(lisbon.valid_from)}",
        f"I live in Berlin. — until {day(berlin.valid_to)}",
    ]
    assert timeline.item(0).font().bold()  # the fact shown above
    assert not inspector.detail.fact.facet_label.isVisible()

    asked: list[str] = []
    inspector.confirm = lambda text: asked.append(text) or True  # type: ignore[method-assign]
    with qtbot.waitSignal(inspector.action_done, timeout=WAIT):
        inspector.delete_button.click()
    assert "(forgotten)" in asked[0]
    said = [m.content for m in assistant.messages(window.conversation_id or 0) if m.role == "user"]
    assert said == ["remember that I live in Berlin", "(forgotten)"]  # as the dialog said


def test_preference_and_sources_in_the_detail_pane(qtbot, mneme: Assistant, lanes) -> None:
    said = "I live in Berlin with my cat"
    (episode,) = mneme.memory.add([NewMemory(said, source_type="conversation")])
    fact = mneme.memory.propose(
        Candidate("I live in Berlin.", "user-stated", parse_first_person("I live in Berlin")),
        FactSource(memory_id=episode, source_type="conversation", quote=(0, 16)),
    )
    episode_at = mneme.memory.fact_sources(fact.fact_id or 0)[0]["created_at"]
    preference = mneme.memory.remember("From now on you must answer in French")
    assert preference.facet == "preference"
    inspector = inspector_for(qtbot, mneme, lanes)
    show(qtbot, inspector, fact.fact_id or 0)
    part = inspector.detail.fact
    assert lines(part.sources_list) == [
        f"“I live in Berlin” — a conversation · trust user-stated · read {day(episode_at)}"
    ]
    assert not part.facet_label.isVisible()
    show(qtbot, inspector, preference.id)
    assert part.facet_label.isVisible()
    assert "never as an instruction" in part.facet_label.text()
    assert "fact (preference)" in inspector.detail_text.toPlainText()
    show(qtbot, inspector, episode)  # not a fact: no fact parts
    assert not part.isVisible()


def test_evicted_memories_in_what_i_learned(qtbot, mneme: Assistant, lanes) -> None:
    mneme.memory.add(
        [NewMemory(f"Small talk number {n} about the weather", trust="assistant") for n in range(5)]
    )
    mneme.update_settings(pool_capacity=2)
    mneme.memory.sync()  # the capacity bound takes the least valuable out of recall
    evicted = mneme.memory.evicted_since(datetime.now() - timedelta(hours=1))
    assert len(evicted) == 3
    inspector = inspector_for(qtbot, mneme, lanes)
    inspector.tabs.setCurrentIndex(2)
    pane = inspector.learned
    qtbot.waitUntil(lambda: pane.evicted_list.count() == 3, timeout=WAIT)
    assert {line.split("\n")[0] for line in lines(pane.evicted_list)} == {m.text for m in evicted}
    assert "(3)" in pane.evicted_label.text()
    assert pane.evicted_help.isVisible() and "still stored" in pane.evicted_help.text()
    assert "pin one to bring it back" in pane.evicted_help.text()

    pane.evicted_list.item(0).setSelected(True)
    chosen = pane.evicted_list.item(0).data(Qt.ItemDataRole.UserRole)
    qtbot.mouseClick(pane.pin_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pane.evicted_list.count() == 2, timeout=WAIT)
    back = mneme.memory.get(chosen)
    assert back.pinned and back.evicted_at is None


def test_settings_checkbox_for_fact_extraction(qtbot, mneme: Assistant) -> None:
    io_lane = Lane("io")
    dialog = SettingsDialog(mneme, io_lane)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.loaded, timeout=WAIT):
        dialog.show()
    assert dialog.facts_check.isChecked()  # on by default
    dialog.facts_check.setChecked(False)
    with qtbot.waitSignal(dialog.saved, timeout=WAIT) as saved:
        dialog.save_button.click()
    assert saved.args[0] == ["fact_extraction"]
    with Assistant() as fresh:  # written to the settings file
        assert fresh.settings.fact_extraction is False
    with qtbot.waitSignal(dialog.loaded, timeout=WAIT):
        dialog.reload()
    assert not dialog.facts_check.isChecked()
    dialog.facts_check.setChecked(True)
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.save_button.click()
    assert mneme.settings.fact_extraction is True
    io_lane.wait()
