"""A flood from one contact against the same number of chatter messages and of reports, in one run.

    python bench/bench_flood.py [--messages 500] [--pg URL] [--skip-sqlite]

Three runs of ``--messages`` messages each, fed through the whole bot on the virtual clock (the
outbox drained as it goes): chatter from many residents, reports from many residents (each one
confirmed), and one contact sending the same report ten times a second (over
``limits.per_contact_per_minute`` after the first ones: kept, not acted on). Printed per message:
statements sent to the database and wall time, and the flood's time as a ratio of the other two.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, text

from bot.clock import SHANGHAI, VirtualClock
from bot.config import load_config
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine, upgrade
from tests.conftest import bind_privileged_people

START = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
REPORT = "#家庭报告 {building}号楼{unit}室 返沪1人 来自武汉"


def run(
    url: str, name: str, messages: Callable[[int, datetime], tuple[str, str, str, datetime]], count: int
) -> tuple[float, float]:
    engine = make_engine(url)
    upgrade(engine)
    shipped = load_config(ROOT / "config.yaml")
    spool = shipped.database.model_copy(update={"spool": str(Path(tempfile.mkdtemp()) / "spool.jsonl")})
    config = bind_privileged_people(shipped).model_copy(update={"reminders": [], "database": spool})
    clock = VirtualClock(START)
    chat = Simulation(build_application(config, engine, clock), clock)
    for building in range(1, 11):
        chat.say(f"江南新村{building}号楼", "钱组长", "大家好")
    statements = 0

    def counted(*_args: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", counted)
    began = time.perf_counter()
    start = clock.now()
    for n in range(count):
        room, person, body, at = messages(n, start)
        chat.feed(chat.message(body, person, room, at=at))
    chat.drain()
    elapsed = time.perf_counter() - began
    event.remove(engine, "before_cursor_execute", counted)
    engine.dispose()
    print(
        f"  {name:<8} {statements / count:6.1f} statements/message  {elapsed / count * 1000:7.2f} ms/message"
    )
    return statements / count, elapsed / count


def chatter(n: int, start: datetime) -> tuple[str, str, str, datetime]:
    return f"江南新村{n % 10 + 1}号楼", f"居民{n}", "今天菜场几点开门？", start + timedelta(seconds=n / 10)


def reports(n: int, start: datetime) -> tuple[str, str, str, datetime]:
    body = REPORT.format(building=n % 10 + 1, unit=f"{n % 6 + 1}0{n % 4 + 1}")
    return f"江南新村{n % 10 + 1}号楼", f"居民{n}", body, start + timedelta(seconds=n / 10)


def flood(n: int, start: datetime) -> tuple[str, str, str, datetime]:
    return "江南新村3号楼", "刷屏者", REPORT.format(building=3, unit=201), start + timedelta(seconds=n / 10)


def bench(label: str, make_url: Callable[[], str], count: int) -> None:
    print(label)
    figures = {
        name: run(make_url(), name, kind, count)
        for name, kind in (("chatter", chatter), ("reports", reports), ("flood", flood))
    }
    flood_time = figures["flood"][1]
    print(
        f"  flood time per message: {flood_time / figures['chatter'][1]:.2f}x chatter, "
        f"{flood_time / figures['reports'][1]:.2f}x a report"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--pg", help="a PostgreSQL URL; each run gets a schema of its own")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if not args.skip_sqlite:
        folder = Path(tempfile.mkdtemp())
        bench("SQLite", lambda: f"sqlite:///{folder / uuid.uuid4().hex}.db", args.messages)
    if args.pg:
        admin = make_engine(args.pg)
        schemas: list[str] = []

        def schema_url() -> str:
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            with admin.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
            schemas.append(schema)
            separator = "&" if "?" in args.pg else "?"
            return f"{args.pg}{separator}options=-csearch_path%3D{schema}"

        try:
            bench("PostgreSQL", schema_url, args.messages)
        finally:
            with admin.begin() as connection:
                for schema in schemas:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
