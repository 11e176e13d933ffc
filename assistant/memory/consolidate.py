"""Consolidation, the "sleep": stable, trusted facts trained into a LoRA adapter for the model.

One run:
1. **Snapshot**: active facts the user stated or approved (trust user-stated / user-confirmed),
   still valid, and pinned or recalled at least `consolidation_min_uses` times. Preferences are
   left out: a wish phrased as an instruction ("always answer in French") is kept as data in the
   prompt, and in the weights it would act as an instruction. Each fact becomes question/answer
   pairs (assistant.memory.fact_questions), asked the way a reply is: the system prompt, then
   the question.
2. **Bounds**: the dequantized model must fit the memory limit (`consolidation_max_memory_mb`, by
   default 70% of what is available) and the run the time limit (`consolidation_max_minutes`,
   estimated after the first step); otherwise it is refused with the reason, before the work.
3. **Train** (assistant.memory.lora) on a float32 copy of the loaded GGUF, seeded: the adapter is a
   pure function of (snapshot, seed, settings, base model), all recorded in its manifest.
4. **Export** the GGUF LoRA (assistant.memory.lora_export) into memory.
5. **Check through llama.cpp** on a private copy of the model (not the chat engine, so chat goes
   on): each fact's answer log-likelihood given its question (the gain), and the fixed safety
   probes in resources/consolidation/probes.json. If the probes lose more than
   `consolidation_tolerance` nats per token against the base model, the adapter is rejected and
   the reason kept; otherwise it becomes the active version, applied by the Assistant before
   the model's next reply (hot swap, KV cache cleared).

Forgetting a fact deletes every adapter trained on it (trigger, assistant.memory.adapter_store)
and marks a rebuild pending; the Assistant switches the adapter off until `run` rebuilds one
without it.

Threading: `run` is long (seconds on the test model, many minutes on real ones) and CPU-bound;
run it on a worker thread of its own. It uses the database (serialised inside) and its own model
copies, never the chat engine.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.cancel import CancelToken
from assistant.config import Settings
from assistant.engine.base import ChatMessage
from assistant.engine.llamacpp import SINGLE_THREAD_BELOW_BYTES
from assistant.errors import ConsolidationRefused
from assistant.memory.adapter_store import AdapterStore, NewAdapter
from assistant.memory.fact_questions import QA, questions_for
from assistant.memory.lora_export import LoraWeights
from assistant.resources import read_text
from assistant.storage.database import EncryptedDatabase
from assistant.types import AdapterVersion, ConsolidationProgress

log = logging.getLogger(__name__)

# The strengths an adapter is checked at, strongest first: the first that keeps the safety probes
# within the tolerance is kept (baked into its alpha). Weaker, it still holds much of the facts.
SCALES = (1.0, 0.7, 0.5)
MAX_FACTS = 500  # a snapshot's bound: the oldest facts go first (they are the most stable)
SCORING_CONTEXT = 2048
_FINGERPRINT_SPAN = 4 << 20

_SNAPSHOT_WHERE = (
    " FROM memories WHERE kind = 'fact' AND status = 'active' AND valid_to IS NULL AND evicted_at IS NULL"
    " AND trust IN ('user-stated', 'user-confirmed') AND coalesce(facet, '') != 'preference'"
    " AND (pinned = 1 OR access_count >= ?) ORDER BY id LIMIT ?"
)
SNAPSHOT_QUERY = "SELECT id, text, subject, predicate, object, negated" + _SNAPSHOT_WHERE


@dataclass(frozen=True)
class SnapshotFact:
    memory_id: int
    sha256: str  # of the fact's text: the manifest names facts without copying them
    pairs: tuple[QA, ...]  # the first is the canonical question (measured); all are trained


def snapshot_ids(database: EncryptedDatabase, min_uses: int) -> set[int]:
    """The ids `snapshot` would take, without making their questions: for status checks."""
    with database.read() as db:
        rows = db.execute("SELECT id" + _SNAPSHOT_WHERE, [min_uses, MAX_FACTS]).fetchall()
    return {int(row[0]) for row in rows}


def snapshot(database: EncryptedDatabase, min_uses: int) -> list[SnapshotFact]:
    with database.read() as db:
        rows = db.execute(SNAPSHOT_QUERY, [min_uses, MAX_FACTS]).fetchall()
    facts: list[SnapshotFact] = []
    for memory_id, text, subject, predicate, value, negated in rows:
        pairs = questions_for(str(text), subject, predicate, value, bool(negated))
        digest = hashlib.sha256(str(text).encode("utf-8")).hexdigest()
        facts.append(SnapshotFact(int(memory_id), digest, tuple(pairs)))
    return facts


def fingerprint(path: Path) -> str:
    """Identifies a base model file without reading all of it: its size, first and last 4 MiB.
    An adapter is applied only to the model whose fingerprint its manifest holds."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as stream:
        digest.update(stream.read(_FINGERPRINT_SPAN))
        stream.seek(max(0, size - _FINGERPRINT_SPAN))
        digest.update(stream.read(_FINGERPRINT_SPAN))
    return digest.hexdigest()


