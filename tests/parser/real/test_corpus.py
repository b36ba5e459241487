"""The real-message corpus is well-formed: the parser's training and its accuracy test rely on it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.parser.real.corpus import FIELDS, load_corpus, split_of

VOCABULARY = Path(__file__).parents[3] / "bot" / "data" / "vocabulary.yaml"
KINDS = {"family", "building", "area"}
MIN_REPORTS = 880
MIN_NON_REPORTS = 610


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return load_corpus()


@pytest.fixture(scope="module")
def category_codes() -> set[str]:
    vocabulary = yaml.safe_load(VOCABULARY.read_text(encoding="utf-8"))
    return {category["code"] for category in vocabulary["categories"]}


def test_every_entry_has_every_field_with_its_type(corpus: list[dict]) -> None:
    optional_text = ("original", "trigger_added", "building", "unit", "origin")
    optional_count = ("people", "households")
    for entry in corpus:
        assert set(entry) == set(FIELDS), entry["text"]
        assert isinstance(entry["text"], str) and entry["text"].strip(), entry
        assert isinstance(entry["source"], str) and entry["source"].strip(), entry["text"]
        assert isinstance(entry["is_report"], bool), entry["text"]
        assert isinstance(entry["category"], list), entry["text"]
        for key in optional_text:
            assert entry[key] is None or (isinstance(entry[key], str) and entry[key]), (entry["text"], key)
        for key in optional_count:
            value = entry[key]
            assert value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0), (
                entry["text"],
                key,
            )


def test_labels_use_known_kinds_and_category_codes(corpus: list[dict], category_codes: set[str]) -> None:
    for entry in corpus:
        if entry["is_report"]:
            assert entry["kind"] in KINDS, entry["text"]
            assert entry["category"], entry["text"]
            assert set(entry["category"]) <= category_codes, entry["text"]
            assert len(set(entry["category"])) == len(entry["category"]), entry["text"]
        else:
            assert entry["kind"] is None and entry["category"] == [], entry["text"]
            assert all(entry[key] is None for key in ("building", "unit", "people", "households", "origin"))


def test_an_added_trigger_is_recorded_with_the_original_text(corpus: list[dict]) -> None:
    for entry in corpus:
        if entry["trigger_added"] is not None:
            assert entry["is_report"], entry["text"]
            assert entry["original"] is not None, entry["text"]
            # the trigger leads the text, bare (求助：…) or in brackets as residents write it (【求助】…)
            assert entry["text"].removeprefix("【").startswith(entry["trigger_added"]), entry["text"]
            assert entry["text"].endswith(entry["original"]), entry["text"]
        if not entry["is_report"]:
            assert entry["original"] is None, entry["text"]


def test_no_text_appears_twice(corpus: list[dict]) -> None:
    repeated = [text for text, count in Counter(entry["text"] for entry in corpus).items() if count > 1]
    assert repeated == []


def test_the_corpus_is_large_enough_for_training_and_scoring(corpus: list[dict]) -> None:
    reports = sum(entry["is_report"] for entry in corpus)
    assert reports >= MIN_REPORTS
    assert len(corpus) - reports >= MIN_NON_REPORTS


def test_both_splits_hold_reports_and_non_reports(corpus: list[dict]) -> None:
    sides = Counter((split_of(entry["text"]), entry["is_report"]) for entry in corpus)
    for side in ("train", "dev"):
        assert sides[(side, True)] > 0 and sides[(side, False)] > 0, sides


def test_the_split_is_fixed_by_the_text() -> None:
    assert split_of("报修 楼道灯坏了") == split_of("报修 楼道灯坏了")
    assert {split_of(f"求助 {n}") for n in range(40)} == {"train", "dev"}
