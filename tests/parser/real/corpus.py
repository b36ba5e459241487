"""Real residents' messages, labelled with the parse fields, for training and scoring the report parser.

The corpus is one JSON object a line in corpus.jsonl (see README.md beside this file for where the texts
come from and the labelling rules). The train/dev split is fixed by a hash of the text, so a message never
changes sides when others are added.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

CORPUS_PATH = Path(__file__).with_name("corpus.jsonl")

FIELDS = (
    "text",
    "original",
    "trigger_added",
    "source",
    "is_report",
    "kind",
    "category",
    "building",
    "unit",
    "people",
    "households",
    "origin",
)


def load_corpus() -> list[dict]:
    """Every labelled message, in file order."""
    with CORPUS_PATH.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def split_of(text: str) -> Literal["train", "dev"]:
    """About one message in four is held out for scoring; the choice depends on the text alone."""
    return "dev" if int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % 4 == 0 else "train"
