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
        ({"rooms": [{"topic": "(", "role": "building"}]}, "config: rooms.0.topic: bad regular expression"),
        ({"rooms": [{"topic": "x", "role": "kitchen"}]}, "config: rooms.0.role:"),
        ({"branches": {1: "6-1"}}, "config: branches: 1: range 6-1 runs backwards"),
        ({"areas": {"一片区": "a-b"}}, "config: areas: 一片区: 'a-b' is not a building number or range"),
        ({"outbox": {"quiet_hours": "22:00-31:00"}}, "config: outbox.quiet_hours: '31:00' is not a time"),
        ({"digest": {"time": "8pm"}}, "config: digest.time: '8pm' is not a time"),
        ({"timezone": "Mars/Olympus"}, "config: timezone: unknown time zone"),
        ({"people": [{"name": "x", "role": "mayor"}]}, "config: people.0.role:"),
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


def test_cli_config_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("community: x\nrooms:\n  - {topic: '(', role: building}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "parse", "登记 3号楼201", "--config", str(bad)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "rooms.0.topic" in result.stderr
    assert "Traceback" not in result.stderr
