"""A tiny llama GGUF that already "speaks": the random tiny model, fully trained on phrasing.

A random-weight model gives any English sentence a very low likelihood, so an adapter trained on
a few facts raises the likelihood of every English answer, forgotten facts included, and the
effect of one fact cannot be seen. A real model already knows how "Where do I live?" is answered
and only lacks the user's values. This module makes a model like that, small enough for tests:
the tiny preset trained (every weight, PyTorch) on question/answer exchanges in the chat format,
asked as Mneme asks them (system prompt, then the question), about made-up people with random
values drawn from word lists — it learns the phrasing of the answers, not any user's facts —
then written back to F32 GGUF in llama.cpp's row order.

Seeded and deterministic; about a minute on two cores. Test and benchmark use only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.memory.fact_questions import QA, questions_for
from assistant.testing.tiny_model import PRESETS, write_tiny_model

CITIES = ["Berlin", "Paris", "Lisbon", "Oslo", "Rome", "Kyoto", "Lima", "Cairo", "Madrid", "Vienna"]
NAMES = ["Anna", "Tom", "Maria", "Ben", "Lena", "Omar", "Sara", "Paul", "Nina", "Ivan"]
NAMES += ["Emma", "Leo", "Mia", "Hugo", "Zoe", "Karl", "Rosa", "Finn", "Ida", "Jan", "Olga", "Rami"]
PLACES = ["the hospital", "the bank", "a school", "the museum", "a bakery", "the library"]
JOBS = ["nurse", "teacher", "pilot", "baker", "lawyer", "painter", "chef", "farmer"]
THINGS = ["peanuts", "tea", "coffee", "chess", "jazz", "cats", "dogs", "tennis", "music"]
COLORS = ["red", "blue", "green", "yellow", "black", "white", "purple", "orange"]
RELATIONS = ["sister", "brother", "mother", "father", "dog", "cat", "friend", "boss"]

_HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


# (statement, slot or None, value words): the first-person ones are parsed as `remember` parses
# them; the third-person ones carry the slot an extractor would give them.
Fact = tuple[str, tuple[str, str, str] | None]


def statements(rng: np.random.Generator, count: int) -> list[Fact]:
    """Statements with random values, in the phrasings facts take."""

    def pick(words: list[str]) -> str:
        return str(words[int(rng.integers(len(words)))])

    makers: list[Callable[[], Fact]] = [
        lambda: (f"I live in {pick(CITIES)}", None),
        lambda: (f"My {pick(RELATIONS)} is called {pick(NAMES)}", None),
        lambda: (f"I work at {pick(PLACES)}", None),
        lambda: (f"I work as a {pick(JOBS)}", None),
        lambda: (f"I like {pick(THINGS)}", None),
        lambda: (f"My favourite color is {pick(COLORS)}", None),
        lambda: (f"I am allergic to {pick(THINGS)}", None),
        lambda: (f"My name is {pick(NAMES)}", None),
        *[lambda maker=maker: third_person(maker, pick(NAMES), rng) for maker in THIRD_PERSON],
    ]
    return [makers[int(rng.integers(len(makers)))]() for _ in range(count)]


# predicate → (statement pattern, value list)
THIRD_PERSON = {
    "lives in": ("{S} lives in {O}", CITIES),
    "works at": ("{S} works at {O}", PLACES),
    "works as": ("{S} works as a {O}", JOBS),
    "married to": ("{S} is married to {O}", NAMES),
    "favourite color": ("{S}'s favourite color is {O}", COLORS),
}


def third_person(predicate: str, subject: str, rng: np.random.Generator) -> Fact:
    pattern, values = THIRD_PERSON[predicate]
    value = str(values[int(rng.integers(len(values)))])
    shown = f"a {value}" if predicate == "works as" else value
    return pattern.format(S=subject, O=value), (subject, predicate, shown)


def pairs_for(fact: Fact) -> list[QA]:
    text, slot = fact
    if slot is None:
        return list(questions_for(text))
    return list(questions_for(text, *slot))


def _gguf_weights(model: object, n_head: int, n_head_kv: int) -> dict[str, np.ndarray]:
    from assistant.memory.lora_export import permute_rows

    found: dict[str, np.ndarray] = {}
    for name, tensor in model.state_dict().items():  # type: ignore[attr-defined]
        array = tensor.detach().cpu().numpy().astype(np.float32)
        if name == "model.embed_tokens.weight":
            found["token_embd.weight"] = array
        elif name == "model.norm.weight":
            found["output_norm.weight"] = array
        elif name == "lm_head.weight":
            found["output.weight"] = array
        elif name.startswith("model.layers."):
            parts = name.split(".")
            layer, module = parts[2], ".".join(parts[3:-1])
            target = _HF_TO_GGUF[module]
            if target == "attn_q":
                array = permute_rows(array, n_head, n_head)
            elif target == "attn_k":
                array = permute_rows(array, n_head, n_head_kv)
            found[f"blk.{layer}.{target}.weight"] = array
    return found


def write_pretrained_tiny_model(
    path: str | Path,
    *,
    system_prompt: str,
    seed: int = 0,
    exchanges: int = 600,
    epochs: int = 3,
) -> Path:
    """Train the tiny preset on `exchanges` made-up question/answer pairs and write it to `path`."""
    import torch

    from assistant.engine.base import ChatMessage
    from assistant.engine.llamacpp import LlamaCppEngine
    from assistant.memory import lora

    path = Path(path)
    spec = PRESETS["tiny"]
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as folder:
        random_model = write_tiny_model(Path(folder) / "random.gguf", seed=seed)
        engine = LlamaCppEngine(random_model, n_ctx=1024, n_gpu_layers=0)
        try:
            examples = []
            for fact in statements(rng, exchanges):
                for pair in pairs_for(fact):
                    messages = [
                        ChatMessage("system", system_prompt),
                        ChatMessage("user", pair.question),
                    ]
                    prompt, answer = engine.tokenize_exchange(messages, pair.answer)
                    examples.append(lora.Example(tuple(prompt + answer), len(prompt)))
        finally:
            engine.close()
        model = lora.load_base(random_model)
    torch.manual_seed(seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    with lora._torch_threads(1):  # a model this small trains faster on one thread
        for _epoch in range(epochs):
            for batch in lora._batches(examples, 16, rng):
                loss = lora._answer_loss(model, batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    model.eval()
    weights = _gguf_weights(model, spec.n_head, spec.n_head_kv)
    return write_tiny_model(path, seed=seed, weights=weights, name="mneme-tiny-pretrained")
