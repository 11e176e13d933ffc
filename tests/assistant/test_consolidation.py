"""Consolidation: facts trained into a LoRA adapter, checked, hot-swapped, rolled back, forgotten.

Everything runs the real pieces on the tiny model: transformers + peft train on the dequantized
GGUF, the adapter is exported to GGUF bytes and loaded by llama.cpp, and log-likelihoods are read
from llama.cpp's logits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant
from assistant.engine.base import ChatMessage
from assistant.errors import ConsolidationRefused
from assistant.memory import lora
from assistant.memory.adapter_store import AdapterStore, NewAdapter
from assistant.memory.consolidate import Consolidator, mean_per_token
from assistant.memory.fact_questions import questions_for
from assistant.memory.lora_export import adapter_gguf, gguf_bytes, llama_tensors

FACTS = ["I live in Lisbon", "My sister is called Nina", "I work at the museum"]


@pytest.fixture(scope="module")
def speaking_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model trained on the phrasing of answers (assistant.testing.pretrained_model):
    on a random model every English answer gains from any training, forgotten facts too."""
    from assistant.app import _system_prompt
    from assistant.testing.pretrained_model import write_pretrained_tiny_model

    return write_pretrained_tiny_model(
        tmp_path_factory.mktemp("models") / "speaking.gguf",
        system_prompt=_system_prompt(),
        exchanges=150,
        epochs=2,
    )


@pytest.fixture
def speaking(speaking_model: Path) -> Iterator[Assistant]:
    instance = Assistant()
    instance.models.add_file(speaking_model)
    instance.update_settings(n_ctx=2048, max_tokens=16, temperature=0.0, seed=7)
    yield instance
    instance.close()


def _loglik(assistant: Assistant, text: str) -> float:
    """Per-token log-likelihood of the fact's canonical answer, read from the chat engine."""
    pair = questions_for(text)[0]
    assistant.load_model()
    engine = assistant._engine
    messages = [
        ChatMessage("system", assistant._system_message_text()),
        ChatMessage("user", pair.question),
    ]
    return mean_per_token([engine.continuation_logprob(messages, pair.answer)])


def _remember(assistant: Assistant, texts: list[str]) -> list[int]:
    return [assistant.memory.remember(text, pinned=True).id for text in texts]


# -- export correctness ------------------------------------------------------------------------


def _tiny_lora(tiny_model: Path) -> tuple[object, lora.LoraWeights]:
    import torch

    model = lora.load_base(tiny_model)
    settings = lora.TrainingSettings(epochs=1)
    example = lora.Example(tuple(range(5, 40)), 20)
    peft_model, _ = lora.train(model, [example], [], settings)
    # One step leaves B small; give every pair a clear, seeded effect to compare.
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return peft_model, lora.lora_weights(peft_model, settings)


def _llama_logits(tiny_model: Path, data: bytes | None, tokens: list[int]) -> np.ndarray:
    import llama_cpp

    from assistant.engine.adapters import apply_adapter, free_adapter, load_adapter

    # F32 KV cache: the default F16 cache alone differs from PyTorch by ~1e-2 on this model.
    llm = llama_cpp.Llama(
        str(tiny_model), n_ctx=256, logits_all=True, verbose=False, type_k=0, type_v=0
    )
    adapter = None
    try:
        if data is not None:
            adapter = load_adapter(llm, data)
            apply_adapter(llm, adapter)
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)])
    finally:
        if adapter is not None:
            apply_adapter(llm, None)
            free_adapter(adapter)
        llm.close()


def test_exported_adapter_matches_pytorch_logits(tiny_model: Path) -> None:
    import torch

    peft_model, weights = _tiny_lora(tiny_model)
    tokens = [1, *range(300, 340)]
    with torch.no_grad():
        expected = peft_model(torch.tensor([tokens])).logits[0].numpy()
        with peft_model.disable_adapter():
            base = peft_model(torch.tensor([tokens])).logits[0].numpy()
    data = adapter_gguf(weights, architecture="llama", n_head=4, n_head_kv=2)
    got = _llama_logits(tiny_model, data, tokens)
    assert np.abs(expected - base).max() > 1.0  # the adapter really changes the logits
    assert np.abs(got - expected).max() < 1e-2
    # Without the q/k row permutation llama.cpp computes something else.
    unpermuted = gguf_bytes(
        llama_tensors(weights, n_head=4, n_head_kv=2, permute=False),
        {
            "general.architecture": "llama",
            "general.type": "adapter",
            "adapter.type": "lora",
            "adapter.lora.alpha": weights.alpha,
        },
    )
    wrong = _llama_logits(tiny_model, unpermuted, tokens)
    assert np.abs(wrong - expected).max() > 0.1


