"""Messages that arrived while the database was away: a local append-only file, one JSON line
each, flushed to disk before the handler returns — so a resident's message is never lost to an
outage. When the database is back they are handled in arrival order with the time they came in,
so a follow-up answer or a 收到 is judged by when the resident wrote, not by when the database
returned; the replies go out late rather than never.

If even the file cannot be written (the disk is full too), the message is kept in memory until
it can be handled: lost only if the process dies before the database comes back.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.message import IncomingMessage, MessageType

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Spooled:
    message: IncomingMessage
    received_at: datetime


def _line(entry: Spooled) -> str:
    message = entry.message
    return (
        json.dumps(
            {
                "message_id": message.message_id,
                "sent_at": message.sent_at.isoformat(),
                "received_at": entry.received_at.isoformat(),
                "sender_id": message.sender_id,
                "sender_name": message.sender_name,
                "sender_alias": message.sender_alias,
                "text": message.text,
                "room_id": message.room_id,
                "room_topic": message.room_topic,
                "type": message.type.value,
                "mention_ids": list(message.mention_ids),
                "mentions_bot": message.mentions_bot,
            },
            ensure_ascii=False,
        )
        + "\n"
    )


def _entry(line: str) -> Spooled:
    record = json.loads(line)
    message = IncomingMessage(
        message_id=record["message_id"],
        sent_at=datetime.fromisoformat(record["sent_at"]),
        sender_id=record["sender_id"],
        sender_name=record["sender_name"],
        text=record["text"],
        room_id=record["room_id"],
        room_topic=record["room_topic"],
        type=MessageType(record["type"]),
        sender_alias=record["sender_alias"],
        mention_ids=tuple(record["mention_ids"]),
        mentions_bot=record["mentions_bot"],
    )
    return Spooled(message, datetime.fromisoformat(record["received_at"]))


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()  # handler threads append while one of them replays
        self._in_memory: list[Spooled] = []  # could not be written: the disk is full as well
        self._count = len(self._read_file())

    def __len__(self) -> int:
        return self._count + len(self._in_memory)

    def _read_file(self) -> list[Spooled]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(_entry(line))
            except (ValueError, KeyError, TypeError):
                # a line cut short by a crash mid-write: the rest of the file is still good
                log.warning("spool %s line %d is unreadable; skipped", self.path, number)
        return entries

    def append(self, message: IncomingMessage, received_at: datetime) -> None:
        entry = Spooled(message, received_at)
        with self.lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as file:
                    file.write(_line(entry))
                    file.flush()
                    os.fsync(file.fileno())
            except OSError as error:
                log.error(
                    "cannot write the spool %s (%s): message %s kept in memory until the database is back",
                    self.path,
                    error.strerror or error,
                    message.message_id,
                )
                self._in_memory.append(entry)
                return
            self._count += 1

    def entries(self) -> list[Spooled]:
        """Everything waiting, oldest first."""
        with self.lock:
            return self._read_file() + list(self._in_memory)

    def forget_first(self, handled: int) -> None:
        """The first ``handled`` entries are in the database now; keep the rest (atomically)."""
        with self.lock:
            on_file = self._read_file()
            self._in_memory = self._in_memory[max(0, handled - len(on_file)) :]
            on_file = on_file[handled:]
            if not on_file:
                self.path.unlink(missing_ok=True)
            else:
                partial = self.path.with_name(self.path.name + ".tmp")
                with open(partial, "w", encoding="utf-8") as file:
                    file.writelines(_line(entry) for entry in on_file)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(partial, self.path)
            self._count = len(on_file)
