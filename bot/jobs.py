"""Every timed job, in one place: work that falls due on the clock, with its state in our tables.

A job is a plain class with a stable ``name`` and two methods over a session (see
``bot.app.TimedJob``); :func:`default_jobs` is the list the application runs, in this order.
A new job goes here and into that list.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bot.app import Services, TimedJob
from bot.charts import write_chart
from bot.clock import WEEKDAYS
from bot.config import parse_clock_time
from bot.memo import Watches
from bot.message import Outgoing
from bot.notices import CONFIG_SENDER, READERS, fan_out, resolve_targets, routine_slots
from bot.periods import Period
from bot.reports import KIND_LABEL, OPEN_STATUSES, expire_question
from bot.rooms import rooms_with_role
from bot.schedules import next_occurrence
from bot.services.notices import lapse_held_relays
from storage.models import (
    JobRun,
    Notice,
    NoticeAck,
    NoticeDelivery,
    OutboxMessage,
    PendingQuestion,
    Report,
    Room,
)
from storage.repositories import notices as notice_rows
from storage.repositories.notices import delivered_relays

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ reports


class FollowupExpiry:
    """A question unanswered for 10 minutes: the report stays in the ledger as incomplete."""

    name = "followup-expiry"
    watches: ClassVar[Watches] = {PendingQuestion: None}

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        return session.scalar(
            select(PendingQuestion.expires_at).order_by(PendingQuestion.expires_at).limit(1)
        )

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        expired = session.scalars(select(PendingQuestion).where(PendingQuestion.expires_at <= now)).all()
        for question in expired:
            expire_question(session, question, now)
        return []


# ------------------------------------------------------------------ notices


RECALL_STATE_LABEL = {
    "withdrawn": "尚未发出，已取消",
    "too_late": "已超过{window}分钟，微信不允许撤回",
    "recalled": "已撤回",
    "refused": "微信未能撤回",
}


class RecallReports:
    """Once every recall of a notice has been tried, tell the person who asked which rooms
    still show the notice."""

    name = "recall-reports"
    watches: ClassVar[Watches] = {Notice: None, OutboxMessage: lambda row: row.action == "recall"}

    def _pending(self, session: Session) -> list[Notice]:
        return list(
            session.scalars(
                select(Notice).where(
                    Notice.recall_requested_by.is_not(None), Notice.recall_reported_at.is_(None)
                )
            )
        )

    def _recalls(self, session: Session, notice: Notice) -> dict[str, OutboxMessage]:
        rows = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.notice_id == notice.id, OutboxMessage.action == "recall"
            )
        )
        return {row.room_id or "": row for row in rows}

    def _settled(self, session: Session, notice: Notice) -> bool:
        return all(row.state in ("sent", "failed") for row in self._recalls(session, notice).values())

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        return now if any(self._settled(session, notice) for notice in self._pending(session)) else None

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        outgoing = []
        window = f"{services.config.notices.recall_window_minutes:g}"
        for notice in self._pending(session):
            if not self._settled(session, notice):
                continue
            recalls = self._recalls(session, notice)
            lines: dict[str, list[str]] = {}
            rows = session.execute(
                select(NoticeDelivery, Room.topic)
                .join(Room, Room.id == NoticeDelivery.room_id)
                .where(NoticeDelivery.notice_id == notice.id)
                .order_by(Room.topic)
            ).all()
            for delivery, topic in rows:
                recall = recalls.get(delivery.room_id)
                if delivery.recall_state == "requested" and recall is not None:
                    delivery.recall_state = "recalled" if recall.state == "sent" else "refused"
                    delivery.recalled_at = now if recall.state == "sent" else None
                label = RECALL_STATE_LABEL.get(delivery.recall_state or "", "").format(window=window)
                lines.setdefault(label, []).append(topic)
            notice.recall_reported_at = now
            still_shown = [
                topic for delivery, topic in rows if delivery.recall_state in ("too_late", "refused")
            ]
            head = f"N{notice.id} 撤回结果：" + (
                "仍显示在 " + "、".join(still_shown) + "，请在这些群里另发更正。"
                if still_shown
                else "所有群都已撤回或未发出。"
            )
            body = [f"· {label}：" + "、".join(topics) for label, topics in lines.items() if label]
            outgoing.append(
                Outgoing(
                    text="\n".join([head, *body]),
                    room_id=notice.recall_reply_room_id,
                    person_id=None if notice.recall_reply_room_id else notice.recall_requested_by,
                    urgent=True,
                    dedupe_key=f"recall-report:{notice.id}",
                )
            )
        return outgoing


class HeldRelays:
    """A relay held for its sender's 确认 N12 (bot/services/notices.py) lapses when the time to
    confirm is over, and the sender is told it did not go out."""

    name = "held-relays"
    watches: ClassVar[Watches] = {Notice: None}

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        oldest = notice_rows.oldest_held_at(session)
        return (
            None
            if oldest is None
            else oldest + timedelta(minutes=services.config.limits.relay_confirm_minutes)
        )

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        return lapse_held_relays(session, services.config, now)


class ScheduledNotices:
    """Send what is due; a send missed while the bot was down goes out if less than an hour late,
    otherwise the sender is told it was skipped."""

    name = "scheduled-notices"
    watches: ClassVar[Watches] = {Notice: None}

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        return session.scalar(select(func.min(Notice.scheduled_for)).where(Notice.status == "scheduled"))

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        config = services.config
        grace = timedelta(minutes=config.notices.missed_grace_minutes)
        outgoing: list[Outgoing] = []
        due = session.scalars(
            select(Notice).where(Notice.status == "scheduled", Notice.scheduled_for <= now)
        ).all()
        for template in due:
            moment = template.scheduled_for
            if moment is None:  # the query asked for scheduled_for <= now: never None here
                continue
            late = now - moment
            if late > grace:
                told = f"定时通知 N{template.id}（{moment.astimezone(config.tzinfo):%m-%d %H:%M}）因系统停机未能按时发送，已跳过。"
                key = f"skipped:{template.id}:{moment.isoformat()}"
                if (
                    template.sender_id == CONFIG_SENDER
                ):  # a reminder from config.yaml: nobody's chat, the staff room's
                    outgoing.extend(
                        Outgoing(text=told, room_id=room.id, dedupe_key=f"{key}:{room.id}")
                        for room in rooms_with_role(session, "staff")
                    )
                else:
                    outgoing.append(Outgoing(text=told, person_id=template.sender_id, dedupe_key=key))
            else:
                if template.recurrence:
                    sent = Notice(
                        text=template.text,
                        targets=template.targets,
                        urgent=template.urgent,
                        sender_id=template.sender_id,
                        sender_name=template.sender_name,
                        source_room_id=template.source_room_id,
                        status="sent",
                        created_at=now,
                    )
                    session.add(sent)
                    session.flush()
                else:
                    sent = template
                rows, _, _ = fan_out(session, config, sent, now)
                outgoing.extend(rows)
            if template.recurrence:
                template.scheduled_for = next_occurrence(
                    template.recurrence, max(now, moment).astimezone(config.tzinfo)
                )
                template.status = "scheduled"
            elif late > grace:
                template.status = "skipped"
        return outgoing


class SilentRoomReminders:
    """One 【提醒】 to each room a notice was delivered to where nobody confirmed within
    remind_after_hours of the delivery (bot/notices.py: what delivered means)."""

    name = "silent-room-reminders"
    # a relay leaving the outbox is a delivery: its reminder falls due from then
    watches: ClassVar[Watches] = {
        Notice: None,
        NoticeDelivery: None,
        OutboxMessage: lambda row: (row.dedupe_key or "").startswith("notice:"),
    }

    def _candidates(
        self, session: Session, services: Services, now: datetime
    ) -> list[tuple[NoticeDelivery, Notice, str | None, datetime]]:
        window = timedelta(hours=services.config.notices.ack_window_hours)
        delivered = delivered_relays()
        rows = session.execute(
            select(NoticeDelivery, Notice, Room.role, delivered.c.delivered_at)
            .join(
                delivered,
                and_(
                    delivered.c.notice_id == NoticeDelivery.notice_id,
                    delivered.c.room_id == NoticeDelivery.room_id,
                ),
            )
            .join(Notice, Notice.id == NoticeDelivery.notice_id)
            .outerjoin(Room, Room.id == NoticeDelivery.room_id)
            .where(NoticeDelivery.reminded_at.is_(None), delivered.c.delivered_at >= now - window)
        )
        return [(delivery, notice, role, at) for delivery, notice, role, at in rows]

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        after = timedelta(hours=services.config.notices.remind_after_hours)
        moments = [delivered_at + after for *_, delivered_at in self._candidates(session, services, now)]
        return min(moments) if moments else None

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        after = timedelta(hours=services.config.notices.remind_after_hours)
        outgoing = []
        for delivery, notice, role, delivered_at in self._candidates(session, services, now):
            if delivered_at + after > now:
                continue
            delivery.reminded_at = now  # due: reminded or not needed, either way never again
            acked = session.scalar(
                select(NoticeAck.id)
                .where(NoticeAck.notice_id == notice.id, NoticeAck.room_id == delivery.room_id)
                .limit(1)
            )
            if acked is None:
                outgoing.append(
                    Outgoing(
                        text=f"【提醒】N{notice.id} 通知还没有人确认：{notice.text[:60]}\n"
                        f"看到的{READERS.get(role or '', '居民')}请回复“收到”。",
                        room_id=delivery.room_id,
                        notice_id=notice.id,
                        dedupe_key=f"remind:{notice.id}:{delivery.room_id}",
                    )
                )
        return outgoing


class RoutineReminders:
    """Config reminders without ``ack: true`` (the daily 垃圾分类 times): announcements to their
    rooms, with no number, no request for 收到 and no follow-up. Each time keeps its last run in
    job_runs, so a restart neither repeats nor skips one; a time missed by more than the grace
    while the bot was down is dropped (a 垃圾分类 call at noon helps nobody)."""

    name = "routine-reminders"
    watches: ClassVar[Watches] = {JobRun: lambda row: row.job_id.startswith("reminder:")}

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        moments = [due for *_, due in routine_slots(session, services.config)]
        return min(moments) if moments else None

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        config = services.config
        grace = timedelta(minutes=config.notices.missed_grace_minutes)
        outgoing = []
        for key, reminder, _, run, due in routine_slots(session, config):
            if due > now:
                continue
            run.last_run_at = now
            if now - due > grace:
                continue
            targets, _ = resolve_targets(session, config, reminder.targets)
            for room in targets.rooms:
                outgoing.append(
                    Outgoing(
                        text=f"【提示】{reminder.text}",
                        room_id=room.id,
                        dedupe_key=f"routine:{key}:{due.isoformat()}:{room.id}",
                    )
                )
        return outgoing


# ------------------------------------------------------------------ daily digest

DIGEST_JOB_ID = "daily-digest"


class DailyDigest:
    name = DIGEST_JOB_ID
    watches: ClassVar[Watches] = {JobRun: None}

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        tz = services.config.tzinfo
        at = parse_clock_time(services.config.digest.time)
        last = session.scalar(select(JobRun).where(JobRun.job_id == DIGEST_JOB_ID))
        local = now.astimezone(tz)
        today = datetime.combine(local.date(), at, tz)
        if last is None:
            # first start: today's digest if its time is still ahead (or just passed), else tomorrow's
            return today if now <= today + timedelta(hours=1) else today + timedelta(days=1)
        last_day = last.last_run_at.astimezone(tz).date()
        return datetime.combine(last_day + timedelta(days=1), at, tz)

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        config = services.config
        tz = config.tzinfo
        local = now.astimezone(tz)
        day = local.date()
        row = session.scalar(select(JobRun).where(JobRun.job_id == DIGEST_JOB_ID))
        if row is None:
            session.add(JobRun(job_id=DIGEST_JOB_ID, last_run_at=now))
        else:
            row.last_run_at = now
        start, end = Period(day, day, "今天").bounds(tz)
        labels = services.parser.category_labels()
        by_kind = {
            kind: count
            for kind, count in session.execute(
                select(Report.kind, func.count())
                .where(Report.created_at >= start, Report.created_at < end)
                .group_by(Report.kind)
            )
        }
        by_category = session.execute(
            select(Report.category, func.count())
            .where(Report.created_at >= start, Report.created_at < end)
            .group_by(Report.category)
        ).all()
        new_open = session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.created_at >= start, Report.created_at < end, Report.status.in_(OPEN_STATUSES))
        )
        all_open = session.scalar(
            select(func.count()).select_from(Report).where(Report.status.in_(OPEN_STATUSES))
        )
        # notices delivered within the window and not recalled (bot/notices.py), by rooms where
        # nobody confirmed; relays still held by quiet hours are not silent rooms
        delivered = delivered_relays()
        silent = session.execute(
            select(delivered.c.notice_id, func.count())
            .where(
                delivered.c.delivered_at >= now - timedelta(hours=config.notices.ack_window_hours),
                delivered.c.delivered_at <= now,
                ~select(NoticeAck.id)
                .where(NoticeAck.notice_id == delivered.c.notice_id, NoticeAck.room_id == delivered.c.room_id)
                .exists(),
            )
            .group_by(delivered.c.notice_id)
            .order_by(delivered.c.notice_id)
        ).all()
        total = sum(by_kind.values())
        lines = [
            f"【日报】{config.community} {day:%m月%d日}",
            f"今日报告 {total} 条"
            + ("（" + "，".join(f"{KIND_LABEL[k]} {c}" for k, c in by_kind.items()) + "）" if total else ""),
        ]
        if by_category:
            lines.append(
                "类别："
                + "，".join(f"{labels.get(c, c)} {n}" for c, n in sorted(by_category, key=lambda x: -x[1]))
            )
        lines.append(f"今日新增待办 {new_open} 条，全部待办 {all_open} 条（/待办 查看）")
        if silent:
            lines.append("未确认的通知：" + "，".join(f"N{n}（{c} 个群无人回复）" for n, c in silent))
        weekly = WEEKDAYS[day.weekday()] == config.digest.weekly_day
        chart_path = None
        if weekly:
            week = Period(day - timedelta(days=7), day - timedelta(days=1), "上周")
            try:
                chart_path = str(
                    write_chart(session, config, week, f"{config.exports_dir}/周报图表_{day:%Y%m%d}.png")
                )
                lines.append("附上周各楼报告分布图。")
            except OSError as error:  # the digest matters more than its picture
                log.error("weekly chart not written to %s: %s", config.exports_dir, error)
                lines.append(f"（上周分布图没能保存到服务器 {config.exports_dir} 目录，请管理员检查。）")
        outgoing = []
        for room in rooms_with_role(session, "staff"):
            key = f"digest:{day.isoformat()}:{room.id}"
            outgoing.append(Outgoing(text="\n".join(lines), room_id=room.id, dedupe_key=key))
            if chart_path:  # WeChat shows a file without words: its caption is a line of its own
                outgoing.append(
                    Outgoing(
                        text=f"上周各楼报告分布图（{week.span()}）：",
                        room_id=room.id,
                        dedupe_key=key + ":chart-caption",
                    )
                )
                outgoing.append(
                    Outgoing(text="", file_path=chart_path, room_id=room.id, dedupe_key=key + ":chart")
                )
        return outgoing


def default_jobs() -> list[TimedJob]:
    """The jobs the application runs, checked in this order at every tick."""
    return [
        FollowupExpiry(),
        HeldRelays(),
        ScheduledNotices(),
        RoutineReminders(),
        SilentRoomReminders(),
        RecallReports(),
        DailyDigest(),
    ]
