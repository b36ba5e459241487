"""The bot's core: one incoming message in, one unit of work, replies into the outbox.

Every transport (WeChat, replay, console, tests) calls :meth:`Bot.handle` with our own
:class:`IncomingMessage` and drives :meth:`Bot.run_due_jobs` and the outbox with its clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.binding import BIND_HINT
from bot.clock import Clock
from bot.config import Config
from bot.context import Ctx
from bot.errors import UserError
from bot.identity import ROLE_LABEL, Directory, note_contact, resolve_identity, sync_config_people
from bot.limits import SLOW_DOWN, ContactLimits, Verdict
from bot.memo import Memo
from bot.message import IncomingMessage, MessageType, Outgoing, Reply
from bot.notices import sync_config_reminders
from bot.outages import Outages
from bot.outbox import OutboxWorker, enqueue
from bot.parsing import ReportParser
from bot.rooms import RoomBook, confirm_notes, lower_unproven_rooms, rooms_with_role, see_room
from bot.router import Route, Router
from bot.spool import Spool
from bot.texts import GENERIC_FAILURE
from storage.db import check_migrated, session_factory, unavailable_reason, unit_of_work
from storage.models import IncomingRecord
from storage.scoping import adopt_unassigned_rows

log = logging.getLogger(__name__)


class TimedJob(Protocol):
    """Work that falls due on the clock: follow-up expiry, scheduled notices, reminders, digest."""

    # A job may also declare ``watches: ClassVar[Watches]``, the tables whose rows decide next_due
    # (see bot/memo.py); a job without it is asked every time. Optional, so not part of the protocol.
    name: str

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None: ...

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]: ...


@dataclass
class Services:
    """What handlers and jobs may use, built once at start-up."""

    config: Config
    clock: Clock
    factory: sessionmaker[Session]
    parser: ReportParser
    router: Router
    jobs: list[TimedJob] = field(default_factory=list)
    bot_id: str | None = None  # the bot's own WeChat id, once logged in
    memo: Memo | None = None  # answers kept until their rows change (bot/memo.py); the bot's own once built


JOB_RETRY = timedelta(minutes=10)


class DatabaseAway(Exception):
    """The database could not be used (an outage, not a bad statement): nothing was stored."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


JOB_OUTAGE_RETRY = timedelta(seconds=30)  # the database is away: try again soon, without a traceback


