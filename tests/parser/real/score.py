"""Per-field accuracy of the report parser on the real-message corpus.

    python -m tests.parser.real.score              # the dev split (held out from training)
    python -m tests.parser.real.score --split train --errors

How a message is scored:
- is_report: over every message.
- kind, category, building, unit, people: over the messages labelled as reports; a message the
  parser does not take as a report counts as wrong for each of them. None equals None: a building
  the parser invents where the text names none is wrong, and so is one it misses.
- category is right when the parser's category is the corpus' preferred one or any alternative it
  lists (the labels list a second category where two are defensible).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import SHANGHAI
from bot.parsing import ReportParser, load_vocabulary
from tests.parser.real.corpus import load_corpus, split_of

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=SHANGHAI)
REPORT_FIELDS = ("kind", "category", "building", "unit", "people", "households", "origin")
# What the parser must reach on the dev split (tests/parser/real/test_score.py)
TARGETS = {"is_report": 0.97, "category": 0.90, "kind": 0.90, "building": 0.97, "unit": 0.97, "people": 0.90}


@dataclass
class Score:
    right: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[str, str, object, object]] = field(default_factory=list)

    def add(self, name: str, ok: bool, text: str, got: object, expected: object) -> None:
        self.right[name] = self.right.get(name, 0) + ok
        self.total[name] = self.total.get(name, 0) + 1
        if not ok:
            self.errors.append((name, text, got, expected))

    def accuracy(self, name: str) -> float:
        return self.right.get(name, 0) / self.total[name] if self.total.get(name) else 1.0


def score(parser: ReportParser, split: str) -> Score:
    result = Score()
    for entry in load_corpus():
        if split != "all" and split_of(entry["text"]) != split:
            continue
        parsed = parser.parse(entry["text"], NOW).to_json()
        text = entry["text"]
        result.add(
            "is_report",
            parsed["is_report"] == entry["is_report"],
            text,
            parsed["is_report"],
            entry["is_report"],
        )
        if not entry["is_report"]:
            continue
        for name in REPORT_FIELDS:
            expected = entry[name]
            got = parsed[name]
            ok = got in expected if name == "category" else got == expected
            result.add(name, bool(ok and parsed["is_report"]), text, got, expected)
    return result


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description="Per-field accuracy of the parser on the real corpus")
    options.add_argument("--split", choices=("dev", "train", "all"), default="dev")
    options.add_argument("--errors", action="store_true", help="list the messages each field got wrong")
    args = options.parse_args(argv)
    result = score(ReportParser(load_vocabulary()), args.split)
    print(
        f"split: {args.split}  messages: {result.total['is_report']}  reports: {result.total.get('kind', 0)}"
    )
    for name in ("is_report", *REPORT_FIELDS):
        target = TARGETS.get(name)
        mark = (
            ""
            if target is None
            else f"  (target {target:.2f}{'' if result.accuracy(name) >= target else ', BELOW'})"
        )
        print(
            f"{name:10} {result.accuracy(name):.3f}  {result.right.get(name, 0)}/{result.total.get(name, 0)}{mark}"
        )
    if args.errors:
        for name, text, got, expected in result.errors:
            print(f"[{name}] got {got!r} expected {expected!r}: {text[:90]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
