"""Learning from signals: bounded, seeded, resettable, and forgetting removes signals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from assistant import Assistant
from assistant.memory.learn import Signal, load_signals
from assistant.memory.pool import DEFAULT_WEIGHTS, FEATURES
from assistant.memory.store import NewMemory

NOTES = [
    "The boiler was serviced by Heatwise in March",
    "Heatwise is a heating company in Leeds",
    "The boiler makes a clicking noise at night",
    "I bought a new kettle",
    "Grandma's recipe uses two eggs",
]


@pytest.fixture
def memory_assistant() -> Iterator[Assistant]:
    with Assistant() as assistant:
        assistant.memory.add([NewMemory(text) for text in NOTES])
        yield assistant


def ids(assistant: Assistant) -> dict[str, int]:
    return {m.text: m.id for m in assistant.memory.browse()}


def rank_of(assistant: Assistant, query: str, text: str) -> int:
    recalled = assistant.memory.recall(query, 5, touch=False)
    return [r.memory.text for r in recalled].index(text)


def test_signals_train_recall_towards_confirmed_memories(memory_assistant: Assistant) -> None:
    memory = memory_assistant.memory
    known = ids(memory_assistant)
    target = "The boiler was serviced by Heatwise in March"
    query = "who fixed the heating?"
    before = rank_of(memory_assistant, query, target)
    signals = [
        Signal(
            "evidence",
            q,
            {known[target]: 1.0, known["The boiler makes a clicking noise at night"]: -1.0},
        )
        for q in (query, "which company looked after the boiler?", "heating repair firm")
    ]
    assert memory.record_signals(signals) == 3
    report = memory.retrain(seed=1)
    assert report.examples == 3 and 0 < report.steps <= 800
    assert report.loss_after < report.loss_before
    assert rank_of(memory_assistant, query, target) <= before
    assert memory.status()["learned_at"] is not None


def test_training_is_seeded_and_resettable(memory_assistant: Assistant) -> None:
    memory = memory_assistant.memory
    known = ids(memory_assistant)
    memory.record_signals([Signal("feedback", "kettle", {known["I bought a new kettle"]: 1.0})])
    first_report = memory.retrain(seed=3)
    first = memory.sync().learned_state()
    weights = dict(memory.sync().feature_weights())
    assert memory.retrain(seed=3).steps == first_report.steps
    assert torch.equal(
        memory.sync().adapter.weight,
        torch.load(__import__("io").BytesIO(first))["adapter"]["weight"],
    )
    assert memory.sync().feature_weights() == pytest.approx(weights)
    memory.reset_learning()
    assert memory.sync().feature_weights() == pytest.approx(DEFAULT_WEIGHTS)
    assert memory.status()["learned_at"] is None
    assert memory.status()["signals"] == 1  # the signals stay for retraining


def test_learned_weights_survive_a_restart(memory_assistant: Assistant) -> None:
    memory = memory_assistant.memory
    known = ids(memory_assistant)
    memory.record_signals(
        [Signal("evidence", "eggs", {known["Grandma's recipe uses two eggs"]: 1.0})]
    )
    memory.retrain()
    weights = memory.sync().feature_weights()
    home = memory_assistant.paths.data_dir.parent
    memory_assistant.close()
    with Assistant(home) as again:
        assert again.memory.sync().feature_weights() == pytest.approx(weights)


def test_forgetting_a_memory_deletes_the_signals_that_mention_it(
    memory_assistant: Assistant,
) -> None:
    memory = memory_assistant.memory
    known = ids(memory_assistant)
    memory.record_signals(
        [
            Signal("evidence", "kettle", {known["I bought a new kettle"]: 1.0}),
            Signal("evidence", "eggs", {known["Grandma's recipe uses two eggs"]: 1.0}),
        ]
    )
    memory.forget(known["I bought a new kettle"])
    assert [s.query for s in load_signals(memory_assistant._database)] == ["eggs"]  # type: ignore[arg-type]
    assert "I bought a new kettle" not in [m.text for m in memory.search("kettle")]


def test_training_learns_the_new_features_weights() -> None:
    """When the confirmed memories are the long turns, the "length" weight rises from 0 for
    those queries."""
    long_turns = [
        "I finally finished restoring the old wooden sailing boat my grandfather left me",
        "We drove all the way up the coast to watch the whales near the lighthouse",
        "My daughter won the regional chess tournament after three very long games",
        "The community garden harvested so many tomatoes that we made sauce for everyone",
    ]
    short_turns = ["Wow, a boat!", "Whales, nice", "Chess, great", "Tomatoes!"]
    with Assistant() as assistant:
        memory = assistant.memory
        memory.add(
            [
                NewMemory(text, speaker=speaker, session="s", position=position)
                for position, (speaker, text) in enumerate(
                    pair
                    for turns in zip(long_turns, short_turns, strict=True)
                    for pair in zip(("Ann", "Bob"), turns, strict=True)
                )
            ]
        )
        known = ids(assistant)
        queries = [
            f"What did Ann say about {q}?" for q in ("the boat", "whales", "chess", "tomatoes")
        ]
        memory.record_signals(
            [
                Signal("evidence", query, {known[text]: 1.0})
                for query, text in zip(queries, long_turns, strict=True)
            ]
        )
        encoded = [memory.encoder.encode_query(query) for query in queries]
        length = FEATURES.index("length")
        # The weight each of these queries gives it: the scorer's, shifted by the gate.
        assert [memory.sync().weights_array(vector)[length] for vector in encoded] == [0.0] * 4
        memory.retrain(seed=0)
        assert all(memory.sync().weights_array(vector)[length] > 0.02 for vector in encoded)


def test_training_keeps_the_average_of_the_later_steps() -> None:
    """The weights kept are the mean over the averaging window, not the last step's."""
    from assistant.memory.learn import _Average

    parameter = torch.nn.Parameter(torch.zeros(2, 2))
    average = _Average([parameter])
    for value in (1.0, 2.0, 6.0):
        with torch.no_grad():
            parameter.fill_(value)
        average.add([parameter])
    average.apply([parameter])
    assert torch.equal(parameter, torch.full((2, 2), 3.0))


