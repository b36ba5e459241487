"""The checker: every number the bot prints equals a recount of the raw tables.

Seeded, reproducible days go through the bot on the virtual clock — reports of every kind, 接龙
reposts, corrections, withdrawals, notices to building, area and party rooms with 收到 in every
room type, recalls, notices posted into quiet hours, /办结, and the shipped 垃圾分类 reminders.
After each day every number printed by /汇总 (each scope), /回执, /待办, the digest and the
ledger's summary sheet is compared with a count written here, over the tables themselves, by the
rules of docs/notices.md. Which notice each 收到 counts for is recomputed from the moments the
relays left the outbox.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from bot.clock import SHANGHAI
from bot.config import Config
from bot.reports import KIND_LABEL, STATUS_LABEL
from bot.transports.simulated import Delivered, Simulation
from handlers import build_application
from storage.models import Notice, NoticeAck, NoticeDelivery, OutboxMessage, Report, Room

STAFF, GENERAL, AREA_ROOM = "居委工作群", "江南新村党总支", "二片区群"
BRANCH_ROOMS = {1: "第1党支部", 2: "第2党支部"}
BUILDINGS = ["3", "5", "8", "30", "47"]
RESIDENTS = ["郑老伯", "冯阿姨", "孙师傅", "周老师", "吴阿姨", "陈先生", "林女士", "何阿婆"]
CITIES = ["武汉", "安徽", "江西", "湖北", "南京"]
ACKS = ["收到", "好的收到", "收到👌", "已阅", "收到了"]
SCOPES = [
    "",
    "3号楼",
    "5号楼",
    "8号楼",
    "30号楼",
    "47号楼",
    "一片区",
    "二片区",
    "第1支部",
    "第2支部",
    "第8支部",
]
OPEN = ("open", "incomplete", "pending")
DAYS = 3
FIRST_DAY = date(2026, 11, 23)

reports, notices, acks = Report.__table__, Notice.__table__, NoticeAck.__table__
deliveries, outbox, rooms = NoticeDelivery.__table__, OutboxMessage.__table__, Room.__table__


def building_room(building: str) -> str:
    return f"江南新村{building}号楼"


@dataclass
class Said:
    """A 收到 as it was typed: where, by whom, when."""

    room_id: str
    person_id: str
    at: datetime


@dataclass
class Day:
    """Drives one seeded day through the bot and remembers what the checks need."""

    chat: Simulation
    rng: random.Random
    acks: list[Said] = field(default_factory=list)
    recalled_at: dict[int, datetime] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)

    def feed(self, at: datetime, room: str | None, sender: str, text: str) -> None:
        self.chat.feed(self.chat.message(text, sender, room, at=at))

    def reports(self, session: Session, *statuses: str) -> list[Report]:
        query = select(Report).where(Report.status.in_(statuses)) if statuses else select(Report)
        return list(session.scalars(query.order_by(Report.id)))

    def event(self, at: datetime) -> None:
        rng, building = self.rng, self.rng.choice(BUILDINGS)
        unit = f"{rng.randint(1, 6)}0{rng.randint(1, 4)}"
        who = rng.choice(RESIDENTS)
        kind = rng.choices(
            [
                "return",
                "elderly",
                "building",
                "area",
                "area-words",
                "area-branch",
                "chain",
                "correct",
                "withdraw",
                "resolve",
                "notice",
                "ack",
                "ack",
                "ack",
                "recall",
            ],
            weights=[4, 2, 3, 2, 1, 1, 2, 2, 1, 2, 3, 3, 3, 3, 1],
        )[0]
        if kind == "return":
            self.feed(
                at,
                building_room(building),
                who,
                f"#家庭报告 {building}号楼{unit} 返沪{rng.randint(1, 4)}人 来自{rng.choice(CITIES)}",
            )
        elif kind == "elderly":
            self.feed(at, building_room(building), who, f"求助 我家老人独居 需要配药 {building}号楼{unit}室")
        elif kind == "building":
            self.feed(
                at,
                building_room(building),
                who,
                rng.choice([f"报修 {building}号楼楼道灯坏了", f"楼组报告 {building}号楼门牌太不显眼"]),
            )
        elif kind == "area":
            self.feed(at, AREA_ROOM, who, "反映 垃圾厢房旁边堆了建筑垃圾，好几天没人清")
        elif kind == "area-words":
            self.feed(at, STAFF, "王社工", f"片区报告 {rng.choice(['一片区', '二片区'])} 车棚电瓶车乱停")
        elif kind == "area-branch":
            self.feed(at, BRANCH_ROOMS[2], "赵党员", "片区报告 车棚顶漏雨")
        elif kind == "chain":
            lines = self.chains.setdefault(building, [])
            lines.append(f"{building}号楼{unit} {who} {rng.randint(1, 3)}人 来自{rng.choice(CITIES)}")
            body = "\n".join(f"{index}. {line}" for index, line in enumerate(lines, start=1))
            self.feed(at, building_room(building), who, f"#接龙 返沪登记\n{body}")
        elif kind in ("correct", "withdraw", "resolve"):
            with self.chat.bot.services.factory() as session:
                candidates = [r for r in self.reports(session, *OPEN) if r.room_id is not None]
                if not candidates:
                    return
                report = rng.choice(candidates)
                topic = session.scalar(select(Room.topic).where(Room.id == report.room_id))
            if kind == "correct":
                self.feed(at, topic, report.reporter_name, f"更正 {report.id} {rng.randint(1, 5)}人")
            elif kind == "withdraw":
                self.feed(at, topic, report.reporter_name, f"撤回 {report.id}")
            else:
                self.feed(at, STAFF, "王社工", f"/办结 {report.id} 已处理")
        elif kind == "notice":
            targets = rng.choice(["3号楼 5号楼", "二片区", "第1支部", "各支部", "全体", "8号楼"])
            self.feed(at, STAFF, "王社工", f"#通知 {targets} 第{rng.randint(1, 99)}期 请注意楼道消防通道")
        elif kind == "ack":
            room = rng.choice([*map(building_room, BUILDINGS), AREA_ROOM, GENERAL, *BRANCH_ROOMS.values()])
            sender = rng.choice([*RESIDENTS, "赵党员", "钱组长"])
            self.feed(at, room, sender, rng.choice(ACKS))
            self.acks.append(Said(f"room_{room}", f"wxid_{sender}", at))
        elif kind == "recall":
            with self.chat.bot.services.factory() as session:
                latest = session.scalar(select(func.max(Notice.id)).where(Notice.status == "sent"))
            if latest is not None:
                self.feed(at, STAFF, "王社工", f"/撤回通知 N{latest}")
                with self.chat.bot.services.factory() as session:
                    if session.get(Notice, latest).status == "recalled":
                        self.recalled_at.setdefault(latest, at)

    def run(self, day: date) -> None:
        # every day the party hears first (各支部), and answers in its own rooms
        party = datetime.combine(day, time(7, 40), SHANGHAI)
        self.feed(party, STAFF, "王社工", "#通知 各支部 党员先学习本周通知")
        for minutes, (room, sender) in enumerate([(GENERAL, "李书记"), (BRANCH_ROOMS[2], "赵党员")], start=5):
            at = party + timedelta(minutes=minutes)
            self.feed(at, room, sender, self.rng.choice(ACKS))
            self.acks.append(Said(f"room_{room}", f"wxid_{sender}", at))
        moment = datetime.combine(day, time(8, 0), SHANGHAI)
        while moment < datetime.combine(day, time(19, 30), SHANGHAI):
            self.event(moment)
            moment += timedelta(minutes=self.rng.randint(6, 36))
        self.chat.advance_to(datetime.combine(day, time(20, 30), SHANGHAI))

    def night(self, day: date) -> None:
        """A notice close to quiet hours and one inside them, with a recall of a held relay."""
        late = datetime.combine(day, time(21, self.rng.randint(50, 59)), SHANGHAI)
        self.feed(late, STAFF, "王社工", "#通知 全体 明天上午电梯检修")
        self.feed(late + timedelta(hours=1, minutes=10), STAFF, "王社工", "#通知 3号楼 明早停水")
        if self.rng.random() < 0.5:
            with self.chat.bot.services.factory() as session:
                latest = session.scalar(select(func.max(Notice.id)))
            at = late + timedelta(hours=1, minutes=20)
            self.feed(at, STAFF, "王社工", f"/撤回通知 N{latest}")
            self.recalled_at.setdefault(latest, at)
        self.acks.append(Said(f"room_{building_room('3')}", "wxid_郑老伯", late + timedelta(hours=2)))
        self.feed(late + timedelta(hours=2), building_room("3"), "郑老伯", "收到")


# ---------------------------------------------------------------- asking the bot


def ask(chat: Simulation, text: str, sender: str = "王社工") -> list[Delivered]:
    before = len(chat.delivered)
    chat.feed(chat.message(text, sender, STAFF))
    chat.wait(minutes=3)
    return [d for d in chat.delivered[before:] if d.room_topic == STAFF]


def pairs(line: str) -> dict[str, int]:
    """ "家庭报告 2，片区报告 1" → {"家庭报告": 2, "片区报告": 1}."""
    found = {}
    for part in line.split("，"):
        name, count = part.rsplit(" ", 1)
        found[name] = int(count)
    return found


# ---------------------------------------------------------------- the recount


def day_bounds(day: date) -> tuple[datetime, datetime]:
    return datetime.combine(day, time(0), SHANGHAI), datetime.combine(
        day + timedelta(days=1), time(0), SHANGHAI
    )


def scope_clause(config: Config, scope: str) -> ColumnElement[bool] | None:
    """docs/notices.md, "Scopes of /汇总", written out again over the columns."""
    if not scope:
        return None
    if scope.endswith("号楼"):
        return reports.c.building == scope.removesuffix("号楼")
    if scope in config.areas:
        return or_(reports.c.building.in_(config.area_buildings(scope)), reports.c.area == scope)
    number = int(scope.removeprefix("第").removesuffix("支部"))
    party_rooms = select(rooms.c.id).where(rooms.c.role == "branch", rooms.c.branch == number)
    return or_(reports.c.building.in_(config.branch_buildings(number)), reports.c.room_id.in_(party_rooms))


def recount_reports(
    session: Session, start: datetime, end: datetime, where: ColumnElement[bool] | None
) -> dict:
    conditions = [reports.c.created_at >= start, reports.c.created_at < end]
    if where is not None:
        conditions.append(where)

    def grouped(column) -> Counter:
        return Counter(
            dict(session.execute(select(column, func.count()).where(*conditions).group_by(column)).all())
        )

    returned = session.scalar(
        select(func.coalesce(func.sum(reports.c.people), 0)).where(
            *conditions, reports.c.category == "return", reports.c.status != "withdrawn"
        )
    )
    return {
        "kind": grouped(reports.c.kind),
        "category": grouped(reports.c.category),
        "status": grouped(reports.c.status),
        "building": grouped(reports.c.building),
        "returned": int(returned),
    }


def relay_states(session: Session, notice_id: int) -> dict[str, tuple[str, datetime | None]]:
    """room → (state, sent_at) of the notice's relay there, by its outbox key."""
    found = {}
    for (room_id,) in session.execute(
        select(deliveries.c.room_id).where(deliveries.c.notice_id == notice_id)
    ):
        row = session.execute(
            select(outbox.c.state, outbox.c.sent_at).where(
                outbox.c.dedupe_key == f"notice:{notice_id}:{room_id}"
            )
        ).first()
        found[room_id] = (row.state, row.sent_at) if row is not None else ("none", None)
    return found


