"""`mneme memory forget|export|health|status|inbox|accept|reject|extract|timeline`, and fact
extraction after `mneme ask` / `mneme chat`: output, what is stored, one-line errors."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from assistant import Assistant
from assistant.cli import main
from assistant.errors import MnemeError, NotFoundError
from assistant.memory import extract
from assistant.memory.api import MemoryApi
from assistant.memory.facts import FactSource
from assistant.memory.policy import Candidate
from assistant.memory.statements import parse_first_person
from assistant.memory.store import NewMemory
from tests.assistant.cli_helpers import assert_one_line_error, run
from tests.conftest import fuzz_examples

KEEP_REF = "<keep@example.com>"


def _chunk(text: str, source_type: str, ref: str, speaker: str | None = None) -> NewMemory:
    return NewMemory(
        text=text,
        kind="chunk",
        source_type=source_type,
        source_ref=ref,
        speaker=speaker,
        trust="imported",
    )


@pytest.fixture
def seeded(tmp_path: Path) -> dict[str, object]:
    """A user fact, a two-page document (and a sibling whose path only starts the same), emails
    with an attachment, a ChatGPT conversation, and an imported fact that contradicts the user's
    (in the inbox, read on page 1)."""
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = str(folder / "report.pdf")
    with Assistant() as assistant:
        memory = assistant.memory
        berlin = memory.remember("I live in Berlin").id
        pages = memory.add(
            [
                _chunk(f"Quarterly report page {n}: the user lives in Paris", "document", ref)
                for n, ref in ((1, f"{doc}#page=1"), (2, f"{doc}#page=2"))
            ]
        )
        (sibling,) = memory.add([_chunk("Another report", "document", f"{doc}x#page=1")])
        mails = memory.add(
            [
                _chunk(
                    "From Bob: the meeting is at five", "email", "<m1@example.com>", "bob@ex.org"
                ),
                _chunk(
                    "Agenda attachment", "email", "<m1@example.com>#attachment=a.pdf", "bob@ex.org"
                ),
                _chunk("From Carol: lunch on Friday", "email", "<m2@example.com>", "carol@ex.org"),
                _chunk("From Dan: keep this one", "email", KEEP_REF, "dan@ex.org"),
            ]
        )
        chat = memory.add(
            [
                _chunk("I adopted a cat named Miso", "conversation", "chatgpt:abc#message=n1"),
                _chunk("What a lovely name!", "conversation", "chatgpt:abc#message=n2"),
            ]
        )
        paris = memory.propose(
            Candidate("The user lives in Paris", "imported", parse_first_person("I live in Paris")),
            FactSource(memory_id=pages[0], source_type="document", source_ref=f"{doc}#page=1"),
        )
    assert paris.action == "inbox" and paris.existing == berlin
    return {
        "folder": folder,
        "doc": doc,
        "berlin": berlin,
        "pages": pages,
        "sibling": sibling,
        "mails": mails,
        "chat": chat,
        "paris": paris.fact_id,
    }


def existing(ids: list[int]) -> list[int]:
    with Assistant() as assistant:
        found = []
        for memory_id in ids:
            try:
                assistant.memory.get(memory_id)
            except NotFoundError:
                continue
            found.append(memory_id)
    return found


def total_memories() -> int:
    with Assistant() as assistant:
        return sum(assistant.memory.status()["memories"].values())


# -- forget -------------------------------------------------------------------------------------
def test_forget_by_id_reports_what_went(capsys, seeded) -> None:
    code, out, err = run(capsys, "memory", "forget", str(seeded["paris"]), "--json")
    report = json.loads(out)
    assert code == 0, err
    assert report["forgotten"] == seeded["paris"] and report["memories"] == 1
    assert report["facts"] == 1 and report["ids"] == [seeded["paris"]]
    assert set(report) == {
        "forgotten",
        "memories",
        "facts",
        "facts_derived",
        "facts_kept",
        "messages_redacted",
        "ids",
    }
    assert existing([seeded["paris"]]) == []
    code, out, _ = run(capsys, "memory", "forget", str(seeded["berlin"]))
    assert code == 0 and f"forgot memory {seeded['berlin']}" in out
    assert_one_line_error(*run(capsys, "memory", "show", str(seeded["berlin"]))[::2], "no memory")


def test_forget_mistakes_are_one_line_and_change_nothing(capsys, seeded) -> None:
    before = total_memories()
    assert_one_line_error(*run(capsys, "memory", "forget", "999")[::2], "There is no memory 999")
    for args, fragment in [
        ([str(seeded["berlin"]), "--source", seeded["doc"]], "got ID and --source"),
        (["--source", seeded["doc"], "--sender", "bob@ex.org"], "got --source and --sender"),
        ([], "got none"),
        (["--type", "email"], "got none"),
        ([str(seeded["berlin"]), "--type", "email"], "--type goes with"),
        (["--source", "   "], "source is empty"),
        (["--source", "/nowhere/else.pdf"], "No memory comes from source '/nowhere/else.pdf'"),
        (["--conversation", "42"], "No memory comes from conversation 42"),
        (["--sender", "nobody@ex.org", "--json"], "sender 'nobody@ex.org'"),
    ]:
        code, out, err = run(capsys, "memory", "forget", *[str(a) for a in args])
        assert_one_line_error(code, err, fragment)
        assert out == ""
    assert total_memories() == before


def test_forget_a_document_takes_every_page_and_the_facts_read_only_there(
    capsys, seeded, monkeypatch
) -> None:
    monkeypatch.chdir(seeded["folder"])  # the path as the user types it, relative
    code, out, err = run(capsys, "memory", "forget", "--source", "report.pdf", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report == {
        "source": seeded["doc"],
        "conversation": None,
        "sender": None,
        "type": None,
        "memories": 3,  # both pages and the inbox fact read on page 1
    }
    assert existing([*seeded["pages"], seeded["paris"]]) == []
    assert existing([seeded["sibling"], seeded["berlin"]]) == [seeded["sibling"], seeded["berlin"]]


def test_forget_an_email_a_sender_and_a_chatgpt_conversation(capsys, seeded) -> None:
    bob, attachment, carol, keep = seeded["mails"]
    code, out, _ = run(capsys, "memory", "forget", "--source", "<m1@example.com>")
    assert code == 0 and out.strip() == "forgot 2 memories from source '<m1@example.com>'"
    assert existing([bob, attachment, carol]) == [carol]
    code, out, _ = run(capsys, "memory", "forget", "--sender", "Carol <CAROL@ex.org>")
    assert code == 0 and "forgot 1 memory from sender 'carol@ex.org'" in out
    assert existing([carol]) == []
    assert_one_line_error(
        *run(capsys, "memory", "forget", "--source", "chatgpt:abc", "--type", "email")[::2],
        "(type email)",
    )
    assert existing(seeded["chat"]) == seeded["chat"]
    code, out, _ = run(
        capsys, "memory", "forget", "--source", "chatgpt:abc", "--type", "conversation", "--json"
    )
    assert code == 0 and json.loads(out)["memories"] == 2
    assert existing([*seeded["chat"], keep]) == [keep]


def test_forget_a_conversation(capsys) -> None:
    with Assistant() as assistant:
        stream = assistant.reply(None, "remember that my bike is blue")
        reply = stream.wait()
        conversation = reply.conversation.id
        assert assistant.memory.search("bike")
    code, out, err = run(capsys, "memory", "forget", "--conversation", str(conversation))
    assert code == 0, err
    assert out.startswith(f"forgot 1 memory from conversation {conversation}")
    with Assistant() as assistant:
        assert assistant.memory.search("bike") == []
        user = assistant.messages(conversation)[0]
    assert "bike" not in user.content


ANY_TEXT = st.text(st.characters(codec=None), max_size=60)
# Each of these once, whatever Hypothesis draws: NUL bytes ("~" + NUL makes expanduser raise),
# lone surrogates (what a non-UTF-8 argv byte becomes), LIKE/GLOB and path metacharacters.
HOSTILE = [
    ("--source", ""),
    ("--source", "#"),
    ("--source", "%"),
    ("--source", "~\x00"),
    ("--source", "a\x00b"),
    ("--source", "\udc80report.pdf"),
    ("--source", ".."),
    ("--source", "\n"),
    ("--source", "-x"),
    ("--sender", "Bob <\udc80@ex.org>"),
    ("--sender", "@"),
    ("--sender", "<>"),
]


def assert_forgets_safely(capsys: pytest.CaptureFixture[str], flag: str, source: str) -> None:
    code, out, err = main(["memory", "forget", f"{flag}={source}", "--json"]), *capsys.readouterr()
    assert code in (0, 1)
    assert "Traceback" not in err and "internal error" not in err
    if code == 0:
        assert json.loads(out)["memories"] >= 1 and err == ""
    else:
        assert_one_line_error(code, err)
        assert out == ""


def test_hostile_sources_never_traceback(capsys, seeded) -> None:
    for flag, source in HOSTILE:
        assert_forgets_safely(capsys, flag, source)
    assert existing([seeded["mails"][3]]) == [seeded["mails"][3]]


@settings(
    max_examples=fuzz_examples(20),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    source=st.one_of(
        ANY_TEXT,
        st.builds(lambda a, b: a + b, st.sampled_from(["<m", "chatgpt:", "/", "~"]), ANY_TEXT),
    ),
    flag=st.sampled_from(["--source", "--sender"]),
)
def test_generated_sources_never_traceback(capsys, seeded, source: str, flag: str) -> None:
    assume(source.strip() != KEEP_REF)
    assert_forgets_safely(capsys, flag, source)
    assert existing([seeded["mails"][3]]) == [seeded["mails"][3]]


# -- export -------------------------------------------------------------------------------------
def test_export_to_stdout_is_json_with_provenance_and_fact_sources(capsys, seeded) -> None:
    code, out, _ = run(capsys, "memory", "export")
    data = json.loads(out)
    assert code == 0 and data["format"] == "mneme-memories" and data["version"] == 1
    by_id = {item["id"]: item for item in data["memories"]}
    assert len(by_id) == total_memories()
    page = by_id[seeded["pages"][1]]
    assert page["provenance"]["path"] == seeded["doc"] and page["provenance"]["page"] == 2
    fact = by_id[seeded["paris"]]
    assert fact["status"] == "inbox" and fact["conflicts_with"] == seeded["berlin"]
    assert [s["source_ref"] for s in fact["sources"]] == [f"{seeded['doc']}#page=1"]
    assert [s["memory_id"] for s in fact["sources"]] == [seeded["pages"][0]]


def test_export_to_a_file_never_overwrites_without_force(capsys, seeded, tmp_path) -> None:
    target = tmp_path / "export.json"
    code, out, err = run(capsys, "memory", "export", "--out", str(target), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["path"] == str(target) and summary["bytes"] == target.stat().st_size
    assert summary["memories"] == len(json.loads(target.read_text())["memories"])
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600  # clear text: owner only
    target.write_text("my own notes")
    code, out, err = run(capsys, "memory", "export", "--out", str(target))
    assert_one_line_error(code, err, "already exists", "--force")
    assert target.read_text() == "my own notes" and out == ""
    code, out, _ = run(capsys, "memory", "export", "--out", str(target), "--force")
    assert code == 0 and "clear text" in out
    assert json.loads(target.read_text())["format"] == "mneme-memories"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "export.json", "mneme-home"]
    assert_one_line_error(
        *run(capsys, "memory", "export", "--out", str(tmp_path / "no" / "x.json"))[::2],
        "does not exist",
    )
    assert_one_line_error(*run(capsys, "memory", "export", "--out", str(tmp_path))[::2], "folder")


def test_a_failed_export_leaves_no_file(capsys, seeded, tmp_path, monkeypatch) -> None:
    def failing(self: MemoryApi) -> Iterator[str]:
        yield '{"format": "mneme-memories", "memories": ['
        raise MnemeError("The database is busy.")

    monkeypatch.setattr(MemoryApi, "export", failing)
    target = tmp_path / "out" / "export.json"
    target.parent.mkdir()
    assert_one_line_error(*run(capsys, "memory", "export", "--out", str(target))[::2], "busy")
    assert list(target.parent.iterdir()) == []


def test_export_help_says_clear_text(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["memory", "export", "--help"])
    assert "CLEAR TEXT" in capsys.readouterr().out


# -- health, inbox, accept, reject, timeline ----------------------------------------------------
def test_health_reports_issues_and_still_exits_0(capsys, seeded) -> None:
    code, out, _ = run(capsys, "memory", "health", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is False and report["inbox"] == 1
    assert report["contradictions"] == [
        {"candidate": seeded["paris"], "contradicts": seeded["berlin"]}
    ]
    assert {"duplicates", "stale_facts", "extraction_failed", "pool"} <= set(report)
    code, out, _ = run(capsys, "memory", "health")
    assert code == 0
    assert "contradictions: 1" in out and "The user lives in Paris" in out and "Berlin" in out
    assert "review inbox: 1 waiting" in out and "recall pool:" in out


def test_inbox_shows_the_contradicted_fact_beside_each_proposal(capsys, seeded) -> None:
    code, out, _ = run(capsys, "memory", "inbox", "--json")
    (item,) = json.loads(out)
    assert code == 0 and item["id"] == seeded["paris"] and item["status"] == "inbox"
    assert item["contradicts"]["id"] == seeded["berlin"]
    assert item["contradicts"]["text"] == "I live in Berlin"
    code, out, _ = run(capsys, "memory", "inbox")
    lines = out.splitlines()
    assert "The user lives in Paris" in lines[0]
    assert lines[1].strip().startswith(f"contradicts [{seeded['berlin']}] I live in Berlin")


def test_accept_supersedes_the_contradicted_fact_and_timeline_shows_it(capsys, seeded) -> None:
    berlin, paris = seeded["berlin"], seeded["paris"]
    assert_one_line_error(
        *run(capsys, "memory", "accept", str(berlin), "--text", "I live in Rome")[::2],
        "not waiting in the review inbox",
    )
    with Assistant() as assistant:  # not edited on the way to the error
        assert assistant.memory.get(berlin).status == "active"
        assert assistant.memory.search("Rome") == []
    code, out, _ = run(capsys, "memory", "accept", str(paris), "--json")
    accepted = json.loads(out)
    assert code == 0 and accepted["status"] == "active" and accepted["trust"] == "user-confirmed"
    code, out, _ = run(capsys, "memory", "timeline", str(paris), "--json")
    history = json.loads(out)
    assert [(m["id"], m["status"]) for m in history] == [
        (paris, "active"),
        (berlin, "superseded"),
    ]
    assert history[1]["valid_to"] is not None
    code, out, _ = run(capsys, "memory", "timeline", str(berlin))
    assert code == 0 and "until" in out.splitlines()[1] and "since" in out.splitlines()[0]
    assert_one_line_error(*run(capsys, "memory", "accept", "999")[::2], "no memory 999")
    assert_one_line_error(*run(capsys, "memory", "timeline", "999")[::2], "no memory 999")


def test_reject_deletes_the_proposal(capsys, seeded) -> None:
    code, out, _ = run(capsys, "memory", "reject", str(seeded["paris"]), "--json")
    assert code == 0 and json.loads(out) == {"rejected": seeded["paris"]}
    assert existing([seeded["paris"]]) == []
    assert run(capsys, "memory", "inbox")[1].strip() == "the review inbox is empty"
    assert_one_line_error(*run(capsys, "memory", "reject", str(seeded["paris"]))[::2], "no memory")
    assert_one_line_error(
        *run(capsys, "memory", "reject", str(seeded["berlin"]))[::2], "not waiting in the review"
    )


# -- extraction ---------------------------------------------------------------------------------
@pytest.fixture
def tiny_cli(capsys: pytest.CaptureFixture[str], tiny_model: Path, monkeypatch) -> Path:
    """The tiny model as the active model, for `mneme ask`, `chat` and `memory extract`.

    Recall is turned off: it loads the sentence encoder (many seconds on a small machine) and
    extraction does not need it. The tiny model's nonsense JSON may run to MAX_TOKENS (1536)
    three times over: it is bounded so these tests stay quick (cut-short output is a failed
    job, which the tests allow)."""
    assert run(capsys, "models", "add", str(tiny_model))[0] == 0
    with Assistant() as assistant:
        assistant.update_settings(memory_enabled=False)
    monkeypatch.setattr(extract, "MAX_TOKENS", 96)
    return tiny_model


def test_extract_without_a_model_is_the_model_commands_error(capsys) -> None:
    assert_one_line_error(
        *run(capsys, "memory", "extract")[::2], "No model is set up", "mneme models add"
    )


def test_extract_with_the_tiny_model_runs_the_queued_jobs(capsys, tiny_cli: Path) -> None:
    code, _, err = run(capsys, "ask", "--no-memory", "--max-tokens", "4", "I live in Berlin")
    assert code == 0, err
    status = json.loads(run(capsys, "memory", "status", "--json")[1])["extraction"]
    assert status["pending"] == 1 and status["done"] == 0  # --no-memory: not read yet
    code, out, _ = run(capsys, "memory", "extract", "--json")
    result = json.loads(out)
    assert code == 0 and result["jobs"] == 1 and result["done"] + result["failed"] == 1
    assert result["pending"] == 0 and result["attempts"] >= 1
    code, out, _ = run(capsys, "memory", "extract")
    assert code == 0 and out.strip() == "fact extraction: nothing to read; 0 still queued"
    status = json.loads(run(capsys, "memory", "status", "--json")[1])["extraction"]
    assert status["pending"] == 0 and status["done"] + status["failed"] == 1
    with Assistant() as assistant:
        assistant.update_settings(fact_extraction=False)
    assert_one_line_error(*run(capsys, "memory", "extract")[::2], "Fact extraction is off")


def test_ask_learns_facts_after_the_answer(capsys, tiny_cli: Path) -> None:
    code, out, err = run(capsys, "ask", "--json", "--max-tokens", "4", "My sister is Anna")
    reply = json.loads(out)
    assert code == 0 and reply["extraction"]["jobs"] == 1, err
    code, out, err = run(capsys, "ask", "--max-tokens", "4", "I work at a bakery")
    assert code == 0 and err == ""
    with Assistant() as assistant:
        (first, second) = assistant.conversations()[::-1][:2]
        stored = assistant.messages(second.id)[-1].content
        status = assistant.memory.extraction_status()
    assert first.id != second.id and out == stored + "\n"  # the answer and nothing else
    assert status["pending"] == 0 and status["done"] + status["failed"] == 2
    code, out, _ = run(capsys, "ask", "--json", "--model", str(tiny_cli), "--max-tokens", "2", "hi")
    assert json.loads(out)["extraction"]["skipped"].startswith("not the active model")


def test_a_failed_extraction_keeps_the_exit_code_and_shows_in_status(
    capsys, tiny_cli: Path, monkeypatch
) -> None:
    monkeypatch.setattr(extract, "MAX_TOKENS", 1)  # the model's JSON is cut short: invalid
    code, out, err = run(capsys, "ask", "--verbose", "--max-tokens", "3", "I live in Oslo")
    assert code == 0 and out.strip()
    assert "fact extraction: 1 job (0 done, 1 failed, 3 attempts)" in err
    code, out, _ = run(capsys, "memory", "status")
    assert "fact extraction: 0 pending, 0 done, 1 failed" in out and "last failure" in out
    assert json.loads(run(capsys, "memory", "health", "--json")[1])["extraction_failed"] == 1
    monkeypatch.setattr(extract, "MAX_TOKENS", 96)
    code, out, _ = run(capsys, "memory", "extract", "--retry-failed", "--json")
    assert code == 0 and json.loads(out)["jobs"] == 1


def test_chat_learns_after_each_reply(capsys, tiny_cli: Path, monkeypatch) -> None:
    lines = iter(["I live in Oslo", "My cat is Miso"])

    def typed(prompt: str = "") -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", typed)
    code, out, err = run(capsys, "chat", "--max-tokens", "3", "--verbose")
    assert code == 0 and out.count("mneme> ") == 2
    assert err.count("fact extraction: 1 job") == 2
    with Assistant() as assistant:
        status = assistant.memory.extraction_status()
    assert status["pending"] == 0 and status["done"] + status["failed"] == 2
