"""Structured fields from free text: regexes for numbers and places, after NFKC normalisation."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields as dataclass_fields, replace
from datetime import date, datetime, timedelta

from bot.parsing.numerals import NUMERAL_CHARS, to_int

N = rf"(?:\d+|[{NUMERAL_CHARS}]+)"  # a number, Arabic or Chinese
CJK = r"[\u4e00-\u9fff]"

PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
ISO_DATE = re.compile(r"(?<!\d)(20\d{2})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
MONTH_DAY = re.compile(r"(?<![\d.])(\d{1,2})月(\d{1,2})[日号]?")
SHORT_DATE = re.compile(r"(?<![\d./-])(\d{1,2})[./](\d{1,2})(?![\d./])")
RELATIVE_DAYS = {"今天": 0, "今日": 0, "昨天": -1, "昨日": -1, "前天": -2, "明天": 1}
# 3-201, 3号楼201室, 3号201, 3幢201, 三号楼二零一
BUILDING_UNIT = re.compile(
    rf"(?<![\d])({N})\s*(?:号楼|幢|栋|号)?\s*[-—_]\s*(\d{{3,4}})(?!\d)"
    rf"|(?<![\d])({N})\s*(?:号楼|幢|栋|号)\s*({N})\s*(?:室|号房|号|房)?"
)
UNIT = re.compile(rf"(?<![\d\-])({N})\s*(?:室|号房|房间)")
BUILDING = re.compile(rf"(?<![\d])({N})\s*(?:号楼|幢|栋|号(?![房室]))")
BARE_UNIT = re.compile(r"(?<![\d.:/\-])(\d{3,4})(?![\d.:/\-]|\s*[人户位口个岁元块天])")
PEOPLE = [
    (re.compile(r"老两口"), 2),
    (re.compile(rf"一家({N})口"), None),
    (re.compile(rf"({N})\s*口人"), None),
    (re.compile(rf"({N})\s*个?(?:人|位)"), None),
]
HOUSEHOLDS = re.compile(rf"({N})\s*户")
ORIGIN_PATTERNS = [
    re.compile(rf"来自\s*({CJK}{{2,6}}?)(?=省|市|$|[^\u4e00-\u9fff]|返|回|来|的|地区|老家)"),
    re.compile(rf"从\s*({CJK}{{2,6}}?)(?:省|市)?(?:回来|返沪|回沪|来沪|过来|回|来|到)"),
    re.compile(rf"自\s*({CJK}{{2,6}}?)(?:省|市)?(?:返沪|回沪|来沪)"),
    re.compile(rf"({CJK}{{2,4}}?)(?:省|市)?(?:返沪|来沪|回沪)"),
]
NOT_PLACES = {"外地", "老家", "今天", "昨天", "刚刚", "已经", "本人", "家人", "全家", "我们", "他们", "一家", "老人", "孩子", "儿子", "女儿", "租户", "昨日", "今日", "前天", "刚刚从"}


@dataclass
class Fields:
    building: str | None = None
    unit: str | None = None
    people: int | None = None
    households: int | None = None
    origin: str | None = None
    date: date | None = None
    phone: str | None = None
    category: str | None = None

    def merged_with(self, other: Fields) -> Fields:
        """Fields of ``self`` with the blanks filled from ``other``."""
        values = {f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(other, f.name)
                  for f in dataclass_fields(self)}
        return Fields(**values)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def copy(self, **changes: object) -> Fields:
        return replace(self, **changes)


def _number(text: str) -> str | None:
    value = to_int(text)
    return str(value) if value is not None and value > 0 else None


MAX_BUILDING = 999  # an estate numbers its buildings in the tens; 20263号楼 is a typo, not a building


def _building(text: str) -> str | None:
    number = _number(text)
    return number if number is not None and int(number) <= MAX_BUILDING else None


def resolve_date(month: int, day: int, now: datetime, year: int | None = None) -> date | None:
    try:
        result = date(year or now.year, month, day)
    except ValueError:
        return None
    if year is None and result > now.date() + timedelta(days=31):
        result = result.replace(year=result.year - 1)  # "12月30日" written in January means last year
    return result


def extract(text: str, now: datetime) -> Fields:
    """All fields found in ``text`` (already normalised)."""
    found = Fields()
    rest = text
    phone = PHONE.search(rest)
    if phone:
        found.phone = phone.group(1)
        rest = rest.replace(phone.group(1), " ")

    for word, offset in RELATIVE_DAYS.items():
        if word in rest:
            found.date = now.date() + timedelta(days=offset)
            break
    for pattern in (ISO_DATE, MONTH_DAY, SHORT_DATE):
        match = pattern.search(rest)
        if match and found.date is None:
            groups = [int(g) for g in match.groups()]
            found.date = resolve_date(groups[-2], groups[-1], now, groups[0] if len(groups) == 3 else None)
            rest = rest[: match.start()] + " " + rest[match.end():]
        elif match:
            rest = rest[: match.start()] + " " + rest[match.end():]

    pair = BUILDING_UNIT.search(rest)
    if pair:
        building, unit = (pair.group(1), pair.group(2)) if pair.group(1) else (pair.group(3), pair.group(4))
        unit_number = _number(unit)
        if unit_number and len(unit_number) >= 3 and _building(building):
            found.building, found.unit = _building(building), unit_number
            rest = rest[: pair.start()] + " " + rest[pair.end():]
    if found.unit is None:
        unit = UNIT.search(rest)
        if unit and _number(unit.group(1)):
            found.unit = _number(unit.group(1))
            rest = rest[: unit.start()] + " " + rest[unit.end():]
    if found.building is None:
        building = BUILDING.search(rest)
        if building and _building(building.group(1)):
            found.building = _building(building.group(1))
            rest = rest[: building.start()] + " " + rest[building.end():]

    households = HOUSEHOLDS.search(rest)
    if households:
        found.households = to_int(households.group(1))
        rest = rest[: households.start()] + " " + rest[households.end():]
    for pattern, fixed in PEOPLE:
        match = pattern.search(rest)
        if match:
            found.people = (fixed if fixed is not None else to_int(match.group(1))) or None  # 0位 counts nobody
            rest = rest[: match.start()] + " " + rest[match.end():]
            break
    if found.unit is None:
        bare = BARE_UNIT.search(rest)
        if bare:
            found.unit = str(int(bare.group(1)))
    for pattern in ORIGIN_PATTERNS:
        match = pattern.search(rest)
        if match and match.group(1) not in NOT_PLACES:
            found.origin = match.group(1)
            break
    return found
