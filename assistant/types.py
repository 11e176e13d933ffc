"""The plain dataclasses the front door returns. The UI and the CLI see only these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str
    updated_at: str
    incognito: bool = False


@dataclass(frozen=True)
class ConversationMatch:
    """A conversation found by a search: the latest message that matched (None: the title did)."""

    conversation: Conversation
    message_id: int | None
    snippet: str


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    created_at: str
    model: str | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class ModelEntry:
    """A model the user registered: a local GGUF file or an OpenAI-compatible server."""

    name: str
    kind: str  # "gguf" | "openai"
    location: str  # file path or server URL
    size_bytes: int | None = None
    remote_model: str | None = None
    api_key_env: str | None = None
    active: bool = False
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MachineMemory:
    """What this machine offers a model. None: could not be read cheaply (then it is not used).

    The `vram_*` figures are set only when llama.cpp can offload to that GPU (summed over its GPUs,
    which llama.cpp splits layers across). `gpu_offload`: the llama.cpp build can offload at all (a
    known `vram_free` implies it). `unified_memory`: the GPU shares RAM (Apple silicon, integrated
    GPUs), so RAM bounds the whole model. `vram_source` says where the figure came from: "ggml"
    (llama.cpp's own device query) or "nvidia-smi".
    """

    ram_total: int | None
    ram_available: int | None
    vram_total: int | None = None
    vram_free: int | None = None
    gpu_name: str | None = None
    gpu_offload: bool = False
    unified_memory: bool = False
    backend: str | None = None
    vram_source: str | None = None

    @property
    def can_offload(self) -> bool:
        return self.gpu_offload or self.vram_free is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OffloadPlan:
    """Where a model would run on this machine, and the `n_gpu_layers` that puts it there.

    `label` is "fits", "partly on GPU (N layers)", "too big for this machine" or "fit unknown"
    (RAM unreadable). `placement`: "gpu" (every layer on the GPU), "split", "cpu" (all in RAM) or
    "none" (too big / unknown). `n_gpu_layers` is llama.cpp's: -1 all, N, 0 none. Byte figures are
    estimates: weights + an f16 KV cache for `n_ctx` tokens + compute buffers. `kv_estimated`: the
    model's cache size per token was unknown and a pessimistic default was used. `tight`: it fits
    only if other programs give memory back. `reason` is one sentence for people.
    """

    label: str
    placement: str
    n_gpu_layers: int
    gpu_layers: int
    n_layers: int | None
    n_ctx: int
    memory_needed: int
    kv_cache_bytes: int
    kv_bytes_per_token: int
    kv_estimated: bool
    gpu_bytes: int
    ram_bytes: int
    reason: str
    tight: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecommendedModel:
    """A small instruct model Mneme suggests, with whether it fits this machine.

    `fit` is an `OffloadPlan.label`: "fits", "partly on GPU (N layers)", "too big for this machine"
    (or "fit unknown" when the machine's memory cannot be read); `fit_reason` says why and
    `n_gpu_layers` what loading it would choose. `size_bytes` is the published size, approximately: the
    download reports the true one. `local_path` is set once the complete file is in the models folder;
    `partial_bytes` counts what an interrupted download left to resume from.
    """

    name: str  # the name the model is registered under (the file's stem)
    title: str
    repo_id: str
    filename: str
    size_bytes: int
    parameters: str
    description: str
    license: str
    fit: str
    memory_needed: int
    local_path: str | None = None
    partial_bytes: int = 0
    fit_reason: str = ""
    n_gpu_layers: int = 0
    tight: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplyStats:
    """How a reply went. `finish_reason`: stop · length · cancelled · error."""

    model: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    reused_prompt_tokens: int
    dropped_turns: int
    first_token_s: float | None
    total_s: float

    @property
    def tokens_per_second(self) -> float:
        generating = self.total_s - (self.first_token_s or 0.0)
        if self.completion_tokens <= 1 or generating <= 0:
            return 0.0
        return (self.completion_tokens - 1) / generating


@dataclass(frozen=True)
class Reply:
    conversation: Conversation
    user_message: Message
    assistant_message: Message
    stats: ReplyStats
    memories: tuple[RecalledMemory, ...] = ()
    """The recalled memories that went into the prompt."""


@dataclass
class DoctorReport:
    version: str
    python: str
    platform: str
    packages: dict[str, str | None] = field(default_factory=dict)
    llama_cpp: dict[str, Any] = field(default_factory=dict)
    keyring: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    database: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    """RAM, free VRAM and the llama.cpp backend (`MachineMemory.to_json()`)."""
    recall_threads: dict[str, Any] = field(default_factory=dict)
    """The BLAS libraries recall limits to one thread, and whether the limit works
    (assistant/memory/blas_threads.py): without it, recall is slower on two cores."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


TRUST_LEVELS = ("user-stated", "user-confirmed", "imported", "assistant")
"""Highest first."""


@dataclass(frozen=True)
class Memory:
    id: int
    kind: str  # episode · fact · chunk
    text: str
    source_type: str  # conversation · user · document · email · benchmark
    source_ref: str | None
    trust: str
    occurred_at: str
    created_at: str
    conversation_id: int | None = None
    message_id: int | None = None
    speaker: str | None = None
    session: str | None = None
    position: int | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    pinned: bool = False
    status: str = "active"
    access_count: int = 0
    last_accessed_at: str | None = None
    supersedes: int | None = None
    """The earlier version this one replaced (an edit keeps the old one as `superseded`)."""
    subject: str | None = None
    """Facts: what the fact is about ("user", "user's sister", …) and its predicate and value."""
    predicate: str | None = None
    object: str | None = None
    negated: bool = False
    facet: str | None = None
    """"preference" for a user's wish about answers (kept as data, never as an instruction)."""
    confidence: float | None = None
    conflicts_with: int | None = None
    """An inbox candidate: the active fact it contradicts (shown beside it for review)."""
    updates: int | None = None
    """A fact that updated an older one: the older fact, kept as `superseded` with its validity."""
    evicted_at: str | None = None
    """When the capacity bound took it out of recall (it stays browsable; pinning brings it back)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


MEMORY_SORT_COLUMNS = (
    "occurred_at",
    "created_at",
    "kind",
    "text",
    "source_type",
    "trust",
    "status",
    "speaker",
    "pinned",
    "access_count",
    "last_accessed_at",
    "id",
)


@dataclass(frozen=True)
class MemoryFilter:
    """Which memories to list (`Assistant.memory.query` / `.count`); None means any.

    `since`/`until` bound `occurred_at` (a date includes its whole day); `text` is a full-text search
    (every word must match, the last one as a prefix); `sort` is one of MEMORY_SORT_COLUMNS, and with
    `facts_first` facts come before episodes and chunks whatever the sort.
    """

    kind: str | None = None
    source_type: str | None = None
    trust: str | None = None
    status: str | None = None
    since: date | datetime | None = None
    until: date | datetime | None = None
    text: str | None = None
    speaker: str | None = None
    sort: str = "occurred_at"
    descending: bool = True
    facts_first: bool = True


@dataclass(frozen=True)
class RecalledMemory:
    """A memory with the score recall gave it and the reasons, strongest first."""

    memory: Memory
    score: float
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"memory": self.memory.to_json(), "score": self.score, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ImportProgress:
    """Where an import stands; sent to the `progress` callback of `Assistant.import_`.

    `bytes_*` count file sizes on disk; `current` is the file being read (None between files).
    """

    files_done: int
    files_total: int
    chunks: int
    bytes_done: int
    bytes_total: int
    current: str | None = None


@dataclass
class ImportSummary:
    """What an import did. `files_imported` counts new and changed files (`files_updated` the
    changed ones, whose old chunks were replaced); `files_skipped` the unchanged ones;
    `files_unsupported` the (path, reason) of files no importer reads; `files_failed` the
    (path, message) of files that could not be imported (the rest of the job went on)."""

    files_imported: int = 0
    files_updated: int = 0
    files_skipped: int = 0
    files_failed: list[tuple[str, str]] = field(default_factory=list)
    files_unsupported: list[tuple[str, str]] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    cancelled: bool = False
    elapsed_s: float = 0.0
    # Files read in parts (emails of an mbox, conversations of an export): the parts written,
    # those skipped as unchanged, and (path, item key, message) of each part that failed.
    items_imported: int = 0
    items_skipped: int = 0
    items_failed: list[tuple[str, str, str]] = field(default_factory=list)
    # (path, item key or None for the whole file) imported before but gone now: offered for
    # removal with `Assistant.forget_missing(summary.missing)`, never deleted silently.
    missing: list[tuple[str, str | None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["files_failed"] = [{"path": p, "error": m} for p, m in self.files_failed]
        data["files_unsupported"] = [{"path": p, "reason": r} for p, r in self.files_unsupported]
        data["items_failed"] = [{"path": p, "item": k, "error": m} for p, k, m in self.items_failed]
        data["missing"] = [{"path": p, "item": k} for p, k in self.missing]
        return data


@dataclass(frozen=True)
class AdapterVersion:
    """A LoRA adapter consolidated from facts (assistant.memory.consolidate)."""

    id: int
    created_at: str
    status: str  # 'active' | 'inactive' (kept: can roll back to it) | 'rejected' (failed the gate)
    facts: int
    base_model: str
    seed: int
    fact_gain: float | None  # nats per answer token gained on its facts (llama.cpp)
    probe_delta: float | None  # change on the safety probes vs the base model, nats per token
    reason: str | None  # why it was rejected
    seconds: float
    size_bytes: int


@dataclass(frozen=True)
class ConsolidatedFact:
    memory_id: int
    text: str
    question: str
    answer: str


@dataclass(frozen=True)
class ConsolidationStatus:
    enabled: bool  # the off switch: False = no adapter is applied
    active: AdapterVersion | None
    rebuild_pending: bool  # a fact in an adapter was forgotten or changed: off until rebuilt
    facts_ready: int  # facts the next snapshot would hold
    schedule: str  # 'off' | 'idle'
    last_error: str | None


@dataclass(frozen=True)
class ConsolidationProgress:
    phase: str  # 'snapshot' | 'training' | 'exporting' | 'checking' | 'done'
    done: int
    total: int
