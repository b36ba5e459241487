"""Periods as staff type them after /汇总, /查询, /导出 and /图表."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.errors import UserError
from bot.periods import parse_period

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday


@pytest.mark.parametrize(
    ("typed", "start", "end", "span"),
    [
        ("", date(2026, 11, 23), date(2026, 11, 23), "11-23至11-23"),
        ("昨天", date(2026, 11, 22), date(2026, 11, 22), "11-22至11-22"),
        ("上周", date(2026, 11, 16), date(2026, 11, 22), "11-16至11-22"),
        ("本月", date(2026, 11, 1), date(2026, 11, 30), "11-01至11-30"),
        ("近七天", date(2026, 11, 17), date(2026, 11, 23), "11-17至11-23"),
        ("2025-12", date(2025, 12, 1), date(2025, 12, 31), "12-01至12-31"),
        ("2026-11-15~2026-11-01", date(2026, 11, 1), date(2026, 11, 15), "11-01至11-15"),
        # a period across a new year shows its years: 近400天 must not read like one week
        ("近400天", date(2025, 10, 20), date(2026, 11, 23), "2025-10-20至2026-11-23"),
        ("2099-12-31", date(2099, 12, 31), date(2099, 12, 31), "12-31至12-31"),
    ],
)
def test_periods_staff_type(typed: str, start: date, end: date, span: str) -> None:
    period = parse_period(typed, NOW)
    assert (period.start, period.end, period.span()) == (start, end, span)


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("9999-12", "年份只能在2000到2099之间"),
        ("0000-01", "年份只能在2000到2099之间"),
        ("0001-01", "年份只能在2000到2099之间"),
        ("9999-12-31", "年份只能在2000到2099之间"),
        ("0001-01-01~9999-12-31", "年份只能在2000到2099之间"),
        ("2026-02-30", "日期不对"),
        ("近0天", "没看懂时间段"),
        ("近99999天", "最多查近3660天"),
        ("13812345678", "没看懂时间段"),
    ],
)
def test_impossible_periods_get_a_short_answer(typed: str, answer: str) -> None:
    with pytest.raises(UserError) as refused:
        parse_period(typed, NOW)
    assert str(refused.value).startswith(answer)
