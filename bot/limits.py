"""Per-contact limits at the door: one contact cannot flood the bot, nor queue its answers ahead
of everyone else's.

- More than ``limits.per_contact_per_minute`` reports or commands from one contact within a
  minute: the ones over the limit are kept as seen (a redelivery stays a no-op, the text stays in
  the record) but not acted on, and the contact is told once per burst. Every attempt counts, so a
  contact who keeps flooding stays refused until they pause; the first message after a quiet
  minute is acted on again, and a later burst is told again.
- Chatter and 收到 do not count: they are never answered, so they cost no one else a send.
- Beyond the first few answers of a minute (``BURST``), the answers a contact has earned are
  spaced in the outbox one pacing interval apart: an answer to someone else who writes in
  between goes out in between, instead of behind a queue of one contact's answers. A person
  typing at human speed never waits for this.

The counts live in memory: one live process per area answers its messages (bot/lease.py), and a
restart forgetting the last minute lets at most one more minute's worth through.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(minutes=1)
BURST = 3  # answers a contact gets at once within a minute; beyond, they take turns with others'
SLOW_DOWN = "您发得太快了：每分钟最多处理 {limit} 条报告或指令，这之后的消息已收到但不处理。请过一分钟再发，谢谢配合。"


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    tell: bool = False  # refused, and this is the first refusal of the burst: say so once
    slot: datetime | None = None  # the answer (or the slow-down) goes out no earlier than this


class ContactLimits:
    def __init__(self, per_minute: int, spacing: timedelta) -> None:
        self.per_minute = per_minute
        self.spacing = spacing  # the outbox's slowest interval between sends
        # contact → times of its counted messages within the last minute (a flood's beyond a few
        # times the limit add nothing to know, so the deque is capped)
        self._recent: dict[str, deque[datetime]] = {}
        self._told: set[str] = set()  # refused and told, in the current burst
        self._slots: dict[str, datetime] = {}  # contact → when its last answer may go out
        self._pruned_at: datetime | None = None
        self._lock = threading.Lock()  # the WeChat transport may handle messages from worker threads

    def admit(self, contact: str, now: datetime) -> Verdict:
        """Count one report or command of ``contact`` at ``now``."""
        with self._lock:
            self._prune(now)
            recent = self._recent.setdefault(contact, deque(maxlen=self.per_minute * 4))
            while recent and now - recent[0] >= WINDOW:
                recent.popleft()
            earlier = len(recent)
            recent.append(now)
            if earlier >= self.per_minute:
                tell = contact not in self._told
                self._told.add(contact)
                return Verdict(
                    admitted=False, tell=tell, slot=self._next_slot(contact, now, earlier) if tell else None
                )
            self._told.discard(contact)
            return Verdict(admitted=True, slot=self._next_slot(contact, now, earlier))

    def undo(self, contact: str, now: datetime) -> None:
        """The message counted at ``now`` was not handled after all (the database was away; it
        waits in the spool and is counted when it is handled): a retry must not count twice."""
        with self._lock:
            recent = self._recent.get(contact)
            if recent and recent[-1] == now:
                recent.pop()
                self._told.discard(contact)  # its slow-down, if any, was rolled back with it

    def _next_slot(self, contact: str, now: datetime, earlier: int) -> datetime | None:
        """The first BURST answers of a minute go at once; after that a contact's answers are
        spaced one send apart, so anyone else's answer queued meanwhile goes between them."""
        previous = self._slots.get(contact)
        slot = now if previous is None or earlier < BURST else max(now, previous + self.spacing)
        self._slots[contact] = slot
        return slot if slot > now else None

    def _prune(self, now: datetime) -> None:
        """Forget contacts quiet for a minute, once a minute: memory grows with who is talking
        now, not with everyone who ever spoke."""
        if self._pruned_at is not None and now - self._pruned_at < WINDOW:
            return
        self._pruned_at = now
        for contact in [c for c, times in self._recent.items() if not times or now - times[-1] >= WINDOW]:
            del self._recent[contact]
            self._told.discard(contact)
            if self._slots.get(contact, now) <= now:
                self._slots.pop(contact, None)
