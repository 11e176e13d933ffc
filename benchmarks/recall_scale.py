"""Recall latency with N synthetic memories: the real store (SQLCipher + FTS5), pool and recall code.

    python benchmarks/recall_scale.py --memories 100000

N memory rows with Zipf-distributed word texts go into an encrypted database (so keywords are real
FTS5 work). Encoding N texts would take hours, so their vectors are synthetic but shaped like real
ones: each is a real MiniLM embedding of one of 2,048 sentences plus noise, window vectors mix
each memory with its session neighbours, and every memory has two stored sentence vectors (recall
reads the candidates' ones from the database). Queries are real sentences encoded by the real encoder
inside each timed recall call. Above 30k memories the pool switches to its faiss IVF-SQ8 indexes;
then the benchmark also reports `ivf_overlap`: the share of the exact top-60 (text keys) that the
indexed search finds, averaged over 50 queries.

Last line: {"memories": N, "p50_ms": …, "p95_ms": …, …}; `cpu_steal_pct` is the share of CPU time
the host took away during the timed queries (Linux VMs): above a few percent, the latencies are
inflated by the neighbours, not by Mneme.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.memory.encoder import Encoder
from assistant.memory.pool import MemoryPool
from assistant.memory.recall import Recaller
from assistant.memory.sentences import pack
from assistant.memory.store import MemoryStore, NewMemory
from assistant.secrets import raw_key
from assistant.storage.database import EncryptedDatabase, open_database

TOPICS = [
    "garden tomatoes watering schedule",
    "dentist appointment on friday",
    "flight to lisbon in may",
    "sister birthday gift ideas",
    "car service and new tyres",
    "quarterly tax return documents",
    "running a half marathon",
    "learning the cello",
    "book club reading list",
    "kitchen renovation budget",
    "adopting a rescue dog",
    "team offsite planning",
    "grandma's lasagne recipe",
    "moving to a new flat",
    "weekend hiking trip",
    "podcast recommendations",
    "broken laptop screen",
    "wedding guest list",
    "yoga class on tuesdays",
    "electricity bill too high",
]


def sentences(rng: np.random.Generator, vocabulary: list[str], count: int) -> list[str]:
    out = []
    for _ in range(count):
        topic = TOPICS[int(rng.integers(len(TOPICS)))]
        words = rng.zipf(1.3, size=int(rng.integers(6, 18))) % len(vocabulary)
        out.append(f"{topic} " + " ".join(vocabulary[w] for w in words))
    return out


def store_sentences(
    database: EncryptedDatabase, ids: list[int], text: np.ndarray, rng: np.random.Generator
) -> None:
    """Two sentence vectors for every memory (each its text vector plus noise), as fill stores
    them: recall reads the candidates' blobs from the database. Real chat turns average about one
    stored sentence vector each (LoCoMo: 1.03; one-sentence turns store none), so this is the
    heavier case."""
    batch = 20_000
    for start in range(0, len(ids), batch):
        rows = text[start : start + batch]
        pieces = rows[:, None, :] + 0.5 * rng.standard_normal(
            (len(rows), 2, rows.shape[1]), dtype=np.float32
        ) / np.sqrt(rows.shape[1])
        pieces /= np.linalg.norm(pieces, axis=2, keepdims=True)
        with database.write() as db:
            db.conn.executemany(
                "INSERT INTO memory_vectors (memory_id, variant, encoder, vector) "
                "VALUES (?, 'sentences', 'synthetic', ?)",
                [(ids[start + i], pack(pieces[i])) for i in range(len(rows))],
            )


def cpu_steal() -> tuple[int, int] | None:
    """(steal, total) CPU ticks so far (Linux): time a virtual machine's host gave to others.
    Reported beside the latencies because on a shared host it inflates them."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    return (ticks[7], sum(ticks)) if len(ticks) > 7 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    vocabulary = [f"w{i}" for i in range(20_000)]
    for index, word in enumerate(
        [
            "the",
            "a",
            "to",
            "and",
            "of",
            "in",
            "my",
            "for",
            "on",
            "with",
            "about",
            "at",
            "we",
            "it",
            "was",
            "is",
            "next",
            "call",
            "plan",
            "bought",
        ]
    ):
        vocabulary[index] = word

    encoder = Encoder()
    base_texts = sentences(rng, vocabulary, 2048)
    started = time.perf_counter()
    base = encoder.encode(base_texts)
    print(f"encoded 2048 base sentences in {time.perf_counter() - started:.1f} s")

    with tempfile.TemporaryDirectory(prefix="mneme-scale-") as scratch:
        database = open_database(Path(scratch) / "scale.db", raw_key(secrets.token_bytes(32)))
        store = MemoryStore(database)
        started = time.perf_counter()
        choice = rng.integers(0, len(base_texts), args.memories)
        ids: list[int] = []
        batch = 20_000
        for start in range(0, args.memories, batch):
            chunk = [
                NewMemory(
                    text=base_texts[int(choice[i])],
                    session=f"s{i // 20}",
                    position=i % 20,
                    occurred_at=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00",
                )
                for i in range(start, min(start + batch, args.memories))
            ]
            ids += store.add_many(chunk)
        insert_s = time.perf_counter() - started
        print(f"stored {args.memories} memories (FTS5 indexed, encrypted) in {insert_s:.1f} s")

        noise = rng.standard_normal((args.memories, base.shape[1]), dtype=np.float32)
        text = base[choice] + 0.35 * noise / np.sqrt(base.shape[1]) * 8
        text /= np.linalg.norm(text, axis=1, keepdims=True)
        window = text.copy()
        window[1:] += 0.5 * text[:-1]
        window[:-1] += 0.5 * text[1:]
        window /= np.linalg.norm(window, axis=1, keepdims=True)
        started = time.perf_counter()
        store_sentences(database, ids, text, rng)
        sentences_s = time.perf_counter() - started
        print(f"stored two sentence vectors per memory in {sentences_s:.1f} s")
        pool = MemoryPool(base.shape[1])
        started = time.perf_counter()
        pool.load_rows(
            ids,
            [f"s{i // 20}" for i in range(args.memories)],
            [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00" for i in range(args.memories)],
            ["user-stated"] * args.memories,
            [False] * args.memories,
            [0] * args.memories,
            text,
            window,
            words=[len(base_texts[int(c)].split()) for c in choice],
        )
        build_s = time.perf_counter() - started
        index = "ivf-sq8" if pool.text_index is not None else "exact"
        print(f"pool built in {build_s:.1f} s ({index} search)")
        del noise, text, window

        recaller = Recaller(store, pool, encoder.encode_query)
        queries = [  # the first five only warm up (their timings are not counted)
            f"what did I note about {TOPICS[int(rng.integers(len(TOPICS)))]} "
            + " ".join(vocabulary[w % len(vocabulary)] for w in rng.zipf(1.3, size=3))
            for _ in range(args.queries + 5)
        ]
        for query in queries[:5]:
            recaller.recall(query, 10)  # warm-up
        latencies = []
        steal_before = cpu_steal()
        for query in queries[5:]:
            begin = time.perf_counter()
            recalled = recaller.recall(query, 10)
            latencies.append((time.perf_counter() - begin) * 1000)
            assert len(recalled) == 10
        steal = cpu_steal()
        steal_pct = (
            None
            if steal is None or steal_before is None
            else round(100 * (steal[0] - steal_before[0]) / max(1, steal[1] - steal_before[1]), 1)
        )
        overlap = None
        if pool.text_index is not None:
            shares = []
            for query in queries[5:55]:
                vector = torch.from_numpy(encoder.encode_query(query))
                exact = set(np.argsort(-(pool.keys.numpy() @ vector.numpy()))[:60].tolist())
                found = set(pool.top_text(vector, 60)[0].tolist())
                shares.append(len(exact & found) / 60)
            overlap = round(float(np.mean(shares)), 3)
        database.close()

    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(f"{'memories':>10} {'search':>7} {'p50 ms':>8} {'p95 ms':>8}")
    print(f"{args.memories:>10} {index:>7} {p50:>8.1f} {p95:>8.1f}")
    print(
        json.dumps(
            {
                "memories": args.memories,
                "p50_ms": round(p50, 2),
                "p95_ms": round(p95, 2),
                "search": index,
                "ivf_overlap": overlap,
                "cpu_steal_pct": steal_pct,
                "queries": args.queries,
                "insert_s": round(insert_s, 1),
                "pool_build_s": round(build_s, 1),
                "sentences_s": round(sentences_s, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
