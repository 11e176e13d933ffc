"""The plain dataclasses the front door returns. The UI and the CLI see only these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: str
    updated_at: str
    incognito: bool = False


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecalledMemory:
    """A memory with the score recall gave it and the reasons, strongest first."""

    memory: Memory
    score: float
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"memory": self.memory.to_json(), "score": self.score, "reasons": list(self.reasons)}
