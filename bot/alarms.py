"""Timed jobs on the wall clock: APScheduler rings, our tables say what is due.

What is due lives in our own rows — scheduled notices (`/定时` lists them by number, `/取消`
cancels one), config reminders, open follow-up questions, reminders to silent rooms, the digest —
and every :class:`bot.app.TimedJob` can say when it is next due. In production each job becomes
one APScheduler job with an explicit id (``qinlin:<job name>``) and a DateTrigger at that moment,
registered at start and re-armed with ``replace_existing`` after it ran and whenever a message may
have changed what is due. So a schedule made before a restart is registered again at start and
fires after it.

Why not APScheduler's SQLAlchemyJobStore: it pickles the callable and its arguments into its own
table, which cannot be listed by notice number, cancelled by `/取消`, shown in the digest, or run
by `qinlin replay` on a virtual clock. Replay and the tests drive the same jobs through
:class:`bot.transports.simulated.Simulation`; only the alarm clock differs.

Misfires: ``misfire_grace_time=None`` — APScheduler always runs a late job. The one-hour rule
of SPEC §5 is ours (``ScheduledNotices``), because a skipped notice must be told to its sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import Bot
from storage.db import unavailable_reason

log = logging.getLogger(__name__)

REARM_ID = "qinlin:rearm"
# What is due is kept in memory and updated by this process's own changes (bot/memo.py); another
# process (the web workbench, `qinlin export`) changes rows behind its back, so every few seconds
# the database is asked again. A handful of indexed queries: cheap at this pace.
RECHECK_SECONDS = 5
DEBOUNCE_SECONDS = 0.5  # a burst of 500 messages re-arms once, not 500 times


class _QuietCancel(logging.Filter):
    """At stop, asyncio cancels an alarm that was just ringing; APScheduler's executor logs that
    cancel as a job error with a traceback. It is not one: the job is due again at the next start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


logging.getLogger("apscheduler.executors.default").addFilter(_QuietCancel())


def job_id(name: str) -> str:
    return f"qinlin:{name}"


class JobAlarms:
    def __init__(self, bot: Bot, on_queued: Callable[[], None] = lambda: None) -> None:
        self.bot = bot
        self.on_queued = on_queued  # wakes the outbox pump when a job queued messages
        self.scheduler = AsyncIOScheduler(timezone=bot.services.config.tzinfo)
        self._rearm_pending = False
        self._running: set[asyncio.Future[None]] = set()  # the loop keeps only weak references

    async def start(self) -> None:
        self.scheduler.start()
        self.scheduler.add_job(
            self.recheck,
            IntervalTrigger(seconds=RECHECK_SECONDS),
            id=REARM_ID,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        await self.rearm()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def rearm(self) -> None:
        """One alarm per timed job at its next due moment; none for a job with nothing due."""
        self._rearm_pending = False
        now = self.bot.services.clock.now()
        try:
            due = await asyncio.to_thread(self.bot.job_due_times, now)
        except Exception as error:
            if not unavailable_reason(error):
                raise
            # the database is away: the alarms already armed stay; the safety re-arm tries again
            self.bot.outages.failed("alarms", error)
            return
        self.bot.outages.recovered("alarms")
        for name, moment in due.items():
            if moment is None:
                if self.scheduler.get_job(job_id(name)) is not None:
                    self.scheduler.remove_job(job_id(name))
                continue
            self.scheduler.add_job(
                self.ring,
                DateTrigger(run_date=moment),
                args=[name],
                id=job_id(name),
                name=name,
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )

    async def recheck(self) -> None:
        self.bot.recheck()
        await self.rearm()

    def poke(self) -> None:
        """Something may have changed what is due (a message was handled): re-arm soon."""
        if self._rearm_pending or not self.scheduler.running:
            return
        self._rearm_pending = True
        asyncio.get_running_loop().call_later(DEBOUNCE_SECONDS, self._rearm_later)

    def _rearm_later(self) -> None:
        task = asyncio.ensure_future(self.rearm())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def ring(self, name: str) -> None:
        try:
            queued = await asyncio.to_thread(self.bot.run_due_jobs, {name})
        except asyncio.CancelledError:
            # Stopping (SIGTERM, a start-up failure) while a job runs in its thread: the thread
            # finishes its own unit of work or rolls it back, and the job is due again at the next
            # start. Returning quietly keeps APScheduler from logging the cancel as a job error.
            log.info("stopped while job %s was running", name)
            return
        if queued:
            self.on_queued()
        await self.rearm()

    def alarms(self) -> dict[str, datetime]:
        """What is armed, by job name (for tests and the log)."""
        return {job.name: job.next_run_time for job in self.scheduler.get_jobs() if job.id != REARM_ID}