def test_training_is_a_pure_function_of_examples_seed_and_model(tiny_model: Path) -> None:
    examples = [lora.Example(tuple(range(5, 30)), 15), lora.Example(tuple(range(40, 70)), 20)]
    replay = [list(range(100, 120))]
    settings = lora.TrainingSettings(epochs=2, seed=5)
    first = lora.train(lora.load_base(tiny_model), examples, replay, settings)[1]
    second = lora.train(lora.load_base(tiny_model), examples, replay, settings)[1]
    other = lora.train(
        lora.load_base(tiny_model), examples, replay, lora.TrainingSettings(epochs=2, seed=6)
    )[1]
    assert adapter_gguf(first, architecture="llama", n_head=4, n_head_kv=2) == adapter_gguf(
        second, architecture="llama", n_head=4, n_head_kv=2
    )
    assert adapter_gguf(first, architecture="llama", n_head=4, n_head_kv=2) != adapter_gguf(
        other, architecture="llama", n_head=4, n_head_kv=2
    )


# -- the whole cycle through the Assistant -----------------------------------------------------


def test_consolidate_hot_swap_off_switch_rollback_and_forget(
    speaking: Assistant, mneme_home: Path
) -> None:
    assistant = speaking
    ids = _remember(assistant, FACTS)
    assistant.set_adapter_enabled(False)
    base = {text: _loglik(assistant, text) for text in FACTS}
    assistant.set_adapter_enabled(True)

    seen: list[str] = []
    first = assistant.consolidate(progress=lambda p: seen.append(p.phase))
    assert first.status == "active" and first.facts == 3 and first.reason is None
    assert {"snapshot", "training", "checking", "done"} <= set(seen)
    assert [f.memory_id for f in assistant.adapter_facts()] == ids
    # Nothing of the adapter reached a plain file.
    assert not [p for p in mneme_home.rglob("*") if p.is_file() and p.suffix == ".gguf"]

    # Hot swap: the next model use applies it; llama.cpp's likelihood of each answer rises.
    after = {text: _loglik(assistant, text) for text in FACTS}
    assert assistant._engine.adapter_in_use
    gains = [after[text] - base[text] for text in FACTS]
    assert min(gains) > 0.3, gains
    assert first.fact_gain is not None and first.fact_gain > 0.3

    # Off switch: the base model's numbers exactly (the KV cache was cleared, not reused).
    assistant.set_adapter_enabled(False)
    assert _loglik(assistant, FACTS[0]) == pytest.approx(base[FACTS[0]], abs=1e-6)
    assert not assistant._engine.adapter_in_use
    assert not assistant.consolidation_status().enabled
    assistant.set_adapter_enabled(True)
    assert _loglik(assistant, FACTS[0]) == pytest.approx(after[FACTS[0]], abs=1e-6)

    # A second version, then roll back to the first.
    assistant.memory.remember("My dog is called Omar", pinned=True)
    second = assistant.consolidate()
    assert second.status == "active" and second.facts == 4
    assert [v.status for v in assistant.adapter_versions()] == ["active", "inactive"]
    assistant.use_adapter(first.id)
    assert assistant.consolidation_status().active.id == first.id  # type: ignore[union-attr]
    assert _loglik(assistant, FACTS[0]) == pytest.approx(after[FACTS[0]], abs=1e-6)

    # Forget a fact: every version trained on it goes, the adapter is off until a rebuild.
    assistant.memory.forget_completely([ids[0]])
    status = assistant.consolidation_status()
    assert status.rebuild_pending and status.active is None
    assert assistant.adapter_versions() == []
    assert _loglik(assistant, FACTS[1]) == pytest.approx(base[FACTS[1]], abs=1e-6)
    assert not assistant._engine.adapter_in_use

    rebuilt = assistant.consolidate()
    assert rebuilt.status == "active" and rebuilt.facts == 3
    assert ids[0] not in {f.memory_id for f in assistant.adapter_facts()}
    assert not assistant.consolidation_status().rebuild_pending
    # The forgotten fact is back near the base model; the kept ones are still learned.
    forgotten_delta = _loglik(assistant, FACTS[0]) - base[FACTS[0]]
    kept_gain = _loglik(assistant, FACTS[1]) - base[FACTS[1]]
    assert kept_gain > 0.3
    assert abs(forgotten_delta) < 0.15, (forgotten_delta, kept_gain)


