"""When a scheduled notice goes out: 2026-11-23 08:00, 明天 8:00, 今天 18:30, 每天 7:00."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.clock import WEEKDAY_LABEL
from bot.errors import UserError

EXAMPLE = "例如：#定时通知 明天 8:00 3号楼 上午停水；#定时通知 每天 7:00 垃圾分类投放时间到了"
_WHEN = re.compile(
    r"^(?:(?P<iso>\d{4}-\d{1,2}-\d{1,2})|(?P<rel>今天|明天|后天)|(?P<daily>每天|每日))\s*"
    r"(?P<hour>\d{1,2})[:：点](?P<minute>\d{2})?分?\s*"
)
_RELATIVE = {"今天": 0, "明天": 1, "后天": 2}


@dataclass(frozen=True)
class When:
    first: datetime
    recurrence: str | None  # "daily HH:MM"


def parse_when(text: str, now: datetime) -> tuple[When, str]:
    match = _WHEN.match(text.strip())
    if not match:
        raise UserError(f"没看懂发送时间。{EXAMPLE}")
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    if hour > 23 or minute > 59:
        raise UserError(f"时间不对：{hour}:{minute:02d}。{EXAMPLE}")
    rest = text.strip()[match.end() :]
    at = time(hour, minute)
    if match.group("daily"):
        first = datetime.combine(now.date(), at, now.tzinfo)
        if first <= now:
            first += timedelta(days=1)
        return When(first, f"daily {hour:02d}:{minute:02d}"), rest
    if match.group("iso"):
        try:
            day = date.fromisoformat("-".join(f"{int(p):02d}" for p in match.group("iso").split("-")))
        except ValueError:
            raise UserError(f"日期不对。{EXAMPLE}") from None
    else:
        day = now.date() + timedelta(days=_RELATIVE[match.group("rel")])
    first = datetime.combine(day, at, now.tzinfo)
    if first <= now:
        raise UserError(f"{first:%m月%d日 %H:%M} 已经过去了，请换一个时间。")
    return When(first, None), rest


def next_occurrence(recurrence: str, after: datetime) -> datetime:
    """The next time strictly after ``after`` for "daily 07:00" or "mon-fri 07:00" (APScheduler's
    cron day names), in ``after``'s time zone."""
    days, at = recurrence.split()
    hour, minute = (int(p) for p in at.split(":"))
    trigger = CronTrigger(
        day_of_week="mon-sun" if days == "daily" else days, hour=hour, minute=minute, timezone=after.tzinfo
    )
    moment = trigger.get_next_fire_time(None, after + timedelta(seconds=1))
    assert moment is not None  # a weekly cron always has a next time
    return moment


def recurrence_label(recurrence: str | None) -> str:
    """ "每天 ", "周一至周五 ", "周六、周日 " — or nothing for a one-off."""
    if not recurrence:
        return ""
    days = recurrence.split()[0]
    if days == "daily":
        return "每天 "
    words = "、".join("至".join(WEEKDAY_LABEL.get(d, d) for d in part.split("-")) for part in days.split(","))
    return f"{words} "