def expected_acks(
    session: Session, said: list[Said], recalled_at: dict[int, datetime], window: timedelta
) -> set:
    """Each 收到 typed, attributed by the rule: the notice most recently delivered to that room,
    within the window, not recalled by then; once per person per notice."""
    relays = []
    for (notice_id,) in session.execute(select(notices.c.id)):
        for room_id, (state, sent_at) in relay_states(session, notice_id).items():
            if state == "sent" and sent_at is not None:
                relays.append((notice_id, room_id, sent_at))
    expected: set[tuple[int, str, str]] = set()
    for ack in said:
        live = [
            (at, notice_id)
            for notice_id, room_id, at in relays
            if room_id == ack.room_id
            and at <= ack.at
            and ack.at - at <= window
            and not (notice_id in recalled_at and recalled_at[notice_id] <= ack.at)
        ]
        if not live:
            continue
        notice_id = max(live)[1]
        if not any(n == notice_id and person == ack.person_id for n, _, person in expected):
            expected.add((notice_id, ack.room_id, ack.person_id))
    return expected


# ---------------------------------------------------------------- the checks


def check_summaries(chat: Simulation, config: Config, day: date, labels: dict[str, str]) -> None:
    start, end = day_bounds(day)
    for scope in SCOPES:
        text = ask(chat, f"/汇总 今天 {scope}".strip())[0].text
        assert text.startswith(f"{scope or '全居民区'} · 今天"), text
        lines = text.split("\n")
        printed = {"total": int(re.search(r"报告 (\d+) 条", lines[0]).group(1)), "returned": 0}
        for line in lines[1:]:
            head, _, rest = line.partition("：")
            if head == "返沪登记人数":
                printed["returned"] = int(rest.removesuffix(" 人"))
            else:
                printed[head] = pairs(rest)
        with chat.bot.services.factory() as session:
            truth = recount_reports(session, start, end, scope_clause(config, scope))
        total = sum(truth["kind"].values())
        assert printed["total"] == total, (scope, text)
        if total:
            assert printed["类型"] == {KIND_LABEL[k]: c for k, c in truth["kind"].items()}, (scope, text)
            assert printed["类别"] == {labels.get(k, k): c for k, c in truth["category"].items()}, (
                scope,
                text,
            )
            assert printed["状态"] == {STATUS_LABEL[k]: c for k, c in truth["status"].items()}, (scope, text)
        assert printed["returned"] == truth["returned"], (scope, text)


