"""The core loads its heavy libraries only when the work that needs them runs.

torch (the pool, training), sentence-transformers and ONNX Runtime (the encoder), faiss (large
pools) and llama.cpp (the model) take seconds to import on two cores. `import assistant` and the
everyday database calls (the ones the desktop app makes while its window comes up) import none of
them. Checked in a fresh interpreter: in this one, other tests have imported them already.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "torch",
    "sentence_transformers",
    "transformers",
    "onnxruntime",
    "faiss",
    "llama_cpp",
)
ROOT = Path(__file__).resolve().parents[2]


def run_fresh(script: str, env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Run `script` in a new interpreter; it prints one JSON object as its last line."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


CORE_SCRIPT = """
import json, sys
HEAVY = {heavy!r}

def loaded():
    return sorted(name for name in HEAVY if name in sys.modules)

from assistant import Assistant
from assistant.memory.store import NewMemory

seen = {{"import": loaded()}}
with Assistant() as assistant:
    assistant.open()
    conversation = assistant.new_conversation("Trip")
    assistant.conversations()
    assistant.search_conversations("Trip")
    assistant.models.active()
    memory = assistant.memory
    fact = memory.remember("I live in Lisbon")
    ids = memory.add([NewMemory(text=f"note {{i}} about the garden", kind="episode") for i in range(5)])
    memory.browse()
    memory.count()
    memory.search("garden")
    memory.inbox()
    memory.pending_vectors()
    memory.status()
    memory.extraction_status()
    memory.health()
    memory.pin(fact.id)
    memory.forget(ids[0])
    seen["calls"] = loaded()
# The check sees an import when one happens: the pool brings torch.
import assistant.memory.pool
seen["pool"] = loaded()
print(json.dumps(seen))
"""


def test_the_core_and_its_database_calls_load_no_heavy_library(mneme_home: Path) -> None:
    env = {**os.environ, "MNEME_HOME": str(mneme_home), "MNEME_DB_KEY": secrets.token_hex(32)}
    seen = run_fresh(CORE_SCRIPT.format(heavy=HEAVY), env)
    assert seen["import"] == []
    assert seen["calls"] == []
    assert "torch" in seen["pool"]
