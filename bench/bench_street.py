"""A street office on one PostgreSQL: many areas' bots on one database through a day of traffic
on the virtual clock, against one area alone in the same run.

    python bench/bench_street.py [--areas 20] [--reports 5000] [--notices 20] [--quick] [--pg URL]

Each area is its own config (community, staff room and staff bound by id), its own bot and its
own virtual clock, with a day made by bench_pipeline's generator for its 60 rooms (48 building
groups, 8 party branches, the general branch, two 片区 rooms, the staff room): reports of every
kind, chatter, 收到, staff commands, and ``--notices`` 全体 notices a day, each relayed to the 48
building rooms through that area's outbox. The areas' messages are fed in time order, all
through one Python process: what is measured is whether areas slow each other down *in the
database* (20× the rows, every statement scoped to its area), not two cores shared by twenty
processes. Printed:

- intake: messages per second of one area alone on an empty database, then of all the areas
  together on one database (each message through its own area's bot), and their ratio;
- the outbox claim cost: one send's claim and recorded outcome (``FOR UPDATE SKIP LOCKED`` under
  the account's lock) for one area, alone and beside the other areas' rows;
- the database size per area-year: the schema's size after the day, per area, times 365.

``--quick`` keeps twenty areas but a 25th of the reports (and the messages around them) and a
quarter of the notices: the full day is about 18,000 messages and 960 relays per area.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text

from bench.bench_pipeline import FIRST_DAY, as_messages, bench_config, drop_schema, estate_day, fresh_database
from bot.clock import SHANGHAI, VirtualClock
from bot.config import Config, PersonEntry, RoomRule
from bot.message import IncomingMessage, Outgoing
from bot.outbox import OutboxWorker, enqueue
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import session_factory, unit_of_work

REPORT_SHARE = 0.28  # of a generated day's messages (bench_pipeline.estate_day)


def area_config(base: Config, number: int) -> Config:
    """Area ``number`` of the street: its name, its staff room and privileged people bound by id."""
    people = [
        entry.model_copy(update={"wechat_id": f"wxid_{entry.name}"}) if entry.role != "resident" else entry
        for entry in base.people
    ]
    return base.model_copy(
        update={
            "community": f"第{number:02d}居民区",
            "street": "斜土街道",
            "reminders": [],
            "rooms": [RoomRule(id=f"a{number}-room_居委工作群", role="staff"), *base.rooms],
            "people": [*people, PersonEntry(name="刘科长", role="street", wechat_id="wxid_刘科长")],
        }
    )


def area_day(number: int, reports: int, notices: int) -> list[IncomingMessage]:
    """One area's day: bench_pipeline's estate day, with ``notices`` notices spread through it and
    the area's own WeChat ids (each account sees its own rooms and message ids)."""
    rng = random.Random(1000 + number)
    records = estate_day(FIRST_DAY, int(reports / REPORT_SHARE), rng)
    start = records[0]["ts"].replace(hour=8, minute=0, second=0)
    extra = max(0, notices - 3)  # estate_day has three of its own
    for n in range(extra):
        records.append(
            {
                "ts": start + timedelta(minutes=int(n * 13 * 60 / max(extra, 1))),
                "room": "居委工作群",
                "sender": "王社工",
                "text": f"#通知 全体 第{n + 1}次提醒：请各楼组长清点返沪人员并回复收到",
            }
        )
    records.sort(key=lambda r: r["ts"])
    return [
        replace(
            message,
            message_id=f"a{number}-{message.message_id}",
            room_id=f"a{number}-{message.room_id}" if message.room_id else None,
        )
        for message in as_messages(records, "day")
    ]


def run_areas(configs: list[Config], days: list[list[IncomingMessage]], engine: Engine) -> tuple[float, int]:
    """Every area's day through its own bot, in time order: messages per second, messages sent."""
    first = min(day[0].sent_at for day in days)
    sims = []
    for config in configs:
        clock = VirtualClock(first - timedelta(minutes=1), SHANGHAI)
        sims.append(Simulation(build_application(config, engine, clock), clock))
    feed = sorted(
        ((message.sent_at, index, message) for index, day in enumerate(days) for message in day),
        key=lambda item: (item[0], item[1]),
    )
    started = time.perf_counter()
    for _, index, message in feed:
        sims[index].feed(message)
    for sim in sims:
        sim.drain()
    elapsed = time.perf_counter() - started
    return len(feed) / elapsed, sum(len(sim.delivered) for sim in sims)


