"""/汇总 and /查询 on 100,000 and 300,000 reports against the best plain SQL for the same answer,
measured in the same run, on SQLite and PostgreSQL; with each staff query's plan.

    python bench/bench_staff.py [--reports 100000,300000] [--pg URL] [--skip-sqlite] [--ledger]

Builds the database with bulk inserts, then drives the real handler path: a staff member types in
the staff room, through the router and the unit of work until the answer is queued (timed), then
the outbox sends it (not timed: sends are paced seconds apart whatever the question).
The plain SQL is written by hand for the same area's answer, sent as text on a bare connection,
and uses the same indexes.
"Fixed cost" is the command on an empty period minus its SQL on the same empty period: what the
bot adds around any question. --ledger also times /导出 本月 and prints the ledger's size.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, bindparam, insert, text

from bot.clock import SHANGHAI, VirtualClock
from bot.config import RoomRule, load_config
from bot.transports.simulated import Simulation
from handlers import build_application

# rows written straight to the tables belong to the shipped config's area, as the bot's own do
AREA = load_config(ROOT / "config.yaml").area_id
from storage.db import make_engine, upgrade
from storage.models import Report, UTCDateTime

CATEGORIES = [
    "return",
    "visitor",
    "health",
    "assistance",
    "elderly",
    "repair",
    "environment",
    "parking",
    "other",
]
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
MONTH = (datetime(2026, 11, 1, tzinfo=SHANGHAI), datetime(2026, 12, 1, tzinfo=SHANGHAI))
EMPTY = (datetime(2020, 1, 1, tzinfo=SHANGHAI), datetime(2020, 2, 1, tzinfo=SHANGHAI))

SUMMARY_SQL = """SELECT kind, category, status, count(*), sum(CASE WHEN category = 'return' THEN people ELSE 0 END)
FROM reports WHERE community = :area AND created_at >= :start AND created_at < :end GROUP BY kind, category, status"""
QUERY_CATEGORY_SQL = """SELECT * FROM reports WHERE community = :area AND category = 'return' AND created_at >= :start AND created_at < :end
ORDER BY created_at DESC, id DESC LIMIT 20"""
QUERY_BUILDING_SQL = """SELECT * FROM reports WHERE community = :area AND building = '3' AND created_at >= :start AND created_at < :end
ORDER BY created_at DESC, id DESC LIMIT 20"""


def best(work: Callable[[], object], runs: int = 5, after: Callable[[], object] = lambda: None) -> float:
    fastest = float("inf")
    for _ in range(runs):
        begin = time.perf_counter()
        work()
        fastest = min(fastest, time.perf_counter() - begin)
        after()  # not timed: sending the answer (paced by the outbox, seconds apart anyway)
    return fastest


def plain(engine: Engine, sql: str, period: tuple[datetime, datetime]) -> Callable[[], object]:
    statement = text(sql).bindparams(
        bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    )

    def run() -> object:
        with engine.connect() as connection:
            return connection.execute(statement, {"area": AREA, "start": period[0], "end": period[1]}).all()

    return run


def plan(engine: Engine, sql: str) -> str:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    statement = text(prefix + sql).bindparams(
        bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
    )
    with engine.connect() as connection:
        rows = connection.execute(statement, {"area": AREA, "start": MONTH[0], "end": MONTH[1]}).all()
    return " / ".join(str(row[-1]).strip() for row in rows)


def fill(engine: Engine, start: int, stop: int, rng: random.Random) -> None:
    with engine.begin() as connection:
        batch = []
        for number in range(start, stop):
            created = NOW - timedelta(minutes=rng.randrange(0, 60 * 24 * 40))
            batch.append(
                {
                    "community": AREA,
                    "kind": rng.choice(["family", "family", "family", "building", "area"]),
                    "category": rng.choice(CATEGORIES),
                    "status": rng.choice(["open", "resolved", "incomplete"]),
                    "building": str(rng.randrange(1, 49)),
                    "unit": f"{rng.randrange(1, 7)}0{rng.randrange(1, 5)}",
                    "people": rng.randrange(1, 5),
                    "reporter_id": f"wxid_{number % 2500}",
                    "reporter_name": "居民",
                    "phone": "13812345678",
                    "raw_text": "登记 返沪",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            if len(batch) == 5000:
                connection.execute(insert(Report), batch)
                batch = []
        if batch:
            connection.execute(insert(Report), batch)
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE reports"
            )
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def run_on(label: str, url: str, sizes: list[int], ledger: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="qinlin-bench-"))
    # as a site that bound its staff and staff room runs it: unbound, every command is refused
    shipped = load_config(ROOT / "config.yaml")
    people = [
        person
        if person.role == "resident" or person.wechat_id
        else person.model_copy(update={"wechat_id": f"wxid_{person.name}"})
        for person in shipped.people
    ]
    config = shipped.model_copy(
        update={
            "exports_dir": str(folder / "exports"),
            "reminders": [],
            "people": people,
            "rooms": [RoomRule(id="room_居委工作群", role="staff"), *shipped.rooms],
        }
    )
    engine = make_engine(url)
    upgrade(engine)
    clock = VirtualClock(NOW)
    chat = Simulation(build_application(config, engine, clock), clock)
    chat.say("居委工作群", "王社工", "早")
    rng = random.Random(7)
    stored = 0
    print(f"--- {label}")
    for size in sizes:
        fill(engine, stored, size, rng)
        stored = size

        def say(line: str) -> Callable[[], object]:
            """The command's unit of work: the message handled, its answer queued."""
            return lambda: chat.bot.handle(chat.message(line, "王社工", "居委工作群"))

        rows = [
            ("/汇总 本月", SUMMARY_SQL, MONTH),
            ("/查询 返沪 本月", QUERY_CATEGORY_SQL, MONTH),
            ("/查询 3号楼 本月", QUERY_BUILDING_SQL, MONTH),
        ]
        print(f"{size:,} reports")
        for command, sql, period in rows:
            sql_time = best(plain(engine, sql, period))
            command_time = best(say(command), after=chat.drain)
            answer = chat.delivered[-1].text.splitlines()[0][:36]  # an answer, not a refusal, was timed
            print(
                f"  {command:14} {command_time * 1000:7.1f} ms   plain SQL {sql_time * 1000:7.1f} ms   "
                f"ratio {command_time / sql_time:5.1f}x   ({answer})"
            )
        empty_sql = best(plain(engine, SUMMARY_SQL, EMPTY))
        empty_command = best(say("/汇总 2020-01"), after=chat.drain)
        print(
            f"  fixed cost (/汇总 2020-01, an empty period): {empty_command * 1000:.1f} ms command − "
            f"{empty_sql * 1000:.1f} ms SQL = {(empty_command - empty_sql) * 1000:.1f} ms"
        )
        if ledger:
            export = best(say("/导出 本月"), runs=1, after=chat.drain)
            files = sorted(Path(config.exports_dir).glob("台帐_*.xlsx"))
            print(f"  /导出 本月 {export:.1f} s, ledger {files[-1].stat().st_size / 1e6:.1f} MB")
    for name, sql in (
        ("/汇总", SUMMARY_SQL),
        ("/查询 category", QUERY_CATEGORY_SQL),
        ("/查询 building", QUERY_BUILDING_SQL),
    ):
        print(f"  plan of {name}: {plan(engine, sql)}")
    engine.dispose()


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--reports", default="100000,300000")
    options.add_argument("--pg", help="PostgreSQL URL (default: QINLIN_TEST_PG_URL when set)")
    options.add_argument("--skip-sqlite", action="store_true")
    options.add_argument("--ledger", action="store_true")
    args = options.parse_args()
    sizes = [int(size) for size in args.reports.split(",")]
    if not args.skip_sqlite:
        run_on(
            "SQLite",
            f"sqlite:///{Path(tempfile.mkdtemp(prefix='qinlin-bench-')) / 'staff.db'}",
            sizes,
            args.ledger,
        )
    pg = args.pg or os.environ.get("QINLIN_TEST_PG_URL")
    if not pg:
        print("--- PostgreSQL skipped (give --pg URL or set QINLIN_TEST_PG_URL)")
        return
    schema = f"bench_staff_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        separator = "&" if "?" in pg else "?"
        run_on("PostgreSQL", f"{pg}{separator}options=-csearch_path%3D{schema}", sizes, args.ledger)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()
