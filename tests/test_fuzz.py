"""A seeded storm of hostile messages through the whole bot, on SQLite and PostgreSQL at once:
no exception, no generic failure, and the same stored rows on both databases.

QINLIN_FUZZ_MESSAGES sets how many per database (default 1,000, both databases in about a
minute of CPU); QINLIN_FUZZ_SEED the seed (default 12)."""

from __future__ import annotations

import logging
import os
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from bot.app import GENERIC_FAILURE
from bot.clock import VirtualClock
from bot.config import Config
from bot.message import IncomingMessage
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, upgrade
from storage.models import IncomingRecord, Notice, NoticeAck, OutboxMessage, Person, Report, Room
from tests.conftest import MORNING, PG_URL

COUNT = int(os.environ.get("QINLIN_FUZZ_MESSAGES", "1000"))
SEED = int(os.environ.get("QINLIN_FUZZ_SEED", "12"))

ROOMS = [
    "居委工作群",
    "第2党支部",
    *[f"江南新村{n}号楼" for n in (1, 3, 5, 12, 48)],
    "一片区群",
    "未绑定的群",
]
PEOPLE = ["王社工", "李书记", "赵党员", "钱组长", "张阿姨", "孙师傅", "周老师"]
NASTY = [
    "\x0b",
    "\x0c",
    "\x1b",
    "\x00",
    "\uffff",
    "\ud800",
    "\u2028",
    "\u200b",
    "\ufeff",
    "\t",
    "\r\n",
    "'",
    '"',
    "\\",
    "%s",
    "{0}",
    "<b>",
    "😀",
    "١٢٣",
    "１２３",
    "ⅷ",
    "\u202e",
    " " * 3,
]
PHONES = [
    "13812345678",
    "+86 138 1234 5678",
    "138-1234-5678",
    "１３８１２３４５６７８",
    "138.1234.5678",
    "(138)1234-5678",
]
TEMPLATES = [
    "#家庭报告 {b}号楼{u} 返沪{n}人 来自{place}",
    "报告 {u} 家里老人发烧 电话 {phone}",
    "登记 新搬来租户 一家{n}口",
    "求助 需要买菜，腿脚不方便 {phone}",
    "楼组报告 {b}号楼 楼道灯坏了",
    "片区报告 垃圾厢房旁边堆了建筑垃圾",
    "报修 {b}号楼{u} 漏水",
    "{u}",
    "收到",
    "好的收到👌",
    "更正 {r} {u}室",
    "撤回 {r}",
    "/汇总",
    "/汇总 本周 {b}号楼",
    "/查询 返沪",
    "/查询 #{r}",
    "/待办",
    "/办结 {r} 已联系住户王小明，电话 {phone}，{b}号楼{u}室",
    "/导出",
    "/回执 N{r}",
    "/定时",
    "/取消 N{r}",
    "#通知 {b}号楼 明天停水 联系 {phone}",
    "#紧急通知 全体 燃气检修",
    "#定时通知 明天 8:00 {b}号楼 打疫苗",
    "/绑定 {b}号楼",
    "/绑定 1-300号楼",
    "/帮助",
    "取消",
    "大家好",
    "@亲邻助手 {junk}",
    "{junk}",
    "#接龙 返沪登记\n1. {b}号楼{u} 张三 {n}人\n2. {b}号楼{u2} 李四 1人 来自安徽",
    "#家庭报告 {b}号楼{u} {long}",
    "报告 " + "长" * 3000,
]


