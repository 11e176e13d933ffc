"""Import a generated 10,000-message mbox and measure: seconds until keyword-searchable, end-to-end
chunks/s (parse + store + encode) against the raw encoder's chunks/s on the same texts, peak RSS of the
import (before the encoder loads) and of the whole run.

The mbox has threads, HTML-only and multipart/alternative messages, attachments (.txt .md .html)
and five charsets. Run: `python -m benchmarks.import_mbox [--messages N]`. The last line is JSON:
{"messages", "searchable_s", "throughput_ratio", "peak_rss_mb", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

CHARSETS = ("utf-8", "iso-8859-1", "windows-1251", "shift_jis", "koi8-r")
PHRASES = {
    "utf-8": "Grüße aus Zürich, wir sehen uns beim Treffen",
    "iso-8859-1": "Le café est prêt, à bientôt",
    "windows-1251": "Привет, встреча перенесена на пятницу",
    "shift_jis": "会議は金曜日に変更されました",
    "koi8-r": "Добрый вечер, отчёт готов",
}
WORDS = [
    "garden",
    "project",
    "budget",
    "meeting",
    "invoice",
    "travel",
    "flight",
    "hotel",
    "report",
    "draft",
    "review",
    "family",
    "dinner",
    "school",
    "concert",
    "doctor",
    "appointment",
    "insurance",
    "renewal",
    "lease",
    "apartment",
    "repair",
    "plumber",
    "quote",
    "release",
    "schedule",
    "deadline",
    "design",
    "feedback",
    "contract",
    "signature",
    "holiday",
    "photos",
    "recipe",
]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."


def generate(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    people = [f"person{n}@example.org" for n in range(60)]
    with path.open("wb") as out:
        roots: list[int] = []
        for number in range(count):
            msg = EmailMessage()
            msg["Message-ID"] = f"<bench{number}@example.org>"
            msg["From"] = f"Person <{rng.choice(people)}>"
            msg["To"] = ", ".join(rng.sample(people, rng.randint(1, 3)))
            if rng.random() < 0.3:
                msg["Cc"] = rng.choice(people)
            msg["Subject"] = f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{number}"
            msg["Date"] = (
                f"{rng.randint(1, 28):02d} Mar 2024 {rng.randint(0, 23):02d}:"
                f"{rng.randint(0, 59):02d}:00 +0000"
            )
            if roots and rng.random() < 0.5:  # a reply in an earlier thread
                root = rng.choice(roots[-200:])
                msg["In-Reply-To"] = f"<bench{root}@example.org>"
                msg["References"] = f"<bench{root}@example.org>"
            else:
                roots.append(number)
            charset = CHARSETS[number % len(CHARSETS)]
            paragraphs = [_sentence(rng) for _ in range(rng.randint(1, 6))]
            body = PHRASES[charset] + "\n\n" + "\n\n".join(paragraphs)
            body += "\n\nOn Monday someone wrote:\n> " + _sentence(rng) + "\n\n-- \nSignature"
            kind = number % 10
            if kind == 0:  # HTML only
                html = (
                    "<html><body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
                )
                msg.set_content(html, subtype="html", charset="utf-8")
            else:
                msg.set_content(body, charset=charset)
                if kind in (1, 2):
                    html = "".join(f"<p>{p}</p>" for p in paragraphs)
                    msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
            if kind == 3:
                text = "\n\n".join(_sentence(rng) for _ in range(8)).encode()
                name = rng.choice(["notes.txt", "plan.md", "page.html"])
                if name == "page.html":
                    text = b"<h1>Notes</h1><p>" + text + b"</p>"
                msg.add_attachment(
                    text, maintype="application", subtype="octet-stream", filename=name
                )
            raw = msg.as_bytes().replace(b"\r\n", b"\n")
            raw = b"\n".join(
                b">" + ln if ln.startswith(b"From ") else ln for ln in raw.split(b"\n")
            )
            out.write(b"From bench@example.org Mon Mar  4 10:00:00 2024\n" + raw.rstrip() + b"\n\n")


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--searchable-only",
        action="store_true",
        help="stop once the mail is keyword-searchable (no vectors): for memory checks on big mboxes",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mneme-bench-") as folder:
        root = Path(folder)
        os.environ["MNEME_HOME"] = str(root / "home")
        os.environ.setdefault("MNEME_DB_KEY", "benchmark passphrase")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from assistant import Assistant

        mbox = root / "bench.mbox"
        generate(mbox, args.messages)
        size_mb = mbox.stat().st_size / 2**20
        print(f"generated {args.messages} messages, {size_mb:.1f} MB", file=sys.stderr)
        with Assistant() as assistant:
            assistant.open()
            started = time.perf_counter()
            summary = assistant.import_([mbox])
            searchable_s = time.perf_counter() - started
            import_rss = peak_rss_mb()  # before the encoder (torch) loads
            hits = assistant.memory.search("invoice", limit=5)
            assert hits, "imported chunks are not keyword-searchable"
            chunks = summary.chunks_added
            print(
                f"imported {summary.items_imported} messages, {chunks} chunks, "
                f"{len(summary.items_failed)} item errors in {searchable_s:.1f} s",
                file=sys.stderr,
            )
            if args.searchable_only:
                print(
                    json.dumps(
                        {
                            "messages": args.messages,
                            "mbox_mb": round(size_mb, 1),
                            "chunks": chunks,
                            "searchable_s": round(searchable_s, 2),
                            "peak_rss_mb": import_rss,
                        }
                    )
                )
                return
            memory = assistant.memory
            encoder = memory.encoder  # loaded before timing the fill: a one-time cost
            encoder.encode(["warm up"])
            filled = time.perf_counter()
            fill = getattr(memory, "fill_vectors", None)
            if fill is not None:
                fill()
            else:
                memory.sync()
            fill_s = time.perf_counter() - filled
            end_to_end = chunks / (searchable_s + fill_s)
            texts = [m.text for m in memory.browse(kind="chunk", limit=chunks + 10)]
            raw_started = time.perf_counter()
            encoder.encode(texts)
            raw_s = time.perf_counter() - raw_started
            raw_rate = len(texts) / raw_s
        result = {
            "messages": args.messages,
            "chunks": chunks,
            "searchable_s": round(searchable_s, 2),
            "fill_s": round(fill_s, 2),
            "end_to_end_chunks_per_s": round(end_to_end, 1),
            "raw_encoder_chunks_per_s": round(raw_rate, 1),
            "throughput_ratio": round(end_to_end / raw_rate, 3),
            "peak_rss_mb": import_rss,
            "peak_rss_mb_with_encoder": peak_rss_mb(),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
