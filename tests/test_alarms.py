"""Timed jobs on APScheduler, as `qinlin run` drives them: schedules kept in our tables are
registered at start (also after a restart) at the right moment, do their work when they ring, and
re-arm. The bot's clock is a virtual one a day ahead of the wall clock, so APScheduler never rings
on its own during a test: the test checks the moment armed, moves the clock there and rings it."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.alarms import JobAlarms, job_id
from bot.clock import SHANGHAI, SystemClock, VirtualClock
from bot.message import IncomingMessage
from handlers import build_application
from storage.db import unit_of_work
from storage.models import Notice, OutboxMessage
from tests.conftest import bind_privileged_people


@pytest.fixture
def config(shipped_config, tmp_path):
    return bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [], "exports_dir": str(tmp_path / "exports")}
    )


def schedule(bot, text: str, at: datetime, sender_id: str = "wxid_王社工") -> int:
    with unit_of_work(bot.services.factory) as session:
        row = Notice(
            text=text,
            targets="3号楼",
            sender_id=sender_id,
            sender_name="王社工",
            status="scheduled",
            scheduled_for=at,
            created_at=at - timedelta(days=1),
        )
        session.add(row)
        session.flush()
        return row.id


def outbox(bot) -> list[OutboxMessage]:
    with bot.services.factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def ahead() -> VirtualClock:
    """A day after the wall clock: every alarm armed by the test lies in APScheduler's future."""
    return VirtualClock(SystemClock(SHANGHAI).now() + timedelta(days=1))


async def ring_at(alarms: JobAlarms, clock: VirtualClock, name: str) -> None:
    """What APScheduler does at the armed moment: call the alarm."""
    armed = alarms.scheduler.get_job(job_id(name))
    assert armed is not None, f"no alarm armed for {name}"
    clock.set(max(clock.now(), armed.next_run_time))
    await armed.func(*armed.args)


async def until(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_schedule_made_before_a_restart_rings_after_it(config, engine) -> None:
    clock = ahead()
    first = build_application(config, engine, clock)
    first.handle(
        IncomingMessage(
            message_id="m1",
            sent_at=clock.now(),
            sender_id="wxid_张阿姨",
            sender_name="张阿姨",
            text="大家好",
            room_id="room_3",
            room_topic="江南新村3号楼",
        )
    )
    due = clock.now() + timedelta(seconds=1.5)
    number = schedule(first, "上午停水", due)

    restarted = build_application(config, engine, clock)  # a new process on the same database
    woken = []
    alarms = JobAlarms(restarted, on_queued=lambda: woken.append(True))
    await alarms.start()
    try:
        assert alarms.scheduler.get_job(job_id("scheduled-notices")).next_run_time == due
        await ring_at(alarms, clock, "scheduled-notices")
        relay = next(row for row in outbox(restarted) if row.notice_id == number)
        header, body = relay.text.split("\n")[:2]
        assert relay.room_id == "room_3" and f"N{number}｜" in header and body == "上午停水"
        assert woken  # the outbox pump was told
        assert "scheduled-notices" not in alarms.alarms()  # nothing left to ring for
    finally:
        alarms.shutdown()


async def test_at_start_a_send_missed_by_minutes_goes_out_and_one_missed_by_hours_is_reported(
    config, engine
) -> None:
    clock = ahead()
    bot = build_application(config, engine, clock)
    bot.handle(
        IncomingMessage(
            message_id="m1",
            sent_at=clock.now(),
            sender_id="wxid_张阿姨",
            sender_name="张阿姨",
            text="大家好",
            room_id="room_3",
            room_topic="江南新村3号楼",
        )
    )
    late = schedule(bot, "十分钟前该发的", clock.now() - timedelta(minutes=10))
    stale = schedule(bot, "两小时前该发的", clock.now() - timedelta(hours=2))
    alarms = JobAlarms(bot)
    await alarms.start()
    try:
        assert alarms.alarms()["scheduled-notices"] <= clock.now()  # already late: rings at once
        await ring_at(alarms, clock, "scheduled-notices")
        rows = outbox(bot)
        assert [row.room_id for row in rows if row.notice_id == late] == ["room_3"]
        assert not [row for row in rows if row.notice_id == stale]
        told = [row for row in rows if row.person_id == "wxid_王社工"]
        assert len(told) == 1 and f"N{stale}" in told[0].text and "已跳过" in told[0].text
    finally:
        alarms.shutdown()


async def test_a_message_that_schedules_something_re_arms_the_alarm(config, engine) -> None:
    clock = ahead()
    bot = build_application(config, engine, clock)
    alarms = JobAlarms(bot)
    await alarms.start()
    try:
        assert "scheduled-notices" not in alarms.alarms()
        due = clock.now() + timedelta(hours=3)
        schedule(bot, "下午检修", due)
        alarms.poke()
        alarms.poke()  # a burst re-arms once
        # the re-arm waits DEBOUNCE_SECONDS on the event loop's own clock: the one real wait here
        assert await until(lambda: alarms.alarms().get("scheduled-notices") == due, 5)
    finally:
        alarms.shutdown()
