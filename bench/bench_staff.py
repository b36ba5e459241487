"""/汇总 and /导出 on 100,000 reports, as ratios against a plain SQL count in the same run.

    python bench/bench_staff.py [--reports 100000] [--db URL]

Builds the database with a bulk insert, then drives the real handler path (a staff member
typing in the staff room, through the router, unit of work and outbox).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select

from bot.clock import SHANGHAI, VirtualClock
from bot.config import load_config
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine
from storage.models import Report

CATEGORIES = ["return", "visitor", "health", "assistance", "elderly", "repair", "environment", "parking", "other"]


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--reports", type=int, default=100_000)
    options.add_argument("--db")
    args = options.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qinlin-bench-"))
    url = args.db or f"sqlite:///{folder / 'bench.db'}"
    config = load_config(ROOT / "config.yaml").model_copy(update={"exports_dir": str(folder / "exports")})
    engine = make_engine(url)
    now = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
    clock = VirtualClock(now)
    chat = Simulation(build_application(config, engine, clock), clock)
    rng = random.Random(7)
    started = time.perf_counter()
    with engine.begin() as connection:
        batch = []
        for number in range(args.reports):
            created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 40))
            kind = rng.choice(["family", "family", "family", "building", "area"])
            batch.append(dict(kind=kind, category=rng.choice(CATEGORIES), status=rng.choice(["open", "resolved", "incomplete"]),
                              building=str(rng.randrange(1, 49)), unit=f"{rng.randrange(1, 7)}0{rng.randrange(1, 5)}",
                              people=rng.randrange(1, 5), reporter_id=f"wxid_{number % 2500}", reporter_name="居民",
                              raw_text="登记 返沪", created_at=created, updated_at=created))
            if len(batch) == 5000:
                connection.execute(insert(Report), batch)
                batch = []
        if batch:
            connection.execute(insert(Report), batch)
    print(f"database: {url} with {args.reports:,} reports, built in {time.perf_counter() - started:.1f} s")
    chat.say("居委工作群", "王社工", "早")

    def timed(work) -> float:
        best = float("inf")
        for _ in range(3):
            begin = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - begin)
        return best

    def plain_count() -> None:
        with engine.connect() as connection:
            connection.execute(select(func.count()).select_from(Report)).scalar()

    month_start = datetime(2026, 11, 1, tzinfo=SHANGHAI)

    def month_count() -> None:
        with engine.connect() as connection:
            connection.execute(select(func.count()).select_from(Report).where(Report.created_at >= month_start)).scalar()

    baseline = timed(plain_count)
    month = timed(month_count)
    summary = timed(lambda: chat.say("居委工作群", "王社工", "/汇总 本月"))
    export = timed(lambda: chat.say("居委工作群", "王社工", "/导出 本月"))
    print(f"plain SELECT count(*): {baseline * 1000:.1f} ms; count(*) of this month: {month * 1000:.1f} ms")
    print(f"/汇总 vs this month's count: {summary / month:.1f}x; /导出 vs this month's count: {export / month:.1f}x")
    print(f"/汇总 本月 (whole handler path): {summary * 1000:.1f} ms  ratio {summary / baseline:.1f}x")
    print(f"/导出 本月 (whole handler path): {export * 1000:.1f} ms  ratio {export / baseline:.1f}x")
    ledgers = sorted(Path(config.exports_dir).glob("台帐_*.xlsx"))
    size = ledgers[-1].stat().st_size
    sendable = size <= config.wechaty.max_file_bytes
    print(f"ledger of this month: {size / 1_000_000:.1f} MB — {'sent as a file' if sendable else 'too large for WeChat: kept under exports/, staff told'}")


if __name__ == "__main__":
    main()
