"""What is due is kept in memory (bot/memo.py) and must still be right: after this process's own
changes, after a restart, and — in `qinlin run` — after another process wrote to the database."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.message import Outgoing
from bot.outbox import enqueue
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, session_factory, unit_of_work
from tests.conftest import bind_privileged_people


@pytest.fixture
def config(shipped_config, tmp_path):
    return bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [], "exports_dir": str(tmp_path / "exports")}
    )


def test_each_change_moves_what_is_due_and_a_restart_rebuilds_it(chat, config, engine, clock) -> None:
    chat.say("江南新村3号楼", "张阿姨", "大家好")
    before = chat.bot.job_due_times(clock.now())
    assert before["followup-expiry"] is None

    chat.say("江南新村3号楼", "李先生", "登记 新搬来租户 2人")  # no room number: a question waits 10 minutes
    asked = chat.bot.job_due_times(clock.now())
    assert asked["followup-expiry"] is not None and asked["followup-expiry"] > clock.now()

    chat.say("居委工作群", "王社工", "#定时通知 明天 8:00 3号楼 停水")
    scheduled = chat.bot.job_due_times(clock.now())["scheduled-notices"]
    assert scheduled is not None and scheduled.astimezone(config.tzinfo).hour == 8

    restarted = build_application(config, engine, clock)  # a new process on the same database
    assert restarted.job_due_times(clock.now()) == chat.bot.job_due_times(clock.now())

    chat.wait(minutes=11)  # the question expired: nothing waits any more
    assert chat.bot.job_due_times(clock.now())["followup-expiry"] is None


def test_rows_another_process_queued_are_seen_after_a_recheck(chat, config, engine, clock, db_url) -> None:
    chat.say("江南新村3号楼", "张阿姨", "大家好")
    assert chat.bot.outbox.next_send(clock.now()) is None  # known now: the queue is empty

    other = make_engine(db_url)  # the web workbench: its own engine and sessions
    with unit_of_work(session_factory(other, area=config.area_id)) as session:
        enqueue(
            session, Outgoing(text="来自工作台的提醒", room_id="room_江南新村3号楼", urgent=True), clock.now()
        )
    other.dispose()

    assert chat.bot.outbox.next_send(clock.now()) is None  # this process cannot know without asking
    chat.bot.recheck()
    upcoming = chat.bot.outbox.next_send(clock.now())
    assert upcoming is not None
    assert [d.text for d in chat.wait(seconds=5)] == ["来自工作台的提醒"]


async def test_qinlin_run_sends_a_row_another_process_queued_within_five_seconds(bot, db_url, clock) -> None:
    from bot.transports.wechaty_transport import WechatyTransport

    chat = Simulation(bot, clock)
    chat.say("江南新村3号楼", "张阿姨", "大家好")
    sent: list[str] = []
    transport = WechatyTransport(bot, bot.services.config)

    async def send(row):
        sent.append(row.text)
        return f"wx-{row.id}"

    transport._send = send  # type: ignore[method-assign]
    transport.logged_in.set()
    pump = asyncio.create_task(transport.pump())
    try:
        await asyncio.sleep(0.3)  # the pump has looked once and found nothing
        other = make_engine(db_url)
        with unit_of_work(session_factory(other, area=bot.services.config.area_id)) as session:
            enqueue(
                session,
                Outgoing(text="来自工作台的通知", room_id="room_江南新村3号楼", urgent=True),
                clock.now(),
            )
        other.dispose()
        deadline = time.monotonic() + 8  # RECHECK_SECONDS is 5: a margin for a loaded machine
        while not sent and time.monotonic() < deadline:  # noqa: ASYNC110 - the send happens in the transport's own task
            await asyncio.sleep(0.1)
        assert sent == ["来自工作台的通知"]
    finally:
        transport.stopping.set()
        transport.wake.set()
        await asyncio.wait_for(pump, timeout=10)


def test_a_job_that_finds_nothing_to_do_is_asked_again(chat, clock) -> None:
    """A due moment computed from rows that later stop mattering must not ring forever."""
    chat.say("居委工作群", "王社工", "#通知 3号楼 今天停水")
    chat.wait(hours=25)
    due = chat.bot.job_due_times(clock.now())["silent-room-reminders"]
    assert due is None or due > clock.now()
    steps_before = len(chat.delivered)
    chat.wait(hours=1)
    assert len(chat.delivered) == steps_before