def model_shape(path: Path) -> dict[str, int]:
    """Parameters, layers, heads, vocabulary and width of a GGUF model, from its header."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    arch_field = reader.fields.get("general.architecture")
    architecture = str(bytes(arch_field.parts[-1]), "utf-8") if arch_field else ""

    def number(key: str) -> int:
        found = reader.fields.get(f"{architecture}.{key}")
        return int(found.parts[-1][0]) if found is not None else 0

    vocab = 0
    for tensor in reader.tensors:
        if tensor.name == "token_embd.weight":
            vocab = int(max(tensor.shape))
    return {
        "parameters": int(sum(int(t.n_elements) for t in reader.tensors)),
        "layers": number("block_count"),
        "heads": number("attention.head_count"),
        "heads_kv": number("attention.head_count_kv") or number("attention.head_count"),
        "width": number("embedding_length"),
        "vocab": vocab,
    }


def architecture_of(path: Path) -> str:
    from assistant.engine.gguf_file import inspect_gguf

    return inspect_gguf(path).architecture or "unknown"


def estimate_memory_mb(shape: dict[str, int], longest: int, batch: int) -> int:
    """Peak memory of training, in MB: the float32 weights (and the transient copy made while
    dequantizing), activations kept for the backward pass, and the logits."""
    weights = shape["parameters"] * 4 * 2
    activations = batch * longest * shape["width"] * max(1, shape["layers"]) * 24 * 4
    logits = batch * longest * max(1, shape["vocab"]) * 4 * 4
    overhead = 600 << 20  # PyTorch, transformers and the model's own llama.cpp copy for checks
    return int((weights + activations + logits + overhead) / (1 << 20))


def available_memory_mb() -> int:
    try:
        import psutil  # type: ignore[import-untyped]

        return int(psutil.virtual_memory().available / (1 << 20))
    except Exception:  # noqa: BLE001 - psutil missing or unreadable: fall back to sysconf
        pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
        return int(pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)) if pages else 0


def memory_limit_mb(settings: Settings) -> int:
    if settings.consolidation_max_memory_mb is not None:
        return settings.consolidation_max_memory_mb
    return int(available_memory_mb() * 0.7)


def probes() -> list[QA]:
    data = json.loads(read_text("consolidation", "probes.json"))
    return [QA(item["question"], item["answer"]) for item in data["probes"]]


def replay_prompts() -> list[str]:
    return list(json.loads(read_text("consolidation", "replay.json"))["prompts"])


def scaled(weights: LoraWeights, scale: float) -> LoraWeights:
    """The same adapter at `scale` × its strength (llama.cpp and peft scale by alpha / rank)."""
    return LoraWeights(weights.pairs, weights.rank, weights.alpha * scale)


def mean_per_token(scores: list[tuple[float, int]]) -> float:
    """Mean over items of each item's log-likelihood per token."""
    usable = [total / count for total, count in scores if count]
    return sum(usable) / len(usable) if usable else 0.0


