"""Periods and scopes as staff type them: 今天, 昨天, 本周, 上周, 本月, 11月, 近7天, 2026-11,
2026-11-01~2026-11-15; 3号楼 (三号楼), 二片区, 第2支部 (第二支部) — in any order, with or without a
space between them.

What a scope covers (docs/notices.md, "Scopes"): N号楼 the reports of that building; X片区 the
reports of its buildings and the area's own area reports (an area report carries the area of
the area room it came from, else of its building, else an area named in its words); 第N支部 the
reports of the branch's buildings and the reports made in that branch's own party room.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.bounds import MAX_BUILDING
from bot.clock import FIRST_YEAR, LAST_YEAR
from bot.config import Config
from bot.errors import UserError
from bot.parsing.numerals import to_int

PERIOD_EXAMPLE = "今天、昨天、本周、上周、本月、上月、11月、近7天、2026-11 或 2026-11-01~2026-11-15"
_NUMBER = r"(\d+|[一二三四五六七八九十两百]+)"
_SCOPE_BUILDING = re.compile(_NUMBER + r"\s*(?:号楼|幢|栋)")
_SCOPE_BRANCH = re.compile(r"第\s*" + _NUMBER + r"\s*(?:党)?支部")
_SCOPE_AREA = re.compile(r"([一二三四五六七八九十\d]+|[东南西北中])\s*片区")


@dataclass(frozen=True)
class Scope:
    """Which reports a /汇总 covers (see the module's docstring)."""

    label: str
    buildings: list[str]
    area: str | None = None
    branch: int | None = None


def parse_scope(config: Config, text: str) -> tuple[Scope | None, str]:
    """The scope named anywhere in ``text`` and the words that remain (the period). A scope the
    config does not have is named as such, so 第9支部 is never read as a time."""
    scope = None
    rest = text
    for name in sorted(config.areas, key=len, reverse=True):
        if name in rest:
            scope = Scope(name, config.area_buildings(name), area=name)
            rest = rest.replace(name, " ", 1)
            break
    if scope is None and (unknown_area := _SCOPE_AREA.search(rest)):
        raise UserError(
            f"没有{unknown_area.group(0)}：本居民区有{'、'.join(config.areas) or '（未设片区）'}。"
        )
    if scope is None and (branch := _SCOPE_BRANCH.search(rest)):
        number = to_int(branch.group(1)) or 0
        if number not in config.branches:
            numbers = sorted(config.branches)
            have = f"第{numbers[0]}至第{numbers[-1]}支部" if numbers else "（未设支部）"
            raise UserError(f"没有第{number}支部：本居民区有{have}。")
        scope = Scope(f"第{number}支部", config.branch_buildings(number), branch=number)
        rest = rest[: branch.start()] + " " + rest[branch.end() :]
    if scope is None and (building := _SCOPE_BUILDING.search(rest)):
        number = to_int(building.group(1)) or 0
        if not 0 < number <= MAX_BUILDING:
            raise UserError(f"楼号看不懂：{building.group(0)}，例如：3号楼")
        scope = Scope(f"{number}号楼", [str(number)])
        rest = rest[: building.start()] + " " + rest[building.end() :]
    return scope, " ".join(rest.split())


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive
    label: str

    def span(self) -> str:
        """11-16至11-23; with years when the period crosses a new year (近400天 is not a week)."""
        shape = "%m-%d" if self.start.year == self.end.year else "%Y-%m-%d"
        return f"{self.start:{shape}}至{self.end:{shape}}"

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes for queries on created_at."""
        return datetime.combine(self.start, time(0), tz), datetime.combine(
            self.end + timedelta(days=1), time(0), tz
        )


def _month(year: int, month: int) -> Period:
    start = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return Period(start, following - timedelta(days=1), f"{year}年{month}月")


MAX_RECENT_DAYS = 3660  # 近N天 up to ten years back


def parse_period(text: str, now: datetime) -> Period:
    period = _parse_period(text, now)
    if period.start.year < FIRST_YEAR or period.end.year > LAST_YEAR:
        raise UserError(f"年份只能在{FIRST_YEAR}到{LAST_YEAR}之间，例如：{PERIOD_EXAMPLE}")
    return period


def _parse_period(text: str, now: datetime) -> Period:
    text = (text or "").strip() or "今天"
    today = now.date()
    fixed = {
        "今天": Period(today, today, "今天"),
        "今日": Period(today, today, "今天"),
        "昨天": Period(today - timedelta(days=1), today - timedelta(days=1), "昨天"),
        "本周": Period(today - timedelta(days=today.weekday()), today, "本周"),
        "上周": Period(
            today - timedelta(days=today.weekday() + 7), today - timedelta(days=today.weekday() + 1), "上周"
        ),
    }
    if text in fixed:
        return fixed[text]
    if text in ("本月", "这个月"):
        return _month(today.year, today.month)
    if text in ("上月", "上个月"):
        last = today.replace(day=1) - timedelta(days=1)
        return _month(last.year, last.month)
    recent = re.fullmatch(r"(?:近|最近)(\d+|[一二三四五六七八九十两]+)天", text)
    if recent and (days := to_int(recent.group(1))):
        if days > MAX_RECENT_DAYS:
            raise UserError(f"最多查近{MAX_RECENT_DAYS}天（十年），例如：{PERIOD_EXAMPLE}")
        return Period(today - timedelta(days=days - 1), today, f"近{days}天")
    bare_month = re.fullmatch(r"(\d{1,2}|[一二三四五六七八九十]+)月份?", text)
    if bare_month and 1 <= (number := to_int(bare_month.group(1)) or 0) <= 12:
        # 11月 is the latest November that has begun: this year's, or last year's in January
        year = today.year if number <= today.month else today.year - 1
        return _month(year, number)
    month = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})月?", text)
    if month and 1 <= int(month.group(2)) <= 12:
        year = int(month.group(1))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise UserError(f"年份只能在{FIRST_YEAR}到{LAST_YEAR}之间，例如：{PERIOD_EXAMPLE}")
        return _month(year, int(month.group(2)))
    span = re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2})\s*[~～至到-]\s*(\d{4}-\d{1,2}-\d{1,2})", text)
    if span:
        try:
            start, end = (date.fromisoformat(_pad(part)) for part in span.groups())
        except ValueError:
            raise UserError(f"日期不对，例如：{PERIOD_EXAMPLE}") from None
        if start > end:
            start, end = end, start
        return Period(start, end, f"{start}~{end}")
    day = re.fullmatch(r"(\d{4}-\d{1,2}-\d{1,2})", text)
    if day:
        try:
            single = date.fromisoformat(_pad(day.group(1)))
        except ValueError:
            raise UserError(f"日期不对，例如：{PERIOD_EXAMPLE}") from None
        return Period(single, single, str(single))
    raise UserError(f"没看懂时间段“{text[:20]}”，可以用：{PERIOD_EXAMPLE}")


def _pad(text: str) -> str:
    year, month, day = text.split("-")
    return f"{year}-{int(month):02d}-{int(day):02d}"
