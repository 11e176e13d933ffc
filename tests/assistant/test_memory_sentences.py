"""Sentence vectors: a memory's sentences each get a vector, and recall's "dense_sentence" feature is
the best of their cosines (real encoder, real encrypted database)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from assistant import Assistant
from assistant.memory.pool import FEATURES
from assistant.memory.recall import Recaller
from assistant.memory.sentences import MAX_PIECES, MIN_PIECE, pack, split_pieces, unpack
from assistant.memory.store import NewMemory

LONG = (
    "We spent the whole weekend repainting the kitchen cupboards in a soft sage green. "
    "The hardware store had run out of the brushes we wanted, so we used rollers instead. "
    "My grandmother's recipe for plum dumplings finally worked on the third attempt! "
    "Next month we want to start on the bathroom tiles, if the budget allows it."
)
SHORT = "I bought a new umbrella because the old one broke in the storm"


def test_sentences_split_at_their_ends_and_short_ones_join_their_neighbour() -> None:
    pieces = split_pieces(LONG)
    assert len(pieces) == 4
    assert (
        pieces[2]
        == "My grandmother's recipe for plum dumplings finally worked on the third attempt!"
    )
    # "Wow! Great." is too short to stand alone: it joins the sentence after it.
    text = (
        'Wow! Great. "I finished the marathon in under four hours," she said. And then we ate cake.'
    )
    assert split_pieces(text) == [
        'Wow! Great. "I finished the marathon in under four hours," she said. And then we ate cake.'
    ]
    joined = split_pieces(f"Wow! {LONG}")
    assert joined[0].startswith("Wow! We spent the whole weekend") and len(joined) == 4
    assert split_pieces(SHORT) == [SHORT]
    assert split_pieces("   ") == []
    many = " ".join(
        f"This is sentence number {i} of a very long document chunk here." for i in range(40)
    )
    assert len(split_pieces(many)) == MAX_PIECES


@given(st.text(alphabet=st.sampled_from(list("ab .!?\"'\n")), max_size=600))
def test_splitting_keeps_every_word_in_order(text: str) -> None:
    pieces = split_pieces(text)
    assert " ".join(pieces).split() == text.split()
    assert len(pieces) <= MAX_PIECES
    if len(pieces) > 1:
        assert all(len(piece) >= MIN_PIECE for piece in pieces)


def test_packed_vectors_come_back_within_half_precision() -> None:
    vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    back = unpack(pack(vectors), 8)
    assert back.dtype == np.float32 and back.shape == (3, 8)
    assert np.allclose(back, vectors, atol=1e-3)
    assert unpack(b"", 8).shape == (0, 8)
    assert unpack(pack(vectors), 5).shape == (0, 5)  # another encoder's size: ignored


@pytest.fixture
def opened() -> Iterator[Assistant]:
    with Assistant() as assistant:
        ids = assistant.memory.add(
            [
                NewMemory(LONG, session="s", position=0, speaker="Ann"),
                NewMemory(SHORT, session="s", position=1, speaker="Bob"),
            ]
        )
        assistant.memory.sync()
        assistant.ids = ids  # type: ignore[attr-defined]
        yield assistant


def blobs(assistant: Assistant) -> dict[int, bytes]:
    with assistant.memory._database().read() as db:
        rows = db.execute(
            "SELECT memory_id, vector FROM memory_vectors WHERE variant = 'sentences'"
        ).fetchall()
    return {int(memory_id): bytes(blob) for memory_id, blob in rows}


def test_each_sentence_is_encoded_and_a_one_sentence_memory_stores_none(
    opened: Assistant,
) -> None:
    long_id, short_id = opened.ids  # type: ignore[attr-defined]
    stored = blobs(opened)
    encoder = opened.memory.encoder
    assert stored[short_id] == b""  # one sentence: its text vector stands for it
    vectors = unpack(stored[long_id], encoder.dim)
    expected = encoder.encode(split_pieces(LONG))
    assert vectors.shape == (4, encoder.dim)
    assert np.allclose(vectors, expected, atol=2e-3)
    assert opened.memory.pending_vectors() == 0

    # A memory whose sentences are missing (a database from before them) is pending, and the
    # next fill encodes them.
    with opened.memory._database().write() as db:
        db.execute("DELETE FROM memory_vectors WHERE variant = 'sentences'")
    assert opened.memory.pending_vectors() == 2
    assert opened.memory.fill_vectors() == 2
    again = blobs(opened)
    assert again[short_id] == b""
    assert np.allclose(unpack(again[long_id], encoder.dim), vectors, atol=2e-3)


def test_dense_sentence_is_the_best_sentence_cosine_z_scored_like_the_text(
    opened: Assistant,
) -> None:
    long_id, short_id = opened.ids  # type: ignore[attr-defined]
    memory = opened.memory
    pool = memory.sync()
    recaller = Recaller(memory.store, pool, memory._encode_query)
    query = "How did the plum dumplings from grandma's recipe turn out?"
    found = recaller.candidates(query)
    adapted = torch.from_numpy(pool.adapt_array(memory._encode_query(query)))
    text_mean, text_std, _, _ = pool.dense_statistics(adapted)
    column = FEATURES.index("dense_sentence")
    dense = FEATURES.index("dense")
    pieces = memory.encoder.encode(split_pieces(LONG)) @ adapted.numpy()
    long_at, short_at = found.ids.index(long_id), found.ids.index(short_id)
    text_cosine = float(found.features[long_at, dense]) * text_std + text_mean
    best = max(float(pieces.max()), text_cosine)
    assert best > text_cosine + 0.05  # the dumpling sentence matches better than the whole turn
    assert float(found.features[long_at, column]) == pytest.approx(
        (best - text_mean) / text_std, abs=5e-3
    )
    # One sentence: the feature is its text's cosine, on the same scale.
    assert float(found.features[short_at, column]) == pytest.approx(
        float(found.features[short_at, dense]), abs=1e-4
    )
    # It counts in recall's reasons when it is what made the memory rank.
    (top,) = memory.recall(query, 1)
    assert top.memory.id == long_id
    assert any(reason.startswith("a sentence of it matches") for reason in top.reasons)


def test_forgetting_a_memory_deletes_its_sentence_vectors(opened: Assistant) -> None:
    long_id, _ = opened.ids  # type: ignore[attr-defined]
    assert long_id in blobs(opened)
    opened.memory.forget(long_id)
    assert long_id not in blobs(opened)


def test_recall_scores_the_sentences_of_its_best_candidates_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recall reads sentence vectors for the SENTENCE_RERANK best candidates (by the other
    features); the rest keep the floor, their whole text's cosine. Training takes them all."""
    import assistant.memory.recall as recall_module

    second = (
        "The plumber came on Tuesday to look at the leaking pipe under the sink, and it took him "
        "the whole afternoon. Later that evening I cooked plum dumplings from grandma's recipe "
        "and they turned out great."
    )
    others = [
        "I bought a new umbrella because the old one broke in the storm",
        "Our team meeting moved to Thursday mornings",
        "The car needs new winter tyres before December",
        "My sister is learning to play the violin",
    ]
    with Assistant() as assistant:
        ids = assistant.memory.add([NewMemory(LONG), NewMemory(second)])
        assistant.memory.add([NewMemory(text) for text in others])
        memory = assistant.memory
        recaller = Recaller(memory.store, memory.sync(), memory._encode_query)
        query = "How did the plum dumplings from grandma's recipe turn out?"
        column, dense = FEATURES.index("dense_sentence"), FEATURES.index("dense")
        exact = recaller.candidates(query)
        assert all(
            exact.features[exact.ids.index(i), column] > exact.features[exact.ids.index(i), dense]
            for i in ids
        )
        monkeypatch.setattr(recall_module, "SENTENCE_RERANK", 1)
        quick = recaller.candidates(query, every_feature=False)
        scores = memory.sync().score_array(quick.features.numpy())
        first = quick.ids[int(np.argmax(scores))]
        assert first in ids
        for memory_id in ids:
            at, exact_at = quick.ids.index(memory_id), exact.ids.index(memory_id)
            if memory_id == first:
                assert quick.features[at, column] == pytest.approx(exact.features[exact_at, column])
            else:
                assert quick.features[at, column] == pytest.approx(quick.features[at, dense])
