"""The outbox under WeChat's pressure: risk-control back-off, the daily cap, failures for good,
and how the WeChat transport turns SDK errors into those decisions."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event, select

from bot.clock import SHANGHAI
from bot.outbox import RateLimited, TransportError
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.models import OutboxMessage
from tests.conftest import bind_privileged_people

STAFF = "居委工作群"
BUILDINGS = [f"江南新村{n}号楼" for n in range(1, 6)]


@pytest.fixture
def config(shipped_config, tmp_path):
    return bind_privileged_people(shipped_config).model_copy(
        update={"reminders": [], "exports_dir": str(tmp_path / "exports")}
    )


def meet(chat: Simulation) -> None:
    for topic in [STAFF, *BUILDINGS]:
        chat.say(topic, "某居民", "大家好")


def relays(chat: Simulation) -> list:
    return [d for d in chat.delivered if d.text.startswith("【通知】")]


def test_risk_control_backs_off_and_retries_instead_of_dropping(chat: Simulation) -> None:
    meet(chat)
    refusals = []

    def wechat_says_too_fast(row):
        if row.text.startswith("【通知】") and len(refusals) < 3:
            refusals.append(chat.clock.now())
            raise RateLimited("操作过于频繁，请稍后再试", retry_after=60)
        return None

    chat.send_hook = wechat_says_too_fast
    posted = chat.clock.now()
    chat.say(STAFF, "王社工", "#通知 全体 今晚消毒")
    assert sorted(d.room_topic for d in relays(chat)) == sorted(BUILDINGS)  # every room, once
    # the same row refused three times: 60 s, then 120 s later (doubling), then it went
    # WeChat refused three times in a row: the whole outbox waited 60 s, 120 s, 240 s
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(refusals)]
    assert 60 <= gaps[0] <= 61 and 120 <= gaps[1] <= 121
    assert relays(chat)[0].at - refusals[-1] >= timedelta(seconds=240)
    assert relays(chat)[0].at - posted >= timedelta(seconds=420)
    with chat.bot.services.factory() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.text.startswith("【通知】"))).all()
        assert {(row.state, row.last_error) for row in rows} == {("sent", None)}
        assert sum(row.attempts for row in rows) == len(BUILDINGS) + 3  # three refusals, each retried


def test_while_the_account_is_held_answers_wait_too(chat: Simulation) -> None:
    meet(chat)
    refusals = []

    def refuse_once(row):
        if row.text.startswith("【通知】") and not refusals:
            refusals.append(chat.clock.now())
            raise RateLimited("操作过于频繁", retry_after=60)
        return None

    chat.send_hook = refuse_once
    chat.feed(chat.message("#通知 全体 今晚消毒", "王社工", STAFF))
    chat.advance_to(chat.clock.now() + timedelta(seconds=10))
    assert refusals and not relays(chat)
    answer = chat.say("江南新村1号楼", "张阿姨", "#家庭报告 1号楼101 返沪1人")[0]
    assert answer.text.startswith("已登记") and answer.at >= refusals[0] + timedelta(seconds=60)
    assert answer.at < relays(chat)[0].at  # and then goes ahead of the fan-out


def test_the_daily_cap_holds_the_rest_until_tomorrow_morning(shipped_config, engine, clock, tmp_path) -> None:
    outbox = shipped_config.outbox.model_copy(update={"max_per_day": 10})
    config = bind_privileged_people(shipped_config).model_copy(update={"reminders": [], "outbox": outbox})
    chat = Simulation(build_application(config, engine, clock), clock)
    meet(chat)  # 6 greetings, no answers; nothing sent yet
    chat.say(STAFF, "王社工", "#通知 全体 今晚消毒")  # receipt + 5 relays = 6
    chat.say(STAFF, "王社工", "#通知 全体 明早停水")  # receipt + 3 relays reach the cap of 10 ...
    days = sorted(
        {d.at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") for d in chat.delivered if d.at.day == 24}
    )
    assert len([d for d in chat.delivered if d.at.day == 23]) == 10
    assert days and days[0] == "11-24 07:00"  # ... the last 2 wait past midnight and the quiet hours
    assert len(relays(chat)) == 10


def test_a_send_that_can_never_work_fails_for_good_and_the_rest_go_on(chat: Simulation) -> None:
    meet(chat)

    def room_1_is_gone(row):
        if row.room_id == "room_江南新村1号楼":
            raise TransportError("room not found", retry_after=None)
        return None

    chat.send_hook = room_1_is_gone
    chat.say(STAFF, "王社工", "#通知 全体 今晚消毒")
    assert sorted(d.room_topic for d in relays(chat)) == sorted(BUILDINGS[1:])
    with chat.bot.services.factory() as session:
        failed = session.scalars(select(OutboxMessage).where(OutboxMessage.state == "failed")).all()
        assert [(row.room_id, row.last_error) for row in failed] == [("room_江南新村1号楼", "room not found")]


class FakeRoom:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def ready(self) -> None:
        return None

    async def say(self, *args: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "file_path", "expected", "retry_after"),
    [
        (Exception("操作过于频繁"), None, RateLimited, 60),
        (Exception("StatusCode.RESOURCE_EXHAUSTED"), None, RateLimited, 60),
        (
            Exception("StatusCode.RESOURCE_EXHAUSTED: message larger than max"),
            "台帐.xlsx",
            TransportError,
            None,
        ),
        (ConnectionResetError(), None, TransportError, 30),
    ],
)
def test_sdk_errors_become_outbox_decisions(bot, error, file_path, expected, retry_after, tmp_path) -> None:
    from bot.transports.wechaty_transport import WechatyTransport

    transport = WechatyTransport(bot, bot.services.config)
    transport.sdk = SimpleNamespace(Room=SimpleNamespace(load=lambda room_id: FakeRoom(error)))
    transport.logged_in.set()
    if file_path:
        (tmp_path / file_path).write_bytes(b"PK")
        file_path = str(tmp_path / file_path)
    row = OutboxMessage(id=1, room_id="room_3", text="hi", file_path=file_path, mention_ids=[], action="say")
    with pytest.raises(TransportError) as caught:
        asyncio.run(transport._send(row))
    assert type(caught.value) is expected and caught.value.retry_after == retry_after


def test_nothing_goes_out_while_the_transport_is_not_logged_in(bot) -> None:
    from bot.transports.wechaty_transport import WechatyTransport

    transport = WechatyTransport(bot, bot.services.config)
    row = OutboxMessage(id=1, room_id="room_3", text="hi", mention_ids=[], action="say")
    with pytest.raises(TransportError, match="not connected") as caught:
        asyncio.run(transport._send(row))
    assert caught.value.retry_after == 5  # the worker re-queues it: held until logged in, never lost


def test_the_kept_queue_view_is_what_the_table_says(chat: Simulation, engine) -> None:
    """The queue view is kept between sends and revised from what each session commits
    (bot/outbox.py): at every step of a fan-out with answers, a failure for good and risk
    control's hold, it equals a fresh read of the table."""
    worker = chat.bot.outbox

    def fresh(now):
        worker.due.forget(["outbox"])
        return worker._view(now)

    def same(now) -> None:
        kept = worker._view(now)
        read = fresh(now)
        assert (kept.last_sent_at, kept.sent_today, kept.held_until, kept.candidates) == (
            read.last_sent_at,
            read.sent_today,
            read.held_until,
            read.candidates,
        )
        assert (kept.in_flight_until() or now) <= now and (read.in_flight_until() or now) <= now

    meet(chat)
    refusals = itertools.count()

    def refuse_some(row: OutboxMessage) -> None:
        number = next(refusals)
        if number == 3:
            raise TransportError("群已解散", retry_after=None)
        if number == 6:
            raise RateLimited("操作过于频繁", retry_after=30)

    chat.send_hook = refuse_some
    chat.feed(chat.message("#通知 全体 今晚八点停电", "王社工", STAFF))
    for building in BUILDINGS:
        chat.feed(chat.message(f"#家庭报告 {building[4:]}201 返沪1人", "某居民", building))
    reads: list[str] = []

    def count_reads(_connection, _cursor, statement, *_args) -> None:
        if "ORDER BY outbox.urgent DESC" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count_reads)
    try:
        for _ in range(40):
            same(chat.clock.now())
            chat.wait(seconds=3)
    finally:
        event.remove(engine, "before_cursor_execute", count_reads)
    # 40 fresh reads above; the sends between them read it again only for what the view cannot
    # follow (the rate-limited row, twice: refused, then sent)
    assert len(reads) <= 40 + 3
    assert next(refusals) > 7 and worker.pending_count() == 0  # past both refusals, everything settled
    with chat.bot.services.factory() as session:
        states = sorted(session.scalars(select(OutboxMessage.state)))
    assert states.count("failed") == 1 and set(states) == {"failed", "sent"}
