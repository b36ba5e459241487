"""A street office (街道) on one database: several senders on one outbox, several areas on one
database. Run on PostgreSQL too (QINLIN_TEST_PG_URL), where the processes really overlap.

The senders here are threads on the wall clock: what is tested is two processes racing for the
same rows, which a virtual clock cannot show."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from bot.clock import VirtualClock
from bot.config import Config, PersonEntry, RoomRule
from bot.errors import UserError
from bot.lease import AreaLease
from bot.message import Outgoing
from bot.outbox import OutboxWorker, enqueue
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, session_factory, unit_of_work
from storage.models import OutboxMessage, Report
from tests.conftest import MORNING, _private_schema, _skip_without_postgresql, issue_bind_code


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


def queue_rows(engine: Engine, count: int) -> None:
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        for n in range(count):
            enqueue(
                session,
                Outgoing(text=f"第{n}条", room_id=f"room-{n % 12}"),
                wall_now() - timedelta(seconds=1),
            )


def outbox_config(config: Config, interval: float) -> object:
    return config.outbox.model_copy(
        update={
            "min_interval_seconds": interval,
            "jitter_seconds": 0,
            "quiet_hours": None,
            "max_per_day": 100_000,
        }
    )


class Sends:
    """What reached 'WeChat', from which sender, when (wall clock, at the moment of the call)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[int, str, float]] = []

    def sender(self, name: str) -> Callable[[OutboxMessage], str]:
        def send(row: OutboxMessage) -> str:
            with self.lock:
                self.log.append((row.id, name, time.monotonic()))
            return f"wx-{row.id}-{name}"

        return send


def drain(worker: OutboxWorker, send: Callable[[OutboxMessage], str], deadline: float) -> None:
    """What a process's outbox pump does, on the wall clock, until the queue is empty."""
    while time.monotonic() < deadline:
        upcoming = worker.next_send(wall_now())
        if upcoming is None:
            if worker.pending_count() == 0:
                return
            time.sleep(0.02)
            continue
        row_id, when = upcoming
        wait = (when - wall_now()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, 0.2))
            continue
        row = worker.claim(row_id, wall_now())
        if row is not None:
            worker.record_outcome(row_id, wall_now(), send(row))  # sent_at: after WeChat took it


