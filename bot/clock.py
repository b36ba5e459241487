"""The clock is injected: production uses the wall clock, replay and tests a virtual one,
so "10 minutes later", quiet hours and schedules run through the same code either way."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The years a moment typed by a person or read from a recording may fall in: records exist only
# from the bot's first day, and the bounds keep date arithmetic far from Python's year 1 and 9999.
FIRST_YEAR, LAST_YEAR = 2000, 2099
# Day names as config and APScheduler write them (never numbers: APScheduler counts Monday as 0),
# in datetime.weekday() order, and as the bot says them.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_LABEL = dict(zip(WEEKDAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True))


class Clock(Protocol):
    tz: tzinfo

    def now(self) -> datetime: ...


class SystemClock:
    def __init__(self, tz: tzinfo = SHANGHAI) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)


class VirtualClock:
    """A clock that only moves when told to (replay: to each message's timestamp)."""

    def __init__(self, start: datetime, tz: tzinfo = SHANGHAI) -> None:
        self.tz = tz
        self._now = start.astimezone(tz)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        moment = moment.astimezone(self.tz)
        if moment > self._now:  # time never runs backwards, even if a recording is out of order
            self._now = moment

    def advance(self, delta: timedelta) -> None:
        self._now = self._now + delta
