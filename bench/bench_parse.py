"""Parse speed against bare jieba segmentation of the same corpus, in one run.

    python bench/bench_parse.py

Corpus: the parser case table (tests/parser/cases.yaml) repeated with small variations to 3,000
messages. Reports the best of 5 rounds for each, the ratio parse/lcut, and the cold start of a
second process with the jieba cache file present.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import jieba
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import SHANGHAI
from bot.parsing import ReportParser, load_vocabulary

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=SHANGHAI)


def corpus(size: int = 3000) -> list[str]:
    cases = yaml.safe_load((ROOT / "tests" / "parser" / "cases.yaml").read_text(encoding="utf-8"))
    texts = [c["text"] for c in cases if c["text"].strip()]
    return [f"{texts[i % len(texts)]} {i % 97}" if i % 3 else texts[i % len(texts)] for i in range(size)]


def best_of(rounds: int, work) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    messages = corpus()
    parser = ReportParser(load_vocabulary())
    jieba.initialize()
    jieba.lcut("预热")
    for text in messages[:200]:
        parser.parse(text, NOW)
    lcut = best_of(5, lambda: [jieba.lcut(t) for t in messages])
    parse = best_of(5, lambda: [parser.parse(t, NOW) for t in messages])
    print(f"messages: {len(messages)}")
    print(f"jieba.lcut: {lcut:.3f} s ({len(messages) / lcut:,.0f} msg/s)")
    print(f"parse:      {parse:.3f} s ({len(messages) / parse:,.0f} msg/s)")
    print(f"ratio parse/lcut: {parse / lcut:.2f}")
    huge = "登记 3号楼201 返沪 " + "很长" * 25_000  # a 50,000-character paste
    huge_lcut = best_of(3, lambda: jieba.lcut(huge))
    huge_parse = best_of(3, lambda: parser.parse(huge, NOW))
    print(f"a 50,000-character paste: parse/lcut {huge_parse / huge_lcut:.2f} (near the ratio above: no blow-up)")
    code = "from bot.parsing import ReportParser, load_vocabulary; ReportParser(load_vocabulary())"
    starts = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        starts.append(time.perf_counter() - started)
    print(f"second-process start with jieba cache: best {min(starts):.2f} s of {len(starts)}")


if __name__ == "__main__":
    main()
