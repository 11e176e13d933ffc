"""Tokens/s of LlamaCppEngine streaming vs raw llama_cpp.Llama streaming, same GGUF and prompt.

Both stream from the same loaded model with the same prompt tokens, greedy decoding and the same KV
cache state, in interleaved runs (engine/raw, then raw/engine, …). The engine's time includes its
own per-call work: rendering the chat template, tokenizing, fitting the window, cancel checks.

    python benchmarks/engine_overhead.py                # a generated ~100 MB random model
    python benchmarks/engine_overhead.py --model PATH   # any GGUF

The last line is one JSON object: {"ratio": …, "engine_tps": …, "raw_tps": …, …}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.cancel import CancelToken
from assistant.engine.base import ChatMessage, GenerationSettings
from assistant.engine.llamacpp import LlamaCppEngine
from assistant.testing import write_tiny_model

PROMPT = [
    ChatMessage("system", "You are Mneme, a private assistant running on the user's computer."),
    ChatMessage("user", "Write a few paragraphs about keeping notes that you can find again."),
]


def run_engine(engine: LlamaCppEngine, settings: GenerationSettings) -> tuple[int, float]:
    started = time.perf_counter()
    completion = engine.stream(PROMPT, settings, CancelToken()).drain()
    return completion.completion_tokens, time.perf_counter() - started


def run_raw(
    engine: LlamaCppEngine, tokens: list[int], settings: GenerationSettings
) -> tuple[int, float]:
    llm = engine._llm  # the same loaded model, driven directly
    started = time.perf_counter()
    count = 0
    for _chunk in llm.create_completion(
        prompt=tokens,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        stream=True,
    ):
        count += 1
    return count, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="GGUF to measure (default: generated 'small')")
    parser.add_argument("--runs", type=int, default=15, help="runs of each, interleaved")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=1024)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or write_tiny_model(Path(scratch) / "small.gguf", preset="small")
        engine = LlamaCppEngine(model, n_ctx=args.n_ctx, n_gpu_layers=None)
        settings = GenerationSettings(max_tokens=args.max_tokens, temperature=0.0)
        tokens = engine.tokenize_messages(PROMPT)
        run_engine(engine, settings)  # warm-up: page in weights, fill the prompt cache
        run_raw(engine, tokens, settings)
        engine_tps: list[float] = []
        raw_tps: list[float] = []
        print(f"model: {model} ({Path(model).stat().st_size / 1e6:.1f} MB)")
        print(f"prompt tokens: {len(tokens)}, max tokens: {args.max_tokens}, runs: {args.runs}")
        print(f"{'run':>4} {'engine tok/s':>14} {'raw tok/s':>12}")
        for run in range(args.runs):
            order = ("engine", "raw") if run % 2 == 0 else ("raw", "engine")
            results = {}
            for which in order:
                if which == "engine":
                    results[which] = run_engine(engine, settings)
                else:
                    results[which] = run_raw(engine, tokens, settings)
            engine_tps.append(results["engine"][0] / results["engine"][1])
            raw_tps.append(results["raw"][0] / results["raw"][1])
            print(f"{run + 1:>4} {engine_tps[-1]:>14.1f} {raw_tps[-1]:>12.1f}")
        engine.close()

    engine_median = statistics.median(engine_tps)
    raw_median = statistics.median(raw_tps)
    ratio = engine_median / raw_median
    print(
        f"median: engine {engine_median:.1f} tok/s, raw {raw_median:.1f} tok/s, ratio {ratio:.3f}"
    )
    print(
        json.dumps(
            {
                "ratio": round(ratio, 4),
                "engine_tps": round(engine_median, 2),
                "raw_tps": round(raw_median, 2),
                "model": str(args.model or "generated:small"),
                "runs": args.runs,
                "max_tokens": args.max_tokens,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
