"""Training a LoRA adapter on a dequantized copy of a GGUF model (PyTorch, transformers, peft).

transformers reads the GGUF, dequantizing every tensor to float32 and undoing llama.cpp's q/k row
order; peft adds rank-r pairs to the attention and feed-forward projections. The loss is the
answers' cross-entropy plus a KL term that keeps the model's next-token distributions on generic
prompts (resources/consolidation/replay.json) where the base model had them, so what it learns is
the facts, not a new way of talking. Seeded, with a fixed thread count and a fixed order: the same
examples, settings and base model give the same adapter, bit for bit.

Threading: CPU-heavy (minutes on real models): a worker thread, never the UI's. torch,
transformers and peft are imported on first call.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.cancel import CancelToken
from assistant.errors import ConsolidationRefused
from assistant.memory.lora_export import LoraWeights

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# llama.cpp architectures whose GGUF transformers reads and whose adapter export is known right
# (Mistral's GGUFs say "llama" too).
SUPPORTED_ARCHITECTURES = frozenset({"llama"})


@dataclass(frozen=True)
class TrainingSettings:
    rank: int = 8
    alpha: float = 16.0
    # Chosen on the tiny speaking model with 100 facts (benchmarks/consolidate.py): more epochs
    # or a weaker pull to the base model lowered the safety probes past the 0.1 tolerance.
    learning_rate: float = 2e-3
    epochs: int = 4
    batch_size: int = 8
    kl_weight: float = 4.0  # the pull towards the base model's own answers to generic prompts
    replay_per_step: int = 4  # generic sequences the KL term reads each step
    threads: int = 2
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Example:
    """One training sequence: `tokens`, of which positions from `answer_start` are the answer
    (the loss is taken on them only)."""

    tokens: tuple[int, ...]
    answer_start: int


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_base(path: Path) -> Any:
    """The GGUF model as a float32 transformers model (dequantized; may take many GB)."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        # The GGUF reader draws its own progress bar on stderr: not for a background job.
        with contextlib.redirect_stderr(io.StringIO()):
            model = AutoModelForCausalLM.from_pretrained(
                str(path.parent), gguf_file=path.name, dtype=torch.float32
            )
    except (ValueError, KeyError, NotImplementedError, OSError) as error:
        logging.getLogger(__name__).info("transformers could not read the GGUF: %s", error)
        raise ConsolidationRefused(
            f"PyTorch cannot read the model {path.name} for consolidation: {error}"
        ) from None
    model.eval()
    return model


def _batches(
    examples: Sequence[Example], batch_size: int, rng: np.random.Generator
) -> list[list[Example]]:
    order = rng.permutation(len(examples))
    return [
        [examples[i] for i in order[start : start + batch_size]]
        for start in range(0, len(examples), batch_size)
    ]


def _answer_loss(model: Any, batch: list[Example]) -> Any:
    import torch

    length = max(len(example.tokens) for example in batch)
    ids = torch.zeros((len(batch), length), dtype=torch.long)
    mask = torch.zeros((len(batch), length), dtype=torch.long)
    labels = torch.full((len(batch), length), -100, dtype=torch.long)
    for row, example in enumerate(batch):
        tokens = torch.tensor(example.tokens, dtype=torch.long)
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
        labels[row, example.answer_start : len(tokens)] = tokens[example.answer_start :]
    # transformers shifts the labels: position t predicts token t + 1.
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def _replay_kl(model: Any, tokens: Sequence[int]) -> Any:
    """KL(base ‖ adapted) over the next-token distributions of one generic prompt."""
    import torch

    ids = torch.tensor([list(tokens)], dtype=torch.long)
    with torch.no_grad(), model.disable_adapter():
        base = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)
    adapted = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)
    return (base.exp() * (base - adapted)).sum(dim=-1).mean()


def replay_sequences(
    model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int = 24
) -> list[list[int]]:
    """Each generic prompt followed by the base model's own greedy answer: the KL term then
    holds the answers' distributions in place too, not only the prompts'."""
    import torch

    sequences: list[list[int]] = []
    with torch.no_grad():
        for prompt in prompts:
            ids = torch.tensor([list(prompt)], dtype=torch.long)
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=0,
            )
            sequences.append([int(t) for t in out[0]])
    return sequences


def lora_weights(model: Any, settings: TrainingSettings) -> LoraWeights:
    """The trained pairs, by (layer, module), from a peft model."""
    pairs: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A") or "default" not in module.lora_A:
            continue
        parts = name.split(".")
        layer = int(parts[parts.index("layers") + 1])
        a = module.lora_A["default"].weight.detach().cpu().numpy().astype(np.float32)
        b = module.lora_B["default"].weight.detach().cpu().numpy().astype(np.float32)
        pairs[(layer, parts[-1])] = (a, b)
    return LoraWeights(pairs=pairs, rank=settings.rank, alpha=settings.alpha)


def train(
    model: Any,
    examples: Sequence[Example],
    replay: Sequence[Sequence[int]],
    settings: TrainingSettings,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelToken | None = None,
    max_seconds: float | None = None,
) -> tuple[Any, LoraWeights]:
    """Train a LoRA adapter on `model` (from load_base; wrapped by peft in place) and return the
    peft model and the adapter's weights.

    `max_seconds`: after the first step the whole run is estimated; a run that would take longer
    is refused (ConsolidationRefused) before more time is spent. Cancel raises Cancelled.
    """
    import torch
    from peft import LoraConfig, get_peft_model

    if not examples:
        raise ConsolidationRefused("There are no facts to consolidate.")
    with _torch_threads(settings.threads):
        torch.manual_seed(settings.seed)
        if replay and settings.kl_weight > 0:
            replay = replay_sequences(model, replay)
        config = LoraConfig(
            r=settings.rank,
            lora_alpha=int(settings.alpha),
            target_modules=list(TARGET_MODULES),
            lora_dropout=0.0,
            bias="none",
        )
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", FutureWarning
            )  # peft asks transformers a deprecated name
            peft_model = get_peft_model(model, config)
        trainable = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
        rng = np.random.default_rng(settings.seed)
        steps_per_epoch = math.ceil(len(examples) / settings.batch_size)
        total = steps_per_epoch * settings.epochs
        started = time.monotonic()
        step = 0
        peft_model.train()
        for _epoch in range(settings.epochs):
            for batch in _batches(examples, settings.batch_size, rng):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                loss = _answer_loss(peft_model, batch)
                if replay and settings.kl_weight > 0:
                    for offset in range(settings.replay_per_step):
                        sequence = replay[(step * settings.replay_per_step + offset) % len(replay)]
                        loss = loss + settings.kl_weight / settings.replay_per_step * _replay_kl(
                            peft_model, sequence
                        )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                if step == 1 and max_seconds is not None:
                    estimate = (time.monotonic() - started) * total
                    if estimate > max_seconds:
                        raise ConsolidationRefused(
                            f"Consolidating would take about {estimate / 60:.0f} minutes here,"
                            f" over the limit of {max_seconds / 60:.0f} minutes in the settings."
                        )
                if progress is not None:
                    progress(step, total)
        peft_model.eval()
        return peft_model, lora_weights(peft_model, settings)


def answer_logprob(model: Any, example: Example) -> tuple[float, int]:
    """Log-probability (nats) of the example's answer under `model`, and its token count."""
    import torch

    ids = torch.tensor([list(example.tokens)], dtype=torch.long)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    targets = ids[0, example.answer_start :]
    picked = logprobs[example.answer_start - 1 : len(example.tokens) - 1].gather(
        1, targets.unsqueeze(1)
    )
    return float(picked.sum()), len(targets)
