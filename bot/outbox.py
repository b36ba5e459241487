"""One persistent, paced outbox for every outgoing message.

Rows move queued → sending → sent, or back to queued with a later ``next_attempt_at`` when the
transport fails (failed for good after ``max_attempts``). Pacing is derived from the table
itself — the last ``sent_at`` and today's count — so it survives restarts, and it reads time
only from the injected clock, so replay paces exactly as production does.

Several processes may drain one outbox (a standby taking over, a second ``qinlin run`` started
by mistake, the web workbench's sends). A row is claimed in one transaction that holds the
account's lock (storage.locks), re-reads the pacing and takes the row ``FOR UPDATE SKIP
LOCKED``; the claim names its sender and expires. An account has at most one send in flight,
so two senders can neither send one row twice nor send closer together than the pacing allows.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, NamedTuple

from sqlalchemy import ScalarSelect, bindparam, event, func, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.config import OutboxConfig
from bot.memo import Memo
from bot.message import Outgoing
from bot.outages import Outages
from bot.privacy import for_group
from storage.db import unit_of_work
from storage.locks import hold_for_transaction
from storage.models import NoticeDelivery, OutboxMessage, UTCDateTime

log = logging.getLogger(__name__)


class TransportError(Exception):
    """A send failed; ``retry_after`` (seconds) when it is worth trying again."""

    def __init__(self, reason: str, retry_after: float | None = 60.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RateLimited(TransportError):
    """WeChat's risk control ("操作过于频繁"): back off, never drop."""


REPLY_KEY_PREFIX = "reply:"  # dedupe keys of answers to a person who just wrote (bot/app.py)
IN_DOUBT_DROPPED = "in flight when the sender stopped; WeChat did not echo it; not sent again"


def sent_text(row: OutboxMessage) -> str:
    """The text handed to WeChat: a leading "@name " is dropped because the SDK writes the
    mention itself from the row's mention ids."""
    text = row.text or ""
    if row.mention_ids and text.startswith("@") and " " in text:
        return text.split(" ", 1)[1]
    return text


RATE_LIMITED_MARK = "rate-limited: "  # starts last_error of a row refused by risk control


