"""`mneme bench locomo` on a small file in LoCoMo's format (the real data is never shipped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.bench.locomo import evidence_recall, ndcg, parse_session_time, reciprocal_rank
from assistant.cli import main

SESSIONS = {
    "conv-a": [
        ("Ann", "I adopted a cat named Pixel last week."),
        ("Bob", "Cute! I started pottery classes."),
        ("Ann", "My new job at the library starts Monday."),
        ("Bob", "I am training for a marathon in Porto."),
    ],
    "conv-b": [
        ("Cy", "We moved to a flat near the river."),
        ("Di", "I bought a red bicycle."),
        ("Cy", "My brother visits in June."),
        ("Di", "I am learning to bake sourdough bread."),
    ],
}


def sample(sample_id: str) -> dict:
    turns = SESSIONS[sample_id]
    speakers = sorted({s for s, _ in turns})
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": speakers[0],
            "speaker_b": speakers[1],
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": s, "dia_id": f"D1:{i + 1}", "text": t}
                for i, (s, t) in enumerate(turns[:2])
            ],
            "session_2_date_time": "10:00 am on 20 June, 2023",
            "session_2": [
                {"speaker": s, "dia_id": f"D2:{i + 1}", "text": t, "blip_caption": "a photo"}
                for i, (s, t) in enumerate(turns[2:])
            ],
        },
        "qa": [
            {
                "question": f"What did {turns[0][0]} say first?",
                "answer": "x",
                "evidence": ["D1:1"],
                "category": 4,
            },
            {
                "question": "Who is training or learning something?",
                "answer": "y",
                "evidence": ["D2:2", "D1:2"],
                "category": 1,
            },
            {
                "question": "When did it happen in June 2023?",
                "answer": "z",
                "evidence": ["D2:1"],
                "category": 2,
            },
            {
                "question": "Something unanswerable?",
                "adversarial_answer": "n",
                "evidence": [],
                "category": 5,
            },
        ],
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "mini_locomo.json"
    path.write_text(json.dumps([sample("conv-a"), sample("conv-b")]))
    return path


def test_metrics_follow_the_dataset_definition() -> None:
    ranked = ["D1:1", "D1:2", "D1:3"]
    assert evidence_recall(ranked, ["D1:2", "D9:9"], 2) == 0.5
    assert evidence_recall(ranked, [], 5) == 1.0  # no evidence counts as found
    assert reciprocal_rank(ranked, ["D1:3"]) == pytest.approx(1 / 3)
    assert ndcg(ranked, ["D1:1"]) == 1.0
    assert parse_session_time("1:56 pm on 8 May, 2023").isoformat() == "2023-05-08T13:56:00"


def test_bench_prints_a_table_and_the_json_figures(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "result.json"
    assert main(["bench", "locomo", "--data", str(data), "--json", str(out_file)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert json.loads(out_file.read_text()) == result
    for key in (
        "recall@5",
        "recall@10",
        "recall@25",
        "mrr",
        "ndcg@10",
        "n_questions",
        "latency_ms",
        "learned",
    ):
        assert key in result
    assert set(result["by_category"]) == {
        "single-hop",
        "multi-hop",
        "temporal",
        "open-domain",
        "adversarial",
    }
    assert result["n_questions"] == 8 and result["learned"] is False
    assert result["recall@25"] == 100.0  # every turn of these tiny conversations is in the top 25
    assert result["by_category"]["adversarial"]["recall@5"] == 100.0
    assert any(line.startswith("all") for line in lines)


def test_training_never_sees_an_evaluated_conversation(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "locomo", "--data", str(data), "--train-on", "conv-a"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["learned"] is True
    assert result["conversations"] == ["conv-b"] and result["trained_on"] == ["conv-a"]
    assert result["n_questions"] == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "Cannot read LoCoMo data"), ('{"a": 1}', "not a LoCoMo file")],
)
def test_bad_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["bench", "locomo", "--data", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_unknown_or_exhausted_conversation_ids(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "locomo", "--data", str(data), "--conversations", "conv-z"]) == 1
    assert "Unknown conversation id" in capsys.readouterr().err
    args = [
        "bench",
        "locomo",
        "--data",
        str(data),
        "--conversations",
        "conv-a",
        "--train-on",
        "conv-a",
    ]
    assert main(args) == 1
    assert "No conversation is left" in capsys.readouterr().err
