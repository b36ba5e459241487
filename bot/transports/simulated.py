"""A transport on a virtual clock: replay files, the console, the demo and the tests.

Time only moves when told to: to the next incoming message, the next outbox send or the next
timed job, whichever is first — so pacing, quiet hours, follow-up timeouts and schedules run
through the production code and finish instantly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.app import Bot
from bot.clock import VirtualClock
from bot.message import IncomingMessage, MessageType
from bot.outbox import TransportError
from storage.db import unavailable_reason
from storage.models import OutboxMessage
from storage.repositories import rooms as room_rows

RECALL_WINDOW = timedelta(minutes=2)  # WeChat's, not ours: the simulated WeChat enforces it
MAX_STEPS = 1_000_000  # a job that keeps saying "due now" must not hang a replay


@dataclass(frozen=True)
class Delivered:
    """What the bot said, as the people in the chat would see it."""

    at: datetime
    text: str
    room_id: str | None
    room_topic: str | None
    person_id: str | None
    person_name: str | None
    file_path: str | None = None
    mention_ids: tuple[str, ...] = ()
    urgent: bool = False
    outbox_id: int = 0
    transport_id: str | None = None
    recalled: bool = False  # taken back later by the bot (/撤回通知)
    recalls: int | None = None  # not a message: the recall of the one sent from that outbox row

    def as_json(self) -> dict[str, object]:
        return {
            "ts": self.at.isoformat(),
            "to_room": self.room_topic,
            "to": self.person_name,
            "text": self.text,
            "file": self.file_path,
        } | ({"recall": True} if self.recalls is not None else {})  # "亲邻助手撤回了一条消息"


SendHook = Callable[[OutboxMessage], "str | None"]


@dataclass
class Simulation:
    bot: Bot
    clock: VirtualClock
    delivered: list[Delivered] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # contact id → display name, as seen
    topics: dict[str, str] = field(default_factory=dict)  # room id → topic, as last seen in a message
    send_hook: SendHook | None = None  # tests inject failures (rate limits) here
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # ---------------------------------------------------------------- the clock

    def advance_to(self, target: datetime) -> None:
        """Run every outbox send and job that falls due up to ``target``, in time order."""
        for _ in range(MAX_STEPS):
            try:
                if not self._step(target):
                    break
            except Exception as error:
                if not unavailable_reason(error):
                    raise
                # the database is away: nothing can move until it is back; the next call retries
                self.bot.outages.failed("outbox", error)
                break
            self.bot.outages.recovered("outbox")
        self.clock.set(target)

    def _step(self, target: datetime) -> bool:
        """Run the first send or job due by ``target``; False when there is none."""
        if len(self.bot.spool):
            self.bot.replay_spool()
        now = self.clock.now()
        next_send = self.bot.outbox.next_send(now)
        next_job = self.bot.next_job_due(now)
        moments = [m for m in (next_send[1] if next_send else None, next_job) if m is not None]
        if not moments or min(moments) > target:
            return False
        self.clock.set(min(moments))
        if next_job is not None and next_job <= self.clock.now():
            self.bot.run_due_jobs()
        elif next_send is not None:
            self.bot.outbox.send_one(next_send[0], self.clock.now(), self._deliver)
        return True

    def drain(self, limit: timedelta = timedelta(days=2)) -> None:
        """Move on until the outbox is empty (quiet hours may hold messages until morning)."""
        deadline = self.clock.now() + limit
        self.advance_to(self.clock.now())  # whatever is due now (a job missed while down) runs first
        for _ in range(MAX_STEPS):
            try:
                next_send = self.bot.outbox.next_send(self.clock.now())
            except Exception as error:
                if not unavailable_reason(error):
                    raise
                self.bot.outages.failed("outbox", error)
                return
            if next_send is None or next_send[1] > deadline:
                return
            self.advance_to(next_send[1])

    # ---------------------------------------------------------------- messages

    def feed(self, message: IncomingMessage) -> None:
        self.advance_to(message.sent_at)
        self.names.setdefault(message.sender_id, message.sender_name)
        if message.room_id is not None and message.room_topic:
            self.topics[message.room_id] = message.room_topic  # as WeChat shows it: renames included
        self.bot.handle(message)

    def message(
        self,
        text: str,
        sender: str,
        room: str | None = None,
        *,
        at: datetime | None = None,
        sender_id: str | None = None,
        room_id: str | None = None,
        message_id: str | None = None,
        type: MessageType = MessageType.TEXT,
        mentions: tuple[str, ...] = (),
    ) -> IncomingMessage:
        """Build a message the way replay files name things: rooms by topic, people by name.
        ``mentions`` are the contact ids WeChat would attach when people are @-picked."""
        return IncomingMessage(
            message_id=message_id or f"sim-{next(self._ids)}",
            sent_at=at or self.clock.now(),
            sender_id=sender_id or f"wxid_{sender}",
            sender_name=sender,
            text=text,
            room_id=(room_id or f"room_{room}") if room is not None else None,
            room_topic=room,
            type=type,
            mention_ids=tuple(mentions),
        )

    def picked_mentions(self, text: str) -> tuple[str, ...]:
        """The ids WeChat's @ list would attach for each ``@name`` in ``text``: a contact seen
        here under exactly that name. A name nobody here has is left as typed text."""
        picked = []
        for name in re.findall(r"@([^\s\u2005@]{1,32})", text):
            ids = [contact_id for contact_id, seen in self.names.items() if seen == name]
            if len(ids) == 1:
                picked.append(ids[0])
        return tuple(picked)

    def say(self, room: str | None, sender: str, text: str, **kwargs: object) -> list[Delivered]:
        """A person says something; returns everything the bot sent until its outbox was empty."""
        before = len(self.delivered)
        self.feed(self.message(text, sender, room, **kwargs))  # type: ignore[arg-type]
        self.drain()
        return self.delivered[before:]

    def wait(self, **delta: float) -> list[Delivered]:
        before = len(self.delivered)
        self.advance_to(self.clock.now() + timedelta(**delta))
        return self.delivered[before:]

    # ---------------------------------------------------------------- sending

    def _deliver(self, row: OutboxMessage) -> str | None:
        topic = self.topics.get(row.room_id) if row.room_id is not None else None
        if row.room_id is not None and topic is None and row.action != "recall":
            with self.bot.services.factory() as session:
                topic = room_rows.topic_of(session, row.room_id)
        transport_id = (self.send_hook(row) if self.send_hook else None) or f"sim-out-{row.id}"
        if row.action == "recall":
            self._recall(row)
            return None
        self.delivered.append(
            Delivered(
                at=self.clock.now(),
                text=row.text,
                room_id=row.room_id,
                room_topic=topic,
                person_id=row.person_id,
                person_name=self.names.get(row.person_id or "", row.person_id),
                file_path=row.file_path,
                mention_ids=tuple(row.mention_ids or ()),
                urgent=row.urgent,
                outbox_id=row.id,
                transport_id=transport_id,
            )
        )
        return transport_id

    def _recall(self, row: OutboxMessage) -> None:
        """WeChat's rule: a sender may take a message back within two minutes of sending it."""
        target_id = row.recall_message_id
        index = next(
            (i for i, d in enumerate(self.delivered) if d.transport_id == target_id and not d.recalled), None
        )
        if index is None:
            raise TransportError(f"no such message: {target_id}", retry_after=None)
        original = self.delivered[index]
        if self.clock.now() - original.at > RECALL_WINDOW:
            raise TransportError("sent more than 2 minutes ago", retry_after=None)
        self.delivered[index] = replace(original, recalled=True)
        self.delivered.append(
            Delivered(
                at=self.clock.now(),
                text="",
                room_id=row.room_id,
                room_topic=original.room_topic,
                person_id=row.person_id,
                person_name=original.person_name,
                outbox_id=row.id,
                recalls=original.outbox_id,
            )
        )
