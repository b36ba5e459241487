"""config.yaml: typed, strict, one clear line per mistake; the shipped file always loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, config_from_dict, load_config, parse_building_range

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_config_loads_and_describes_jiangnan(shipped_config) -> None:
    assert shipped_config.community == "江南新村居民区"
    assert shipped_config.branch_buildings(2) == [str(n) for n in range(7, 13)]
    assert shipped_config.area_of_building("30") == "二片区"
    assert [rule.role for rule in shipped_config.rooms] == ["general", "branch", "building", "area", "staff"]
    assert shipped_config.outbox.quiet_window() is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"comunity": "x"}, "config: unknown key 'comunity'"),
        ({"outbox": {"min_interval": 2}}, "config: unknown key 'outbox.min_interval'"),
        ({"rooms": [{"topic": "(", "role": "building"}]}, "config: rooms[1].topic: bad regular expression"),
        ({"rooms": [{"topic": "x", "role": "kitchen"}]}, "config: rooms[1].role:"),
        ({"branches": {1: "6-1"}}, "config: branches: 1: range 6-1 runs backwards"),
        ({"areas": {"一片区": "a-b"}}, "config: areas: 一片区: 'a-b' is not a building number or range"),
        ({"outbox": {"quiet_hours": "22:00-31:00"}}, "config: outbox.quiet_hours: '31:00' is not a time"),
        ({"digest": {"time": "8pm"}}, "config: digest.time: '8pm' is not a time"),
        ({"timezone": "Mars/Olympus"}, "config: timezone: unknown time zone"),
        ({"people": [{"name": "x", "role": "mayor"}]}, "config: people[1].role:"),
        ({"people": [{"name": "x"}, "张阿姨"]}, "config: people[2]: Input should be a valid dictionary"),
        (
            {"outbox": {"min_interval_seconds": 1e308}},
            "config: outbox.min_interval_seconds: Input should be less than",
        ),
        ({"outbox": {"min_interval_seconds": float("inf")}}, "config: outbox.min_interval_seconds:"),
        (
            {"notices": {"ack_window_hours": 99999999999}},
            "config: notices.ack_window_hours: Input should be less than",
        ),
        ({"categories": {"pets": 1}}, "config: categories.pets:"),
        (
            {"categories": {"pets": {"label": "宠物", "colour": "red"}}},
            "config: unknown key 'categories.pets.colour'",
        ),
        ({"digest": {"weekly_day": "funday"}}, "config: digest.weekly_day: 'funday' is not one of mon, tue"),
        (
            {"rooms": [{"topic": "x", "role": "building", "buildings": "5-3"}]},
            "config: rooms[1].buildings: range 5-3",
        ),
        (
            {"people": [{"name": "x", "building": "abc"}]},
            "config: people[1].building: 'abc' is not a building",
        ),
        ({"branches": {2: ""}}, "config: branches: 2: no buildings"),
        (
            {"branches": {2: "99999999999999999999999"}},
            "config: branches: 2: '99999999999999999999999' is not a building",
        ),
        ({"branches": {1: "1-6", 2: "6-12"}}, "config: branches: building 6 is in both 1 and 2"),
    ],
)
def test_config_mistakes_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_building_ranges() -> None:
    assert parse_building_range("3,5,8-9") == ["3", "5", "8", "9"]
    assert parse_building_range(12) == ["12"]


def test_missing_named_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rooms: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_files_that_cannot_be_read_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("community: 江南新村\n".encode("gbk"))
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 10000 + "]" * 10000 + "\n", encoding="utf-8")
    twice = tmp_path / "twice.yaml"
    twice.write_text(
        "outbox: {min_interval_seconds: 5}\ncommunity: x\noutbox: {quiet_hours: null}\n", encoding="utf-8"
    )
    cases = [
        (folder, f"config: cannot read {folder}: Is a directory"),
        (gbk, f"config: {gbk} is not UTF-8 text (save it as UTF-8)"),
        (deep, f"config: {deep} is nested too deeply"),
        (twice, "config: key 'outbox' appears twice (line 3)"),
    ]
    for path, message in cases:
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert str(caught.value) == message


def test_cli_config_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("community: x\nrooms:\n  - {topic: '(', role: building}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "parse", "登记 3号楼201", "--config", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "rooms[1].topic" in result.stderr
    assert "Traceback" not in result.stderr


def test_categories_from_config_reach_the_parser() -> None:
    from bot.parsing import load_vocabulary

    config = config_from_dict(
        {"categories": {"pets": {"label": "宠物", "words": ["遛狗"]}, "repair": {"label": "维修"}}}
    )
    by_code = {
        category.code: category for category in load_vocabulary(overrides=config.categories).categories
    }
    assert (by_code["pets"].label, by_code["pets"].words) == ("宠物", ("遛狗",))
    assert (
        by_code["repair"].label == "维修" and "漏水" in by_code["repair"].words
    )  # words kept when not given
