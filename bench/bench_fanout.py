"""A notice to 60 building rooms through the paced outbox, on the production code and the
virtual clock (as `qinlin replay` runs it): how long the fan-out takes, the spacing WeChat sees,
how long a resident who writes mid-fan-out waits for the answer, and the CPU cost per send as a
ratio against the bare SQL a send needs (one insert, one update) measured in the same run.

    python bench/bench_fanout.py [--rooms 60] [--db URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, update

from bot.clock import SHANGHAI, VirtualClock
from bot.config import load_config
from bot.transports.simulated import Simulation
from handlers import build_application
from storage.db import make_engine
from storage.models import OutboxMessage


def bare_sql_seconds(engine, rows: int) -> float:
    """The least a durable send costs: queue the row, then mark it sent, one transaction each."""
    moment = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    started = time.perf_counter()
    for number in range(rows):
        with engine.begin() as connection:
            row_id = connection.execute(
                insert(OutboxMessage).values(
                    room_id=f"bare-{number}",
                    text="x",
                    mention_ids=[],
                    urgent=False,
                    state="queued",
                    attempts=0,
                    next_attempt_at=moment,
                    created_at=moment,
                    dedupe_key=f"bare:{number}",
                )
            ).inserted_primary_key[0]
        with engine.begin() as connection:
            connection.execute(
                update(OutboxMessage).where(OutboxMessage.id == row_id).values(state="sent", sent_at=moment)
            )
    return time.perf_counter() - started


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--rooms", type=int, default=60)
    options.add_argument("--db")
    args = options.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qinlin-bench-"))
    config = load_config(ROOT / "config.yaml").model_copy(
        update={"reminders": [], "exports_dir": str(folder / "exports")}
    )
    engine = make_engine(args.db or f"sqlite:///{folder / 'fanout.db'}")
    start = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    clock = VirtualClock(start)
    chat = Simulation(build_application(config, engine, clock), clock)
    buildings = [f"江南新村{n}号楼" for n in range(1, args.rooms + 1)]
    for topic in [*buildings, "居委工作群"]:
        chat.say(topic, "某居民", "大家好")
    clock.set(start + timedelta(minutes=1))
    posted = clock.now()

    wall = time.perf_counter()
    chat.feed(chat.message("#通知 全体 明天上午9点起全小区核酸检测，请带好身份证。", "王社工", "居委工作群"))
    chat.advance_to(posted + timedelta(seconds=30))
    asked = clock.now()
    chat.feed(chat.message("#家庭报告 3号楼201 返沪2人 来自武汉", "张阿姨", "江南新村3号楼"))
    chat.drain()
    wall = time.perf_counter() - wall

    relays = [d for d in chat.delivered if d.text.startswith("【通知】")]
    answer = next(d for d in chat.delivered if d.text.startswith("已登记 家庭报告"))
    gaps = [
        (b.at - a.at).total_seconds() for a, b in zip(chat.delivered, chat.delivered[1:]) if b.at > posted
    ]
    rooms_reached = len({d.room_id for d in relays})
    sends = len([d for d in chat.delivered if d.at >= posted])
    bare = bare_sql_seconds(engine, sends)
    print(
        f"rooms: {args.rooms}; relays sent: {len(relays)} to {rooms_reached} rooms (each once: {len(relays) == rooms_reached})"
    )
    print(
        f"fan-out on the virtual clock: first relay +{(relays[0].at - posted).total_seconds():.1f} s, "
        f"last +{(relays[-1].at - posted).total_seconds():.1f} s"
    )
    print(
        f"spacing between any two sends (s): min {min(gaps):.2f}, mean {statistics.mean(gaps):.2f}, "
        f"max {max(gaps):.2f} (config: {config.outbox.min_interval_seconds:g} s + jitter up to "
        f"{config.outbox.jitter_seconds:g} s)"
    )
    print(
        f"a resident writing 30 s into the fan-out got the answer after {(answer.at - asked).total_seconds():.1f} s "
        "(answers go ahead of fan-outs)"
    )
    print(
        f"CPU: {sends} sends through the bot in {wall * 1000:.0f} ms ({wall / sends * 1000:.2f} ms per send); "
        f"bare SQL for the same sends {bare * 1000:.0f} ms; ratio {wall / bare:.1f}x"
    )


if __name__ == "__main__":
    main()
