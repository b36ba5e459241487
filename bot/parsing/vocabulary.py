"""The packaged vocabulary (bot/data/vocabulary.yaml), optionally overridden from config."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    kind_triggers: dict[str, str]  # trigger word → family/building/area, or "" for generic intake
    chain_trigger: str
    household_words: frozenset[str]
    household_categories: frozenset[str]
    building_part_words: frozenset[str]
    area_words: frozenset[str]
    categories: tuple[Category, ...]  # in priority order
    weak_area_words: frozenset[str] = frozenset()
    estate_wide_words: frozenset[str] = frozenset()
    area_categories: frozenset[str] = frozenset()
    building_count_words: frozenset[str] = frozenset()
    trigger_lead: tuple[str, ...] = ()
    trigger_fillers: tuple[str, ...] = ()

    def category_labels(self) -> dict[str, str]:
        """code → label (return → 返沪登记): how every face names a category."""
        return {c.code: c.label for c in self.categories}

    def all_words(self) -> set[str]:
        words = set(self.kind_triggers) | self.household_words | self.building_part_words | self.area_words
        words |= self.weak_area_words | self.estate_wide_words
        for category in self.categories:
            words.update(category.words)
        return words


@functools.cache
def _read(path: Path) -> Any:
    # Read once per process: the ledger, charts, the workbench and the CLI all ask for labels.
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_vocabulary(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Vocabulary:
    """``overrides`` (config.yaml ``categories:``) maps a code to {label, words}; a new code is
    added before 'other', an existing one has its label/words replaced."""
    data = copy.deepcopy(_read(Path(path or DATA / "vocabulary.yaml").resolve()))
    triggers: dict[str, str] = {}
    for kind, words in data["triggers"].items():
        for word in words:
            triggers[word] = "" if kind == "generic" else kind
    categories = [dict(item) for item in data["categories"]]
    for code, change in (overrides or {}).items():
        # config.yaml's typed entries (label/words, either may be left out) or plain dicts
        change = change.model_dump(exclude_none=True) if hasattr(change, "model_dump") else (change or {})
        existing = next((item for item in categories if item["code"] == code), None)
        if existing is None:
            existing = {"code": code, "label": code, "words": []}
            categories.insert(len(categories) - 1, existing)
        existing.update({k: v for k, v in change.items() if k in ("label", "words")})
    return Vocabulary(
        kind_triggers=triggers,
        chain_trigger=data.get("chain_trigger", "接龙"),
        household_words=frozenset(data["household_words"]),
        household_categories=frozenset(data["household_categories"]),
        building_part_words=frozenset(data["building_part_words"]),
        area_words=frozenset(data["area_words"]),
        categories=tuple(
            Category(c["code"], c["label"], tuple(str(w) for w in c.get("words") or ())) for c in categories
        ),
        weak_area_words=frozenset(data.get("weak_area_words") or ()),
        estate_wide_words=frozenset(data.get("estate_wide_words") or ()),
        area_categories=frozenset(data.get("area_categories") or ()),
        building_count_words=frozenset(data.get("building_count_words") or ()),
        trigger_lead=tuple(data.get("trigger_lead") or ()),
        trigger_fillers=tuple(data.get("trigger_fillers") or ()),
    )


def category_labels(overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """The category labels of the packaged vocabulary with config.yaml's ``categories:``."""
    return load_vocabulary(overrides=overrides).category_labels()
