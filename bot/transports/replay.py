"""``qinlin replay``: recorded messages in, the bot's outgoing messages out, on the recording's clock."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from sqlalchemy import Engine

from bot.clock import FIRST_YEAR, LAST_YEAR, VirtualClock
from bot.config import Config
from bot.message import IncomingMessage, MessageType
from bot.transports.simulated import Simulation
from handlers import build_application


class ReplayError(Exception):
    pass


# Replay runs every timed job between two messages (digests, reminders, one a day each), as the
# bot would have; a recording with a gap of years is a mistake, not a day to replay.
MAX_GAP = timedelta(days=400)


def _check_gap(now: datetime, moment: datetime, what: str) -> None:
    if moment - now > MAX_GAP:
        raise ReplayError(
            f"{what} is {(moment - now).days} days after the previous message (at most "
            f"{MAX_GAP.days}): replay would run every daily job in between; split the recording"
        )


@dataclass
class ReplayStats:
    read: int = 0
    sent: int = 0


def message_from_record(record: dict, line_number: int, config: Config) -> IncomingMessage:
    """{"ts", "room", "from", "text"} plus optional from_id, room_id, id, type."""
    if not isinstance(record, dict):
        raise ReplayError(f"line {line_number}: expected a JSON object")
    for key in ("ts", "from"):
        if not record.get(key):
            raise ReplayError(f"line {line_number}: missing '{key}'")
    try:
        moment = datetime.fromisoformat(str(record["ts"]))
    except ValueError:
        raise ReplayError(f"line {line_number}: bad timestamp {record['ts']!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.tzinfo)
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ReplayError(
            f"line {line_number}: timestamp {record['ts']!r} is outside {FIRST_YEAR}-{LAST_YEAR}"
        )
    room = record.get("room")
    sender = str(record["from"])
    try:
        kind = MessageType(record.get("type", "text"))
    except ValueError:
        kind = MessageType.OTHER
    return IncomingMessage(
        message_id=str(record.get("id") or f"replay-{line_number}-{moment.isoformat()}"),
        sent_at=moment,
        sender_id=str(record.get("from_id") or f"wxid_{sender}"),
        sender_name=sender,
        text=str(record.get("text") or ""),
        room_id=(str(record.get("room_id") or f"room_{room}")) if room else None,
        room_topic=str(room) if room else None,
        type=kind,
    )


def read_messages(lines: Iterable[str], config: Config) -> Iterable[tuple[int, IncomingMessage]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ReplayError(f"line {number}: not JSON ({error.msg})") from None
        yield number, message_from_record(record, number, config)


def run_replay(
    config: Config, engine: Engine, source: IO[str], sink: IO[str], until: datetime | None = None
) -> ReplayStats:
    stats = ReplayStats()
    simulation: Simulation | None = None
    written = 0

    def flush() -> None:
        nonlocal written
        assert simulation is not None
        for delivered in simulation.delivered[written:]:
            sink.write(json.dumps(delivered.as_json(), ensure_ascii=False) + "\n")
        written = len(simulation.delivered)

    for line_number, message in read_messages(source, config):
        if simulation is None:  # the clock starts at the first recorded message
            clock = VirtualClock(message.sent_at, config.tzinfo)
            simulation = Simulation(build_application(config, engine, clock), clock)
        _check_gap(
            simulation.clock.now(), message.sent_at, f"line {line_number} ({message.sent_at:%Y-%m-%d})"
        )
        simulation.feed(message)
        stats.read += 1
        flush()
    if simulation is not None:
        simulation.drain()
        if until is not None:
            _check_gap(simulation.clock.now(), until, "--until")
            simulation.advance_to(until)
            simulation.drain()
        flush()
        stats.sent = written
    return stats