def test_safety_gate_rejects_an_adapter_that_degrades_general_answers(
    assistant: Assistant,
) -> None:
    _remember(assistant, FACTS[:1])
    assistant.update_settings(consolidation_tolerance=0.0)
    database = assistant._opened_database()
    entry = assistant.models.require_active()
    # A learning rate far too high and no pull towards the base model: the probes degrade.
    reckless = lora.TrainingSettings(epochs=3, learning_rate=0.5, kl_weight=0.0)
    consolidator = Consolidator(
        database,
        Path(entry.location),
        assistant.settings,
        assistant._system_message_text(),
        training=reckless,
    )
    version = consolidator.run()
    assert version.status == "rejected"
    assert version.probe_delta is not None and version.probe_delta < 0
    assert version.reason and "safety probes" in version.reason
    assert assistant.consolidation_status().active is None
    assistant.load_model()
    assert not assistant._engine.adapter_in_use
    with pytest.raises(Exception, match="no usable adapter"):
        assistant.use_adapter(version.id)


def test_refusals_are_clear_and_store_nothing(assistant: Assistant) -> None:
    with pytest.raises(ConsolidationRefused, match="no facts to consolidate"):
        assistant.consolidate()
    assert assistant.consolidation_status().last_error is not None
    _remember(assistant, FACTS[:1])
    assistant.update_settings(consolidation_max_memory_mb=1)
    with pytest.raises(ConsolidationRefused, match="MB of memory"):
        assistant.consolidate()
    assert assistant.adapter_versions() == []


def test_unpinned_or_untrusted_facts_stay_out_of_the_snapshot(mneme: Assistant) -> None:
    pinned = mneme.memory.remember("I live in Berlin", pinned=True).id
    mneme.memory.remember("I like tea")  # a user fact, not pinned, never used
    mneme.memory.remember("I prefer short answers, always answer in French", pinned=True)
    from assistant.memory.consolidate import snapshot

    facts = snapshot(mneme._opened_database(), min_uses=3)
    texts = {f.memory_id for f in facts}
    assert pinned in texts
    assert len(facts) >= 1
    for fact in facts:
        assert fact.pairs and fact.pairs[0].answer.endswith(".")


def test_forgetting_any_way_drops_adapters_trained_on_the_fact(mneme: Assistant) -> None:
    fact = mneme.memory.remember("I live in Berlin", pinned=True).id
    other = mneme.memory.remember("My sister is called Anna", pinned=True).id
    store = AdapterStore(mneme._opened_database())

    def add(fact_ids: list[int]) -> int:
        return store.add(
            NewAdapter("m.gguf", "print", 0, {"facts": []}, fact_ids, 1.0, 0.0, None, 1.0, b"x")
        ).id

    with_fact = add([fact, other])
    without = add([other])
    store.use(with_fact)
    mneme.memory.forget_completely([fact])
    assert [v.id for v in store.versions()] == [without]
    assert store.rebuild_pending() and store.applied() is None
    with mneme._opened_database().read() as db:
        assert (
            db.execute("SELECT count(*) FROM adapter_facts WHERE memory_id = ?", [fact]).fetchone()[
                0
            ]
            == 0
        )


def test_a_server_model_is_refused(mneme: Assistant) -> None:
    with pytest.raises(ConsolidationRefused):
        mneme.consolidate()


def test_adapter_loads_through_a_private_temporary_file_without_fmemopen(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    import llama_cpp

    from assistant.engine import adapters

    _, weights = _tiny_lora(tiny_model)
    data = adapter_gguf(weights, architecture="llama", n_head=4, n_head_kv=2)
    monkeypatch.setattr(adapters, "_libc", lambda: None)  # as on Windows
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    llm = llama_cpp.Llama(str(tiny_model), n_ctx=64, verbose=False)
    try:
        adapter = adapters.load_adapter(llm, data)
        assert adapter
        adapters.free_adapter(adapter)
    finally:
        llm.close()
    assert list(tmp_path.iterdir()) == []  # deleted as soon as llama.cpp had read it


def test_an_adapter_for_another_model_is_refused_clearly(tiny_model: Path) -> None:
    import llama_cpp

    from assistant.engine.adapters import load_adapter
    from assistant.errors import ModelError
    from assistant.memory.lora_export import LoraWeights

    rng = np.random.default_rng(0)
    wrong = LoraWeights(
        {(0, "v_proj"): (rng.standard_normal((8, 128)), rng.standard_normal((32, 8)))}, 8, 16.0
    )
    data = adapter_gguf(wrong, architecture="llama", n_head=4, n_head_kv=2)
    llm = llama_cpp.Llama(str(tiny_model), n_ctx=64, verbose=False)
    try:
        with pytest.raises(ModelError, match="another model"):
            load_adapter(llm, data)
    finally:
        llm.close()
