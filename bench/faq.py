"""FAQ retrieval benchmark: time per message, index build time and memory for generated FAQs.

Run with `.venv/bin/python bench/faq.py [--sizes 100,1000,10000] [--queries 2000]`. Each size is measured
in a fresh interpreter so that the RSS figures hold that size's cost alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTHS = (8, 10, 8, 9, 11, 10)
SYLLABLES = "ba be bi bo bu da de di do du fa fe fi la le li lo ma me mi mo na ne ni no pa pe po ra re ri ro"
STOP: tuple[str, ...] = ("how", "do", "i", "the", "a", "to", "of", "for", "is", "can", "you", "my", "with")
STOP += ("le", "la", "les", "de", "du", "des", "comment", "est-ce", "que", "je", "vous")


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    syllables = SYLLABLES.split()
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _sentence(rng: random.Random, vocabulary: list[str], weights: list[float], length: int) -> str:
    # Zipf-like word frequencies and a share of stop words, like real text.
    content = rng.choices(vocabulary, weights, k=length)
    return " ".join(word if rng.random() > 0.35 else rng.choice(STOP) for word in content)


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def generate(entries: int, seed: int = 7) -> tuple[str, list[str]]:
    """A Markdown FAQ of `entries` entries, and visitor messages: paraphrases, typos and off-topic ones."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng, 2000 + entries // 2)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    questions = [_sentence(rng, vocabulary, weights, rng.randint(5, 10)) + " ?" for _ in range(entries)]
    lines = ["# Generated FAQ", ""]
    for question in questions:
        answer = "\n".join(_sentence(rng, vocabulary, weights, rng.randint(20, 60)) for _ in range(2))
        lines += [f"## {question}", "", answer, ""]
    messages = []
    for _ in range(500):
        words = rng.choice(questions).split()[:-1]
        kind = rng.random()
        if kind < 0.4:  # other words: drop some, add some unknown ones
            words = [w for w in words if rng.random() > 0.3] + ["zorglub", "quux"][: rng.randint(0, 2)]
        elif kind < 0.7:  # a typo or two
            for i in rng.sample(range(len(words)), min(len(words), rng.randint(1, 2))):
                words[i] = _typo(rng, words[i])
        else:  # off-topic
            words = ["what", "is", "the", "weather", "like", "in", "paris", "tomorrow"]
        messages.append(" ".join(words))
    return "\n".join(lines), messages


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(path: Path, messages: list[str], queries: int) -> dict[str, float]:
    """Run in a fresh interpreter: import, build (parse + index), then time `queries` searches."""
    base = _rss_kib()
    from chatbot.faq import FaqStore  # noqa: PLC0415 - importing is part of what is measured

    imported = _rss_kib()
    started = time.perf_counter()
    store = FaqStore(path)
    build = time.perf_counter() - started
    gc.collect()
    built = _rss_kib()
    index = store.current()
    for message in messages[:50]:  # warm the stemmer cache as a running service would have
        index.search(message)
    timings = []
    found = 0
    for i in range(queries):
        message = messages[i % len(messages)]
        started = time.perf_counter_ns()
        hits = store.current().search(message)
        timings.append(time.perf_counter_ns() - started)
        found += bool(hits)
    timings.sort()
    return {
        "entries": len(index),
        "median_ms": statistics.median(timings) / 1e6,
        "p95_ms": timings[int(len(timings) * 0.95)] / 1e6,
        "build_ms": build * 1e3,
        "import_mib": (imported - base) / 1024,
        "build_mib": (built - imported) / 1024,
        "found": found / queries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, messages = Path(args.child), json.loads(Path(args.child + ".json").read_text())
        print(json.dumps(measure(path, messages, args.queries)))
        return

    mix = "40% reworded, 30% with a typo or two, 30% off-topic"
    print(f"FAQ retrieval, {args.queries} messages per size ({mix}); MiB: RSS added by import and by index")
    header = ("entries", "median ms", "p95 ms", "build ms", "import MiB", "index MiB")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, WIDTHS, strict=True)))
    with tempfile.TemporaryDirectory() as folder:
        for size in (int(s) for s in args.sizes.split(",")):
            text, messages = generate(size)
            path = Path(folder) / f"faq-{size}.md"
            path.write_text(text, encoding="utf-8")
            Path(f"{path}.json").write_text(json.dumps(messages), encoding="utf-8")
            output = subprocess.run(
                [sys.executable, __file__, "--child", str(path), "--queries", str(args.queries)],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
            r = json.loads(output)
            print(
                f"{r['entries']:>8} {r['median_ms']:>10.3f} {r['p95_ms']:>8.3f} {r['build_ms']:>9.0f}"
                f" {r['import_mib']:>11.1f} {r['build_mib']:>10.1f}"
            )


if __name__ == "__main__":
    main()