def check_receipts(chat: Simulation) -> None:
    """Every notice that can still change: posted within the acknowledgement window."""
    window = timedelta(hours=chat.bot.services.config.notices.ack_window_hours)
    with chat.bot.services.factory() as session:
        numbers = list(
            session.scalars(
                select(notices.c.id).where(
                    notices.c.status.in_(("sent", "recalled")),
                    notices.c.created_at >= chat.clock.now() - window,
                )
            )
        )
    for number in numbers:
        text = ask(chat, f"/回执 N{number}")[0].text
        with chat.bot.services.factory() as session:
            status = session.scalar(select(notices.c.status).where(notices.c.id == number))
            per_room = Counter(
                dict(
                    session.execute(
                        select(acks.c.room_id, func.count())
                        .where(acks.c.notice_id == number)
                        .group_by(acks.c.room_id)
                    ).all()
                )
            )
            relays = relay_states(session, number)
            topics = dict(session.execute(select(rooms.c.id, rooms.c.topic)).all())
        if status == "recalled":
            assert text == f"N{number} 已撤回，不再统计确认（撤回前 {sum(per_room.values())} 人确认）。", text
            continue
        shown = sorted(topics[room] for room, (state, _) in relays.items() if state == "sent")
        confirmed = sum(count for room, count in per_room.items() if relays.get(room, ("",))[0] == "sent")
        head, *lines = text.split("\n")
        assert head == f"N{number} 回执（共 {len(shown)} 个群，{confirmed} 人确认）：", text
        listed = {
            line[2:].rsplit("：", 1)[0]: int(line.rsplit("：", 1)[1].removesuffix(" 人"))
            for line in lines
            if line.startswith("· ")
        }
        assert listed == {
            topics[room]: count for room, count in per_room.items() if relays.get(room, ("",))[0] == "sent"
        }, text
        silent = next(
            (line.removeprefix("无人确认：").split("、") for line in lines if line.startswith("无人确认：")),
            [],
        )
        assert sorted(silent) == sorted(t for t in shown if t not in listed), text
        waiting = next(
            (
                line.removeprefix("尚未发出：").split("（")[0].split("、")
                for line in lines
                if line.startswith("尚未发出：")
            ),
            [],
        )
        assert sorted(waiting) == sorted(
            topics[room] for room, (state, _) in relays.items() if state in ("queued", "sending")
        ), text
        assert sum(per_room.values()) >= confirmed  # a 收到 is only ever in a room that saw the notice