class Bot:
    def __init__(
        self, services: Services, outbox: OutboxWorker, spool: Spool, outages: Outages | None = None
    ) -> None:
        self.services = services
        self.outbox = outbox
        self.spool = spool
        self.outages = outages or outbox.outages
        self.job_held_until: dict[str, datetime] = {}  # a job that failed waits JOB_RETRY
        if services.memo is None:
            services.memo = Memo(services.factory)
        self.due = services.memo
        self.directory = Directory(self.due)
        self.rooms = RoomBook(self.due)
        self.always_asked: set[str] = set()  # jobs that do not say what decides their due time
        self.contacts_noted: dict[str, str] = {}  # contact id → the name the contacts table has for it
        pace = services.config.outbox.min_interval_seconds + services.config.outbox.jitter_seconds
        self.limits = ContactLimits(services.config.limits.per_contact_per_minute, timedelta(seconds=pace))
        for job in services.jobs:
            watches = getattr(job, "watches", None)
            if watches is None:
                self.always_asked.add(job.name)
            else:
                self.due.watch(job.name, watches)

    # ------------------------------------------------------------ incoming

    def _note_contact(self, session: Session, message: IncomingMessage, now: datetime) -> None:
        """Remember who has spoken (an @mention must name a real contact): a write the first time
        and after a rename, not a query per message."""
        if self.contacts_noted.get(message.sender_id) != message.sender_name:
            note_contact(session, message.sender_id, message.sender_name, now)
            self.contacts_noted[message.sender_id] = message.sender_name

    def handle(self, message: IncomingMessage) -> list[int]:
        """Handle one message; returns the ids of the outbox rows it queued. While the database
        is away the message goes to the spool instead (and so does every message after it, until
        the spool has been replayed: order is kept)."""
        if message.is_self or (self.services.bot_id and message.sender_id == self.services.bot_id):
            return []  # WeChat echoes every bot message back: answering it would loop forever
        now = self.services.clock.now()
        if len(self.spool):
            with self.spool.lock:
                queued = self.replay_spool()
                if len(self.spool):
                    self.spool.append(message, now)
                    return queued
                return queued + self._handle_at(message, now)
        return self._handle_at(message, now)

    def replay_spool(self) -> list[int]:
        """Handle what the spool holds, oldest first, each at the time it arrived; stop at the
        first message the database still cannot take. Returns the outbox rows queued."""
        queued: list[int] = []
        with self.spool.lock:
            entries = self.spool.entries()
            handled = 0
            for entry in entries:
                try:
                    queued.extend(self._handle_or_raise(entry.message, entry.received_at))
                except DatabaseAway as away:
                    self.outages.failed("intake", away.error)
                    break
                handled += 1
            if handled:
                self.spool.forget_first(handled)
                log.warning("replayed %d spooled message(s); %d still waiting", handled, len(self.spool))
        return queued

    def _handle_at(self, message: IncomingMessage, now: datetime) -> list[int]:
        try:
            return self._handle_or_raise(message, now)
        except DatabaseAway as away:
            self.outages.failed("intake", away.error)
            self.spool.append(message, now)
            return []

    def _handle_or_raise(self, message: IncomingMessage, now: datetime) -> list[int]:
        """One unit of work; raises DatabaseAway (nothing stored) when the database is unusable."""
        try:
            with unit_of_work(self.services.factory) as session:
                queued = self._handle_in(session, message, now)
        except IntegrityError as error:
            if self._already_stored(message.message_id):
                # a concurrent delivery of the same WeChat message stored it first: acted on once already
                log.info("duplicate delivery of %s ignored", message.message_id)
                return []
            # any other constraint (a handler's own) is a failure like any other: keep the message
            log.error("failed to handle message %s: %s", message.message_id, error.orig, exc_info=error)
            return self._keep_after_failure(message, now)
        except Exception as error:
            if unavailable_reason(error):
                self.limits.undo(message.sender_id, now)  # it waits in the spool: counted when handled
                raise DatabaseAway(error) from None
            log.exception("failed to handle message %s", message.message_id)
            return self._keep_after_failure(message, now)
        self.outages.recovered("intake")
        return queued

    def _already_stored(self, message_id: str) -> bool:
        with self.services.factory() as session:
            return self._already_stored_in(session, message_id)

    @staticmethod
    def _already_stored_in(session: Session, message_id: str) -> bool:
        return (
            session.scalar(select(IncomingRecord.id).where(IncomingRecord.message_id == message_id))
            is not None
        )

    def _handle_in(self, session: Session, message: IncomingMessage, now: datetime) -> list[int]:
        room = None
        outgoing: list[Outgoing] = []
        if message.room_id is not None:
            sighting = see_room(
                session, self.services.config, message.room_id, message.room_topic, now, self.rooms
            )
            room = sighting.room
            if sighting.renamed_from:
                outgoing.extend(
                    self.rename_notes(session, sighting.renamed_from, room.topic, message.message_id)
                )
            if sighting.looks_like is not None:
                outgoing.extend(confirm_notes(session, room, sighting.looks_like, message.message_id))
        self._note_contact(session, message, now)
        identity = resolve_identity(
            session, message.sender_id, message.sender_name, message.sender_alias, now, self.directory
        )
        ctx = Ctx(
            message=message,
            text=message.clean_text if message.type == MessageType.TEXT else "",
            session=session,
            config=self.services.config,
            identity=identity,
            room=room,
            now=now,
            services=self.services,
        )
        found = self.services.router.match(ctx)
        if found is not None and found[0].limited and self._already_stored_in(session, message.message_id):
            # WeChat delivers a message two or three times. Chatter and 收到 need no look (they
            # change only rows, and a repeated record fails the flush below, rolling them back),
            # but a repeat of a report or a command is refused before its handler runs: a handler
            # may write a ledger file, and each counts against the sender's per-minute limit.
            log.info("duplicate delivery of %s ignored", message.message_id)
            return []
        acted = found is not None and self._dispatch(ctx, found)
        if acted or message.type != MessageType.TEXT:
            session.add(
                IncomingRecord(
                    message_id=message.message_id,
                    room_id=message.room_id,
                    sender_id=message.sender_id,
                    sender_name=message.sender_name[:128],
                    type=message.type.value,
                    text=message.text if acted else "",
                    sent_at=message.sent_at,
                    received_at=now,
                )
            )
            session.flush()  # the unique message id is checked here, before anything is queued
        outgoing.extend(ctx.outgoing)
        return self._queue(session, outgoing, now)

    def _dispatch(self, ctx: Ctx, found: tuple[Route, Any]) -> bool:
        route, match = found
        verdict = (
            self.limits.admit(ctx.message.sender_id, ctx.now) if route.limited else Verdict(admitted=True)
        )
        slot = verdict.slot  # a fast sender's answers take turns in the outbox with everyone else's
        if not verdict.admitted:  # over the sender's limit: kept as seen, told once, not acted on
            if verdict.tell:
                ctx.outgoing.append(
                    self.reply_to(
                        ctx,
                        Reply(SLOW_DOWN.format(limit=self.limits.per_minute), mention_sender=True),
                        0,
                        slot,
                    )
                )
            return True
        if route.allow is not None and not route.allow(ctx):
            refusal = route.refusal()
            if ctx.identity.unbound_role is not None:  # never silence: say how the real one binds
                refusal += BIND_HINT.format(role=ROLE_LABEL[ctx.identity.unbound_role])
            ctx.outgoing.append(self.reply_to(ctx, Reply(refusal), 0, slot))
            return True
        try:
            with ctx.session.begin_nested():  # a user mistake undoes the handler's half-done changes
                result = route.handler(ctx, match)
        except UserError as mistake:
            result = Reply(str(mistake))
        replies = [result] if isinstance(result, (Reply, str)) else list(result or [])
        for index, reply in enumerate(replies):
            reply = Reply(reply) if isinstance(reply, str) else reply
            ctx.outgoing.append(self.reply_to(ctx, reply, index, slot))
        return True

    @staticmethod
    def reply_to(ctx: Ctx, reply: Reply, index: int, not_before: datetime | None = None) -> Outgoing:
        message = ctx.message
        room = None if reply.private else ctx.room
        private = room is None
        return Outgoing(
            text=reply.text,
            room_id=room.id if room is not None else None,
            person_id=message.sender_id if private else None,
            file_path=reply.file_path,
            mention_ids=[message.sender_id] if reply.mention_sender and not private else [],
            # An answer to someone who just wrote is interactive: it goes ahead of fan-outs and
            # is not held by quiet hours (the person is awake); pacing still applies.
            urgent=True,
            dedupe_key=f"reply:{message.message_id}:{index}",
            not_before=not_before,
        )

    def rename_notes(self, session: Session, old: str, new: str, message_id: str) -> list[Outgoing]:
        return [
            Outgoing(
                text=f"提示：群“{old}”已改名为“{new}”，绑定保持不变。",
                room_id=staff_room.id,
                dedupe_key=f"rename:{message_id}:{staff_room.id}",
            )
            for staff_room in rooms_with_role(session, "staff")
        ]

    def _queue(self, session: Session, outgoing: list[Outgoing], now: datetime) -> list[int]:
        ids = []
        for out in outgoing:
            row = enqueue(session, out, now)
            if row is not None:
                session.flush()
                ids.append(row.id)
        return ids

    def _keep_after_failure(self, message: IncomingMessage, now: datetime) -> list[int]:
        """Nothing a resident typed is lost: keep the raw message and say one generic line."""
        try:
            with unit_of_work(self.services.factory) as session:
                if session.scalar(
                    select(IncomingRecord.id).where(IncomingRecord.message_id == message.message_id)
                ):
                    return []
                session.add(
                    IncomingRecord(
                        message_id=message.message_id,
                        room_id=message.room_id,
                        sender_id=message.sender_id,
                        sender_name=message.sender_name[:128],
                        type=message.type.value,
                        text=message.text,
                        sent_at=message.sent_at,
                        received_at=now,
                    )
                )
                self._see_room_after_failure(session, message, now)
                reply = Outgoing(
                    text=GENERIC_FAILURE,
                    room_id=message.room_id,
                    person_id=None if message.room_id else message.sender_id,
                    urgent=True,  # the person is waiting, as for any reply
                    dedupe_key=f"reply:{message.message_id}:failure",
                )
                return self._queue(session, [reply], now)
        except Exception as error:
            if unavailable_reason(error):
                raise DatabaseAway(error) from None  # went away in between: spool it whole
            log.exception("could not even keep message %s", message.message_id)
            return []

    def _see_room_after_failure(self, session: Session, message: IncomingMessage, now: datetime) -> None:
        """The failed unit of work took the room's first sighting with it; without the room the
        apology would have nowhere to go (replay, console). Best effort: the apology matters more."""
        if message.room_id is None:
            return
        try:
            with session.begin_nested():
                see_room(session, self.services.config, message.room_id, message.room_topic, now)
        except Exception:
            log.exception("could not record room %s after a failure", message.room_id)

    # ------------------------------------------------------------ time

    def job_due_times(self, now: datetime) -> dict[str, datetime | None]:
        """When each job is next due: known ones from memory, the rest from the database (raises
        the database's error when it is away)."""
        due: dict[str, datetime | None] = {}
        unknown = []
        for job in self.services.jobs:
            hit, moment = self.due.known(job.name)
            if hit and job.name not in self.always_asked:
                due[job.name] = moment  # type: ignore[assignment]
            else:
                unknown.append(job)
        if unknown:
            with self.services.factory() as session:
                for job in unknown:
                    version = self.due.version(job.name)
                    due[job.name] = job.next_due(session, self.services, now)
                    self.due.store(job.name, version, due[job.name])
        for name, moment in due.items():
            held = self.job_held_until.get(name)
            if moment is not None and held is not None and held > moment:
                due[name] = held
        return due

    def next_job_due(self, now: datetime) -> datetime | None:
        moments = [m for m in self.job_due_times(now).values() if m is not None]
        return min(moments) if moments else None

    def recheck(self) -> None:
        """Ask the database again what is due: another process may have changed it."""
        self.due.recheck()
        self.outbox.due.recheck()

    def run_due_jobs(self, names: set[str] | None = None) -> list[int]:
        """Run every job (or the named ones) due at the clock's now, each in its own unit of work."""
        queued: list[int] = []
        if len(self.spool):
            # what residents wrote during an outage comes first: a follow-up answered while the
            # database was away must not be expired by the job that runs when it is back
            queued.extend(self.replay_spool())
        now = self.services.clock.now()
        try:
            expected = self.job_due_times(now) if names is None else None
        except Exception:  # the database is away: each job below asks and is held on its own
            expected = None
        for job in self.services.jobs:
            if names is not None and job.name not in names:
                continue
            held = self.job_held_until.get(job.name)
            if held is not None and held > now:
                continue
            if expected is not None and (expected[job.name] is None or expected[job.name] > now):  # type: ignore[operator]
                continue  # not due by what is known; an alarm for a named job asks the database itself
            try:
                with unit_of_work(self.services.factory) as session:
                    due = job.next_due(session, self.services, now)
                    if due is None or due > now:
                        continue
                    queued.extend(self._queue(session, job.run(session, self.services, now), now))
            except Exception as error:
                if unavailable_reason(error):
                    self.outages.failed(f"job {job.name}", error)
                    self.job_held_until[job.name] = now + JOB_OUTAGE_RETRY
                    continue
                # Still due after a failure (an unwritable exports_dir, say): without a pause the
                # alarm would ring again at once, forever. Try again later; the rest run on.
                log.exception("job %s failed; trying again in %s", job.name, JOB_RETRY)
                self.job_held_until[job.name] = now + JOB_RETRY
            else:
                self.job_held_until.pop(job.name, None)
                self.outages.recovered(f"job {job.name}")
            finally:
                # what a run leaves due is asked again, even when it wrote nothing the job watches
                self.due.forget([job.name])
        return queued


def build_bot(
    config: Config,
    engine: Engine,
    clock: Clock,
    *,
    router: Router,
    jobs: list[TimedJob],
    parser: ReportParser,
) -> Bot:
    """Assemble a bot from its parts on a migrated database. The parts come from the caller
    (``handlers.build_application`` wires the real ones), so this core never imports a handler."""
    check_migrated(
        engine
    )  # a schema change is the operator's step (`qinlin db upgrade`), never a side effect
    adopt_unassigned_rows(engine, config.area_id)
    factory = session_factory(engine, area=config.area_id)  # this area's rows only, everywhere below
    with unit_of_work(factory) as session:
        sync_config_people(session, config, clock.now())
        sync_config_reminders(session, config, clock.now())
        for note in lower_unproven_rooms(session, config, clock.now()):  # rooms bound by a name alone
            enqueue(session, note, clock.now())
    services = Services(
        config=config, clock=clock, factory=factory, parser=parser, router=router, jobs=list(jobs)
    )
    outages = Outages()
    spool = Spool(config.database.spool_path(engine.url.render_as_string(hide_password=False)))
    outbox = OutboxWorker(factory, config.outbox, config.tzinfo, outages, account=config.area_id)
    return Bot(services, outbox, spool, outages)