def messages(count: int, seed: int) -> list[IncomingMessage]:
    rng = random.Random(seed)
    made = []
    at = MORNING
    for index in range(count):
        at += timedelta(seconds=rng.choice([1, 5, 30, 90, 600]))
        junk = "".join(rng.choice(NASTY + list("3号楼201返沪人收到报告")) for _ in range(rng.randint(1, 40)))
        body = rng.choice(TEMPLATES).format(
            b=rng.choice([1, 3, 5, 12, 48, 0, 999, 20263]),
            u=rng.choice([201, 302, 1201, 1, 99999]),
            u2=rng.randint(100, 999),
            n=rng.choice([1, 2, 3, 0, 10**12]),
            r=rng.choice([1, 2, 3, 7, 10**9, 10**15]),
            phone=rng.choice(PHONES),
            place=rng.choice(["武汉", "安徽", "外地"]),
            junk=junk,
            long="长" * rng.choice([10, 500, 5000]),
        )
        if rng.random() < 0.2:
            position = rng.randint(0, len(body))
            body = body[:position] + rng.choice(NASTY) + body[position:]
        room = rng.choice([*ROOMS, None])
        sender = rng.choice(PEOPLE)
        if rng.random() < 0.05:
            sender = sender + rng.choice(NASTY) * rng.choice([1, 200])  # a hostile nickname
        topic = room if room is None or rng.random() > 0.05 else room + "长" * 300
        made.append(
            IncomingMessage(
                message_id=f"fuzz-{index}"
                if rng.random() > 0.03
                else f"fuzz-{max(0, index - 1)}",  # redelivered
                sent_at=at,
                sender_id=f"wxid_{abs(hash(sender)) % 10**6}" if sender not in PEOPLE else f"wxid_{sender}",
                sender_name=sender,
                text=body,
                room_id=None if room is None else f"room_{ROOMS.index(room)}",
                room_topic=topic,
            )
        )
    return made


def stored_rows(engine: Engine) -> dict[str, list[tuple]]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:

        def rows(model: type, *columns: object) -> list[tuple]:
            return [tuple(row) for row in session.execute(select(*columns).order_by(model.id))]  # type: ignore[attr-defined]

        return {
            "reports": rows(
                Report,
                Report.id,
                Report.kind,
                Report.category,
                Report.status,
                Report.building,
                Report.unit,
                Report.people,
                Report.phone,
                Report.reporter_name,
                Report.raw_text,
                Report.resolution,
            ),
            "incoming": rows(
                IncomingRecord, IncomingRecord.message_id, IncomingRecord.sender_name, IncomingRecord.text
            ),
            "notices": rows(Notice, Notice.id, Notice.status, Notice.targets, Notice.text),
            "acks": rows(NoticeAck, NoticeAck.notice_id, NoticeAck.person_id),
            # in queue order, without ids: a PostgreSQL sequence skips the id of a rolled-back insert
            "outbox": rows(
                OutboxMessage,
                OutboxMessage.room_id,
                OutboxMessage.person_id,
                OutboxMessage.text,
                OutboxMessage.state,
            ),
            "rooms": [
                tuple(r)
                for r in session.execute(
                    select(Room.id, Room.topic, Room.role, Room.buildings).order_by(Room.id)
                )
            ],
            "people": [
                tuple(r) for r in session.execute(select(Person.name, Person.role).order_by(Person.id))
            ],
        }


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[dict[str, Engine]]:
    made = {"sqlite": make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")}
    schema = None
    if PG_URL:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = make_engine(PG_URL)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        separator = "&" if "?" in PG_URL else "?"
        made["postgresql"] = make_engine(f"{PG_URL}{separator}options=-csearch_path%3D{schema}")
    for engine in made.values():
        upgrade(engine)
    yield made
    for engine in made.values():
        engine.dispose()
    if schema:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_seeded_storm_gives_no_failure_and_the_same_rows_on_both_databases(
    engines: dict[str, Engine], config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    storm = messages(COUNT, SEED)
    config = config.model_copy(update={"reminders": []})
    dumps = {}
    for name, engine in engines.items():
        clock = VirtualClock(MORNING)
        chat = Simulation(build_application(config, engine, clock), clock)
        with caplog.at_level(logging.ERROR):
            for message in storm:
                chat.feed(message)
            chat.drain()
        failures = [d.text for d in chat.delivered if d.text == GENERIC_FAILURE]
        assert failures == [], name
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [], name
        dumps[name] = stored_rows(engine)
        assert dumps[name]["reports"], name  # the storm did reach the records
    if "postgresql" in dumps:
        for table, rows in dumps["sqlite"].items():
            assert rows == dumps["postgresql"][table], table
