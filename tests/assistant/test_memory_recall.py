"""Encoder and recall with the real all-MiniLM-L6-v2 encoder (the pool's learned parts alone:
test_memory_pool_state.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from assistant import Assistant
from assistant.memory.encoder import BUNDLED_NAME, Encoder
from assistant.memory.pool import FEATURES, MemoryPool
from assistant.memory.recall import Recaller, _without_name
from assistant.memory.store import NewMemory
from assistant.memory.timeexpr import parse_time_range


@pytest.fixture
def assistant_with_memories() -> Iterator[Assistant]:
    with Assistant() as assistant:
        assistant.memory.add(
            [
                NewMemory(
                    "I adopted a grey cat called Miso",
                    occurred_at="2023-05-10T09:00:00",
                    session="a",
                    position=0,
                ),
                NewMemory(
                    "We talked about the weather",
                    occurred_at="2023-05-10T09:01:00",
                    session="a",
                    position=1,
                ),
                NewMemory(
                    "I ran a half marathon in Porto",
                    occurred_at="2022-10-02T08:00:00",
                    session="b",
                    position=0,
                ),
                NewMemory(
                    "My dentist appointment is on Friday",
                    occurred_at="2023-06-20T12:00:00",
                    session="c",
                    position=0,
                ),
                NewMemory(
                    "I started learning the cello",
                    occurred_at="2023-06-28T18:00:00",
                    session="c",
                    position=1,
                ),
            ]
        )
        yield assistant


def test_encoder_gives_normalised_vectors_that_capture_meaning() -> None:
    encoder = Encoder()
    vectors = encoder.encode(["a kitten sleeps", "a small cat is sleeping", "tax law reform"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_query_fast_path_agrees_with_the_model_and_caches_its_export(tmp_path: Path) -> None:
    import assistant.memory.encoder as encoder_module

    encoder_module._QUERY.pop(BUNDLED_NAME, None)  # export afresh into this test's folder
    encoder = Encoder(cache_dir=tmp_path)
    queries = ["When did Caroline go to the LGBTQ support group?", "ok", "tax " * 60]
    for query in queries:
        fast = encoder.encode_query(query)
        plain = encoder.encode([query])[0]
        assert fast.shape == (384,) and fast.dtype == np.float32
        assert np.abs(fast - plain).max() < 1e-4
    assert encoder_module._QUERY[BUNDLED_NAME] is not None  # the fast path was taken
    (exported,) = tmp_path.glob("query-encoder-*.onnx")
    # A damaged export is caught by the check on load and redone, never used.
    exported.write_bytes(b"not a model")
    encoder_module._QUERY.pop(BUNDLED_NAME)
    again = Encoder(cache_dir=tmp_path).encode_query(queries[0])
    assert encoder_module._QUERY[BUNDLED_NAME] is not None
    assert exported.stat().st_size > 1_000_000
    assert np.abs(again - encoder.encode([queries[0]])[0]).max() < 1e-4


def test_recall_finds_by_meaning_with_reasons(assistant_with_memories: Assistant) -> None:
    recalled = assistant_with_memories.memory.recall("What is the name of my pet?", 3)
    assert recalled[0].memory.text == "I adopted a grey cat called Miso"
    assert recalled[0].reasons and "similar meaning" in recalled[0].reasons[0]
    assert recalled[0].score > recalled[1].score


def test_recall_handles_time_expressions(assistant_with_memories: Assistant) -> None:
    memory = assistant_with_memories.memory
    recalled = memory.recall("What did I do in October 2022?", 2)
    assert recalled[0].memory.text == "I ran a half marathon in Porto"
    assert any("october 2022" in reason for reason in recalled[0].reasons)
    last_week = memory.recall("what did I start last week?", 1, as_of=date(2023, 7, 3))
    assert last_week[0].memory.text == "I started learning the cello"


def test_as_of_hides_memories_from_the_future(assistant_with_memories: Assistant) -> None:
    recalled = assistant_with_memories.memory.recall("cello", 5, as_of=date(2023, 6, 1))
    assert "I started learning the cello" not in [r.memory.text for r in recalled]


def test_new_memories_are_keyword_searchable_before_their_vectors_exist(
    assistant_with_memories: Assistant,
) -> None:
    memory = assistant_with_memories.memory
    memory.recall("warm up", 1)  # the pool is built
    memory.add([NewMemory("The spare key is under the blue flowerpot")])
    assert memory.status()["vectors_pending"] == 1
    assert [m.text for m in memory.search("flowerpot")] == [
        "The spare key is under the blue flowerpot"
    ]
    assert memory.recall("where is the spare key?", 1)[0].memory.text.startswith("The spare key")
    assert memory.status()["vectors_pending"] == 0


def test_pool_key_matrix_is_rebuilt_from_the_database(assistant_with_memories: Assistant) -> None:
    home = assistant_with_memories.paths.data_dir.parent
    assistant_with_memories.memory.recall("warm up", 1)
    assistant_with_memories.close()
    with Assistant(home) as again:
        pool = again.memory.sync()
        assert len(pool) == 5
        assert again.memory.status()["vectors_pending"] == 0  # nothing re-encoded
        assert pool.prev_row.tolist().count(-1) == 3  # three sessions


def test_capacity_evicts_low_value_memories_but_never_pinned_or_user_stated() -> None:
    with Assistant() as assistant:
        assistant.update_settings(pool_capacity=3)
        memory = assistant.memory
        memory.add(
            [
                NewMemory("assistant said something", trust="assistant"),
                NewMemory("imported line", trust="imported"),
                NewMemory("pinned assistant note", trust="assistant", pinned=True),
                NewMemory("user fact one", trust="user-stated"),
                NewMemory("user fact two", trust="user-stated"),
            ]
        )
        pool = memory.sync()
        kept = {m.text for m in memory.store.get_many(pool.rows.ids.tolist()).values()}
        assert "assistant said something" not in kept and "imported line" not in kept
        assert {"pinned assistant note", "user fact one", "user fact two"} <= kept


@given(text=st.text(max_size=200))
def test_time_parser_never_crashes_and_ranges_are_ordered(text: str) -> None:
    found = parse_time_range(text, date(2024, 2, 29))
    assert found is None or found.start < found.end


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("in May 2023", date(2023, 5, 1), date(2023, 6, 1)),
        ("on 8 May, 2023", date(2023, 5, 8), date(2023, 5, 9)),
        ("last week", date(2023, 6, 5), date(2023, 6, 12)),
        ("last year", date(2022, 1, 1), date(2023, 1, 1)),
        ("yesterday", date(2023, 6, 14), date(2023, 6, 15)),
        ("during 2021", date(2021, 1, 1), date(2022, 1, 1)),
    ],
)
def test_time_expressions(text: str, start: date, end: date) -> None:
    found = parse_time_range(text, date(2023, 6, 15))
    assert found is not None and (found.start, found.end) == (start, end)


@pytest.fixture
def speakers_assistant() -> Iterator[Assistant]:
    with Assistant() as assistant:
        turns = [
            ("Ann", 'Ann said, "I adopted a grey cat called Miso and she sleeps all day long"'),
            ("Bob", 'Bob said, "Nice"'),
            ("Ann", 'Ann said, "I took up the cello"'),
            ("Bob", 'Bob said, "My sister flew to Lisbon for a conference on marine biology"'),
        ]
        assistant.memory.add(
            [
                NewMemory(text, speaker=speaker, session="s", position=position)
                for position, (speaker, text) in enumerate(turns)
            ]
        )
        yield assistant


def recording_recaller(assistant: Assistant) -> tuple[Recaller, list[str]]:
    memory = assistant.memory
    encoded: list[str] = []

    def encode(query: str) -> np.ndarray:
        encoded.append(query)
        return memory._encode_query(query)

    return Recaller(memory.store, memory.sync(), encode), encoded


def test_a_query_naming_a_speaker_is_also_scored_without_the_name(
    speakers_assistant: Assistant,
) -> None:
    recaller, encoded = recording_recaller(speakers_assistant)
    pool = recaller.pool
    column = FEATURES.index("dense_unnamed")
    found = recaller.candidates("What is Ann's pet called?")
    assert encoded == ["What is Ann's pet called?", "What is pet called?"]
    # The feature is the text and window cosine z-scores of the query without the name.
    unnamed = torch.from_numpy(pool.adapt_array(recaller.encode_query("What is pet called?")))
    text, window = pool.similarities(found.rows, unnamed)
    text_mean, text_std, window_mean, window_std = pool.dense_statistics(unnamed)
    expected = (text - text_mean) / text_std + (window - window_mean) / window_std
    assert np.allclose(found.features[:, column].numpy(), expected, atol=1e-4)
    texts = {m.id: m.text for m in speakers_assistant.memory.browse()}
    best = found.ids[int(found.features[:, column].argmax())]
    assert "Miso" in texts[best]
    # No speaker named (or two of them): one encoding, and the feature is 0.
    for query in ("What is the pet called?", "Did Ann or Bob travel?"):
        encoded.clear()
        found = recaller.candidates(query)
        assert encoded == [query]
        assert not found.features[:, column].any()


def test_recall_skips_the_second_encoding_while_the_feature_is_silent(
    speakers_assistant: Assistant,
) -> None:
    recaller, encoded = recording_recaller(speakers_assistant)
    pool = recaller.pool
    query = "What is Ann's pet called?"
    assert pool.is_silent("dense_unnamed")  # untrained: weight 0, residual output 0
    every = recaller.candidates(query)
    # Skipping it changes no score: recall ranks exactly as with every feature computed.
    expected = [every.ids[i] for i in np.argsort(-pool.score_array(every.features.numpy()))[:3]]
    encoded.clear()
    recalled = recaller.recall(query, 3)
    assert encoded == [query]
    assert [r.memory.id for r in recalled] == expected
    # Once the feature has a say (a weight, or a path through a trained residual), recall
    # computes it.
    column = FEATURES.index("dense_unnamed")
    with torch.no_grad():
        pool.scorer.weight[0, column] = 0.5
    assert not pool.is_silent("dense_unnamed")
    encoded.clear()
    recaller.recall(query, 3)
    assert encoded == [query, "What is pet called?"]
    with torch.no_grad():
        pool.scorer.weight[0, column] = 0.0
        pool.residual[2].weight.fill_(0.1)
    assert not pool.is_silent("dense_unnamed")
    with torch.no_grad():
        pool.residual[0].weight[:, column] = 0.0
    assert pool.is_silent("dense_unnamed")


@pytest.mark.parametrize(
    ("query", "stripped"),
    [
        ("What did Ann research?", "What did research?"),
        ("What is ann's job?", "What is job?"),
        ("What is Ann’s job?", "What is job?"),
        ("When did Annabel meet Ann", "When did Annabel meet"),
    ],
)
def test_the_name_and_its_possessive_are_taken_out(query: str, stripped: str) -> None:
    assert _without_name(query, "ann") == stripped


def test_length_is_the_log_word_count_z_scored_over_the_pool(
    speakers_assistant: Assistant,
) -> None:
    memory = speakers_assistant.memory
    pool = memory.sync()
    texts = {m.id: m.text for m in memory.browse()}
    words = np.log1p([len(texts[int(i)].split()) for i in pool.rows.ids])
    assert np.allclose(pool.length_z, (words - words.mean()) / words.std(), atol=1e-5)
    recaller, _ = recording_recaller(speakers_assistant)
    column = FEATURES.index("length")
    found = recaller.candidates("cat cello sister")
    by_id = dict(zip(found.ids, found.features[:, column].tolist(), strict=True))
    longest = max(by_id, key=lambda i: len(texts[i].split()))
    shortest = min(by_id, key=lambda i: len(texts[i].split()))
    assert by_id[longest] > 0 > by_id[shortest]
    # A memory whose vectors are not computed yet gets its length from its text.
    (new_id,) = memory.store.add_many([NewMemory("Bob said, the spare key is under the pot")])
    found = recaller.candidates("spare key")
    assert found.rows[found.ids.index(new_id)] == -1
    assert found.features[found.ids.index(new_id), column] == pytest.approx(
        (np.log1p(9) - words.mean()) / words.std(), abs=1e-5
    )
    # A pool loaded without word counts has no length signal.
    bare = MemoryPool(4)
    bare.load_rows(
        [1, 2],
        ["s", "s"],
        ["", ""],
        ["imported"] * 2,
        [False] * 2,
        [0, 0],
        np.eye(4, dtype=np.float32)[:2],
        np.eye(4, dtype=np.float32)[:2],
    )
    assert not bare.length_z.any()


def test_recall_runs_blas_on_one_thread_and_restores_it(
    assistant_with_memories: Assistant,
) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> dict[str, int]:
        return {
            p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
        }

    memory = assistant_with_memories.memory
    memory._encode_query("load the encoder first")  # it may load another BLAS library
    seen: list[dict[str, int]] = []

    def encode(query: str) -> np.ndarray:
        seen.append(blas_threads())
        return memory._encode_query(query)

    with threadpool_limits(limits=2, user_api="blas"):  # two, even on a one-core machine
        before = blas_threads()
        assert before and set(before.values()) == {2}  # numpy's OpenBLAS at least
        recalled = Recaller(memory.store, memory.sync(), encode).recall("my cat", 3)
        assert "Miso" in recalled[0].memory.text
        assert seen and all(threads == dict.fromkeys(before, 1) for threads in seen)
        assert blas_threads() == before


def test_doctor_reports_whether_recall_can_limit_blas(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadpoolctl import threadpool_info

    from assistant.memory import blas_threads

    report = blas_threads.blas_limit_report()
    loaded = {p["version"] for p in threadpool_info() if p["user_api"] == "blas"}
    assert report["works"] is True
    assert {lib["version"] for lib in report["libraries"]} == loaded
    # Nothing limited afterwards: the libraries keep their own thread counts.
    assert {
        p["version"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
    } == {lib["version"]: lib["threads"] for lib in report["libraries"]}
    monkeypatch.setattr(blas_threads, "_new_controller", lambda: None)  # threadpoolctl missing
    assert blas_threads.blas_limit_report() == {
        "works": False,
        "libraries": [],
        "note": "threadpoolctl is not installed",
    }


def test_a_memory_not_in_the_pool_yet_gets_the_features_it_will_have_there(
    speakers_assistant: Assistant,
) -> None:
    """Recall reads a pooled memory's facts from the pool's arrays and a new one's from the
    database: both readings must agree (time, speaker, session, trust, pin, access). Its length
    feature is checked in test_length_is_the_log_word_count_z_scored_over_the_pool (the pool's
    statistics change when it joins)."""
    memory = speakers_assistant.memory
    recaller, _ = recording_recaller(speakers_assistant)
    (new_id,) = memory.add(
        [
            NewMemory(
                "Bob said, the spare key is under the blue flowerpot",
                speaker="Bob",
                session="s",
                position=4,
                occurred_at="2023-05-10T09:00:00",
                trust="imported",
                pinned=True,
            )
        ]
    )
    query = "What did Bob say about the spare key in May 2023?"
    as_of = date.today()  # the other turns were stored today
    before = recaller.candidates(query, as_of)
    at = before.ids.index(new_id)
    assert before.rows[at] == -1
    columns = [
        FEATURES.index(name)
        for name in ("time_match", "speaker", "recency", "trust", "pinned", "access")
    ]
    expected = before.features[at, columns].tolist()
    assert expected[:2] == [1.0, 1.0]  # inside May 2023, and Bob's
    assert expected[2] == pytest.approx(np.exp(-(as_of - date(2023, 5, 10)).days / 365), abs=1e-6)
    assert expected[3:5] == [pytest.approx(0.5), 1.0]  # imported, pinned
    # Its session's best base score, as the pooled turns of that session get.
    session = FEATURES.index("session")
    pooled = [i for i, row in enumerate(before.rows.tolist()) if row >= 0]
    assert pooled and before.features[at, session] == before.features[pooled[0], session] != 0

    recaller, _ = recording_recaller(speakers_assistant)  # the pool now has its vectors
    after = recaller.candidates(query, as_of)
    at = after.ids.index(new_id)
    assert after.rows[at] >= 0
    assert after.features[at, columns].tolist() == pytest.approx(expected, abs=1e-5)
    # `as_of` before the memory's day hides it, in the pool or not.
    assert new_id not in recaller.candidates(query, date(2023, 5, 9)).ids