def claim_cost(config: Config, engine: Engine, rows: int = 200) -> float:
    """Milliseconds per send for one area's worker: find the next row, claim it, record it sent."""
    factory = session_factory(engine, area=config.area_id)
    moment = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    with unit_of_work(factory) as session:
        for n in range(rows):
            enqueue(
                session,
                Outgoing(text=f"测量{n}", room_id=f"bench-room-{n % 48}", dedupe_key=f"bench:{n}"),
                moment,
            )
    outbox = config.outbox.model_copy(
        update={"min_interval_seconds": 0, "jitter_seconds": 0, "quiet_hours": None, "max_per_day": 1_000_000}
    )
    worker = OutboxWorker(factory, outbox, config.tzinfo, account=config.area_id)
    started = time.perf_counter()
    sent = 0
    while sent < rows:
        upcoming = worker.next_send(moment)
        if upcoming is None:
            break
        if worker.send_one(upcoming[0], max(moment, upcoming[1]), lambda row: f"wx-{row.id}"):
            sent += 1
        moment = max(moment, upcoming[1]) + timedelta(milliseconds=1)
    return (time.perf_counter() - started) * 1000 / max(sent, 1)


def schema_bytes(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0) "
                    "FROM pg_tables WHERE schemaname = current_schema()"
                )
            )
            or 0
        )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--areas", type=int, default=20)
    options.add_argument("--reports", type=int, default=5000, help="reports per area in the day")
    options.add_argument("--notices", type=int, default=20, help="notices per area in the day")
    options.add_argument(
        "--quick",
        action="store_true",
        help="twenty areas still, but a 25th of the reports (and messages) and a quarter of the notices",
    )
    options.add_argument("--pg", help="PostgreSQL URL (default: QINLIN_TEST_PG_URL)")
    args = options.parse_args()
    pg = args.pg or os.environ.get("QINLIN_TEST_PG_URL")
    if not pg:
        sys.exit("bench_street: a street office is PostgreSQL; give --pg URL or set QINLIN_TEST_PG_URL")
    reports = args.reports // 25 if args.quick else args.reports
    notices = max(3, args.notices // 4) if args.quick else args.notices
    folder = Path(tempfile.mkdtemp(prefix="qinlin-street-"))
    base = bench_config(folder)
    configs = [area_config(base, n) for n in range(1, args.areas + 1)]
    days = [area_day(n, reports, notices) for n in range(1, args.areas + 1)]
    print(
        f"scale: {args.areas} areas x 60 rooms, {reports:,} reports and {notices} notices per area "
        f"({len(days[0]):,} messages in area 1's day, {sum(map(len, days)):,} in all)"
    )

    engine, url = fresh_database(pg, folder, "one")
    one_rate, one_sent = run_areas(configs[:1], days[:1], engine)
    one_claim = claim_cost(configs[0], engine)
    one_size = schema_bytes(engine)
    engine.dispose()
    drop_schema(pg, url)
    print(f"one area alone:      {one_rate:7.1f} messages/s ({one_sent:,} sent)")

    engine, url = fresh_database(pg, folder, "street")
    street_rate, street_sent = run_areas(configs, days, engine)
    street_claim = claim_cost(configs[0], engine)
    street_size = schema_bytes(engine)
    engine.dispose()
    drop_schema(pg, url)
    print(
        f"{args.areas} areas together: {street_rate:7.1f} messages/s ({street_sent:,} sent) "
        f"= {street_rate / one_rate:.2f}x one area alone (aim: at least 0.8x)"
    )
    print(
        f"outbox claim + outcome per send: {one_claim:.2f} ms for one area alone, "
        f"{street_claim:.2f} ms beside {args.areas - 1} other areas' rows"
    )
    per_area_day = street_size / args.areas
    print(
        f"database: {street_size / 1e6:.1f} MB after the day for {args.areas} areas "
        f"(one area alone: {one_size / 1e6:.1f} MB) = {per_area_day / 1e6:.2f} MB per area-day, "
        f"{per_area_day * 365 / 1e9:.2f} GB per area-year at this day's traffic"
    )


if __name__ == "__main__":
    main()
