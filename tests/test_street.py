"""A street office (街道) on one database: several senders on one outbox, several areas on one
database. Run on PostgreSQL too (QINLIN_TEST_PG_URL), where the processes really overlap.

The senders here are threads on the wall clock: what is tested is two processes racing for the
same rows, which a virtual clock cannot show."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import pairwise

from sqlalchemy import Engine, select

from bot.config import Config
from bot.lease import AreaLease
from bot.message import Outgoing
from bot.outbox import OutboxWorker, enqueue
from storage.db import session_factory, unit_of_work
from storage.models import OutboxMessage


def wall_now() -> datetime:
    return datetime.now(timezone.utc)


def queue_rows(engine: Engine, count: int) -> None:
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        for n in range(count):
            enqueue(session, Outgoing(text=f"第{n}条", room_id=f"room-{n % 12}"), wall_now() - timedelta(seconds=1))


def outbox_config(config: Config, interval: float) -> object:
    return config.outbox.model_copy(update={"min_interval_seconds": interval, "jitter_seconds": 0,
                                            "quiet_hours": None, "max_per_day": 100_000})


class Sends:
    """What reached 'WeChat', from which sender, when (wall clock, at the moment of the call)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[tuple[int, str, float]] = []

    def sender(self, name: str) -> Callable[[OutboxMessage], str]:
        def send(row: OutboxMessage) -> str:
            with self.lock:
                self.log.append((row.id, name, time.monotonic()))
            return f"wx-{row.id}-{name}"
        return send


def drain(worker: OutboxWorker, send: Callable[[OutboxMessage], str], deadline: float) -> None:
    """What a process's outbox pump does, on the wall clock, until the queue is empty."""
    while time.monotonic() < deadline:
        upcoming = worker.next_send(wall_now())
        if upcoming is None:
            if worker.pending_count() == 0:
                return
            time.sleep(0.02)
            continue
        row_id, when = upcoming
        wait = (when - wall_now()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, 0.2))
            continue
        row = worker.claim(row_id, wall_now())
        if row is not None:
            worker.record_outcome(row_id, wall_now(), send(row))  # sent_at: after WeChat took it


def race(engine: Engine, config: Config, interval: float, senders: int, timeout: float) -> Sends:
    sends = Sends()
    factory = session_factory(engine)
    workers = [OutboxWorker(factory, outbox_config(config, interval), config.tzinfo) for _ in range(senders)]
    deadline = time.monotonic() + timeout
    threads = [threading.Thread(target=drain, args=(worker, sends.sender(f"p{n}"), deadline))
               for n, worker in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sends


def test_two_senders_on_one_outbox_send_each_row_once(engine: Engine, config: Config) -> None:
    # SQLite lets one writer at a time in anyway: a short run shows the same holds there
    rows = 300 if engine.dialect.name == "postgresql" else 60
    queue_rows(engine, rows)
    sends = race(engine, config, interval=0, senders=2, timeout=180)
    counts = Counter(row_id for row_id, _, _ in sends.log)
    assert len(counts) == rows
    assert [row_id for row_id, n in counts.items() if n > 1] == []
    with session_factory(engine)() as session:
        assert set(session.scalars(select(OutboxMessage.state))) == {"sent"}


def test_two_senders_keep_the_accounts_pacing(engine: Engine, config: Config) -> None:
    queue_rows(engine, 8)
    sends = race(engine, config, interval=1.0, senders=2, timeout=60)
    assert sorted(Counter(row_id for row_id, _, _ in sends.log).values()) == [1] * 8
    moments = sorted(at for _, _, at in sends.log)
    gaps = [b - a for a, b in pairwise(moments)]
    assert min(gaps) >= 1.0, gaps


def test_a_process_starting_leaves_another_ones_send_in_flight_alone(engine: Engine, config: Config) -> None:
    """The first process waits for WeChat's acknowledgement; a second one starts meanwhile."""
    queue_rows(engine, 1)
    factory = session_factory(engine)
    first = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    second = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    sends = Sends()
    in_flight, acknowledged = threading.Event(), threading.Event()

    def slow_send(row: OutboxMessage) -> str:
        sends.sender("first")(row)
        in_flight.set()
        acknowledged.wait(10)
        return "wx-1"

    row_id, _ = first.next_send(wall_now())
    sending = threading.Thread(target=first.send_one, args=(row_id, wall_now(), slow_send))
    sending.start()
    assert in_flight.wait(10)
    assert second.recover(wall_now()) == 0  # a live claim is not taken back
    upcoming = second.next_send(wall_now())
    if upcoming is not None:
        assert not second.send_one(upcoming[0], wall_now(), sends.sender("second"))
    acknowledged.set()
    sending.join()
    drain(second, sends.sender("second"), time.monotonic() + 5)
    assert [(row, name) for row, name, _ in sends.log] == [(row_id, "first")]


def test_an_expired_claim_is_taken_back(engine: Engine, config: Config) -> None:
    """A sender that died holding a claim: once the claim has expired, another sends the row."""
    queue_rows(engine, 1)
    factory = session_factory(engine)
    dead = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    row_id, _ = dead.next_send(wall_now())
    assert dead.claim(row_id, wall_now()) is not None  # ... and never came back
    later = wall_now() + timedelta(seconds=config.outbox.claim_seconds + 1)
    survivor = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    assert survivor.recover(wall_now()) == 0
    assert survivor.recover(later) == 1
    sends = Sends()
    assert survivor.send_one(survivor.next_send(later)[0], later, sends.sender("survivor"))
    assert [row for row, _, _ in sends.log] == [row_id]


# ---------------------------------------------------------------- one live process per area


def test_one_process_per_area_holds_the_lease_and_a_standby_takes_over(engine: Engine) -> None:
    first = AreaLease(engine, "江南新村居民区")
    standby = AreaLease(engine, "江南新村居民区")
    elsewhere = AreaLease(engine, "东风新村居民区")
    try:
        assert first.try_acquire()
        assert not standby.try_acquire()
        assert elsewhere.try_acquire()  # another area is another lease
        assert f":{os.getpid()}" in (standby.holder() or "")  # the standby can say whom it waits for
        assert first.still_held()
        first._drop()  # the holder dies without a word (kill -9): its connection or file goes
        assert standby.try_acquire()
        assert not first.try_acquire()
    finally:
        for lease in (first, standby, elsewhere):
            lease.release()


def test_the_new_lease_holder_settles_the_claims_of_the_one_that_died(engine: Engine, config: Config) -> None:
    """Taking over, the standby need not wait for the dead process's claim to expire."""
    queue_rows(engine, 1)
    factory = session_factory(engine)
    dead = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    row_id, _ = dead.next_send(wall_now())
    assert dead.claim(row_id, wall_now()) is not None
    heir = OutboxWorker(factory, outbox_config(config, 0), config.tzinfo)
    assert heir.recover(wall_now()) == 0
    assert heir.recover(wall_now(), orphaned=True) == 1
    assert heir.next_send(wall_now()) is not None  # a notice relay: queued again in its place
