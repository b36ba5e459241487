"""One place per fact: each fact several floors need is written once, in the module named here,
and imported everywhere else. A second copy in the code (the way the largest building number,
the role words, the weekday names, the open statuses, the trigger words and the category labels
were once copied) fails here with the file that holds it."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from bot.clock import SHANGHAI

ROOT = Path(__file__).resolve().parent.parent
CODE = sorted(
    path
    for folder in ("bot", "handlers", "storage", "web")
    for path in (ROOT / folder).rglob("*.py")
    if "migrations" not in path.parts
)

# fact → (where it lives, a pattern that finds a copy of it written out)
FACTS = {
    "largest building number": ("bot/bounds.py", r"\b999\b"),
    "role words": ("bot/identity.py", r"[\"']党小组长[\"']|[\"']业主代表[\"']"),
    "weekday names": ("bot/clock.py", r"[\"']mon[\"'],\s*[\"']tue[\"']|[\"']周一[\"']"),
    "open statuses": (
        "bot/reports.py",
        r"[\"']open[\"'],\s*[\"']incomplete[\"']|[\"']incomplete[\"'],\s*[\"']pending[\"']",
    ),
    "closed statuses": (
        "bot/reports.py",
        r"[\"']resolved[\"'],\s*[\"']withdrawn[\"']|[\"']withdrawn[\"'],\s*[\"']resolved[\"']",
    ),
    "trigger words": ("bot/data/vocabulary.yaml", r"报修\||求助\||\|报修|\|求助"),
    "category labels": ("bot/parsing/vocabulary.py", r"c\.code:\s*c\.label"),
}


@pytest.mark.parametrize("fact", sorted(FACTS))
def test_each_fact_is_written_once(fact: str) -> None:
    home, pattern = FACTS[fact]
    copies = [
        str(path.relative_to(ROOT))
        for path in CODE
        if re.search(pattern, path.read_text(encoding="utf-8")) and str(path.relative_to(ROOT)) != home
    ]
    assert copies == [], f"{fact} is written out again in {copies}; import it from {home}"


def test_the_homes_hold_the_facts() -> None:
    """The scan above looks for the right thing: each home has the fact it is the home of."""
    for fact, (home, pattern) in FACTS.items():
        if home.endswith(".py"):
            assert re.search(pattern, (ROOT / home).read_text(encoding="utf-8")), (
                f"{fact} not found in {home}"
            )


def test_a_building_number_is_one_number_everywhere() -> None:
    from bot.bounds import MAX_BUILDING
    from bot.config import parse_building_range
    from bot.parsing.fields import extract

    assert parse_building_range(str(MAX_BUILDING)) == [str(MAX_BUILDING)]
    with pytest.raises(ValueError):
        parse_building_range(str(MAX_BUILDING + 1))
    now = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    assert extract(f"{MAX_BUILDING}号楼201", now).building == str(MAX_BUILDING)
    assert extract(f"{MAX_BUILDING + 1}号楼201", now).building is None


def test_roster_and_chat_read_the_same_role_words() -> None:
    from bot.identity import ROLE_LABEL, ROLE_WORDS
    from bot.roster import ROLES

    assert {word: role for word, role in ROLES.items() if word} == ROLE_WORDS | {"街道": "street"}
    assert all(ROLES[label] == role for role, label in ROLE_LABEL.items())
