"""The bot through its dependencies' faults: the database away and back (mid fan-out, during
intake, a full disk on SQLite). Nothing a resident typed is lost, nothing is sent twice, and
each loop says so in one log line, not one per retry.

SQLite is taken away by a connection that fails every statement (as a vanished file or an I/O
error does) and by a page limit (SQLite's own "database or disk is full"); PostgreSQL by a
database the test owns, closed to connections and its sessions terminated."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, event, func, select, text

from bot.clock import SHANGHAI, SystemClock, VirtualClock
from bot.config import Config, RecurringReminder
from bot.message import IncomingMessage
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage, Report, Room
from tests.conftest import MORNING, PG_URL

STAFF = "居委工作群"
BUILDINGS = [f"江南新村{n}号楼" for n in range(1, 7)]
B3 = "江南新村3号楼"


@dataclass
class Outage:
    engine: Engine
    down: Callable[[], None]
    up: Callable[[], None]


def _sqlite_outage(tmp_path: Path) -> Iterator[Outage]:
    engine = make_engine(f"sqlite:///{tmp_path / 'qinlin.db'}")
    away = {"now": False}

    # The driver's own calls fail, as a vanished file does: SQLAlchemy wraps what they raise.
    # (An error raised from before_cursor_execute reaches the caller unwrapped on SQLAlchemy 2.0,
    # which Python 3.10 installs; only 2.1 wraps it.)
    def fail_while_away(*_: object) -> bool:
        if away["now"]:
            raise sqlite3.OperationalError("disk I/O error")
        return False  # the driver runs the statement

    for hook in ("do_execute", "do_execute_no_params", "do_executemany"):
        event.listen(engine, hook, fail_while_away)

    upgrade(engine)
    yield Outage(engine, lambda: away.update(now=True), lambda: away.update(now=False))
    engine.dispose()


def _postgres_outage(migrate: bool = True) -> Iterator[Outage]:
    if not PG_URL:
        pytest.skip("PostgreSQL skipped: QINLIN_TEST_PG_URL is not set")
    name = f"qinlin_fault_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    base = PG_URL.rsplit("/", 1)[0]
    engine = make_engine(f"{base}/{name}")
    if migrate:
        upgrade(engine)

    def down() -> None:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )

    def up() -> None:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))

    yield Outage(engine, down, up)
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    yield from (_sqlite_outage(tmp_path) if request.param == "sqlite" else _postgres_outage())


@pytest.fixture
def quiet_config(config: Config) -> Config:
    return config.model_copy(update={"reminders": []})


@pytest.fixture
def chat(quiet_config: Config, outage: Outage) -> Simulation:
    clock = VirtualClock(MORNING)
    return Simulation(build_application(quiet_config, outage.engine, clock), clock)


def meet(chat: Simulation) -> None:
    for topic in [STAFF, *BUILDINGS]:
        chat.say(topic, "某居民", "大家好")


def outbox_states(chat: Simulation) -> dict[str, int]:
    with chat.bot.services.factory() as session:
        return dict(
            session.execute(select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)).all()
        )


def database_warnings(caplog: pytest.LogCaptureFixture, where: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.getMessage().startswith(f"{where}: database")
    ]


def test_database_away_mid_fan_out_resumes_every_room_once(
    chat: Simulation, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    meet(chat)
    relayed: list[str] = []

    def database_goes_after_the_second_relay(row: OutboxMessage) -> None:
        if row.text.startswith("【通知】"):
            relayed.append(row.room_id or "")
            if len(relayed) == 2:
                outage.down()  # sent, but the database cannot hear about it

    chat.send_hook = database_goes_after_the_second_relay
    chat.feed(chat.message("#通知 全体 今晚8点消毒，请关好窗", "王社工", STAFF))
    for _ in range(20):
        chat.wait(minutes=1)  # the pump keeps trying; nothing is sent while the database is away
    assert len(relayed) == 2
    outage.up()
    chat.drain()
    relays = [d for d in chat.delivered if d.text.startswith("【通知】")]
    assert sorted(d.room_topic for d in relays) == sorted(BUILDINGS)  # every room, once
    assert outbox_states(chat) == {"sent": len(chat.delivered)}
    assert len(database_warnings(caplog, "outbox")) == 2  # "unavailable" once, "back" once


def test_messages_during_an_outage_are_spooled_and_answered_after(
    chat: Simulation, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    meet(chat)
    outage.down()
    for n in range(1, 6):
        assert chat.say(B3, f"居民{n}", f"#家庭报告 3号楼{n}01 返沪{n}人") == []
    assert len(chat.bot.spool) == 5
    assert chat.bot.spool.path.exists()
    outage.up()
    replies = chat.wait(seconds=30)
    assert [r.text.split("：")[0] for r in replies] == [f"已登记 家庭报告 #{n}" for n in range(1, 6)]
    with chat.bot.services.factory() as session:
        stored = session.execute(select(Report.unit, Report.reporter_name).order_by(Report.id)).all()
    assert stored == [(f"{n}01", f"居民{n}") for n in range(1, 6)]
    assert len(chat.bot.spool) == 0 and not chat.bot.spool.path.exists()
    assert len(database_warnings(caplog, "intake")) == 2


def test_a_followup_answered_during_an_outage_is_judged_by_when_it_was_written(
    chat: Simulation, outage: Outage
) -> None:
    meet(chat)
    asked = chat.say(B3, "孙师傅", "登记 新搬来租户 一家三口")
    assert "请补充室号" in asked[0].text
    chat.wait(minutes=5)
    outage.down()
    assert chat.say(B3, "孙师傅", "302") == []  # within the 10 minutes, but the database is away
    chat.wait(minutes=30)  # the question would have expired long ago by the wall clock
    outage.up()
    late = chat.wait(seconds=30)
    assert late[0].text.startswith("已登记 家庭报告 #1：3号楼302室")
    with chat.bot.services.factory() as session:
        assert session.execute(select(Report.status, Report.unit)).one() == ("open", "302")


def test_the_spool_survives_a_restart_and_is_replayed_at_start(
    chat: Simulation, outage: Outage, quiet_config: Config
) -> None:
    meet(chat)
    outage.down()
    chat.say(B3, "孙师傅", "#家庭报告 3号楼201 返沪2人")
    outage.up()
    # the process dies before the database is back; the next one starts from the spool file
    clock = VirtualClock(chat.clock.now())
    again = Simulation(build_application(quiet_config, outage.engine, clock), clock)
    assert len(again.bot.spool) == 1
    replies = again.wait(seconds=5)
    assert replies[0].text.startswith("已登记 家庭报告 #1：3号楼201室")


def test_a_full_disk_on_sqlite_loses_nothing(config: Config, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'qinlin.db'}")
    upgrade(engine)
    clock = VirtualClock(MORNING)
    chat = Simulation(build_application(config.model_copy(update={"reminders": []}), engine, clock), clock)
    meet(chat)
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    full = {"now": True}

    @event.listens_for(engine, "connect")
    def no_room_left(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages if full['now'] else 1_000_000}")

    engine.dispose()
    lines = [f"{n}. 3号楼{100 + n} 住户{n} 1人" for n in range(1, 61)]
    for n in range(1, 61):
        chat.say(B3, f"居民{n}", f"#家庭报告 3号楼{100 + n} 返沪1人 {'x' * 400}")
    chat.say(B3, "钱组长", "#接龙 返沪登记\n" + "\n".join(lines))
    assert len(chat.bot.spool) > 40  # a few fit in the file's free pages; the rest waited
    full["now"] = False
    engine.dispose()  # the operator frees space; new connections see it
    chat.wait(minutes=5)
    with chat.bot.services.factory() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 120
    assert len(chat.bot.spool) == 0
    engine.dispose()


# ---------------------------------------------------------------- `qinlin run`: the loops on the wall clock


class FakeRoom:
    def __init__(self, said: list[str]) -> None:
        self.said = said

    async def ready(self) -> None:
        return None

    async def say(self, payload: str, mention_ids: object = None) -> SimpleNamespace:
        self.said.append(payload)
        return SimpleNamespace(message_id=f"wx-{len(self.said)}")


async def until(condition: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await asyncio.to_thread(condition):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_wechat_pump_and_alarms_outlive_an_outage(
    quiet_config: Config, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.transports.wechaty_transport import WechatyTransport

    bot = build_application(quiet_config, outage.engine, SystemClock(SHANGHAI))
    transport = WechatyTransport(bot, bot.services.config)
    said: list[str] = []
    transport.sdk = SimpleNamespace(Room=SimpleNamespace(load=lambda room_id: FakeRoom(said)))
    transport.logged_in.set()
    hello = IncomingMessage(
        message_id="m1",
        sent_at=bot.services.clock.now(),
        sender_id="wxid_孙师傅",
        sender_name="孙师傅",
        text="#家庭报告 3号楼201 返沪2人",
        room_id="room_3",
        room_topic="江南新村3号楼",
    )
    outage.down()
    await asyncio.to_thread(bot.handle, hello)  # kept in the spool
    pump = asyncio.create_task(transport.pump())
    spool = asyncio.create_task(transport.replay_spool())
    try:
        await transport.alarms.rearm()  # the safety re-arm while the database is away: no exception
        await asyncio.sleep(1.5)
        assert said == [] and not pump.done() and not spool.done()
        outage.up()
        assert await until(lambda: len(said) == 1)
        assert said[0].startswith("已登记 家庭报告 #1")
    finally:
        transport.stopping.set()
        transport.wake.set()
        await asyncio.gather(pump, spool)
        transport.alarms.shutdown()
    for where in ("outbox", "intake", "alarms"):
        assert len(database_warnings(caplog, where)) in (1, 2), where  # gone (and back): never per retry
    assert not [r for r in caplog.records if r.exc_info]  # an outage is no traceback


# ---------------------------------------------------------------- no silent caps


def chain_text(count: int) -> str:
    return "#接龙 返沪登记\n" + "\n".join(
        f"{n}. {1 + n % 40}号楼{100 + n} 住户 {1 + n % 3}人" for n in range(1, count + 1)
    )


def test_a_300_line_chain_is_recorded_whole(chat: Simulation) -> None:
    meet(chat)
    reply = chat.say(B3, "钱组长", chain_text(300))
    assert reply[0].text.startswith("已登记接龙「返沪登记」 300 条")
    with chat.bot.services.factory() as session:
        units = set(session.scalars(select(Report.unit)))
    assert units == {str(100 + n) for n in range(1, 301)}
    again = chat.say(B3, "钱组长", chain_text(300) + "\n301. 5号楼999 住户 1人")  # a repost adds one line
    assert again[0].text.startswith("已登记接龙「返沪登记」 1 条；已登记过的 300 行未重复记录")


def test_lines_beyond_the_limit_are_counted_in_the_reply(
    chat: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.parsing.parser
    import handlers.reports

    monkeypatch.setattr(bot.parsing.parser, "MAX_CHAIN_LINES", 50)
    monkeypatch.setattr(handlers.reports, "MAX_CHAIN_LINES", 50)
    meet(chat)
    reply = chat.say(B3, "钱组长", chain_text(80))
    assert reply[0].text.startswith("已登记接龙「返沪登记」 50 条")
    assert "另有 30 行超出一次可登记的 50 行，未读取" in reply[0].text


# ---------------------------------------------------------------- text cleaned at the edge

CONTROL_CHARACTERS = [
    "\x0b",
    "\x0c",
    "\x1b",
    "\uffff",
    "\ufffe",
    "\x00",
    "\ud800",
    "\x07",
    "\x85",
    "\u2028",
    "\x7f",
]


def test_the_ledger_takes_every_control_character(chat: Simulation, tmp_path: Path) -> None:
    meet(chat)
    for n, char in enumerate(CONTROL_CHARACTERS, 1):
        chat.say(B3, f"孙{char}师傅", f"#家庭报告 3号楼{n}01{char}返沪2人{char}来自武汉")
    chain = "#接龙 返沪登记\x0b1. 3号楼901 1人\x0b2. 3号楼902 2人"  # lines pasted from Word
    assert "已登记接龙「返沪登记」 2 条" in chat.say(B3, "钱组长", chain)[0].text
    exported = chat.say(STAFF, "王社工", "/导出")
    assert exported[0].file_path and exported[0].file_path.endswith(".xlsx"), exported[0].text
    from openpyxl import load_workbook

    rows = list(load_workbook(exported[0].file_path)["家庭报告"].iter_rows(values_only=True))
    assert len(rows) == 1 + len(CONTROL_CHARACTERS) + 2
    with chat.bot.services.factory() as session:
        stored = session.execute(select(Report.raw_text, Report.reporter_name)).all()
    for raw_text, reporter in stored:
        assert not any(char in raw_text + reporter for char in CONTROL_CHARACTERS if char not in "\n")


def test_postgresql_takes_what_sqlite_takes(chat: Simulation) -> None:
    meet(chat)
    long_topic = "江南新村3号楼" + "长" * 400
    assert chat.say(long_topic, "孙" * 300, "#家庭报告 3号楼201 返沪2人\x00")[0].text.startswith(
        "已登记 家庭报告 #1"
    )
    bound = chat.say("江南新村大群", "李书记", "/绑定 1-300号楼")
    assert bound and "抱歉" not in bound[0].text, bound[0].text
    targets = "、".join(f"{n}号楼" for n in range(1, 49)) * 2
    notice = chat.say(STAFF, "王社工", f"#通知 {targets} 今晚停水")
    assert notice[0].text.startswith("已排队发送"), notice[0].text


# ---------------------------------------------------------------- exactly once, as far as WeChat allows


def crash_mid_send(
    chat: Simulation,
    quiet_config: Config,
    outage: Outage,
    pick: Callable[[OutboxMessage], bool],
    echoed: bool,
) -> tuple[Simulation, int]:
    """Claim the first queued row ``pick`` accepts, as a sender does before calling WeChat, then
    die: the claim is never confirmed. Returns a new process on the same database, after the
    claim expired, and the row's id."""
    now = chat.clock.now()
    with chat.bot.services.factory() as session:
        row = next(
            r
            for r in session.scalars(
                select(OutboxMessage).where(OutboxMessage.state == "queued").order_by(OutboxMessage.id)
            )
            if pick(r)
        )
    claimed = chat.bot.outbox.claim(row.id, now)
    assert claimed is not None
    if echoed:  # the service echoed the message before the process died
        assert chat.bot.outbox.note_echo(
            row.room_id, row.person_id, f"@someone\u2005{row.text}", "wx-echo-1", now
        )
    clock = VirtualClock(now + timedelta(seconds=quiet_config.outbox.claim_seconds + 1))
    again = Simulation(build_application(quiet_config, outage.engine, clock), clock)
    again.bot.outbox.recover(clock.now())
    return again, row.id