def test_averaging_changes_what_training_keeps(memory_assistant: Assistant) -> None:
    """Trained with the same seed, the averaged weights differ from the last step's (averaging
    from the end, 1.0, keeps the last step) and both still rank the confirmed memory first."""
    from assistant.memory.learn import train
    from assistant.memory.recall import Recaller

    memory = memory_assistant.memory
    known = ids(memory_assistant)
    target = known["The boiler was serviced by Heatwise in March"]
    signals = [Signal("evidence", q, {target: 1.0}) for q in ("heating firm", "boiler service")]
    states = []
    for average_from in (1.0, 0.25):
        pool = memory.sync()
        pool.reset_learning()
        recaller = Recaller(memory.store, pool, memory._encode_query)
        report = train(pool, [(recaller, signals)], steps=40, seed=5, average_from=average_from)
        assert report.steps == 40 and report.loss_after < report.loss_before
        states.append(pool.scorer.weight.detach().clone())
        assert memory.recall("heating firm", 1, touch=False)[0].memory.id == target
    assert not torch.allclose(states[0], states[1])


def test_the_scorer_learns_only_from_positives_recall_retrieved(
    memory_assistant: Assistant,
) -> None:
    """A positive that recall's lists did not find is still a candidate in training (the adapter
    pulls the query towards it), but not in the scorer's target: recall could not rank it."""
    from assistant.memory.learn import _examples
    from assistant.memory.recall import Recaller

    memory = memory_assistant.memory
    known = ids(memory_assistant)
    recaller = Recaller(
        memory.store, memory.sync(), memory.encoder.encode_query, candidates_per_list=1
    )
    near = known["The boiler makes a clicking noise at night"]  # both words: the best BM25
    far = known["Grandma's recipe uses two eggs"]
    [example] = _examples(recaller, [Signal("evidence", "boiler noise", {near: 1.0, far: 1.0})])
    found = example.candidates
    assert found.retrieved[found.ids.index(near)] and not found.retrieved[found.ids.index(far)]
    assert example.target[found.ids.index(far)] == pytest.approx(0.5)
    assert example.ranked[found.ids.index(far)] == 0.0
    assert example.ranked[found.ids.index(near)] == pytest.approx(1.0)
