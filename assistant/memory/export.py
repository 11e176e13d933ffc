"""`mneme memory export`: every memory as JSON, with where it came from.

One JSON object: {"format": "mneme-memories", "version": 1, "exported_at": …, "memories": [...]},
each memory with its fields, its provenance (assistant.memory.browse.provenance) and, for facts,
every source it was read in. Written piece by piece (pages of PAGE memories), so a large memory
is never held whole. The file holds the user's memory in clear text: the caller chooses where.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from assistant.memory import browse, facts
from assistant.memory.store import memory_from_row
from assistant.storage.database import EncryptedDatabase

PAGE = 1000


def memories(database: EncryptedDatabase) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        with database.read() as db:
            rows = list(
                db.query("SELECT * FROM memories WHERE id > ? ORDER BY id LIMIT ?", [after, PAGE])
            )
        if not rows:
            return
        for row in rows:
            memory = memory_from_row(row)
            item = memory.to_json()
            item["provenance"] = browse.provenance(database, memory)
            if memory.kind == "fact":
                item["sources"] = facts.sources_of(database, memory.id)
            yield item
        after = rows[-1]["id"]


def chunks(database: EncryptedDatabase) -> Iterator[str]:
    """The export as text pieces (valid JSON once joined)."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    yield f'{{"format": "mneme-memories", "version": 1, "exported_at": "{stamp}", "memories": ['
    first = True
    for item in memories(database):
        yield ("\n" if first else ",\n") + json.dumps(item, ensure_ascii=False, default=list)
        first = False
    yield "\n]}\n"
