"""The WeChat transport: the Wechaty Python SDK over a puppet service (gRPC), at the edge only.

What the SDK cannot do for us, and what this module does instead:
- It waits 60 s and retries once when the server goes away, then dies; or returns silently when
  the stream ends. So ``serve`` supervises it: the end of the event stream (watched directly)
  or an endpoint that stops answering drops the SDK instance, and a new one is started with
  back-off (1 s → 60 s).
- Messages sent while disconnected are lost. So nothing is claimed from the outbox unless we
  are logged in; the outbox (persistent) holds everything until the transport is really back.
- Handlers run concurrently in the SDK; ordering belongs to our outbox, which sends one message
  at a time.
- Every bot message is echoed back (``is_self``): dropped here and again in the core.
- Start-up failures become one line and a non-zero exit: nothing listening (at once), a wrong
  token or a TLS server (no login within ``wechaty.startup_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine

import bot.wechaty_compat  # noqa: F401 - must precede the SDK import
from bot.alarms import JobAlarms
from bot.app import Bot
from bot.clock import SystemClock
from bot.config import Config
from bot.lease import POLL_SECONDS, AreaLease
from bot.message import MAX_TOPIC, IncomingMessage, MessageType, clean_name, clean_text
from bot.outbox import RateLimited, TransportError, sent_text
from handlers import build_application
from storage.db import make_engine, unavailable_reason
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

RISK_CONTROL_WORDS = (
    "频繁",
    "frequent",
    "risk",
    "风控",
    "RESOURCE_EXHAUSTED",
)  # the service's own rate limit too
WATCHDOG_SECONDS = 2.0
# Another process (qinlin web, the CLI) may queue a message at any moment and cannot set our
# wake event: an idle pump looks at the outbox this often, so such a message goes out within it.
OUTBOX_POLL_SECONDS = 2.0


class StartupFailure(Exception):
    """Could not get a logged-in WeChat session: one line for the operator."""


def message_type(sdk_type: object) -> MessageType:
    name = getattr(sdk_type, "name", str(sdk_type)).upper()
    for key, value in (
        ("TEXT", MessageType.TEXT),
        ("IMAGE", MessageType.IMAGE),
        ("AUDIO", MessageType.VOICE),
        ("VOICE", MessageType.VOICE),
        ("VIDEO", MessageType.VIDEO),
        ("ATTACHMENT", MessageType.FILE),
        ("URL", MessageType.LINK),
        ("MINI_PROGRAM", MessageType.MINI_PROGRAM),
        ("EMOTICON", MessageType.EMOTICON),
    ):
        if key in name:
            return value
    return MessageType.OTHER


async def endpoint_reachable(endpoint: str, timeout: float = 1.5) -> bool:
    """Whether something listens at ``host:port``, asked without blocking the event loop (a
    blocking connect would hold every other task — the outbox pump, the alarms — for up to
    ``timeout``)."""
    host, _, port = endpoint.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), timeout)
    except (OSError, ValueError, asyncio.TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


class WechatyTransport:
    def __init__(self, bot: Bot, config: Config, lease: AreaLease | None = None) -> None:
        self.bot = bot
        self.config = config
        self.lease = lease  # one live process per area (bot/lease.py); None: not checked
        self.endpoint = config.puppet_endpoint() or ""
        self.token = config.puppet_token() or ""
        self.logged_in = asyncio.Event()
        self.wake = asyncio.Event()
        self.alarms = JobAlarms(bot, on_queued=self.wake.set)
        self.stopping = asyncio.Event()
        self.stream_ended = asyncio.Event()  # the current SDK instance's event stream is gone
        self.sdk: Any = None  # the current Wechaty instance (the SDK has no type information)
        self.ever_logged_in = False
        self._recover_at: datetime | None = None

    # ------------------------------------------------------------ SDK instance

    def _new_sdk(self):  # a Wechaty subclass instance
        from wechaty import Wechaty, WechatyOptions
        from wechaty_puppet import PuppetOptions

        transport = self

        class QinlinWechaty(Wechaty):
            async def on_login(self, contact) -> None:
                transport.bot.services.bot_id = contact.contact_id
                await transport._see_rooms(self)
                transport.ever_logged_in = True
                transport.logged_in.set()
                transport.wake.set()
                log.warning("logged in as %s", contact.name)

            async def on_logout(self, contact) -> None:
                transport.logged_in.clear()

            async def on_message(self, msg) -> None:
                await transport._receive(msg)

            async def on_room_join(self, room, invitees, inviter, date=None) -> None:
                await transport._see_room(room)

            async def on_room_topic(self, room, new_topic, old_topic, changer, date=None) -> None:
                room.payload = None  # the SDK keeps the old topic cached for the life of the process
                await transport._see_room(room)

            async def init_puppet(self) -> None:
                # The puppet's start() is the event stream: it returns or raises when the stream
                # ends. The SDK would then sleep 60 s and restart itself (and fail: its plugin
                # scheduler is already running). We want to know at once, so we watch it.
                await super().init_puppet()
                listen = self.puppet.start

                async def listen_and_report_end() -> None:
                    try:
                        await listen()
                    finally:
                        transport.logged_in.clear()  # hold the outbox from this moment
                        transport.stream_ended.set()

                self.puppet.start = listen_and_report_end

        # The endpoint and token go in the options; the SDK reads the environment only when they
        # are missing, so the process environment is left as the operator set it.
        options = WechatyOptions(
            puppet="wechaty-puppet-service",
            puppet_options=PuppetOptions(end_point=self.endpoint, token=self.token),
        )
        return QinlinWechaty(options)

    async def _see_rooms(self, sdk) -> None:
        for room in await sdk.Room.find_all():
            await self._see_room(room)

    async def _see_room(self, room) -> None:
        """Known rooms are bound by topic at first sight (bot.rooms.see_room); kept by id. A topic
        that looks like a staff or party room is put to the staff room for an admin to confirm."""
        from bot.outbox import enqueue
        from bot.rooms import confirm_notes, see_room
        from storage.db import unit_of_work

        try:
            await room.ready()
            topic = clean_name(await room.topic(), MAX_TOPIC)
        except Exception:  # a room the puppet cannot describe is simply not known yet
            log.exception("room %s not readable", getattr(room, "room_id", "?"))
            return
        services = self.bot.services

        def record() -> None:
            with unit_of_work(services.factory) as session:
                now = services.clock.now()
                sighting = see_room(session, services.config, room.room_id, topic, now)
                if sighting.looks_like is not None:
                    for note in confirm_notes(
                        session, sighting.room, sighting.looks_like, f"seen:{room.room_id}"
                    ):
                        enqueue(session, note, now)

        try:
            await asyncio.to_thread(record)
        except Exception as error:
            if not unavailable_reason(error):
                log.exception("could not record room %s", room.room_id)
            self.bot.outages.failed("rooms", error)

    async def _receive(self, msg) -> None:
        try:
            if msg.is_self():
                await self._note_echo(msg)
                return
            room = msg.room()
            topic = None
            if room is not None:
                await room.ready()
                topic = await room.topic()
            talker = msg.talker()
            await talker.ready()
            sent = msg.date() if hasattr(msg, "date") else None
            incoming = IncomingMessage(
                message_id=str(msg.message_id),
                sent_at=(sent if sent and sent.tzinfo else datetime.now(timezone.utc)),
                sender_id=talker.contact_id,
                sender_name=talker.name or talker.contact_id,
                text=msg.text() or "",
                room_id=room.room_id if room is not None else None,
                room_topic=topic,
                type=message_type(msg.type()),
                mention_ids=tuple(getattr(msg.payload, "mention_ids", None) or ()),
            )
        except Exception:
            log.exception("could not read an incoming message")
            return
        await asyncio.to_thread(self.bot.handle, incoming)
        self.wake.set()
        self.alarms.poke()

    async def _note_echo(self, msg) -> None:  # msg: an SDK message
        """The service echoes every message the bot sent: a send whose acknowledgement is slow (or
        never came, the process died) is known to have gone out (bot.outbox recover)."""
        room = msg.room()
        listener = msg.to() if room is None and hasattr(msg, "to") else None
        try:
            await asyncio.to_thread(
                self.bot.outbox.note_echo,
                room.room_id if room is not None else None,
                getattr(listener, "contact_id", None),
                clean_text(msg.text() or ""),
                str(msg.message_id),
                self.bot.services.clock.now(),
            )
        except Exception as error:
            self.bot.outages.failed("outbox", error)

    # ------------------------------------------------------------ sending

    async def _send(self, row: OutboxMessage) -> str | None:
        from wechaty_puppet import FileBox

        sdk = self.sdk
        if sdk is None or not self.logged_in.is_set():
            raise TransportError("not connected", retry_after=5)
        if row.action == "recall":
            await self._recall(row)
            return None
        try:
            if row.file_path:
                payload = FileBox.from_file(row.file_path)
            else:
                payload = sent_text(row)  # the SDK adds "@name" from the mention ids
            if row.room_id:
                room = sdk.Room.load(row.room_id)
                await room.ready()
                sent = (
                    await room.say(payload, row.mention_ids or None)
                    if isinstance(payload, str)
                    else await room.say(payload)
                )
            else:
                contact = sdk.Contact.load(row.person_id)
                await contact.ready()
                sent = await contact.say(payload)
        except Exception as error:  # every SDK failure becomes a retry decision
            text = str(error)
            if row.file_path and "RESOURCE_EXHAUSTED" in text:
                # the file is larger than the service takes (~3 MiB): no retry makes it smaller
                raise TransportError(
                    f"file too large for the puppet service: {text}", retry_after=None
                ) from None
            if any(word in text for word in RISK_CONTROL_WORDS):
                raise RateLimited(text, retry_after=60) from None
            raise TransportError(text or type(error).__name__, retry_after=30) from None
        return getattr(sent, "message_id", None)

    async def _recall(self, row: OutboxMessage) -> None:
        """Take back an earlier send. WeChat refuses after two minutes; the puppet then answers
        False, which is final: retrying cannot make the message younger."""
        if not row.recall_message_id or row.recall_message_id.startswith("outbox:"):
            raise TransportError("the message to recall has no WeChat id", retry_after=None)
        try:
            recalled = await self.sdk.Message.load(row.recall_message_id).recall()
        except Exception as error:  # a dropped connection is worth another try
            raise TransportError(str(error) or type(error).__name__, retry_after=30) from None
        if not recalled:
            raise TransportError("WeChat did not recall the message", retry_after=None)

    async def pump(self) -> None:
        """Send one outbox row at a time, paced by the outbox, only while logged in. The database
        may go away at any step: the pump says so once, waits (1 s, doubling to a minute) and
        picks up where it was — a send that happened is recorded before anything else goes."""
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                await self._pump_step()
            except Exception as error:
                if not unavailable_reason(error):
                    log.exception("outbox pump step failed; retrying in %.0f s", backoff)
                self.bot.outages.failed("outbox", error)
                await self._wait(self.stopping, backoff)
                backoff = min(backoff * 2, 60)
                continue
            if backoff > 1.0:
                self.bot.outages.recovered("outbox")
                backoff = 1.0

    async def _pump_step(self) -> None:
        worker = self.bot.outbox
        clock = self.bot.services.clock
        if not self.logged_in.is_set():
            await self._wait(self.logged_in, 5)
            return
        if self.lease is not None and not self.lease.held:
            await self._wait(self.stopping, POLL_SECONDS)  # the lease went with the database: hold sends
            return
        if self._recover_at is None or clock.now() >= self._recover_at:
            # claims that expired unconfirmed (a sender died mid-send): settled, not left hanging
            await asyncio.to_thread(worker.recover, clock.now())
            self._recover_at = clock.now() + timedelta(seconds=worker.config.claim_seconds)
        self.wake.clear()
        upcoming = await asyncio.to_thread(worker.next_send, clock.now())
        if upcoming is None or upcoming[1] > clock.now():
            delay = OUTBOX_POLL_SECONDS if upcoming is None else (upcoming[1] - clock.now()).total_seconds()
            await self._wait(self.wake, min(delay, OUTBOX_POLL_SECONDS))
            if not self.wake.is_set():
                # rows another process queued (the web workbench) are not known here until asked
                worker.due.recheck()
            return
        row_id = upcoming[0]
        row = await asyncio.to_thread(worker.claim, row_id, clock.now())
        if row is None:
            return
        try:
            outcome: str | TransportError | None = await self._send(row)
        except TransportError as error:
            outcome = error
        await asyncio.to_thread(worker.record_outcome, row_id, clock.now(), outcome)
        self.alarms.poke()  # a send can make a job due (the report after the last recall)

    async def replay_spool(self) -> None:
        """Messages kept while the database was away: handled as soon as it takes them again
        (a new message or a timed job also replays them first)."""
        backoff = 1.0
        while not self.stopping.is_set():
            if len(self.bot.spool):
                await asyncio.to_thread(self.bot.replay_spool)
                if not len(self.bot.spool):
                    self.wake.set()
                    self.alarms.poke()
                    backoff = 1.0
                    continue
                backoff = min(backoff * 2, 60)
            else:
                backoff = 5.0
            await self._wait(self.stopping, backoff)

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    # ------------------------------------------------------------ supervision

    async def supervise(self) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            if not await endpoint_reachable(self.endpoint):
                if not self.ever_logged_in:
                    raise StartupFailure(
                        f"nothing is listening at {self.endpoint}: is the puppet service running?"
                    )
                log.warning("puppet service at %s unreachable; retrying in %.0f s", self.endpoint, backoff)
                await self._wait(self.stopping, backoff)
                backoff = min(backoff * 2, 60)
                continue
            self.stream_ended.clear()
            self.sdk = self._new_sdk()
            started = asyncio.create_task(self.sdk.start())
            timeout = self.config.wechaty.startup_timeout_seconds
            try:
                await asyncio.wait_for(self.logged_in.wait(), timeout=timeout)
            except asyncio.TimeoutError:
                started.cancel()
                if not self.ever_logged_in:
                    raise StartupFailure(
                        f"no WeChat login within {timeout:.0f} s from {self.endpoint}: check the token "
                        "(WECHATY_PUPPET_SERVICE_TOKEN) and that the service has TLS disabled"
                    ) from None
                continue
            backoff = 1.0
            while (
                not self.stopping.is_set()
                and not self.stream_ended.is_set()
                and not started.done()
                and await endpoint_reachable(self.endpoint)
            ):
                await self._wait(self.stream_ended, WATCHDOG_SECONDS)
            self.logged_in.clear()  # hold the outbox: sends while disconnected would be lost
            if not started.done():
                started.cancel()
            try:
                await asyncio.wait_for(self.sdk.stop(), timeout=5)
            except Exception:  # a dead connection may not stop cleanly
                log.info("SDK stop after disconnect did not finish cleanly")
            if not self.stopping.is_set():
                log.warning("connection to %s lost; reconnecting", self.endpoint)

    async def _take_lease(self) -> bool:
        """Hold the area's lease before logging in to WeChat. While another live process holds
        it, say so once and stand by; take over when it goes. False: stopped while waiting."""
        assert self.lease is not None
        if await asyncio.to_thread(self.lease.try_acquire):
            return True
        holder = await asyncio.to_thread(self.lease.holder)
        print(
            f"qinlin: {self.config.community} is served by another process ({holder or 'unknown'}); "
            "standing by to take over",
            file=sys.stderr,
            flush=True,
        )
        while not self.stopping.is_set():
            await self._wait(self.stopping, POLL_SECONDS)
            try:
                taken = await asyncio.to_thread(self.lease.try_acquire)
            except Exception as error:  # the database is away: keep standing by
                self.bot.outages.failed("lease", error)
                continue
            if taken:
                log.warning("took over %s from %s", self.config.community, holder or "another process")
                return True
        return False

    async def keep_lease(self) -> None:
        """The lease lives on a database connection: if that connection is lost (the database
        restarted), sends stop until the lease is ours again — another process may have it."""
        assert self.lease is not None
        while not self.stopping.is_set():
            await self._wait(self.stopping, POLL_SECONDS)
            if self.stopping.is_set():
                return
            try:
                if not await asyncio.to_thread(self.lease.still_held):
                    if await asyncio.to_thread(self.lease.try_acquire):
                        log.warning("lease of %s taken again", self.config.community)
                        await asyncio.to_thread(self.bot.outbox.recover, self.bot.services.clock.now(), True)
                        self.wake.set()
            except Exception as error:  # the database is away: try again
                self.bot.outages.failed("lease", error)

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        if self.lease is not None:
            if not await self._take_lease():
                return 0  # stopped while standing by
            # the process that held the area is gone: whatever it had claimed is settled now
            await asyncio.to_thread(self.bot.outbox.recover, self.bot.services.clock.now(), True)
        else:
            await asyncio.to_thread(self.bot.outbox.recover, self.bot.services.clock.now())
        if len(self.bot.spool):
            log.warning("replaying %d spooled message(s) from %s", len(self.bot.spool), self.bot.spool.path)
        await self.alarms.start()
        workers = [asyncio.create_task(self.pump()), asyncio.create_task(self.replay_spool())]
        if self.lease is not None:
            workers.append(asyncio.create_task(self.keep_lease()))
        try:
            await self.supervise()
        except StartupFailure as failure:
            print(f"qinlin: {failure}", file=sys.stderr)
            return 1
        finally:
            self.alarms.shutdown()
            self.stopping.set()
            self.wake.set()
            await asyncio.gather(*workers, return_exceptions=True)
            if self.lease is not None:
                await asyncio.to_thread(self.lease.release)
        queued = await asyncio.to_thread(self.bot.outbox.pending_count)
        log.warning("stopped; %d message(s) wait in the outbox for the next start", queued)
        return 0


def run(config: Config, config_path: str, web_socket: socket.socket | None = None) -> int:
    """``qinlin run``: serve until SIGTERM; the outbox state is in the database at every step.
    With ``web_socket`` (``qinlin run --web``) the workbench is served beside the bot."""
    logging.getLogger("wechaty").setLevel(logging.WARNING)
    clock = SystemClock(config.tzinfo)
    engine = make_engine(config.database.url)
    bot = build_application(config, engine, clock)
    transport = WechatyTransport(bot, config, AreaLease(engine, config.area_id))
    return asyncio.run(_serve_with_web(transport, config, engine, clock, web_socket))


async def _serve_with_web(
    transport: WechatyTransport,
    config: Config,
    engine: Engine,
    clock: SystemClock,
    web_socket: socket.socket | None,
) -> int:
    if web_socket is None:
        return await transport.serve()
    from web.serve import serve_in_thread, server_for

    loop = asyncio.get_running_loop()

    def wake_pump() -> None:  # a page that queued a message: the pump goes at once, not at its next poll
        loop.call_soon_threadsafe(transport.wake.set)

    server = server_for(config, engine, clock, on_queued=wake_pump, factory=transport.bot.services.factory)
    thread = serve_in_thread(server, web_socket)
    try:
        return await transport.serve()
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)