class Consolidator:
    """One consolidation run against `model_path` (the loaded local GGUF)."""

    def __init__(
        self,
        database: EncryptedDatabase,
        model_path: Path,
        settings: Settings,
        system_prompt: str,
        *,
        training: Any = None,
    ) -> None:
        from assistant.memory.lora import TrainingSettings

        self.database = database
        self.store = AdapterStore(database)
        self.model_path = Path(model_path)
        self.settings = settings
        self.system_prompt = system_prompt
        small = self.model_path.stat().st_size < SINGLE_THREAD_BELOW_BYTES
        self.training: TrainingSettings = training or TrainingSettings(
            seed=settings.consolidation_seed,
            # As in the engine: a test-sized model trains faster on one thread.
            threads=1 if small else (settings.n_threads or min(8, os.cpu_count() or 2)),
        )

    def _messages(self, question: str) -> list[ChatMessage]:
        return [ChatMessage("system", self.system_prompt), ChatMessage("user", question)]

    def _base_probe_scores(
        self, engine: Any, safety: list[QA], model_print: str
    ) -> list[tuple[float, int]]:
        """The base model's probe scores, kept per (model, probes, system prompt): the same every
        run, and a real model takes minutes to score them."""
        key = hashlib.sha256(
            json.dumps(
                [model_print, self.system_prompt, [[q.question, q.answer] for q in safety]]
            ).encode()
        ).hexdigest()
        cached = self.store.cached_probe_scores(key)
        if cached is not None and len(cached) == len(safety):
            return cached
        scores = [engine.continuation_logprob(self._messages(q.question), q.answer) for q in safety]
        self.store.cache_probe_scores(key, scores)
        return scores

    def check_supported(self) -> dict[str, int]:
        from assistant.memory.lora import SUPPORTED_ARCHITECTURES

        architecture = architecture_of(self.model_path)
        if architecture not in SUPPORTED_ARCHITECTURES:
            raise ConsolidationRefused(
                f"Consolidation supports llama-architecture models; {self.model_path.name} is"
                f" '{architecture}'."
            )
        return model_shape(self.model_path)

    def run(
        self,
        progress: Callable[[ConsolidationProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> AdapterVersion:
        """Snapshot, train, export, check and store a new adapter version (see the module
        docstring). Raises ConsolidationRefused (recorded as the last error) when it cannot run,
        Cancelled when cancelled; stores nothing then."""
        self.store.mark_attempt()
        try:
            version = self._run(progress or (lambda _p: None), cancel)
        except ConsolidationRefused as refusal:
            self.store.set_last_error(str(refusal))
            raise
        self.store.set_last_error(None)
        return version

    def _run(
        self, report: Callable[[ConsolidationProgress], None], cancel: CancelToken | None
    ) -> AdapterVersion:
        from assistant.engine.llamacpp import LlamaCppEngine
        from assistant.memory import lora
        from assistant.memory.lora_export import adapter_gguf

        started = time.monotonic()
        report(ConsolidationProgress("snapshot", 0, 1))
        shape = self.check_supported()
        model_print = fingerprint(self.model_path)
        facts = snapshot(self.database, self.settings.consolidation_min_uses)
        if not facts:
            raise ConsolidationRefused(
                "There are no facts to consolidate yet: pin the facts you want in the weights,"
                " or let Mneme use them a few times."
            )
        engine = LlamaCppEngine(
            self.model_path,
            n_ctx=SCORING_CONTEXT,
            n_gpu_layers=0,
            n_threads=self.settings.n_threads,
        )
        try:
            examples = [
                lora.Example(tuple(prompt + answer), len(prompt))
                for fact in facts
                for pair in fact.pairs
                for prompt, answer in [
                    engine.tokenize_exchange(self._messages(pair.question), pair.answer)
                ]
            ]
            replay = [engine.tokenize_messages(self._messages(p)) for p in replay_prompts()]
            longest = max(len(example.tokens) for example in examples)
            needed = estimate_memory_mb(shape, longest, self.training.batch_size)
            limit = memory_limit_mb(self.settings)
            if needed > limit:
                raise ConsolidationRefused(
                    f"Consolidating {self.model_path.name} needs about {needed:,} MB of memory;"
                    f" the limit is {limit:,} MB (setting consolidation_max_memory_mb)."
                )
            checks = [fact.pairs[0] for fact in facts]
            safety = probes()
            report(ConsolidationProgress("checking", 0, len(checks) + len(safety)))
            base_facts = [
                engine.continuation_logprob(self._messages(q.question), q.answer) for q in checks
            ]
            base_probes = self._base_probe_scores(engine, safety, model_print)
            report(ConsolidationProgress("snapshot", 1, 1))

            model = lora.load_base(self.model_path)
            try:
                _peft, weights = lora.train(
                    model,
                    examples,
                    replay,
                    self.training,
                    progress=lambda done, total: report(
                        ConsolidationProgress("training", done, total)
                    ),
                    cancel=cancel,
                    max_seconds=self.settings.consolidation_max_minutes * 60.0,
                )
            finally:
                del model
                gc.collect()
            tolerance = self.settings.consolidation_tolerance
            scale, data = 0.0, b""
            after_probes: list[tuple[float, int]] = []
            total = len(safety) * len(SCALES) + len(checks)
            for attempt, scale in enumerate(SCALES):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                report(ConsolidationProgress("exporting", attempt, len(SCALES)))
                data = adapter_gguf(
                    scaled(weights, scale),
                    architecture="llama",
                    n_head=shape["heads"],
                    n_head_kv=shape["heads_kv"],
                )
                engine.set_adapter(data)
                after_probes = []
                for index, q in enumerate(safety):
                    after_probes.append(
                        engine.continuation_logprob(self._messages(q.question), q.answer)
                    )
                    done = attempt * len(safety) + index + 1
                    report(ConsolidationProgress("checking", done, total))
                if mean_per_token(after_probes) - mean_per_token(base_probes) >= -tolerance:
                    break
            after_facts = []
            for index, q in enumerate(checks):
                after_facts.append(
                    engine.continuation_logprob(self._messages(q.question), q.answer)
                )
                report(ConsolidationProgress("checking", total - len(checks) + index + 1, total))
        finally:
            engine.close()
        fact_gain = mean_per_token(after_facts) - mean_per_token(base_facts)
        probe_delta = mean_per_token(after_probes) - mean_per_token(base_probes)
        reason = None
        if probe_delta < -tolerance:
            reason = (
                f"General answers got worse by {-probe_delta:.3f} nats per token on the safety"
                f" probes (the limit is {tolerance:g}), even at {scale:g}× strength, so the"
                " adapter was not applied."
            )
        manifest = {
            "base_model": {"name": self.model_path.name, "fingerprint": model_print},
            "system_prompt_sha256": hashlib.sha256(self.system_prompt.encode()).hexdigest(),
            "seed": self.training.seed,
            "training": self.training.as_dict(),
            "facts": [
                {
                    "memory_id": fact.memory_id,
                    "sha256": fact.sha256,
                    "question": fact.pairs[0].question,
                    "answer": fact.pairs[0].answer,
                    "trained_questions": [pair.question for pair in fact.pairs],
                }
                for fact in facts
            ],
            "probes": {
                "count": len(safety),
                "base": mean_per_token(base_probes),
                "adapter": mean_per_token(after_probes),
                "tolerance": tolerance,
            },
            "fact_gain": fact_gain,
            "scale": scale,
        }
        version = self.store.add(
            NewAdapter(
                base_model=self.model_path.name,
                base_fingerprint=model_print,
                seed=self.training.seed,
                manifest=manifest,
                fact_ids=[fact.memory_id for fact in facts],
                fact_gain=fact_gain,
                probe_delta=probe_delta,
                reason=reason,
                seconds=time.monotonic() - started,
                data=data,
            )
        )
        report(ConsolidationProgress("done", 1, 1))
        log.info(
            "consolidation: %d facts, gain %.3f, probes %.3f, %s",
            len(facts),
            fact_gain,
            probe_delta,
            version.status,
        )
        return version