def check_acknowledgements(chat: Simulation, driver: Day) -> None:
    window = timedelta(hours=chat.bot.services.config.notices.ack_window_hours)
    with chat.bot.services.factory() as session:
        stored = {
            tuple(row) for row in session.execute(select(acks.c.notice_id, acks.c.room_id, acks.c.person_id))
        }
        assert stored == expected_acks(session, driver.acks, driver.recalled_at, window)


def check_open_items(chat: Simulation) -> None:
    text = ask(chat, "/待办")[0].text
    with chat.bot.services.factory() as session:
        open_ids = list(
            session.scalars(
                select(reports.c.id)
                .where(reports.c.status.in_(OPEN))
                .order_by(reports.c.created_at, reports.c.id)
            )
        )
    if not open_ids:
        assert text == "没有待办，辛苦了！"
        return
    assert int(re.match(r"待办 (\d+) 条", text).group(1)) == len(open_ids), text
    assert [int(n) for n in re.findall(r"^#(\d+) ", text, re.M)] == open_ids[:30], text


def check_digest(chat: Simulation, day: date, labels: dict[str, str]) -> None:
    digest = [
        d
        for d in chat.delivered
        if d.room_topic == STAFF
        and d.text.startswith(f"【日报】{chat.bot.services.config.community} {day:%m月%d日}")
    ]
    assert len(digest) == 1
    lines = digest[0].text.split("\n")
    at = digest[0].at
    start, end = day_bounds(day)
    with chat.bot.services.factory() as session:
        truth = recount_reports(session, start, end, None)
        new_open = session.scalar(
            select(func.count()).where(
                reports.c.created_at >= start, reports.c.created_at < end, reports.c.status.in_(OPEN)
            )
        )
        all_open = session.scalar(select(func.count()).where(reports.c.status.in_(OPEN)))
        window = timedelta(hours=chat.bot.services.config.notices.ack_window_hours)
        unconfirmed = {}
        for (number,) in session.execute(
            select(notices.c.id).where(notices.c.status == "sent").order_by(notices.c.id)
        ):
            silent = 0
            for room, (state, sent) in relay_states(session, number).items():
                if state == "sent" and sent is not None and at - window <= sent <= at:
                    if not session.scalar(
                        select(func.count()).where(acks.c.notice_id == number, acks.c.room_id == room)
                    ):
                        silent += 1
            if silent:
                unconfirmed[number] = silent
    total = sum(truth["kind"].values())
    match = re.fullmatch(r"今日报告 (\d+) 条(?:（(.+)）)?", lines[1])
    assert int(match.group(1)) == total, lines
    if total:
        assert pairs(match.group(2)) == {KIND_LABEL[k]: c for k, c in truth["kind"].items()}, lines
    category = next((line.removeprefix("类别：") for line in lines if line.startswith("类别：")), None)
    assert (pairs(category) if category else {}) == {
        labels.get(k, k): c for k, c in truth["category"].items()
    }, lines
    waiting = next(line for line in lines if line.startswith("今日新增待办"))
    assert re.match(r"今日新增待办 (\d+) 条，全部待办 (\d+) 条", waiting).groups() == (
        str(new_open),
        str(all_open),
    ), lines
    line = next((line for line in lines if line.startswith("未确认的通知：")), "")
    printed = {int(n): int(c) for n, c in re.findall(r"N(\d+)（(\d+) 个群无人回复）", line)}
    assert printed == unconfirmed, lines


