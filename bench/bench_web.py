"""The workbench's board and report list on 100,000 reports (SQLite), as ratios against a plain
SQL count in the same run.

    python bench/bench_web.py [--reports 100000] [--db URL]

Builds the database with a bulk insert, logs in as staff do (/登录 in private chat, then the
code on the login page) and times whole HTTP requests through Starlette's test client: session
check, queries, query log, template — everything but the network.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select
from starlette.testclient import TestClient

from bot.clock import SHANGHAI, VirtualClock
from bot.config import load_config
from bot.transports.simulated import Simulation
from handlers import build_application

# rows written straight to the tables belong to the shipped config's area, as the bot's own do
AREA = load_config(ROOT / "config.yaml").area_id
from storage.db import make_engine, upgrade
from storage.models import Report
from web.app import create_app

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
LIMIT_MS = 300


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--reports", type=int, default=100_000)
    options.add_argument("--db")
    args = options.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qinlin-bench-"))
    url = args.db or f"sqlite:///{folder / 'bench.db'}"
    config = load_config(ROOT / "config.yaml").model_copy(update={"exports_dir": str(folder / "exports")})
    config = config.model_copy(
        update={"database": config.database.model_copy(update={"spool": str(folder / "spool.jsonl")})}
    )
    engine = make_engine(url)
    upgrade(engine)
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
            status = rng.choice(["open", "resolved", "resolved", "resolved", "incomplete"])
            batch.append(
                dict(
                    community=AREA,
                    kind=kind,
                    category=rng.choice(CATEGORIES),
                    status=status,
                    building=str(rng.randrange(1, 49)),
                    unit=f"{rng.randrange(1, 7)}0{rng.randrange(1, 5)}",
                    people=rng.randrange(1, 5),
                    reporter_id=f"wxid_{number % 2500}",
                    reporter_name="居民",
                    raw_text="登记 返沪 楼道灯坏了",
                    created_at=created,
                    updated_at=created,
                )
            )
            if len(batch) == 5000:
                connection.execute(insert(Report), batch)
                batch = []
        if batch:
            connection.execute(insert(Report), batch)
    print(f"database: {url} with {args.reports:,} reports, built in {time.perf_counter() - started:.1f} s")

    client = TestClient(create_app(config, engine, clock), follow_redirects=True)
    code = re.search(r"登录码：(\d{6})", chat.say(None, "王社工", "/登录")[0].text).group(1)  # type: ignore[union-attr]
    login = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    board = client.post("/login", data={"name": "王社工", "code": code, "csrf": csrf})
    assert board.status_code == 200 and "各楼待办" in board.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', board.text).group(1)  # type: ignore[union-attr]

    def timed(work: Callable[[], object]) -> float:
        best = float("inf")
        for _ in range(5):
            begin = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - begin)
        return best

    def plain_count() -> None:
        with engine.connect() as connection:
            connection.execute(select(func.count()).select_from(Report)).scalar()

    def page(path: str) -> Callable[[], None]:
        def get() -> None:
            answer = client.get(path)
            assert answer.status_code == 200, answer.text[:300]

        return get

    baseline = timed(plain_count)
    results = {
        "今日 board": timed(page("/")),
        "reports, newest 50 (近30天)": timed(page("/reports")),
        "reports, page 40": timed(page("/reports?page=40")),
    }
    client.post(
        "/reports/filter", data={"csrf": csrf, "category": "repair", "building": "3", "status": "open"}
    )
    results["reports, filtered (repair, 3号楼, open)"] = timed(page("/reports"))
    client.post("/reports/filter", data={"csrf": csrf, "text": "楼道灯", "period": "本月"})
    results["reports, free text, this month"] = timed(page("/reports"))
    results["one report"] = timed(page(f"/reports/{args.reports // 2}"))
    print(f"plain SELECT count(*): {baseline * 1000:.1f} ms")
    for name, seconds in results.items():
        verdict = "ok" if seconds * 1000 < LIMIT_MS else f"over {LIMIT_MS} ms"
        print(f"{name}: {seconds * 1000:.1f} ms  ratio {seconds / baseline:.1f}x  ({verdict})")


if __name__ == "__main__":
    main()
