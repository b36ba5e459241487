"""A generated day (and week) of an estate through the whole bot on the virtual clock, next to
the floor of its own stack measured in the same run.

    python bench/bench_pipeline.py [--day 1500] [--week 50000 | --quick] [--stored 50000]
                                   [--pg URL] [--profile FILE] [--skip-sqlite]

The day: 60 rooms (48 building groups, 8 party branches, the general branch, two areas, the staff
room) from 07:00 to 21:30 — reports of all three kinds (some missing the room number, answered
a minute later), chatter, 收到 to the morning's notices, notices from staff and party members,
staff commands (/汇总, /查询, /待办, /回执) — replayed with `Simulation` exactly as
`qinlin replay` does (pacing, quiet hours, reminders, follow-up expiry, digest all run).

The floor, per message of the same day: ``jieba.lcut`` with the parser's own tokenizer and HMM
setting, plus one SQLAlchemy Core INSERT and commit on an engine made by ``storage.db.make_engine``
(SQLite: WAL, synchronous=NORMAL; PostgreSQL as it comes).

Also printed: the same day on a database that already holds ``--stored`` messages' worth of
records (reports, incoming messages, sent outbox rows), and the peak of Python allocations
(tracemalloc) over the first and last quarter of the week, which should be flat.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import random
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, insert, text

from bot.clock import SHANGHAI, VirtualClock
from bot.config import Config, RoomRule, load_config
from bot.message import IncomingMessage
from bot.transports.simulated import Simulation
from handlers import build_application

# rows written straight to the tables belong to the shipped config's area, as the bot's own do
AREA = load_config(ROOT / "config.yaml").area_id
from storage.db import make_engine, upgrade
from storage.models import IncomingRecord, OutboxMessage, Report

BUILDINGS = 48
ROOMS = (
    [f"江南新村{n}号楼" for n in range(1, BUILDINGS + 1)]
    + [f"江南新村第{n}党支部" for n in range(1, 9)]
    + ["江南新村党总支", "江南新村一片区", "江南新村二片区", "居委工作群"]
)
FIRST_DAY = date(2026, 11, 23)

CHATTER = [
    "大家早上好",
    "今天菜场几点开门？",
    "谢谢居委会",
    "楼下快递放哪里了",
    "👍",
    "好的",
    "明天下雨记得收衣服",
    "电梯又停了吗",
    "有人知道物业电话吗",
    "[图片]",
    "辛苦了",
    "我家猫跑出去了",
    "今天核酸排队人多吗",
]
REPORTS = [
    "#家庭报告 {b}号楼{u}室 返沪{p}人 来自{o}",
    "登记 {b}号楼{u} 老人发烧 需要配药 电话1381234{t:04d}",
    "求助 {b}号楼{u}室 独居老人 买菜不方便",
    "楼组报告 {b}号楼 楼道灯坏了",
    "报修 {b}号楼 电梯漏水",
    "片区报告 {b}号楼旁边垃圾厢房 建筑垃圾堆物",
    "反映 车棚 电瓶车充电 飞线",
    "登记 新搬来租户 {p}人",  # no room number: the bot asks, the resident answers a minute later
]
ORIGINS = ["武汉", "安徽", "湖北", "江苏", "浙江"]
STAFF_COMMANDS = [
    "/汇总",
    "/汇总 本周",
    "/查询 返沪",
    "/查询 {b}号楼",
    "/待办",
    "/回执 N{n}",
    "/汇总 本月 一片区",
]


def estate_day(day: date, count: int, rng: random.Random, first_notice: int = 1) -> list[dict]:
    """One day of messages as replay records, in time order."""
    start = datetime(day.year, day.month, day.day, 7, 0, tzinfo=SHANGHAI)
    span = 14.5 * 3600
    records: list[dict] = []
    # three notices a day from staff and a party member: 09:00, 13:00, 17:00
    for hour, who, room in (
        (9, "王社工", "居委工作群"),
        (13, "赵党员", "江南新村第2党支部"),
        (17, "王社工", "居委工作群"),
    ):
        at = start.replace(hour=hour)
        records.append(
            {
                "ts": at,
                "room": room,
                "sender": who,
                "text": f"#通知 全体 {hour}点起请各楼组长清点返沪人员并回复收到",
            }
        )
    notices = first_notice
    moments = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count - len(records)))
    for at in moments:
        draw = rng.random()
        building = rng.randrange(1, BUILDINGS + 1)
        resident = f"居民{building}-{rng.randrange(1, 50)}"
        room = ROOMS[building - 1] if rng.random() < 0.9 else rng.choice(ROOMS[:-1])
        if draw < 0.02:
            command = rng.choice(STAFF_COMMANDS).format(b=building, n=rng.randrange(notices, notices + 3))
            records.append({"ts": at, "room": "居委工作群", "sender": "王社工", "text": command})
        elif draw < 0.30:
            template = rng.choice(REPORTS)
            records.append(
                {
                    "ts": at,
                    "room": ROOMS[building - 1],
                    "sender": resident,
                    "text": template.format(
                        b=building,
                        u=f"{rng.randrange(1, 7)}0{rng.randrange(1, 5)}",
                        p=rng.randrange(1, 5),
                        o=rng.choice(ORIGINS),
                        t=rng.randrange(10_000),
                    ),
                }
            )
            if template.startswith("登记 新搬来"):
                records.append(
                    {
                        "ts": at + timedelta(minutes=1),
                        "room": ROOMS[building - 1],
                        "sender": resident,
                        "text": f"{rng.randrange(1, 7)}0{rng.randrange(1, 5)}",
                    }
                )
        elif draw < 0.50 and at.hour >= 9:
            records.append(
                {
                    "ts": at,
                    "room": ROOMS[building - 1],
                    "sender": resident,
                    "text": rng.choice(["收到", "已阅", "收到👌", "好的收到"]),
                }
            )
        else:
            records.append({"ts": at, "room": room, "sender": resident, "text": rng.choice(CHATTER)})
    records.sort(key=lambda r: r["ts"])
    return records[:count]


def as_messages(records: list[dict], prefix: str) -> list[IncomingMessage]:
    return [
        IncomingMessage(
            message_id=f"{prefix}-{number}",
            sent_at=r["ts"],
            sender_id=f"wxid_{r['sender']}",
            sender_name=r["sender"],
            text=r["text"],
            room_id=f"room_{r['room']}",
            room_topic=r["room"],
        )
        for number, r in enumerate(records)
    ]


def bench_config(folder: Path) -> Config:
    """The shipped config as a site that has bound its people and rooms runs it: the staff, party
    members and leaders by the ids the day speaks as, the staff and party rooms by their ids
    (unbound, every notice and staff command of the day would only be refused)."""
    config = load_config(ROOT / "config.yaml")
    people = [
        person
        if person.role == "resident" or person.wechat_id
        else person.model_copy(update={"wechat_id": f"wxid_{person.name}"})
        for person in config.people
    ]
    rooms = [
        RoomRule(id="room_居委工作群", role="staff"),
        RoomRule(id="room_江南新村党总支", role="general"),
    ] + [RoomRule(id=f"room_江南新村第{n}党支部", role="branch", branch=n) for n in range(1, 9)]
    return config.model_copy(
        update={"exports_dir": str(folder / "exports"), "people": people, "rooms": [*rooms, *config.rooms]}
    )


# ---------------------------------------------------------------- the floor


def floor(engine: Engine, messages: list[IncomingMessage], tokenizer) -> float:
    """jieba plus one Core INSERT and commit per message: messages per second."""
    metadata = MetaData()
    table = Table(
        f"floor_{uuid.uuid4().hex[:8]}",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("message_id", String(128)),
        Column("room_id", String(128)),
        Column("sender_id", String(128)),
        Column("text", Text),
        Column("sent_at", DateTime(timezone=True)),
    )
    metadata.create_all(engine)
    try:
        started = time.perf_counter()
        for message in messages:
            tokenizer.lcut(message.text, HMM=False)
            with engine.begin() as connection:
                connection.execute(
                    insert(table).values(
                        message_id=message.message_id,
                        room_id=message.room_id,
                        sender_id=message.sender_id,
                        text=message.text,
                        sent_at=message.sent_at,
                    )
                )
        return len(messages) / (time.perf_counter() - started)
    finally:
        metadata.drop_all(engine)


# ---------------------------------------------------------------- the pipeline


def replay(
    config: Config,
    engine: Engine,
    messages: list[IncomingMessage],
    profile: cProfile.Profile | None = None,
    memory_every: int = 0,
) -> tuple[float, int, list[int]]:
    """Messages per second through the whole bot, messages it sent, tracemalloc peaks per slice."""
    clock = VirtualClock(messages[0].sent_at - timedelta(minutes=1), SHANGHAI)
    simulation = Simulation(build_application(config, engine, clock), clock)
    peaks: list[int] = []
    if memory_every:
        tracemalloc.start()
    if profile:
        profile.enable()
    started = time.perf_counter()
    for number, message in enumerate(messages, start=1):
        simulation.feed(message)
        if memory_every and number % memory_every == 0:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
            simulation.delivered.clear()  # what a replay has written out is not kept
    simulation.drain()
    elapsed = time.perf_counter() - started
    if profile:
        profile.disable()
    if memory_every:
        tracemalloc.stop()
    return len(messages) / elapsed, len(simulation.delivered), peaks


def seed_stored(engine: Engine, count: int, rng: random.Random) -> None:
    """What ``count`` messages of earlier weeks leave behind, bulk-inserted: the incoming records,
    a report for three in ten, a sent outbox row for each report."""
    before = datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI)
    with engine.begin() as connection:
        for first in range(0, count, 5000):
            numbers = range(first, min(first + 5000, count))
            moments = {n: before - timedelta(minutes=n) for n in numbers}
            connection.execute(
                insert(IncomingRecord),
                [
                    {
                        "community": AREA,
                        "message_id": f"old-{n}",
                        "room_id": f"room_{ROOMS[n % BUILDINGS]}",
                        "sender_id": f"wxid_居民{n % 2500}",
                        "sender_name": f"居民{n % 2500}",
                        "type": "text",
                        "text": "登记 返沪",
                        "sent_at": moments[n],
                        "received_at": moments[n],
                    }
                    for n in numbers
                ],
            )
            reports = [n for n in numbers if n % 10 < 3]
            connection.execute(
                insert(Report),
                [
                    {
                        "community": AREA,
                        "kind": "family",
                        "category": rng.choice(["return", "health", "repair", "assistance"]),
                        "status": rng.choice(["open", "resolved", "incomplete"]),
                        "building": str(n % BUILDINGS + 1),
                        "unit": f"{n % 6 + 1}0{n % 4 + 1}",
                        "people": n % 4 + 1,
                        "reporter_id": f"wxid_居民{n % 2500}",
                        "reporter_name": f"居民{n % 2500}",
                        "room_id": f"room_{ROOMS[n % BUILDINGS]}",
                        "raw_text": "登记 返沪",
                        "created_at": moments[n],
                        "updated_at": moments[n],
                    }
                    for n in reports
                ],
            )
            connection.execute(
                insert(OutboxMessage),
                [
                    {
                        "community": AREA,
                        "room_id": f"room_{ROOMS[n % BUILDINGS]}",
                        "text": "已登记",
                        "mention_ids": [],
                        "urgent": True,
                        "state": "sent",
                        "attempts": 1,
                        "next_attempt_at": moments[n],
                        "created_at": moments[n],
                        "sent_at": moments[n],
                        "dedupe_key": f"reply:old-{n}:0",
                        "action": "say",
                    }
                    for n in reports
                ],
            )


def fresh_database(base: str | None, folder: Path, name: str) -> tuple[Engine, str]:
    """A new SQLite file, or a new schema on the PostgreSQL server at ``base``."""
    if base is None:
        url = f"sqlite:///{folder / (name + '.db')}"
        engine = make_engine(url)
        upgrade(engine)
        return engine, url
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    return engine, url


def drop_schema(base: str | None, url: str) -> None:
    if base is None:
        return
    schema = url.rsplit("%3D", 1)[1]
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def run_on(label: str, base: str | None, args: argparse.Namespace, folder: Path) -> None:
    rng = random.Random(18)
    day = as_messages(estate_day(FIRST_DAY, args.day, rng), "day")
    config = bench_config(folder)
    print(f"--- {label}")

    engine, url = fresh_database(base, folder, "floor")
    from bot.parsing import load_vocabulary, shared_parser

    tokenizer = shared_parser(load_vocabulary(overrides=config.categories)).tokenizer
    floor(engine, day[:50], tokenizer)  # warm: the connection pool, the statement cache
    floor_rate = floor(engine, day, tokenizer)
    engine.dispose()
    drop_schema(base, url)

    engine, url = fresh_database(base, folder, "day")
    profile = cProfile.Profile() if args.profile else None
    gc.collect()
    day_rate, sent, _ = replay(config, engine, day, profile)
    engine.dispose()
    drop_schema(base, url)
    if profile:
        target = f"{args.profile}.{label.split()[0].lower()}"
        profile.dump_stats(target)
        print(f"profile of the day written to {target}")
    print(f"floor (jieba.lcut + one Core INSERT and commit): {floor_rate:7.0f} messages/s")
    print(
        f"a day, {len(day):,} messages in {len(ROOMS)} rooms, empty database: {day_rate:7.1f} messages/s "
        f"= {day_rate / floor_rate:.2f}x the floor ({sent} messages sent)"
    )

    if args.stored:
        engine, url = fresh_database(base, folder, "stored")
        seed_stored(engine, args.stored, random.Random(5))
        gc.collect()
        stored_rate, _, _ = replay(config, engine, day)
        engine.dispose()
        drop_schema(base, url)
        print(
            f"the same day with {args.stored:,} messages already stored: {stored_rate:7.1f} messages/s "
            f"= {stored_rate / day_rate:.2f}x the empty database"
        )

    if args.week:
        week_rng = random.Random(19)
        per_day = args.week // 7
        records = [r for n in range(7) for r in estate_day(FIRST_DAY + timedelta(days=n), per_day, week_rng)]
        week = as_messages(records, "week")
        engine, url = fresh_database(base, folder, "week")
        quarter = max(len(week) // 8, 1)
        gc.collect()
        week_rate, sent, peaks = replay(config, engine, week, memory_every=quarter)
        engine.dispose()
        drop_schema(base, url)
        print(
            f"a week, {len(week):,} messages: {week_rate:7.1f} messages/s = {week_rate / floor_rate:.2f}x the floor "
            f"({sent} sent); Python heap peak per eighth (MB): "
            + " ".join(f"{peak / 1e6:.1f}" for peak in peaks)
        )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--day", type=int, default=1500)
    options.add_argument(
        "--week", type=int, default=0, help="messages in a week to replay (50000 for the real size)"
    )
    options.add_argument("--quick", action="store_true", help="a week of 7,000 messages instead of 50,000")
    options.add_argument(
        "--stored", type=int, default=50_000, help="messages already stored for the second day (0: skip)"
    )
    options.add_argument("--pg", help="PostgreSQL URL (default: QINLIN_TEST_PG_URL when set)")
    options.add_argument("--skip-sqlite", action="store_true")
    options.add_argument("--profile", help="write cProfile stats of the day to FILE.sqlite / FILE.postgresql")
    args = options.parse_args()
    if args.quick and not args.week:
        args.week = 7000
    import os

    pg = args.pg or os.environ.get("QINLIN_TEST_PG_URL")
    folder = Path(tempfile.mkdtemp(prefix="qinlin-bench-"))
    if not args.skip_sqlite:
        run_on("SQLite", None, args, folder)
    if pg:
        run_on("PostgreSQL", pg, args, folder)
    else:
        print("--- PostgreSQL skipped (give --pg URL or set QINLIN_TEST_PG_URL)")


if __name__ == "__main__":
    main()
