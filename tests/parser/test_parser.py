"""The parser, table-driven: every case in cases.yaml asserts the fields it names."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from bot.clock import SHANGHAI
from bot.parsing import ReportParser, load_vocabulary, required_fields
from bot.parsing.numerals import to_int

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=SHANGHAI)
CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text(encoding="utf-8"))
SPEC_KEYS = {
    "is_report",
    "kind",
    "category",
    "building",
    "unit",
    "people",
    "households",
    "origin",
    "date",
    "missing",
    "lines",
}


@pytest.fixture(scope="module")
def parser() -> ReportParser:
    return ReportParser(load_vocabulary())


def _check(parsed: dict, expected: dict, text: str) -> None:
    for key, value in expected.items():
        if key in ("text", "report", "chain", "phone"):
            continue
        assert parsed[key] == value, f"{text!r}: {key} = {parsed[key]!r}, expected {value!r}"


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:24].replace("\n", "/") for c in CASES])
def test_case(parser: ReportParser, case: dict) -> None:
    result = parser.parse(case["text"], NOW)
    parsed = result.to_json()
    assert set(parsed) == SPEC_KEYS
    if case.get("report") is False:
        assert parsed == {
            key: ([] if key == "missing" else False if key == "is_report" else None) for key in SPEC_KEYS
        }
        return
    assert parsed["is_report"] is True, case["text"]
    if "phone" in case:
        assert result.fields.phone == case["phone"]
    if "chain" in case:
        assert result.is_chain and parsed["lines"] is not None
        assert len(parsed["lines"]) == len(case["chain"])
        for line, expected in zip(parsed["lines"], case["chain"]):
            assert line["kind"] == "family"
            _check(line, expected, case["text"])
        return
    assert parsed["lines"] is None
    _check(parsed, case, case["text"])


def test_table_is_big_and_covers_the_grammar() -> None:
    assert len(CASES) >= 150
    texts = "\n".join(c["text"] for c in CASES)
    vocabulary = load_vocabulary()
    for trigger in vocabulary.kind_triggers:
        assert trigger in texts, trigger
    categories = {c.get("category") for c in CASES} | {
        line.get("category") for c in CASES for line in c.get("chain", [])
    }
    assert {c.code for c in vocabulary.categories} <= categories
    assert {c.get("kind") for c in CASES} >= {"family", "building", "area"}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("三", 3),
        ("十一", 11),
        ("三十六", 36),
        ("二十", 20),
        ("两", 2),
        ("二零一", 201),
        ("二〇一", 201),
        ("一百零二", 102),
        ("x", None),
    ],
)
def test_numerals(text: str, value: int | None) -> None:
    assert to_int(text) == value


def test_required_fields() -> None:
    assert required_fields("family") == ("building", "unit")
    assert required_fields("building") == ("building",)
    assert required_fields("area") == ()


def test_extract_fields_without_trigger(parser: ReportParser) -> None:
    fields = parser.extract_fields("302室", NOW)
    assert (fields.unit, fields.building, fields.category) == ("302", None, None)
    fields = parser.extract_fields("5号楼 3人 发烧", NOW)
    assert (fields.building, fields.people, fields.category) == ("5", 3, "health")


def test_answer_fields_reads_bare_numbers_by_what_was_asked(parser: ReportParser) -> None:
    assert parser.answer_fields("302", ["unit"], NOW).unit == "302"
    only_building = parser.answer_fields("3", ["building"], NOW)
    assert (only_building.building, only_building.unit) == ("3", None)
    both = parser.answer_fields("12号楼 303", ["building", "unit"], NOW)
    assert (both.building, both.unit) == ("12", "303")
    spaced = parser.answer_fields("12 303", ["building", "unit"], NOW)
    assert (spaced.building, spaced.unit) == ("12", "303")
    assert parser.answer_fields("好的谢谢", ["unit"], NOW).unit is None


def test_dates_are_relative_to_the_message_time(parser: ReportParser) -> None:
    january = datetime(2026, 1, 3, 9, 0, tzinfo=SHANGHAI)
    assert parser.parse("登记 3号楼201 12月30日返沪", january).fields.date == date(2025, 12, 30)
    assert parser.parse("登记 3号楼201 昨天返沪", january).fields.date == date(2026, 1, 2)


def test_a_huge_message_keeps_its_start(parser: ReportParser) -> None:
    """Its speed is measured in bench/bench_parse.py, as a ratio to jieba on the same text."""
    text = "登记 3号楼201 返沪 " + "很长" * 25_000
    result = parser.parse(text, NOW)
    assert (result.fields.building, result.fields.unit) == ("3", "201")


def test_category_words_are_data(tmp_path: Path) -> None:
    vocabulary = load_vocabulary(overrides={"garbage_time": {"label": "垃圾定时投放", "words": ["投放点"]}})
    parser = ReportParser(vocabulary)
    assert parser.parse("反映 投放点没人值守", NOW).category == "garbage_time"
    assert parser.category_labels()["garbage_time"] == "垃圾定时投放"