def check_ledger(chat: Simulation, day: date, labels: dict[str, str]) -> None:
    replies = ask(chat, "/导出 今天")
    path = next(d.file_path for d in replies if d.file_path and d.file_path.endswith(".xlsx"))
    sheet = load_workbook(path)["汇总"]
    groups: dict[str, dict[str, int]] = {}
    current = None
    total = None
    for row in sheet.iter_rows(values_only=True):
        if row and isinstance(row[0], str) and row[0].startswith("报告共"):
            total = int(re.search(r"\d+", row[0]).group(0))
        elif len(row) > 1 and row[1] == "数量":
            current = groups.setdefault(row[0], {})
        elif current is not None and len(row) > 1 and isinstance(row[1], int):
            current[row[0]] = row[1]
    start, end = day_bounds(day)
    with chat.bot.services.factory() as session:
        truth = recount_reports(session, start, end, None)
    assert total == sum(truth["kind"].values())
    assert groups["按报告类型"] == {KIND_LABEL[k]: c for k, c in truth["kind"].items()}
    assert groups["按类别"] == {labels.get(k, k): c for k, c in truth["category"].items()}
    assert groups["按楼号"] == {
        (f"{b}号楼" if b else "（未填楼号）"): c for b, c in truth["building"].items()
    }
    assert groups["按状态"] == {STATUS_LABEL[k]: c for k, c in truth["status"].items()}


@pytest.mark.parametrize("seed", [15])
def test_every_printed_number_equals_the_records(seed: int, config: Config, engine, clock) -> None:
    assert config.reminders  # the shipped config, 垃圾分类 reminders on, its staff bound
    chat = Simulation(build_application(config, engine, clock), clock)
    clock.set(datetime.combine(FIRST_DAY, time(7, 30), SHANGHAI))
    for topic in [STAFF, GENERAL, AREA_ROOM, *BRANCH_ROOMS.values(), *map(building_room, BUILDINGS)]:
        chat.feed(chat.message("大家好", "某居民", topic))
    labels = chat.bot.services.parser.category_labels()
    driver = Day(chat, random.Random(seed))
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        driver.run(day)
        check_digest(chat, day, labels)
        check_summaries(chat, config, day, labels)
        check_receipts(chat)
        check_acknowledgements(chat, driver)
        check_open_items(chat)
        check_ledger(chat, day, labels)
        driver.night(day)
    with chat.bot.services.factory() as session:  # the days did exercise what they claim to
        kinds = set(session.scalars(select(reports.c.kind).distinct()))
        states = set(session.scalars(select(reports.c.status).distinct()))
        roles = set(session.scalars(select(rooms.c.role).join(acks, acks.c.room_id == rooms.c.id).distinct()))
    assert kinds == {"family", "building", "area"}
    assert {"open", "resolved", "withdrawn"} <= states
    assert {"building", "branch", "general"} <= roles
