"""Write a small random-weight F32 llama GGUF that llama.cpp loads like any real model.

Keep it F32: a quantized (Q8_0) fixture has crashed some CPU builds of llama.cpp with SIGILL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, LlamaFileType, TokenType

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "it",
    "you",
    "that",
    "he",
    "was",
    "for",
    "on",
    "are",
    "with",
    "as",
    "I",
    "his",
    "they",
    "be",
    "at",
    "one",
    "have",
    "this",
    "from",
    "or",
    "had",
    "by",
    "hot",
    "word",
    "but",
    "what",
    "some",
    "we",
    "can",
    "out",
    "other",
    "were",
    "all",
    "there",
    "when",
    "up",
    "use",
    "your",
    "how",
    "said",
    "an",
    "each",
    "she",
    "which",
    "do",
    "their",
    "time",
    "if",
    "will",
    "way",
    "about",
    "many",
    "then",
    "them",
    "write",
    "would",
    "like",
    "so",
    "these",
    "her",
    "long",
    "make",
    "thing",
    "see",
    "him",
    "two",
    "has",
    "look",
    "more",
    "day",
    "could",
    "go",
    "come",
    "did",
    "number",
    "sound",
    "no",
    "most",
    "people",
    "my",
    "over",
    "know",
    "water",
    "than",
    "call",
    "first",
    "who",
    "may",
    "down",
    "side",
    "been",
    "now",
    "find",
    "any",
    "new",
    "work",
    "part",
    "take",
    "get",
    "place",
    "made",
    "live",
    "where",
    "after",
    "back",
    "little",
    "only",
    "round",
    "man",
    "year",
    "came",
    "show",
    "every",
    "good",
    "me",
    "give",
    "our",
    "under",
    "name",
    "very",
    "through",
    "just",
    "form",
    "sentence",
    "great",
    "think",
    "say",
    "help",
    "low",
    "line",
    "memory",
    "remember",
    "Berlin",
    "Paris",
    "email",
    "note",
    "meeting",
    "dog",
    "cat",
    "friend",
    "work",
    "home",
    "tomorrow",
    "yesterday",
    "Hello",
    "hello",
    "world",
    "Mneme",
    "model",
    "private",
]


@dataclass(frozen=True)
class Preset:
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_ctx_train: int


PRESETS = {
    # Loads in milliseconds; what the test suite uses.
    "tiny": Preset(n_embd=64, n_layer=2, n_ff=128, n_head=4, n_head_kv=2, n_ctx_train=4096),
    # ~100 MB; enough compute per token for benchmarks to measure the engine, not Python.
    "small": Preset(n_embd=512, n_layer=8, n_ff=1408, n_head=8, n_head_kv=8, n_ctx_train=4096),
}


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    types += [TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{value:02X}>" for value in range(256)]
    types += [TokenType.BYTE] * 256
    pieces: list[str] = []
    for piece in ["▁", *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-:"]:
        pieces.append(piece)
    for word in _WORDS:
        for piece in (f"▁{word}", word):
            if piece not in pieces:
                pieces.append(piece)
    tokens += pieces
    types += [TokenType.NORMAL] * len(pieces)
    # SentencePiece merges the highest-scoring pieces first: prefer whole words over letters.
    scores = [0.0] * (5 + 256) + [float(len(piece)) - 100.0 for piece in pieces]
    return tokens, scores, [int(t) for t in types]


def write_tiny_model(
    path: str | Path,
    *,
    preset: str = "tiny",
    seed: int = 0,
    weights: dict[str, np.ndarray] | None = None,
    name: str | None = None,
) -> Path:
    """Write the model to `path` (overwritten). Same preset and seed give the same file.

    `weights` replaces tensors by GGUF name (a trained copy, assistant.testing.pretrained_model).
    """
    spec = PRESETS[preset]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()
    head_dim = spec.n_embd // spec.n_head
    n_embd_kv = head_dim * spec.n_head_kv

    writer = GGUFWriter(str(path), "llama")
    writer.add_name(name or f"mneme-{preset}-random")
    writer.add_context_length(spec.n_ctx_train)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)  # ChatML text follows control tokens directly
    writer.add_chat_template(CHATML_TEMPLATE)

    overrides = weights or {}

    def add(tensor_name: str, value: np.ndarray) -> None:
        chosen = overrides.get(tensor_name, value)
        writer.add_tensor(tensor_name, np.ascontiguousarray(chosen, dtype=np.float32))

    def weight(rows: int, cols: int, scale: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    embedding = weight(len(tokens), spec.n_embd, 1.0)
    add("token_embd.weight", embedding)
    add("output_norm.weight", np.ones(spec.n_embd, dtype=np.float32))
    # An untied output layer, so greedy decoding wanders through words instead of echoing the last
    # input token. Zero rows give control and byte tokens a logit of 0: a random model then rarely
    # ends its reply at once or emits broken UTF-8, and tests see a real stream of words.
    output = weight(len(tokens), spec.n_embd, 1.0)
    output[: 5 + 256] = 0.0
    add("output.weight", output)
    scale = 1.0 / np.sqrt(spec.n_embd)
    for block in range(spec.n_layer):
        prefix = f"blk.{block}"
        add(f"{prefix}.attn_norm.weight", np.ones(spec.n_embd, dtype=np.float32))
        add(f"{prefix}.attn_q.weight", weight(spec.n_embd, spec.n_embd, scale))
        add(f"{prefix}.attn_k.weight", weight(n_embd_kv, spec.n_embd, scale))
        add(f"{prefix}.attn_v.weight", weight(n_embd_kv, spec.n_embd, scale))
        add(f"{prefix}.attn_output.weight", weight(spec.n_embd, spec.n_embd, scale))
        add(f"{prefix}.ffn_norm.weight", np.ones(spec.n_embd, dtype=np.float32))
        add(f"{prefix}.ffn_gate.weight", weight(spec.n_ff, spec.n_embd, scale))
        add(f"{prefix}.ffn_up.weight", weight(spec.n_ff, spec.n_embd, scale))
        add(f"{prefix}.ffn_down.weight", weight(spec.n_embd, spec.n_ff, scale))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