def race(engine: Engine, config: Config, interval: float, senders: int, timeout: float) -> Sends:
    sends = Sends()
    factory = session_factory(engine)
    workers = [OutboxWorker(factory, outbox_config(config, interval), config.tzinfo) for _ in range(senders)]
    deadline = time.monotonic() + timeout
    threads = [
        threading.Thread(target=drain, args=(worker, sends.sender(f"p{n}"), deadline))
        for n, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sends


def test_two_senders_on_one_outbox_send_each_row_once(engine: Engine, config: Config) -> None:
    # SQLite lets one writer at a time in anyway: a short run shows the same holds there
    rows = 300 if engine.dialect.name == "postgresql" else 60
    queue_rows(engine, rows)
    sends = race(engine, config, interval=0, senders=2, timeout=180)
    counts = Counter(row_id for row_id, _, _ in sends.log)
    assert len(counts) == rows
    assert [row_id for row_id, n in counts.items() if n > 1] == []
    with session_factory(engine)() as session:
        assert set(session.scalars(select(OutboxMessage.state))) == {"sent"}


def test_two_senders_keep_the_accounts_pacing(engine: Engine, config: Config) -> None:
    queue_rows(engine, 8)
    sends = race(engine, config, interval=1.0, senders=2, timeout=60)
    assert sorted(Counter(row_id for row_id, _, _ in sends.log).values()) == [1] * 8
    moments = sorted(at for _, _, at in sends.log)
    gaps = [b - a for a, b in pairwise(moments)]
    assert min(gaps) >= 1.0, gaps


def test_a_process_starting_leaves_another_ones_send_in_flight_alone(engine: Engine, config: Config) -> None:
    """The first process waits for WeChat's acknowledgement; a second one starts meanwhile."""
    queue_rows(engine, 1)
    factory = session_factory(engine)
    first = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    second = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    sends = Sends()
    in_flight, acknowledged = threading.Event(), threading.Event()

    def slow_send(row: OutboxMessage) -> str:
        sends.sender("first")(row)
        in_flight.set()
        acknowledged.wait(10)
        return "wx-1"

    row_id, _ = first.next_send(wall_now())
    sending = threading.Thread(target=first.send_one, args=(row_id, wall_now(), slow_send))
    sending.start()
    assert in_flight.wait(10)
    assert second.recover(wall_now()) == 0  # a live claim is not taken back
    upcoming = second.next_send(wall_now())
    if upcoming is not None:
        assert not second.send_one(upcoming[0], wall_now(), sends.sender("second"))
    acknowledged.set()
    sending.join()
    drain(second, sends.sender("second"), time.monotonic() + 5)
    assert [(row, name) for row, name, _ in sends.log] == [(row_id, "first")]


def test_an_expired_claim_is_taken_back(engine: Engine, config: Config) -> None:
    """A sender that died holding a claim: once the claim has expired, another sends the row."""
    queue_rows(engine, 1)
    factory = session_factory(engine)
    dead = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    row_id, _ = dead.next_send(wall_now())
    assert dead.claim(row_id, wall_now()) is not None  # ... and never came back
    later = wall_now() + timedelta(seconds=config.outbox.claim_seconds + 1)
    survivor = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    assert survivor.recover(wall_now()) == 0
    assert survivor.recover(later) == 1
    sends = Sends()
    assert survivor.send_one(survivor.next_send(later)[0], later, sends.sender("survivor"))
    assert [row for row, _, _ in sends.log] == [row_id]


# ---------------------------------------------------------------- one live process per area


def test_one_process_per_area_holds_the_lease_and_a_standby_takes_over(engine: Engine) -> None:
    first = AreaLease(engine, "江南新村居民区")
    standby = AreaLease(engine, "江南新村居民区")
    elsewhere = AreaLease(engine, "东风新村居民区")
    try:
        assert first.try_acquire()
        assert not standby.try_acquire()
        assert elsewhere.try_acquire()  # another area is another lease
        assert f":{os.getpid()}" in (standby.holder() or "")  # the standby can say whom it waits for
        assert first.still_held()
        first._drop()  # the holder dies without a word (kill -9): its connection or file goes
        # PostgreSQL drops a dead session's locks as its backend exits, a moment after the socket
        # closes (on a loaded machine, after the next statement): a standby asks again, as it does every 5 s
        deadline = time.monotonic() + 10
        while not standby.try_acquire() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert standby.held
        assert not first.try_acquire()
    finally:
        for lease in (first, standby, elsewhere):
            lease.release()


def test_an_area_in_another_schema_of_the_same_postgresql_is_another_lease() -> None:
    """Advisory locks hold across a whole PostgreSQL database: two deployments in two schemas (as
    two runs of this suite are) must not hold each other's areas."""
    _skip_without_postgresql()
    with _private_schema() as first_url, _private_schema() as second_url:
        engines = [make_engine(first_url), make_engine(second_url)]
        leases = [AreaLease(engine, "江南新村居民区") for engine in engines]
        try:
            assert leases[0].try_acquire()
            assert leases[1].try_acquire()
            assert not AreaLease(engines[0], "江南新村居民区").try_acquire()  # within a schema it still holds
        finally:
            for lease in leases:
                lease.release()
            for engine in engines:
                engine.dispose()


def test_the_new_lease_holder_settles_the_claims_of_the_one_that_died(engine: Engine, config: Config) -> None:
    """Taking over, the standby need not wait for the dead process's claim to expire."""
    queue_rows(engine, 1)
    factory = session_factory(engine)
    dead = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    row_id, _ = dead.next_send(wall_now())
    assert dead.claim(row_id, wall_now()) is not None
    heir = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    assert heir.recover(wall_now()) == 0
    assert heir.recover(wall_now(), orphaned=True) == 1
    assert heir.next_send(wall_now()) is not None  # a notice relay: queued again in its place


# ---------------------------------------------------------------- areas as tenants

DONGFENG = "东风新村居民区"
A_ROOMS = ["江南新村3号楼", "江南新村5号楼"]
B_ROOMS = ["东风新村3号楼", "东风新村7号楼"]
A_STAFF, B_STAFF = "居委工作群", "东风居委工作群"
STREET, STREET_PERSON = "斜土街道", "刘科长"  # the street office's person, in 江南新村's config


@pytest.fixture
def two_areas(config: Config, engine: Engine, tmp_path: Path) -> tuple[Simulation, Simulation]:
    """江南新村 and 东风新村: two configs, two accounts, one database. The same staff name in both
    (one person may serve two areas), and both transports number their messages from sim-1."""
    quiet = {"reminders": [], "street": STREET}
    street_person = PersonEntry(name=STREET_PERSON, role="street", wechat_id=f"wxid_{STREET_PERSON}")
    jiangnan = config.model_copy(update={**quiet, "people": [*config.people, street_person]})
    rooms = [
        RoomRule(id=f"room_{B_STAFF}", role="staff"),
        *config.rooms,
    ]  # its staff room, by id as a site writes it
    dongfeng = config.model_copy(
        update={**quiet, "community": DONGFENG, "rooms": rooms, "exports_dir": str(tmp_path / "dongfeng")}
    )
    a = Simulation(build_application(jiangnan, engine, VirtualClock(MORNING)), VirtualClock(MORNING))
    b = Simulation(build_application(dongfeng, engine, VirtualClock(MORNING)), VirtualClock(MORNING))
    a.bot.services.clock = a.clock
    b.bot.services.clock = b.clock
    for chat, rooms in ((a, [*A_ROOMS, A_STAFF]), (b, [*B_ROOMS, B_STAFF])):
        for topic in rooms:
            chat.say(topic, "某居民", "大家好")
    return a, b


def test_two_areas_on_one_database_never_cross(two_areas: tuple[Simulation, Simulation]) -> None:
    a, b = two_areas
    assert a.say(A_ROOMS[0], "张阿姨", "#家庭报告 3号楼201 返沪2人 来自武汉")[0].text.startswith("已登记")
    assert b.say(B_ROOMS[0], "孙师傅", "报修 3号楼楼道灯坏了")[0].text.startswith("已登记")
    assert b.say(B_ROOMS[1], "周老师", "登记 7号楼302 新搬来租户 一家三口")[0].text.startswith("已登记")

    a.say(A_STAFF, "王社工", "#通知 全体 今晚消毒")
    b.say(B_STAFF, "王社工", "#通知 全体 明早停水")
    a_relays = sorted(d.room_topic for d in a.delivered if d.text.startswith("【通知】"))
    b_relays = sorted(d.room_topic for d in b.delivered if d.text.startswith("【通知】"))
    assert a_relays == sorted(A_ROOMS) and b_relays == sorted(B_ROOMS)  # 全体 is one's own rooms

    assert "报告 1 条" in a.say(A_STAFF, "王社工", "/汇总")[0].text
    assert "报告 2 条" in b.say(B_STAFF, "王社工", "/汇总")[0].text
    assert "武汉" not in " ".join(d.text for d in b.say(B_STAFF, "王社工", "/查询"))
    assert "楼道灯" not in " ".join(d.text for d in a.say(A_STAFF, "王社工", "/待办"))
    a_report = 1  # numbers are the street's: 江南's report is #1, 东风's are #2 and #3
    assert "已处理" not in " ".join(d.text for d in b.say(B_STAFF, "王社工", f"/办结 {a_report} 已上门"))
    with a.bot.services.factory() as session:
        assert session.get(Report, a_report).status == "open"

    ledger = next(d for d in b.say(B_STAFF, "王社工", "/导出") if d.file_path)
    cells = " ".join(
        str(cell.value)
        for sheet in load_workbook(ledger.file_path)
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    )
    assert "楼道灯" in cells and "武汉" not in cells

    # every message went out through its own area's worker, to its own area's rooms
    assert {d.room_topic for d in a.delivered if d.room_topic} <= {*A_ROOMS, A_STAFF}
    assert {d.room_topic for d in b.delivered if d.room_topic} <= {*B_ROOMS, B_STAFF}
    with session_factory(a.bot.services.factory.kw["bind"])() as everyone:  # the street's own view
        rows = everyone.scalars(select(OutboxMessage)).all()
        assert {row.community for row in rows} == {"江南新村居民区", DONGFENG}
        assert all(row.state == "sent" for row in rows)
        by_area = {row.community: {r.room_id for r in rows if r.community == row.community} for row in rows}
        assert by_area["江南新村居民区"].isdisjoint(by_area[DONGFENG] - {None})


def test_rows_from_before_areas_are_adopted_by_the_first_area(config: Config, engine: Engine) -> None:
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        enqueue(session, Outgoing(text="旧的", room_id="room-old"), wall_now())
    build_application(config, engine, VirtualClock(MORNING))
    with factory() as session:
        assert session.scalars(select(OutboxMessage.community)).all() == [config.area_id]


def test_codes_contacts_locks_and_the_role_trail_stay_in_their_area(
    two_areas: tuple[Simulation, Simulation],
) -> None:
    """The same people (王社工, 李书记) and the same WeChat ids in both areas: what one area's
    account learnt or issued proves nothing to the other."""
    from bot.services.login import LOCKED, WRONG, check_login
    from storage.models import BindFailure, Contact, RoleEvent, WebLoginLock

    a, b = two_areas
    # a code issued in 江南新村 does not bind in 东风新村, and is still good at home
    code = issue_bind_code(a, "赵党员")
    assert b.say(None, "赵党员", f"/绑定 {code}", sender_id="wxid_zhao")[0].text.startswith("绑定码不对")
    assert a.say(None, "赵党员", f"/绑定 {code}", sender_id="wxid_zhao")[0].text.startswith("绑定成功")
    # five wrong codes lock a contact in 东风新村 only
    for _ in range(5):
        assert b.say(None, "某人", "/绑定 00000000", sender_id="wxid_guess")[0].text.startswith("绑定码不对")
    assert b.say(None, "某人", "/绑定 00000000", sender_id="wxid_guess")[0].text.startswith(
        "绑定码错误次数太多"
    )
    assert a.say(None, "某人", "/绑定 00000000", sender_id="wxid_guess")[0].text.startswith("绑定码不对")
    # a contact only 东风新村's account has seen cannot be picked by 江南新村's admin
    b.say(B_ROOMS[0], "孙师傅", "早")
    picked = a.say(None, "李书记", "/设为 @孙师傅 楼组长 3号楼", mentions=("wxid_孙师傅",))[0].text
    assert picked.startswith("还没见过 孙师傅 发言")
    assert b.say(None, "李书记", "/设为 @孙师傅 楼组长 3号楼", mentions=("wxid_孙师傅",))[0].text.startswith(
        "已将 孙师傅 设为"
    )
    # wrong web login codes lock a name in one area's workbench only
    for _ in range(5):
        with unit_of_work(b.bot.services.factory) as session, pytest.raises(UserError, match=WRONG):
            check_login(session, "王社工", "000000", b.clock.now())
    with unit_of_work(b.bot.services.factory) as session, pytest.raises(UserError, match=LOCKED):
        check_login(session, "王社工", "000000", b.clock.now())
    with unit_of_work(a.bot.services.factory) as session, pytest.raises(UserError, match=WRONG):
        check_login(session, "王社工", "000000", a.clock.now())
    # and in the street's view of every row, each row is its own area's
    with session_factory(a.bot.services.factory.kw["bind"])() as everyone:
        trail = everyone.execute(select(RoleEvent.community, RoleEvent.person_name, RoleEvent.action)).all()
        assert ("江南新村居民区", "赵党员", "bind") in trail and (DONGFENG, "赵党员", "bind") not in trail
        assert (DONGFENG, "孙师傅", "set_role") in trail and (
            "江南新村居民区",
            "孙师傅",
            "set_role",
        ) not in trail
        assert set(everyone.scalars(select(BindFailure.community))) == {"江南新村居民区", DONGFENG}
        assert set(everyone.scalars(select(WebLoginLock.community))) == {"江南新村居民区", DONGFENG}
        contacts = everyone.execute(select(Contact.community, Contact.wechat_id)).all()
        assert (DONGFENG, "wxid_孙师傅") in contacts and ("江南新村居民区", "wxid_孙师傅") not in contacts


# ---------------------------------------------------------------- the street's view


def test_a_street_person_sees_every_area_in_numbers_only(two_areas: tuple[Simulation, Simulation]) -> None:
    from handlers.staff import STREET_NO_DETAILS, STREET_SCOPE

    a, b = two_areas
    a.say(A_ROOMS[0], "张阿姨", "#家庭报告 3号楼201 返沪2人 来自武汉")
    b.say(B_ROOMS[0], "孙师傅", "报修 3号楼楼道灯坏了")
    b.say(B_ROOMS[1], "周老师", "登记 7号楼302 新搬来租户 一家三口")
    whole = a.say(None, STREET_PERSON, "/汇总")[0].text
    assert whole.startswith(f"全街道（{STREET}） · 今天")
    assert "报告 3 条，2 个居民区" in whole
    assert "江南新村居民区：1 条（待办 1），返沪登记 2 人" in whole and f"{DONGFENG}：2 条（待办 2）" in whole
    assert "返沪登记人数：2 人" in whole
    for personal in ("张阿姨", "孙师傅", "周老师", "201", "302", "武汉", "楼道灯", "#"):
        assert personal not in whole
    # each area's staff still see their own area alone
    assert "全居民区 · 今天（" in a.say(A_STAFF, "王社工", "/汇总")[0].text
    assert "报告 1 条" in a.say(A_STAFF, "王社工", "/汇总")[0].text
    assert "报告 2 条" in b.say(B_STAFF, "王社工", "/汇总")[0].text
    # no details of any area: /查询 is refused (see STREET_NO_DETAILS), and so are /待办 and /导出
    for command in ("/查询", "/查询 返沪", "/查询 #1"):
        answer = " ".join(d.text for d in a.say(None, STREET_PERSON, command))
        assert answer == STREET_NO_DETAILS
    assert a.say(None, STREET_PERSON, "/待办")[0].text.startswith("抱歉，/待办 仅限社工使用")
    assert a.say(None, STREET_PERSON, "/汇总 3号楼")[0].text == STREET_SCOPE
    assert "报告 2 条" in a.say(None, STREET_PERSON, "/汇总 本周 设施报修 外来人员登记")[0].text
    # the street role is bound by proof like any role above resident: the name alone is nobody
    impostor = a.say(None, STREET_PERSON, "/汇总", sender_id="wxid_someone_else")[0].text
    assert impostor == "抱歉，/汇总 仅限社工、楼组长、街道使用。"


def test_a_street_notice_reaches_every_areas_rooms_from_each_areas_own_account(
    two_areas: tuple[Simulation, Simulation],
) -> None:
    a, b = two_areas
    told = a.say(None, STREET_PERSON, "#通知 全街道 周六上午消防演练，请各楼组长提醒")[0].text
    assert told.startswith("已排队发送全街道通知至 2 个居民区共 4 个楼组群")
    b.bot.recheck()  # what another process wrote: `qinlin run` rechecks every few seconds
    b.drain()
    a_relays = [d for d in a.delivered if d.text.startswith("【通知】")]
    b_relays = [d for d in b.delivered if d.text.startswith("【通知】")]
    assert sorted(d.room_topic for d in a_relays) == sorted(A_ROOMS)
    assert sorted(d.room_topic for d in b_relays) == sorted(B_ROOMS)
    assert all(d.text.startswith(f"【通知】{STREET} N") and "消防演练" in d.text for d in a_relays + b_relays)
    # each area's notice is its own: its staff see its receipts
    # signed by the street's person in every area, though only one area's roster knows them
    assert {d.text.splitlines()[0].split("｜")[1] for d in a_relays + b_relays} == {
        f"{STREET_PERSON}（街道）"
    }
    b_number = b_relays[0].text.split(" N")[1].split("｜")[0]
    receipts = b.say(B_STAFF, "王社工", f"/回执 N{b_number}")[0].text
    assert "2" in receipts and "江南" not in receipts
    with session_factory(a.bot.services.factory.kw["bind"])() as everyone:
        rows = everyone.scalars(select(OutboxMessage).where(OutboxMessage.notice_id.is_not(None))).all()
        assert {row.community for row in rows} == {"江南新村居民区", DONGFENG}
        assert {row.room_id for row in rows if row.community == DONGFENG} == {f"room_{t}" for t in B_ROOMS}
        assert {row.room_id for row in rows if row.community != DONGFENG} == {f"room_{t}" for t in A_ROOMS}
        assert all(row.state == "sent" for row in rows)
    # an area's staff cannot speak for the street
    refused = a.say(A_STAFF, "王社工", "#通知 全街道 明天停电")[0].text
    assert refused.startswith("抱歉，#通知 全街道 仅限街道使用")


def test_the_street_ledger_has_a_summary_across_areas_and_a_sheet_per_area(
    two_areas: tuple[Simulation, Simulation], db_url: str, tmp_path: Path
) -> None:
    from tests.test_cli import qinlin

    a, b = two_areas
    a.say(A_ROOMS[0], "张阿姨", "#家庭报告 3号楼201 返沪2人 来自武汉 电话13812345678")
    b.say(B_ROOMS[0], "孙师傅", "报修 3号楼楼道灯坏了")
    b.say(B_ROOMS[1], "周老师", "登记 7号楼302 新搬来租户 一家三口")
    out = tmp_path / "街道台帐.xlsx"
    result = qinlin("export", "--street", "--period", "2026-11", "--out", str(out), "--db", db_url)
    assert result.returncode == 0, result.stderr
    workbook = load_workbook(out)
    assert workbook.sheetnames == ["街道汇总", DONGFENG, "江南新村居民区"]
    summary = [[cell.value for cell in row] for row in workbook["街道汇总"].iter_rows()]
    assert summary[1] == ["2 个居民区，报告共 3 条", *[None] * 7]
    assert summary[3] == [
        "居民区",
        "报告",
        "家庭报告",
        "楼组报告",
        "片区报告",
        "待办",
        "已办结",
        "返沪登记人数",
    ]
    assert summary[4] == [DONGFENG, 2, 1, 1, 0, 2, 0, 0]
    assert summary[5] == ["江南新村居民区", 1, 1, 0, 0, 1, 0, 2]
    assert summary[6] == ["合计", 3, 2, 1, 0, 3, 0, 2]
    assert summary[8][:4] == ["按类别", DONGFENG, "江南新村居民区", "合计"]
    jiangnan = [[cell.value for cell in row] for row in workbook["江南新村居民区"].iter_rows()]
    assert jiangnan[0] == [
        "编号",
        "登记时间",
        "类型",
        "类别",
        "状态",
        "楼号",
        "片区",
        "人数",
        "户数",
        "来源地",
        "日期",
        "办结时间",
    ]
    assert (
        jiangnan[1][0] == "#1"
        and jiangnan[1][2:6] == ["家庭报告", "返沪登记", "待处理", "3"]
        and len(jiangnan) == 2
    )
    dongfeng = [[cell.value for cell in row] for row in workbook[DONGFENG].iter_rows()]
    assert [row[0] for row in dongfeng[1:]] == ["#2", "#3"]
    cells = " ".join(
        cell
        for sheet in (summary, jiangnan, dongfeng)
        for row in sheet
        for cell in row
        if isinstance(cell, str)
    )
    for personal in ("张阿姨", "孙师傅", "周老师", "201", "302", "138", "楼道灯", "武汉新"):
        assert personal not in cells
    assert "武汉" in cells  # where people came from is a count the street needs, not a person