def relays_to(chat: Simulation) -> list[str]:
    return [d.room_topic or "" for d in chat.delivered if d.text.startswith("【通知】")]


def test_a_send_echoed_before_a_crash_is_not_sent_again(
    chat: Simulation, quiet_config: Config, outage: Outage
) -> None:
    meet(chat)
    chat.feed(chat.message("#通知 全体 今晚8点消毒", "王社工", STAFF))
    again, row_id = crash_mid_send(
        chat, quiet_config, outage, lambda r: r.text.startswith("【通知】"), echoed=True
    )
    again.drain()
    with again.bot.services.factory() as session:
        echoed = session.get(OutboxMessage, row_id)
        assert (echoed.state, echoed.transport_message_id) == ("sent", "wx-echo-1")
        echoed_room = session.scalar(select(Room.topic).where(Room.id == echoed.room_id))
    assert sorted([*relays_to(again), echoed_room]) == sorted(BUILDINGS)  # each room once


def test_an_unconfirmed_notice_is_sent_again_in_its_place_and_an_unconfirmed_reply_is_dropped(
    chat: Simulation, quiet_config: Config, outage: Outage
) -> None:
    meet(chat)
    chat.feed(chat.message("#通知 全体 今晚8点消毒", "王社工", STAFF))
    again, reply_id = crash_mid_send(
        chat, quiet_config, outage, lambda r: r.text.startswith("已排队发送"), echoed=False
    )
    again, relay_id = crash_mid_send(
        again, quiet_config, outage, lambda r: r.text.startswith("【通知】"), echoed=False
    )
    again.drain()
    with again.bot.services.factory() as session:
        reply = session.get(OutboxMessage, reply_id)
        assert reply.state == "failed" and "not sent again" in (reply.last_error or "")
    relays = [d for d in again.delivered if d.text.startswith("【通知】")]
    assert sorted(d.room_topic for d in relays) == sorted(BUILDINGS)
    assert relays[0].outbox_id == relay_id  # it kept its place: first, as it was


