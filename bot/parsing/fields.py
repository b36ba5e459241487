"""Structured fields from free text: regexes for numbers and places, after NFKC normalisation."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from bot.bounds import MAX_BUILDING
from bot.parsing.numerals import NUMERAL_CHARS, to_int
from bot.parsing.vocabulary import DATA
from bot.phones import find_phone

N = rf"(?:\d+|[{NUMERAL_CHARS}]+)"  # a number, Arabic or Chinese
CJK = r"[\u4e00-\u9fff]"

ISO_DATE = re.compile(r"(?<!\d)(20\d{2})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
MONTH_DAY = re.compile(r"(?<![\d.])(\d{1,2})月(\d{1,2})[日号]?")
SHORT_DATE = re.compile(r"(?<![\d./-])(\d{1,2})[./](\d{1,2})(?![\d./])")
RELATIVE_DAYS = {
    "今天": 0,
    "今日": 0,
    "昨天": -1,
    "昨日": -1,
    "前天": -2,
    "大后天": 3,
    "后天": 2,
    "明天": 1,
    "明日": 1,
}
# 下周回沪: a date in next week (its Monday), never a place called 下周
RELATIVE_WEEKS = {"下周": 1, "下星期": 1, "下礼拜": 1, "上周": -1, "上星期": -1, "上礼拜": -1}
# 3-201, 3号楼201室, 3号201, 3幢201, 三号楼二零一
BUILDING_UNIT = re.compile(
    rf"(?<![\d])({N})\s*(?:号楼|幢|栋|号)?\s*[-—_]\s*(\d{{3,4}})(?!\d)"
    rf"|(?<![\d])({N})\s*(?:号楼|幢|栋|号)\s*({N})(?![{NUMERAL_CHARS}]|\s*[户人位口个层])\s*(?:室|号房|号|房)?"
)  # …but 三号楼百十户 is a count of households, not room 110
UNIT = re.compile(rf"(?<![\d\-])({N})\s*(?:室|号房|房间)")
# 号 alone names a building unless a facility or a time follows it (2号垃圾厢房, 3号门, 15号晚上)
BUILDING = re.compile(rf"(?<![\d])({N})\s*(?:号楼|幢|栋|号(?![房室]))")
# 201弄, 13楼, 2单元, 1200路, 100平方米, 600多吨 …: a lane, a floor, a stairway, a bus line or a
# quantity is not a room
BARE_UNIT = re.compile(
    r"(?<![\d.:/\-])(\d{3,4})(?![\d.:/\-]|\s*[人户位口个岁元块天弄楼路层栋幢单米平多余年届期支线次斤吨度])"
)
# a room on the other side of a wall is not the reporter's: 隔壁602, 楼下502, 对门
NEIGHBOUR = r"(?:隔壁|楼下|楼上|对门|对面|邻居家?|邻居的)"
# …and so is a room the words after it give to someone else: 202那家, 503的住户; a bare number
# (no building, no 室) also when newcomers move into it (今年601新搬进几个年轻人) — 5号楼302 新搬来租户
# is the reporter registering their own room
_OTHERS_ROOM_AFTER = re.compile(
    r"\s*(?:那家|那户|这家|这户|家的|的住户|住的|的人家|的邻居|邻居|的租客|的租户)"
)
_OTHERS_BARE_ROOM_AFTER = re.compile(r"\s*(?:住户|租客|租户|新搬|搬来|搬进|新来)")
# a number dialled (or come when called) is a phone number, not a room: 打了110, 拨打12345, 致电120
_DIALLED = re.compile(r"(?:打|拨|致电|呼叫|被)\s*了?\s*$")  # …and 被120拉走 is an ambulance
# 长寿路88号: a street number is an address, not a building of the estate (201弄5号 is building 5)
ROAD = r"(?:路|街|巷|公路|大道)"
PEOPLE = [
    (re.compile(r"老两口"), 2),
    (re.compile(rf"一家({N})口"), None),
    (re.compile(rf"({N})\s*口人"), None),
    (re.compile(rf"({N})\s*个?(?:人|位)"), None),
]
HOUSEHOLDS = re.compile(rf"({N})\s*户")
PLACE_SUFFIX = r"(?:省|市|县|区|州|地区)"
ORIGIN_PATTERNS = [
    re.compile(rf"来自\s*({CJK}{{2,6}}?)(?=省|市|$|[^\u4e00-\u9fff]|返|回|来|的|地区|老家)"),
    re.compile(rf"从\s*({CJK}{{2,6}}?)(?:省|市)?(?:回来|返回|返沪|回沪|来沪|到沪|抵沪|过来|回|来|到)"),
    re.compile(rf"自\s*({CJK}{{2,6}}?)(?:省|市)?(?:返沪|回沪|来沪|到沪|抵沪|返回|回来)"),
]
# "X返沪" without 来自/从/自: X is an origin only when it is a known place or ends like one —
# 明天回沪, 今天刚回沪, 全家返沪 are dates and people, not places
BARE_ORIGIN = re.compile(rf"({CJK}{{2,6}}?)(?:返沪|来沪|回沪|到沪|抵沪)")
NOT_PLACES = {
    "外地",
    "老家",
    "今天",
    "昨天",
    "刚刚",
    "已经",
    "本人",
    "家人",
    "全家",
    "我们",
    "他们",
    "一家",
    "老人",
    "孩子",
    "儿子",
    "女儿",
    "租户",
    "昨日",
    "今日",
    "前天",
    "刚刚从",
    "外省",
    "省外",
    "市外",
    "国外",
    "境外",
    "海外",
    "家里",
    "单位",
    "医院",
    "公司",
    "学校",
    "那里",
    "这里",
    "哪里",
    "外面",
    "上海",
    "本市",
}
# Time words and adverbs that stand before 返沪/回来 in place of a place: stripped from a candidate
_NOT_PLACE_PREFIX = re.compile(
    r"^(?:今天|明天|后天|大后天|昨天|前天|今日|明日|昨日|当天|下周|上周|本周|这周|下星期|上星期|下个月|上个月|本月|月底|月初"
    r"|年前|年后|节前|节后|春节|国庆|过年|近期|最近|近日|日前|刚刚|刚|已经|已|才|都|也|就|将|要|会|准备|计划|打算|预计|还|再"
    r"|早上|上午|中午|下午|晚上|凌晨|陆续|一起|全家|一家|家人|本人|我们|他们|她|他|我|均|共|今|明|昨)+"
)
# Provinces and cities that count as an origin written without 来自/从 (湖北返沪)
_PLACE_WORDS = frozenset(
    line.strip()
    for line in (DATA / "places.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)


def _origin(text: str) -> str | None:
    for pattern in ORIGIN_PATTERNS:
        for match in pattern.finditer(text):
            place = _NOT_PLACE_PREFIX.sub("", match.group(1))
            if len(place) >= 2 and place not in NOT_PLACES:
                return place
    for match in BARE_ORIGIN.finditer(text):
        candidate = match.group(1)
        for start in range(len(candidate) - 1):  # the longest known place that ends at 返沪
            place = candidate[start:]
            stem = re.sub(PLACE_SUFFIX + "$", "", place)
            if place in _PLACE_WORDS or stem in _PLACE_WORDS:
                return stem if stem in _PLACE_WORDS else place
    return None


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

    def copy(self, **changes: Any) -> Fields:
        return replace(self, **changes)


def _number(text: str) -> str | None:
    value = to_int(text)
    return str(value) if value is not None and value > 0 else None


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


# After a bare 号 (not 号楼): a facility of the estate or a time, not a building
_NOT_BUILDING_AFTER = re.compile(
    r"\s*(?:垃圾|门(?!牌|洞)|大门|线|岗|车库|车位|充电|桩|电梯|梯|机|窗口|床|仓|库|地块|地铁|出口|入口|通道|厢房|信箱|柜|桶|站"
    r"|这天|那天|当天|晚上|夜里|早上|上午|下午|中午|凌晨|开始|之前|以前|之后|以后|前|后|起|左右|至|到|[~～]|星期|周)"
)
# A day of the month written alone: 3号晚上, 15号之前
_DAY_OF_MONTH = re.compile(
    r"(?<![\d月])(\d{1,2})号(?=\s*(?:这天|那天|当天|晚上|夜里|早上|上午|下午|中午|凌晨|开始|之前|以前|之后|以后|起))"
)
_BEFORE_BUILDING_NOT = re.compile(ROAD + r"\s*$")
_BEFORE_UNIT_NOT = re.compile(NEIGHBOUR + r"\s*$")
# 5、6、7栋 / 5号楼和6号楼: a number listed just before a building names several buildings
_LISTED_BEFORE = re.compile(rf"{N}\s*(?:号楼|幢|栋|号)?\s*(?:[、,，/]|和|及|与|跟|或)\s*$")
# 一位老太太, 一户人家: 一 before a measure word and a noun is an article, not a count; 一个人住 /
# 老伴一个人清污水 is "alone" (访客1位, 返沪一人, 一个人 返沪, 一户返沪, 一家三口, 两位老人 still count)
_NOT_A_NOUN = rf"{NUMERAL_CHARS}口返回来到抵新已在均共需要"  # 一家三口, 一户返沪: a count after all
_ARTICLE = re.compile(
    rf"一(?:位|户|家)(?=[\u4e00-\u9fff])(?![{_NOT_A_NOUN}])|一个(?=[\u4e00-\u9fff])(?![{_NOT_A_NOUN}人])"
    r"|一个人(?=[\u4e00-\u9fff])(?![返回来到抵])"
)


def _cut(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " + text[match.end() :]


def _building_match(text: str) -> re.Match[str] | None:
    """The one building the text names, or None — also when it names several (5、6、7栋, 3号楼…5号楼):
    a report about several buildings belongs to none of them."""
    found: list[re.Match[str]] = []
    bare: list[re.Match[str]] = []  # N号 alone: 3905弄8号 is building 8, but 12号楼3梯403号 is room 403
    for match in BUILDING.finditer(text):
        if match.group(0).endswith("号") and _NOT_BUILDING_AFTER.match(text, match.end()):
            continue
        if _BEFORE_BUILDING_NOT.search(text, 0, match.start()) or not _building(match.group(1)):
            continue
        if match.group(1).startswith("两"):
            continue  # 两栋居民楼: a count of buildings — no estate calls a building 两号
        if _LISTED_BEFORE.search(text, 0, match.start()):
            return None
        (bare if match.group(0).endswith("号") else found).append(match)
    # a 号楼/幢/栋 names a building more surely than a bare 号 (西湖一号二号楼: building 2)
    found = found or bare
    if len({_building(match.group(1)) for match in found}) > 1:
        return None
    return found[0] if found else None


def _not_the_reporters(text: str, match: re.Match[str]) -> bool:
    """A room a neighbour lives in (隔壁602, 202那家) or a number dialled (打了110) is no unit."""
    return bool(
        _BEFORE_UNIT_NOT.search(text, 0, match.start())
        or _DIALLED.search(text, 0, match.start())
        or _OTHERS_ROOM_AFTER.match(text, match.end())
    )


def extract(text: str, now: datetime) -> Fields:
    """All fields found in ``text`` (already normalised)."""
    found = Fields()
    rest = text
    phone = find_phone(rest)  # first: "电话 138 1234 5678" is a phone, not room 138
    if phone:
        found.phone = phone.number
        rest = rest[: phone.start] + " " + rest[phone.end :]

    for word, offset in RELATIVE_DAYS.items():
        if word in rest:
            found.date = now.date() + timedelta(days=offset)
            break
    for pattern in (ISO_DATE, MONTH_DAY, SHORT_DATE):
        match = pattern.search(rest)
        if match and found.date is None:
            groups = [int(g) for g in match.groups()]
            found.date = resolve_date(groups[-2], groups[-1], now, groups[0] if len(groups) == 3 else None)
            rest = _cut(rest, match)
        elif match:
            rest = _cut(rest, match)
    day = _DAY_OF_MONTH.search(rest)
    if day:
        if found.date is None:
            found.date = resolve_date(now.month, int(day.group(1)), now)
        rest = _cut(rest, day)
    if found.date is None:
        for word, weeks in RELATIVE_WEEKS.items():
            if word in rest:
                monday = now.date() - timedelta(days=now.weekday())
                found.date = monday + timedelta(weeks=weeks)
                break

    for pair in BUILDING_UNIT.finditer(rest):
        building, unit = (pair.group(1), pair.group(2)) if pair.group(1) else (pair.group(3), pair.group(4))
        unit_number = _number(unit)
        if _BEFORE_BUILDING_NOT.search(rest, 0, pair.start()) or _not_the_reporters(rest, pair):
            continue
        if unit_number and len(unit_number) >= 3 and _building(building):
            found.building, found.unit = _building(building), unit_number
            rest = _cut(rest, pair)
            break
    if found.unit is None:
        for unit in UNIT.finditer(rest):
            if _not_the_reporters(rest, unit):
                continue
            if _number(unit.group(1)):
                found.unit = _number(unit.group(1))
                rest = _cut(rest, unit)
                break
    if found.building is None:
        building = _building_match(rest)
        if building:
            found.building = _building(building.group(1))
            rest = _cut(rest, building)

    counted = _ARTICLE.sub(lambda article: " " * len(article.group(0)), rest)  # offsets stay those of rest
    households = HOUSEHOLDS.search(counted)
    if households:
        found.households = to_int(households.group(1))
        rest, counted = _cut(rest, households), _cut(counted, households)
    for pattern, fixed in PEOPLE:
        match = pattern.search(counted)
        if match:
            found.people = (
                fixed if fixed is not None else to_int(match.group(1))
            ) or None  # 0位 counts nobody
            rest = _cut(rest, match)
            break
    if found.unit is None:
        for bare in BARE_UNIT.finditer(rest):
            if (
                _not_the_reporters(rest, bare)
                or _OTHERS_BARE_ROOM_AFTER.match(rest, bare.end())
                or _BEFORE_BUILDING_NOT.search(rest, 0, bare.start())
            ):
                continue
            found.unit = str(int(bare.group(1)))
            break
    found.origin = _origin(rest)
    return found
