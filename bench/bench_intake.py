"""An epidemic-week burst: messages from 20 building rooms handled the way `qinlin run` handles
them (the SDK delivers concurrently; each message is one unit of work on a worker thread), as a
ratio against parsing the same messages without storing anything, measured in the same run.

    python bench/bench_intake.py [--messages 2000] [--threads 6] [--db URL]

The mix: reports (some missing the room number, so a follow-up question is stored), 收到 to a
live notice, chatter that is stored as nothing. Prints messages per second, per-message latency
percentiles, and checks that every report was stored once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select

from bot.clock import SHANGHAI, SystemClock
from bot.config import load_config
from bot.message import IncomingMessage
from handlers import build_application
from storage.db import make_engine
from storage.models import IncomingRecord, Report

ROOMS = 20


def burst(count: int) -> list[IncomingMessage]:
    now = datetime.now(SHANGHAI)
    messages = []
    for number in range(count):
        building = number % ROOMS + 1
        unit = f"{number % 6 + 1}0{number % 4 + 1}"
        kind = number % 5
        text = [
            f"#家庭报告 {building}号楼{unit} 返沪{number % 3 + 1}人 来自武汉",
            "收到",
            f"求助 {building}号楼{unit} 老人发烧 需要配药",
            "大家注意安全，出门戴口罩",
            f"登记 新搬来租户 {number % 4 + 1}人",  # no room number: a follow-up question
        ][kind]
        messages.append(
            IncomingMessage(
                message_id=f"burst-{number}",
                sent_at=now + timedelta(milliseconds=number),
                sender_id=f"wxid_{number % 2500}",
                sender_name=f"居民{number % 2500}",
                text=text,
                room_id=f"room_{building}",
                room_topic=f"江南新村{building}号楼",
            )
        )
    return messages


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--messages", type=int, default=2000)
    options.add_argument("--threads", type=int, default=6)  # asyncio.to_thread's pool on 2 cores
    options.add_argument("--db")
    args = options.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qinlin-bench-"))
    config = load_config(ROOT / "config.yaml").model_copy(
        update={"reminders": [], "exports_dir": str(folder / "exports")}
    )
    engine = make_engine(args.db or f"sqlite:///{folder / 'intake.db'}")
    bot = build_application(config, engine, SystemClock(SHANGHAI))
    messages = burst(args.messages)
    staff = IncomingMessage(
        message_id="notice",
        sent_at=datetime.now(SHANGHAI),
        sender_id="wxid_王社工",
        sender_name="王社工",
        text="#通知 全体 明天上午核酸检测",
        room_id="room_staff",
        room_topic="居委工作群",
    )
    for building in range(1, ROOMS + 1):  # the rooms exist and a notice is live, so 收到 counts
        bot.handle(
            IncomingMessage(
                message_id=f"hello-{building}",
                sent_at=staff.sent_at,
                sender_id="wxid_x",
                sender_name="x",
                text="大家好",
                room_id=f"room_{building}",
                room_topic=f"江南新村{building}号楼",
            )
        )
    bot.handle(staff)

    parser = bot.services.parser
    started = time.perf_counter()
    for message in messages:
        parser.parse(message.text, message.sent_at)
    parse_only = time.perf_counter() - started

    latencies: list[float] = []

    def handle(message: IncomingMessage) -> None:
        begin = time.perf_counter()
        bot.handle(message)
        latencies.append(time.perf_counter() - begin)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(handle, messages))
    elapsed = time.perf_counter() - started

    with bot.services.factory() as session:
        stored = session.scalar(select(func.count()).select_from(Report))
        kept = session.scalar(
            select(func.count()).select_from(IncomingRecord).where(IncomingRecord.message_id.like("burst-%"))
        )
    expected_reports = sum(1 for m in messages if not m.text.startswith(("收到", "大家")))
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"database: {engine.url.render_as_string(hide_password=True)}; {args.messages} messages from {ROOMS} rooms, "
        f"{args.threads} worker threads"
    )
    print(
        f"handled in {elapsed:.2f} s = {args.messages / elapsed:.0f} messages/s; latency p50 {quantiles[49] * 1000:.1f} ms, "
        f"p95 {quantiles[94] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    print(
        f"parse only (no storage, one thread): {parse_only:.2f} s; ratio handle/parse {elapsed / parse_only:.1f}x"
    )
    print(f"reports stored: {stored} (expected {expected_reports}); messages kept: {kept}")


if __name__ == "__main__":
    main()