# ---------------------------------------------------------------- smaller things


def test_a_skipped_config_reminder_is_reported_to_the_staff_room(config: Config, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'qinlin.db'}")
    upgrade(engine)
    clock = VirtualClock(MORNING)
    fire_drill = RecurringReminder(name="消防演练", times=["18:00"], text="今晚消防演练，请配合", ack=True)
    chat = Simulation(
        build_application(config.model_copy(update={"reminders": [fire_drill]}), engine, clock), clock
    )
    meet(chat)
    clock.set(MORNING.replace(hour=21))  # down from 09:00 to 21:00: the 18:00 reminder is hours late
    told = [d for d in chat.wait(minutes=1) if "已跳过" in d.text]
    assert [d.room_topic for d in told] == [STAFF]
    engine.dispose()


def test_a_receipt_time_stamped_before_its_notice_does_not_count(chat: Simulation) -> None:
    meet(chat)
    chat.say(STAFF, "王社工", "#通知 3号楼 明天停水")
    chat.wait(minutes=5)
    before = chat.clock.now() - timedelta(hours=1)
    chat.feed(chat.message("收到", "张阿姨", B3, at=before))  # its phone's clock went backwards
    chat.say(B3, "孙师傅", "收到")
    from storage.models import NoticeAck

    with chat.bot.services.factory() as session:
        assert list(session.scalars(select(NoticeAck.person_name))) == ["孙师傅"]


def test_two_upgrades_at_once_on_an_empty_postgresql_database() -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL skipped: QINLIN_TEST_PG_URL is not set")
    from concurrent.futures import ThreadPoolExecutor

    from storage.db import check_migrated

    outage = _postgres_outage(migrate=False)
    database = next(outage)
    try:
        engines = [database.engine, make_engine(database.engine.url.render_as_string(hide_password=False))]
        with ThreadPoolExecutor(2) as pool:
            results = [pool.submit(upgrade, engine) for engine in engines]
            assert [future.exception() for future in results] == [None, None]
        check_migrated(engines[1])
        engines[1].dispose()
    finally:
        next(outage, None)