def enqueue(session: Session, out: Outgoing, now: datetime) -> OutboxMessage | None:
    """Queue one message; a repeated ``dedupe_key`` is a no-op (returns None). The unique key
    decides, in a savepoint: a look-up first would cost every queued row a statement to find,
    nearly always, nothing."""
    row = OutboxMessage(
        room_id=out.room_id,
        person_id=out.person_id,
        text=for_group(session, out.room_id, out.text) if out.text else out.text,
        file_path=out.file_path,
        mention_ids=list(out.mention_ids),
        urgent=out.urgent,
        state="queued",
        attempts=0,
        next_attempt_at=out.not_before or now,
        dedupe_key=out.dedupe_key,
        notice_id=out.notice_id,
        action="recall" if out.recall_message_id else "say",
        recall_message_id=out.recall_message_id,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # a concurrent handler queued the same key first
        return None
    if row.notice_id is not None and row.action == "say" and row.room_id is not None:
        # a notice's relay to a room: its delivery points at it (recall, receipts and 收到 read it)
        session.execute(
            update(NoticeDelivery)
            .where(
                NoticeDelivery.notice_id == row.notice_id,
                NoticeDelivery.room_id == row.room_id,
                NoticeDelivery.outbox_id.is_(None),
            )
            .values(outbox_id=row.id)
        )
    return row


def _in_window(moment: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end  # the window spans midnight


@dataclass
class Pacing:
    """When may the next message go out? Pure: all inputs given."""

    config: OutboxConfig
    tz: tzinfo

    def quiet_until(self, now: datetime) -> datetime | None:
        """End of the quiet window ``now`` falls in, or None when it is not quiet."""
        window = self.config.quiet_window()
        if window is None:
            return None
        start, end = window
        local = now.astimezone(self.tz)
        if not _in_window(local.time(), start, end):
            return None
        end_day = local.date() if local.time() < end else local.date() + timedelta(days=1)
        return datetime.combine(end_day, end, self.tz)

    def spacing(self, last_sent_at: datetime) -> timedelta:
        # Jitter is drawn from the previous send's time: random to WeChat, reproducible in replay
        # and tests, and the same for every candidate so queue order decides who goes next.
        jitter = random.Random(last_sent_at.timestamp()).uniform(0, self.config.jitter_seconds)
        return timedelta(seconds=self.config.min_interval_seconds + jitter)

    def earliest(
        self, row: OutboxMessage | Candidate, last_sent_at: datetime | None, sent_today: int, now: datetime
    ) -> datetime:
        moment = max(row.next_attempt_at, now)
        if last_sent_at is not None:
            moment = max(moment, last_sent_at + self.spacing(last_sent_at))
        if sent_today >= self.config.max_per_day:
            local = moment.astimezone(self.tz)
            moment = max(moment, datetime.combine(local.date() + timedelta(days=1), time(0), self.tz))
        if not row.urgent:
            quiet_end = self.quiet_until(moment)
            if quiet_end is not None:
                moment = quiet_end
        return moment


class Candidate(NamedTuple):
    """A queued row as pacing sees it."""

    id: int
    urgent: bool
    next_attempt_at: datetime


CANDIDATES = 200  # queued rows pacing looks at, most urgent and oldest first


@dataclass(frozen=True)
class QueueView:
    """What pacing needs to know about the queue, read in two statements and then kept: the
    changes this process's sessions commit to outbox rows are applied to it (:class:`RowChange`),
    anything else (a bulk update, another process, the day turning) has it read again."""

    day_start: datetime
    last_sent_at: datetime | None
    sent_today: int
    held_until: datetime | None  # risk control holds the whole account until then
    claimed_until: datetime | None  # a send in flight when read (maybe another process's) holds it until then
    candidates: tuple[Candidate, ...]
    whole: bool = True  # every queued row is a candidate (fewer than CANDIDATES were queued)
    claims: tuple[tuple[int, datetime], ...] = ()  # claims committed since it was read: (row, until)

    def in_flight_until(self) -> datetime | None:
        moments = [m for m in (self.claimed_until, *(until for _, until in self.claims)) if m is not None]
        return max(moments) if moments else None


class RowChange(NamedTuple):
    """One outbox row as a flush wrote it, with what it was before (None: a new row)."""

    id: int
    state: str
    was_state: str | None
    urgent: bool
    next_attempt_at: datetime
    sent_at: datetime | None
    was_sent_at: datetime | None
    claim_expires_at: datetime | None
    was_claim_expires_at: datetime | None


def _priority(candidate: Candidate) -> tuple[bool, datetime, int]:
    return (not candidate.urgent, candidate.next_attempt_at, candidate.id)  # as _view's ORDER BY


def revised(view: QueueView, changes: list[RowChange]) -> QueueView | None:
    """``view`` after ``changes`` were committed, or None when that cannot be told without
    reading the queue again."""
    candidates = {c.id: c for c in view.candidates}
    claims = dict(view.claims)
    last, today, removed = view.last_sent_at, view.sent_today, False
    for change in changes:
        if change.state == "queued":
            candidates[change.id] = Candidate(change.id, change.urgent, change.next_attempt_at)
        elif candidates.pop(change.id, None) is not None:
            removed = True
        if change.was_state == "sending" and (
            change.state != "sending" or change.claim_expires_at != change.was_claim_expires_at
        ):
            if (
                claims.pop(change.id, None) is None
                and view.claimed_until is not None
                and (change.was_claim_expires_at is None or change.was_claim_expires_at >= view.claimed_until)
            ):
                return None  # the claim read with the view is over: is another one still in flight?
        if change.state == "sending" and change.claim_expires_at is not None:
            claims[change.id] = change.claim_expires_at
        if change.sent_at is not None and change.was_sent_at is None:
            last = change.sent_at if last is None else max(last, change.sent_at)
            today += change.sent_at >= view.day_start
    if removed and not view.whole:
        return None  # the rows beyond the candidates were not read: which one moves up?
    ordered = sorted(candidates.values(), key=_priority)
    return replace(
        view,
        last_sent_at=last,
        sent_today=today,
        candidates=tuple(ordered[:CANDIDATES]),
        whole=view.whole and len(ordered) <= CANDIDATES,
        claims=tuple(claims.items()),
    )


_CHANGES = "qinlin_outbox_changes"  # session.info key: RowChange list, or None once it cannot be told


def _before(state: Any, key: str) -> tuple[bool, Any]:
    """(known, value) of an attribute before this flush."""
    history = state.attrs[key].history
    if history.deleted:
        return True, history.deleted[0]
    if history.unchanged:
        return True, history.unchanged[0]
    return False, None


def _row_change(row: OutboxMessage, new: bool) -> RowChange | None:
    state = inspect(row)
    now = state.dict
    if any(key not in now for key in ("id", "state", "urgent", "next_attempt_at")):
        return None
    if (now.get("last_error") or "").startswith(RATE_LIMITED_MARK):
        return None  # risk control's hold is the latest of every refused row: read again
    if new:
        if now["state"] != "queued" or now.get("sent_at") is not None:
            return None
        return RowChange(
            now["id"], "queued", None, bool(now["urgent"]), now["next_attempt_at"], None, None, None, None
        )
    befores = [_before(state, key) for key in ("state", "sent_at", "claim_expires_at", "last_error")]
    if not all(known for known, _ in befores):
        return None
    (_, was_state), (_, was_sent_at), (_, was_claim), (_, was_error) = befores
    if (was_error or "").startswith(RATE_LIMITED_MARK) or (
        was_sent_at is not None and was_sent_at != now.get("sent_at")
    ):
        return None
    return RowChange(
        now["id"],
        now["state"],
        was_state,
        bool(now["urgent"]),
        now["next_attempt_at"],
        now.get("sent_at"),
        was_sent_at,
        now.get("claim_expires_at"),
        was_claim,
    )


QUEUE = "outbox"


# Sends a "say" row (returns the transport's message id) or performs a "recall" row (returns
# None); raises TransportError when it could not.
Sender = Callable[[OutboxMessage], "str | None"]


class OutboxWorker:
    """Claims due rows one at a time; transports (sync or async) drive it."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        config: OutboxConfig,
        tz: tzinfo,
        outages: Outages | None = None,
        *,
        account: str = "",
    ) -> None:
        self.factory = factory
        self.account = account  # the WeChat account whose pacing this outbox keeps
        # who holds a claim: readable in the table (host and pid), unique per worker
        self.owner = f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.config = config
        self.pacing = Pacing(config, tz)
        self.tz = tz
        self.due = Memo(factory)
        # what a session changes in the outbox is applied to the kept view when it commits
        event.listen(factory, "after_flush", self._flushed)
        event.listen(factory, "do_orm_execute", self._bulk)
        event.listen(factory, "after_commit", self._committed)
        event.listen(factory, "after_soft_rollback", self._rolled_back)
        self.outages = outages or Outages()
        # Outcomes of sends that happened but could not be written (the database went away
        # between the send and its record). Written before anything else is sent: a row left in
        # 'sending' would be sent again after a restart.
        self._unrecorded: dict[int, Callable[[], None]] = {}
        self._unrecorded_lock = threading.Lock()
        self.in_flight: set[int] = set()  # claimed by this process, acknowledgement awaited
        # the rows as claimed (detached, as written): their outcome is written without reading them again
        self._claimed: dict[int, OutboxMessage] = {}

    # ------------------------------------------------------------ keeping the queue view

    def _untold(self, session: Session) -> None:
        """A change the view cannot follow: it is read again, now and after the commit."""
        session.info[_CHANGES] = None
        self.due.forget([QUEUE])

    def _flushed(self, session: Session, _context: object) -> None:
        rows = [
            (row, row in session.new)
            for row in (*session.new, *session.dirty)
            if isinstance(row, OutboxMessage)
        ]
        if any(isinstance(row, OutboxMessage) for row in session.deleted):
            self._untold(session)
            return
        if not rows or (_CHANGES in session.info and session.info[_CHANGES] is None):
            return
        changes = session.info.setdefault(_CHANGES, [])
        for row, new in rows:
            change = _row_change(row, new)
            if change is None:
                self._untold(session)
                return
            changes.append(change)

    def _bulk(self, state: ORMExecuteState) -> None:
        if (
            (state.is_update or state.is_delete or state.is_insert)
            and state.bind_mapper is not None
            and state.bind_mapper.class_ is OutboxMessage
        ):
            self._untold(state.session)

    def _committed(self, session: Session) -> None:
        if session.in_nested_transaction() or _CHANGES not in session.info:
            return  # a savepoint released: the transaction may still roll back
        changes = session.info.pop(_CHANGES)
        if changes is None:
            self.due.forget([QUEUE])
        elif changes:
            self.due.revise(
                QUEUE, lambda view: revised(view, changes) if isinstance(view, QueueView) else None
            )

    def _rolled_back(self, session: Session, previous: SessionTransaction) -> None:
        if _CHANGES not in session.info:
            return
        if previous.nested:
            session.info[_CHANGES] = None  # which of the changes did the savepoint take back? read again
        else:
            del session.info[_CHANGES]  # nothing was written

    # ------------------------------------------------------------ sending

    def record_outcome(self, row_id: int, now: datetime, outcome: str | TransportError | None) -> None:
        """Write what became of a claimed row; kept in memory and retried while the database is away."""
        self.in_flight.discard(row_id)
        claimed = self._claimed.pop(row_id, None)
        if isinstance(outcome, TransportError):
            error = outcome
            self._unrecorded[row_id] = lambda: self.fail(row_id, now, error)
        else:
            transport_id = outcome
            self._unrecorded[row_id] = lambda: self.complete(row_id, now, transport_id, claimed)
        self.write_unrecorded()

    def write_unrecorded(self) -> None:
        """Raises the database's error while it is still away (the outcomes stay in memory)."""
        with self._unrecorded_lock:
            for row_id, write in list(self._unrecorded.items()):
                write()
                del self._unrecorded[row_id]

    def recover(self, now: datetime, orphaned: bool = False) -> int:
        """Rows left in 'sending' whose claim has expired were claimed by a sender that died (or
        lost the database) before WeChat's acknowledgement was recorded. Whether WeChat sent them
        is known only if the puppet service echoed the message back (:meth:`note_echo`); then
        the row is sent. Otherwise each kind errs its own way (docs/faults.md):
        - a reply to someone who just wrote is dropped (marked failed): a doubled 已登记 confuses
          more than a missing one, and the record is there for /查询;
        - everything else — notice relays, reminders, files, recalls — is queued again in its
          old place: a notice twice is better than a notice lost.
        A live sender's claim is left alone: it is waiting for WeChat's acknowledgement.
        ``orphaned``: the caller holds the area's lease (bot/lease.py), so no other sender of the
        area is alive and every claim but its own is settled now, expired or not."""
        with unit_of_work(self.factory) as session:
            query = select(OutboxMessage).where(OutboxMessage.state == "sending")
            if not orphaned:
                query = query.where(
                    or_(OutboxMessage.claim_expires_at.is_(None), OutboxMessage.claim_expires_at <= now)
                )
            rows = session.scalars(query.with_for_update(skip_locked=True)).all()
            for row in rows:
                if row.id in self.in_flight or row.id in self._unrecorded:
                    continue  # ours, and WeChat is slow to answer (or the answer waits to be written)
                row.claim_expires_at = None
                if row.transport_message_id:
                    row.state, row.sent_at, row.last_error = "sent", row.sent_at or now, None
                    log.warning(
                        "outbox %s: sent before the claim of %s expired (WeChat echoed it)",
                        row.id,
                        row.claimed_by,
                    )
                elif row.action == "say" and (row.dedupe_key or "").startswith(REPLY_KEY_PREFIX):
                    row.state, row.last_error = "failed", IN_DOUBT_DROPPED
                    log.warning(
                        "outbox %s: a reply in flight when %s stopped; not sent again", row.id, row.claimed_by
                    )
                else:
                    row.state = "queued"  # next_attempt_at unchanged: it keeps its place in the queue
                    log.warning(
                        "outbox %s: the claim of %s expired unconfirmed; queued again", row.id, row.claimed_by
                    )
            if rows:
                self.due.forget([QUEUE])
            return len(rows)

    def note_echo(
        self, room_id: str | None, person_id: str | None, text: str, transport_id: str, now: datetime
    ) -> bool:
        """The puppet service echoed a message the bot sent: if its send is still unconfirmed (the
        acknowledgement is slow, or never came because the process died), it was sent."""
        with unit_of_work(self.factory) as session:
            query = select(OutboxMessage).where(
                OutboxMessage.state == "sending",
                OutboxMessage.transport_message_id.is_(None),
                OutboxMessage.action == "say",
            )
            query = (
                query.where(OutboxMessage.room_id == room_id)
                if room_id
                else query.where(OutboxMessage.room_id.is_(None), OutboxMessage.person_id == person_id)
            )
            for row in session.scalars(query.order_by(OutboxMessage.id)):
                if row.text and text.endswith(sent_text(row)):
                    row.transport_message_id = transport_id
                    row.sent_at = now
                    return True
        return False

    def _day_start(self, now: datetime) -> datetime:
        return datetime.combine(now.astimezone(self.tz).date(), time(0), self.tz)

    @staticmethod
    def _account_state() -> tuple[ScalarSelect[Any], ...]:
        """The account's pacing inputs as four indexed look-ups, to ride along in one statement
        (an aggregate over the whole table would scan it): the last send, today's count (from the
        ``day_start`` parameter), until when risk control holds the account, and until when a
        claimed send is in flight. Never correlated: they are about the account, not the row a
        claim selects beside them."""
        return (
            select(func.max(OutboxMessage.sent_at)).correlate(None).scalar_subquery(),
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.sent_at >= bindparam("day_start", type_=UTCDateTime()))
            .correlate(None)
            .scalar_subquery(),
            # WeChat's "too frequent" is about the account, not one message: until the refused
            # row's back-off is over, nothing else goes out either, urgent or not.
            select(func.max(OutboxMessage.next_attempt_at))
            .where(OutboxMessage.state == "queued", OutboxMessage.last_error.like(f"{RATE_LIMITED_MARK}%"))
            .correlate(None)
            .scalar_subquery(),
            select(func.max(OutboxMessage.claim_expires_at))
            .where(OutboxMessage.state == "sending")
            .correlate(None)
            .scalar_subquery(),
        )

    def _view(self, now: datetime) -> QueueView:
        day_start = self._day_start(now)
        hit, view = self.due.known(QUEUE)
        if hit and isinstance(view, QueueView) and view.day_start == day_start:
            return view
        version = self.due.version(QUEUE)
        with self.factory() as session:
            last, today, held_until, claimed_until = session.execute(
                _ACCOUNT_STATE, {"day_start": day_start}
            ).one()
            candidates = session.execute(
                select(OutboxMessage.id, OutboxMessage.urgent, OutboxMessage.next_attempt_at)
                .where(OutboxMessage.state == "queued")
                .order_by(OutboxMessage.urgent.desc(), OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(CANDIDATES)
            ).all()
        view = QueueView(
            day_start,
            last,
            int(today or 0),
            held_until,
            claimed_until,
            tuple(Candidate(*row) for row in candidates),
            whole=len(candidates) < CANDIDATES,
        )
        self.due.store(QUEUE, version, view)
        return view

    def next_send(self, now: datetime) -> tuple[int, datetime] | None:
        """The queued row that may go first, and when. Urgent rows go before ordinary ones."""
        self.write_unrecorded()
        view = self._view(now)
        last = view.last_sent_at
        claimed_until = view.in_flight_until()
        if claimed_until is not None and claimed_until > now:
            # another sender's message is on its way: ours goes one pacing interval after it
            last = max(last, now) if last is not None else now
        best: tuple[int, datetime] | None = None
        for row in view.candidates:
            moment = self.pacing.earliest(row, last, view.sent_today, now)
            if view.held_until is not None:
                moment = max(moment, view.held_until)
            if best is None or moment < best[1]:
                best = (row.id, moment)
            if moment <= now:
                break  # ordered by priority and age: the first one ready now wins
        return best

    def _may_send_now(
        self,
        row: OutboxMessage,
        last: datetime | None,
        today: int | None,
        held_until: datetime | None,
        claimed_until: datetime | None,
        now: datetime,
    ) -> bool:
        in_flight = claimed_until is not None and claimed_until > now  # one send at a time per account
        held = held_until is not None and held_until > now
        return not in_flight and not held and self.pacing.earliest(row, last, int(today or 0), now) <= now

    def claim(self, row_id: int, now: datetime) -> OutboxMessage | None:
        """Take a queued row for sending now, or None: another sender took it, another send of
        the account is in flight, or the pacing (read again under the account's lock: another
        sender may have sent since :meth:`next_send` looked) says not yet."""
        with unit_of_work(self.factory) as session:
            hold_for_transaction(session, f"outbox:{self.account}")
            found = session.execute(_CLAIM, {"row_id": row_id, "day_start": self._day_start(now)}).first()
            if found is not None:
                row, last, today, held_until, claimed_until = found
            if found is None or not self._may_send_now(row, last, today, held_until, claimed_until, now):
                # what next_send knew is out of date (another sender took the row, or sent, or
                # is sending): it asks the database again
                self.due.forget([QUEUE])
                return None
            row.state = "sending"
            row.attempts += 1
            row.claimed_by = self.owner
            row.claim_expires_at = now + timedelta(seconds=self.config.claim_seconds)
            recalls = row.recall_message_id or ""
            if row.action == "recall" and recalls.startswith("outbox:"):
                # queued while the message it takes back was still being sent: its id is known now
                target = session.get(OutboxMessage, int(recalls.split(":", 1)[1]))
                if target is not None and target.transport_message_id:
                    row.recall_message_id = target.transport_message_id
            session.flush()
            session.expunge(row)
            self.in_flight.add(row.id)
            self._claimed[row.id] = row
            return row

    def complete(
        self,
        row_id: int,
        now: datetime,
        transport_message_id: str | None,
        claimed: OutboxMessage | None = None,
    ) -> None:
        """Record a send. ``claimed``, the row as :meth:`claim` wrote it, saves reading it again:
        the record is one UPDATE (none when the row was deleted since, by purge)."""
        try:
            with unit_of_work(self.factory) as session:
                row = claimed
                if row is not None:
                    session.add(row)  # persistent again, as claimed: only what changes is written
                else:
                    row = session.get(OutboxMessage, row_id)
                    if row is None:
                        return
                row.state = "sent"
                row.sent_at = now
                row.claim_expires_at = None
                row.transport_message_id = transport_message_id
                row.last_error = None
        except StaleDataError:
            return  # deleted while it was being sent: nothing left to record

    def fail(self, row_id: int, now: datetime, error: TransportError) -> None:
        with unit_of_work(self.factory) as session:
            row = session.get(OutboxMessage, row_id)
            if row is None:
                return
            row.last_error = (RATE_LIMITED_MARK if isinstance(error, RateLimited) else "") + str(error)[:480]
            row.claim_expires_at = None
            if error.retry_after is None or row.attempts >= self.config.max_attempts:
                row.state = "failed"
                log.warning("outbox %s failed for good: %s", row_id, error)
                return
            backoff = error.retry_after
            if isinstance(error, RateLimited):
                # refusals in a row double the wait, whichever rows they hit: the account is what
                # WeChat is counting (the other rows still held by risk control, plus this one)
                streak = 1 + int(
                    session.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(
                            OutboxMessage.state == "queued",
                            OutboxMessage.id != row.id,
                            OutboxMessage.last_error.like(f"{RATE_LIMITED_MARK}%"),
                        )
                    )
                    or 0
                )
                backoff = error.retry_after * 2 ** (max(streak, row.attempts) - 1)
            row.state = "queued"
            row.next_attempt_at = now + timedelta(seconds=min(backoff, 3600))

    def send_one(self, row_id: int, now: datetime, sender: Sender) -> bool:
        """Claim, send and record one row. True when it was sent."""
        row = self.claim(row_id, now)
        if row is None:
            return False
        try:
            transport_id = sender(row)
        except TransportError as error:
            self.record_outcome(row_id, now, error)
            return False
        self.record_outcome(row_id, now, transport_id)
        return True

    def pending_count(self) -> int:
        with self.factory() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state.in_(("queued", "sending")))
                )
                or 0
            )


# Built once (building them cost more than running them): the queue view's account state, and
# the row a claim takes with the account state beside it, read under the row's lock.
_ACCOUNT_STATE = select(*OutboxWorker._account_state())
_CLAIM = (
    select(OutboxMessage, *OutboxWorker._account_state())
    .where(OutboxMessage.id == bindparam("row_id"), OutboxMessage.state == "queued")
    .with_for_update(skip_locked=True, of=OutboxMessage)
)
