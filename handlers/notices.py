"""Notices: #通知 / #紧急通知 / #定时通知, 收到, /回执, /定时, /取消, and their timed jobs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import permissions as allow
from bot.app import Services
from bot.config import Config
from bot.context import Ctx
from bot.message import Outgoing, Reply
from bot.notices import EXAMPLE, ack_number, relay_text, resolve_targets
from bot.outbox import Pacing
from bot.parsing.numerals import record_number
from bot.privacy import PHONE
from bot.errors import UserError
from bot.router import Router
from bot.schedules import next_occurrence, parse_when, recurrence_label
from storage.models import Notice, NoticeAck, NoticeDelivery, OutboxMessage, Room

POSTING_ROOMS = ("general", "branch", "staff")
ACK_ROOMS = ("building", "area")


def _check_posting_room(ctx: Ctx) -> None:
    if ctx.room is not None and ctx.room.role not in POSTING_ROOMS:
        raise UserError("通知请在党总支群、党支部群、工作群或私聊中发布。")


def fan_out(session: Session, config: Config, notice: Notice, now: datetime) -> tuple[list[Outgoing], str, int]:
    """Deliveries and outbox messages for every target room (never back into the source room)."""
    targets, _ = resolve_targets(session, config, notice.targets)
    rooms = [room for room in targets.rooms if room.id != notice.source_room_id]
    outgoing = []
    text = relay_text(config, notice)
    for room in rooms:
        session.add(NoticeDelivery(notice_id=notice.id, room_id=room.id))
        outgoing.append(
            Outgoing(text=text, room_id=room.id, urgent=notice.urgent, notice_id=notice.id,
                     dedupe_key=f"notice:{notice.id}:{room.id}")
        )
    notice.sent_at = now
    notice.status = "sent"
    return outgoing, targets.label, len(rooms)


def _quiet_hours_clause(ctx: Ctx) -> str:
    """Tell the sender when a notice posted at night will really go out (the rooms see nothing yet)."""
    quiet_end = Pacing(ctx.config.outbox, ctx.config.tzinfo).quiet_until(ctx.now)
    if quiet_end is None:
        return ""
    return f"（现在是夜间静默时段 {ctx.config.outbox.quiet_hours}，将于 {quiet_end.astimezone(ctx.config.tzinfo):%H:%M} 起发出）"


def _room_word(rooms_label: str) -> str:
    return "群" if rooms_label == "各支部" else "楼组群"


def post_notice(ctx: Ctx, arguments: str, urgent: bool) -> Reply:
    _check_posting_room(ctx)
    targets, text = resolve_targets(ctx.session, ctx.config, arguments)
    if not text:
        raise UserError(f"通知内容是空的。{EXAMPLE}")
    text = ctx.as_typed(text)
    notice = Notice(
        text=text[:2000],
        targets=arguments[: len(arguments) - len(text)].strip() or "全体",
        urgent=urgent,
        sender_id=ctx.message.sender_id,
        sender_name=ctx.message.sender_name,
        source_room_id=ctx.room.id if ctx.room else None,
        source_message_id=ctx.message.message_id,
        status="sent",
        created_at=ctx.now,
    )
    ctx.session.add(notice)
    ctx.session.flush()
    outgoing, label, count = fan_out(ctx.session, ctx.config, notice, ctx.now)
    if count == 0:
        raise UserError(f"没有找到{label}对应的群（机器人需要先在群里）。")
    for out in outgoing:
        ctx.send(out)
    held = "" if urgent else _quiet_hours_clause(ctx)
    if PHONE.search(text):
        held += "（群里的手机号会隐去中间四位，请留座机或到居委会联系）"
    return Reply(f"已排队发送 N{notice.id} 至 {count} 个{_room_word(label)}（{label}）{held}。用 /回执 N{notice.id} 查看确认情况。")


def notice(ctx: Ctx, arguments: str) -> Reply:
    """#通知 [3号楼/一片区/第2支部/各支部] 内容：转发通知到楼组群"""
    return post_notice(ctx, arguments, urgent=False)


def urgent_notice(ctx: Ctx, arguments: str) -> Reply:
    """#紧急通知 [范围] 内容：立即转发，不受夜间静默限制"""
    return post_notice(ctx, arguments, urgent=True)


def scheduled_notice(ctx: Ctx, arguments: str) -> Reply:
    """#定时通知 明天 8:00 [范围] 内容：定时发送（也可“每天 7:00”）"""
    _check_posting_room(ctx)
    when, rest = parse_when(arguments, ctx.now)
    targets, text = resolve_targets(ctx.session, ctx.config, rest)
    if not text:
        raise UserError(f"通知内容是空的。{EXAMPLE}")
    text = ctx.as_typed(text)
    row = Notice(
        text=text[:2000], targets=rest[: len(rest) - len(text)].strip() or "全体", urgent=False,
        sender_id=ctx.message.sender_id, sender_name=ctx.message.sender_name,
        source_room_id=ctx.room.id if ctx.room else None, source_message_id=ctx.message.message_id,
        status="scheduled", scheduled_for=when.first, recurrence=when.recurrence, created_at=ctx.now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    local = when.first.astimezone(ctx.config.tzinfo)
    repeat = "每天" if when.recurrence else ""
    return Reply(f"已定时 N{row.id}：{repeat}{local:%m月%d日 %H:%M}发送至{targets.label}。取消请回复 /取消 N{row.id}")


# ------------------------------------------------------------------ acknowledgements


def _latest_notice_for_room(ctx: Ctx, number: int | None) -> int | None:
    window = timedelta(hours=ctx.config.notices.ack_window_hours)
    query = (
        select(Notice.id)
        .join(NoticeDelivery, NoticeDelivery.notice_id == Notice.id)
        .where(NoticeDelivery.room_id == ctx.room_key, Notice.sent_at >= ctx.now - window, Notice.status == "sent")
    )
    if number is not None:
        query = query.where(Notice.id == number)
    return ctx.session.scalar(query.order_by(Notice.id.desc()).limit(1))


def is_ack(ctx: Ctx) -> str | None:
    """收到 in a target room with a live notice; anywhere else it is chatter and stays silent."""
    if ctx.room is None or ctx.room.role not in ACK_ROOMS:
        return None
    is_ack_text, number = ack_number(ctx.text)
    if not is_ack_text:
        return None
    notice_id = _latest_notice_for_room(ctx, number)
    if notice_id is None:
        return None
    ctx.memo["notice_id"] = notice_id
    return ""


def acknowledge(ctx: Ctx, _: str) -> None:
    """在楼组群回复“收到”确认最新通知"""
    notice_id = ctx.memo["notice_id"]
    exists = ctx.session.scalar(
        select(NoticeAck.id).where(NoticeAck.notice_id == notice_id, NoticeAck.person_id == ctx.message.sender_id)
    )
    if exists is None:
        ctx.session.add(NoticeAck(notice_id=notice_id, room_id=ctx.room_key, person_id=ctx.message.sender_id,
                                  person_name=ctx.message.sender_name[:128], at=ctx.now))
    return None  # a group of 200 people saying 收到 needs no 200 answers


def receipts(ctx: Ctx, arguments: str) -> Reply:
    """/回执 N12：查看通知在各群的确认人数"""
    number = record_number(arguments)
    if number is None:
        raise UserError("格式：/回执 N12")
    row = ctx.session.get(Notice, number)
    if row is None or row.status == "scheduled":
        raise UserError(f"没有找到已发送的通知 N{number}。")
    counts = dict(ctx.session.execute(
        select(NoticeAck.room_id, func.count()).where(NoticeAck.notice_id == row.id).group_by(NoticeAck.room_id)
    ).all())
    deliveries = ctx.session.execute(
        select(Room.topic, Room.id).join(NoticeDelivery, NoticeDelivery.room_id == Room.id)
        .where(NoticeDelivery.notice_id == row.id).order_by(Room.topic)
    ).all()
    lines = [f"N{row.id} 回执（共 {len(deliveries)} 个群，{sum(counts.values())} 人确认）："]
    lines += [f"· {topic}：{counts.get(room_id, 0)} 人" for topic, room_id in deliveries if counts.get(room_id)]
    silent = [topic for topic, room_id in deliveries if not counts.get(room_id)]
    if silent:
        lines.append("无人确认：" + "、".join(silent))
    return Reply("\n".join(lines))


def list_scheduled(ctx: Ctx, _: str) -> Reply:
    """/定时：查看待发送的定时通知"""
    rows = ctx.session.scalars(select(Notice).where(Notice.status == "scheduled").order_by(Notice.scheduled_for)).all()
    if not rows:
        return Reply("没有待发送的定时通知。")
    tz = ctx.config.tzinfo
    lines = [f"N{r.id} {recurrence_label(r.recurrence)}{r.scheduled_for.astimezone(tz):%m-%d %H:%M} {r.targets}：{r.text[:30]}"
             for r in rows if r.scheduled_for]
    return Reply("待发送的定时通知：\n" + "\n".join(lines))


def cancel_scheduled(ctx: Ctx, arguments: str) -> Reply:
    """/取消 N13：取消定时通知"""
    number = record_number(arguments)
    if number is None:
        raise UserError("格式：/取消 N13")
    row = ctx.session.get(Notice, number)
    if row is None or row.status != "scheduled":
        raise UserError(f"N{number} 不是待发送的定时通知。")
    if row.sender_id != ctx.message.sender_id and not ctx.identity.is_staff:
        raise UserError(f"抱歉，只有发布人或社工可以取消 N{number}。")
    row.status = "cancelled"
    return Reply(f"已取消 N{row.id}。")


# ------------------------------------------------------------------ recall

RECALL_STATE_LABEL = {
    "withdrawn": "尚未发出，已取消",
    "too_late": "已超过{window}分钟，微信不允许撤回",
    "recalled": "已撤回",
    "refused": "微信未能撤回",
}


def recall_notice(ctx: Ctx, arguments: str) -> Reply:
    """/撤回通知 N12：从各楼组群撤回通知（发出2分钟内）"""
    number = record_number(arguments)
    if number is None:
        raise UserError("格式：/撤回通知 N12")
    notice = ctx.session.get(Notice, number)
    if notice is None or notice.status not in ("sent", "recalled"):
        raise UserError(f"没有找到已发出的通知 N{number}（待发的定时通知请用 /取消 N{number}）。")
    if notice.sender_id != ctx.message.sender_id and not ctx.identity.is_staff:
        raise UserError(f"抱歉，只有发布人或社工可以撤回 N{number}。")
    if notice.recall_requested_by is not None:
        raise UserError(f"N{number} 已经在撤回了，结果会另行告知。")
    window = timedelta(minutes=ctx.config.notices.recall_window_minutes)
    notice.status = "recalled"
    notice.recall_requested_by = ctx.message.sender_id
    notice.recall_reply_room_id = ctx.room.id if ctx.room else None
    counts: dict[str, int] = {}
    for delivery in ctx.session.scalars(select(NoticeDelivery).where(NoticeDelivery.notice_id == notice.id)):
        relay = ctx.session.scalar(select(OutboxMessage).where(
            OutboxMessage.dedupe_key == f"notice:{notice.id}:{delivery.room_id}"))
        if relay is None or relay.state in ("queued", "failed"):
            if relay is not None and relay.state == "queued":
                relay.state = "withdrawn"  # never leaves the outbox: nothing to take back
            delivery.recall_state = "withdrawn"
        elif relay.sent_at is not None and ctx.now - relay.sent_at > window:
            delivery.recall_state = "too_late"
        else:  # sent within the window, or being sent right now: recall it as soon as it has gone
            delivery.recall_state = "requested"
            ctx.send(Outgoing(text="", room_id=delivery.room_id, urgent=True, notice_id=notice.id,
                              recall_message_id=relay.transport_message_id or f"outbox:{relay.id}",
                              dedupe_key=f"recall:{notice.id}:{delivery.room_id}"))
        counts[delivery.recall_state] = counts.get(delivery.recall_state, 0) + 1
    parts = []
    if counts.get("requested"):
        parts.append(f"{counts['requested']} 个群正在撤回")
    if counts.get("withdrawn"):
        parts.append(f"{counts['withdrawn']} 个群尚未发出，已取消")
    if counts.get("too_late"):
        minutes = f"{ctx.config.notices.recall_window_minutes:g}"
        parts.append(f"{counts['too_late']} 个群已超过{minutes}分钟，微信不允许撤回，请在这些群里另发更正")
    follow = "，结果稍后告知" if counts.get("requested") else ""
    if not counts.get("requested"):
        notice.recall_reported_at = ctx.now  # nothing is left to try: this reply is the report
    return Reply(f"N{notice.id} 撤回：" + "；".join(parts or ["没有需要撤回的群"]) + follow + "。")


class RecallReports:
    """Once every recall of a notice has been tried, tell the person who asked which rooms
    still show the notice."""

    name = "recall-reports"

    def _pending(self, session: Session) -> list[Notice]:
        return list(session.scalars(select(Notice).where(
            Notice.recall_requested_by.is_not(None), Notice.recall_reported_at.is_(None))))

    def _recalls(self, session: Session, notice: Notice) -> dict[str, OutboxMessage]:
        rows = session.scalars(select(OutboxMessage).where(
            OutboxMessage.notice_id == notice.id, OutboxMessage.action == "recall"))
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
                select(NoticeDelivery, Room.topic).join(Room, Room.id == NoticeDelivery.room_id)
                .where(NoticeDelivery.notice_id == notice.id).order_by(Room.topic)).all()
            for delivery, topic in rows:
                recall = recalls.get(delivery.room_id)
                if delivery.recall_state == "requested" and recall is not None:
                    delivery.recall_state = "recalled" if recall.state == "sent" else "refused"
                    delivery.recalled_at = now if recall.state == "sent" else None
                label = RECALL_STATE_LABEL.get(delivery.recall_state or "", "").format(window=window)
                lines.setdefault(label, []).append(topic)
            notice.recall_reported_at = now
            still_shown = [topic for delivery, topic in rows if delivery.recall_state in ("too_late", "refused")]
            head = f"N{notice.id} 撤回结果：" + ("仍显示在 " + "、".join(still_shown) + "，请在这些群里另发更正。"
                                              if still_shown else "所有群都已撤回或未发出。")
            body = [f"· {label}：" + "、".join(topics) for label, topics in lines.items() if label]
            outgoing.append(Outgoing(
                text="\n".join([head, *body]),
                room_id=notice.recall_reply_room_id,
                person_id=None if notice.recall_reply_room_id else notice.recall_requested_by,
                urgent=True, dedupe_key=f"recall-report:{notice.id}",
            ))
        return outgoing


# ------------------------------------------------------------------ timed jobs


class ScheduledNotices:
    """Send what is due; a send missed while the bot was down goes out if less than an hour late,
    otherwise the sender is told it was skipped."""

    name = "scheduled-notices"

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        return session.scalar(select(func.min(Notice.scheduled_for)).where(Notice.status == "scheduled"))

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        config = services.config
        grace = timedelta(minutes=config.notices.missed_grace_minutes)
        outgoing: list[Outgoing] = []
        due = session.scalars(select(Notice).where(Notice.status == "scheduled", Notice.scheduled_for <= now)).all()
        for template in due:
            moment = template.scheduled_for
            late = now - moment
            if late > grace:
                outgoing.append(Outgoing(
                    text=f"定时通知 N{template.id}（{moment.astimezone(config.tzinfo):%m-%d %H:%M}）因系统停机未能按时发送，已跳过。",
                    person_id=template.sender_id, dedupe_key=f"skipped:{template.id}:{moment.isoformat()}",
                ))
            else:
                if template.recurrence:
                    sent = Notice(text=template.text, targets=template.targets, urgent=template.urgent,
                                  sender_id=template.sender_id, sender_name=template.sender_name,
                                  source_room_id=template.source_room_id, status="sent", created_at=now)
                    session.add(sent)
                    session.flush()
                else:
                    sent = template
                rows, _, _ = fan_out(session, config, sent, now)
                outgoing.extend(rows)
            if template.recurrence:
                template.scheduled_for = next_occurrence(template.recurrence, max(now, moment).astimezone(config.tzinfo))
                template.status = "scheduled"
            elif late > grace:
                template.status = "skipped"
        return outgoing


class SilentRoomReminders:
    """One reminder to each target room where nobody confirmed within remind_after_hours."""

    name = "silent-room-reminders"

    def _candidates(self, session: Session, services: Services, now: datetime) -> list[tuple[NoticeDelivery, Notice]]:
        window = timedelta(hours=services.config.notices.ack_window_hours)
        return list(session.execute(
            select(NoticeDelivery, Notice).join(Notice, Notice.id == NoticeDelivery.notice_id)
            .where(NoticeDelivery.reminded_at.is_(None), Notice.status == "sent", Notice.sent_at >= now - window)
        ).all())  # type: ignore[arg-type]

    def next_due(self, session: Session, services: Services, now: datetime) -> datetime | None:
        after = timedelta(hours=services.config.notices.remind_after_hours)
        moments = [notice.sent_at + after for _, notice in self._candidates(session, services, now)]
        return min(moments) if moments else None

    def run(self, session: Session, services: Services, now: datetime) -> list[Outgoing]:
        after = timedelta(hours=services.config.notices.remind_after_hours)
        outgoing = []
        for delivery, notice in self._candidates(session, services, now):
            if notice.sent_at + after > now:
                continue
            delivery.reminded_at = now  # due: reminded or not needed, either way never again
            acked = session.scalar(select(NoticeAck.id).where(
                NoticeAck.notice_id == notice.id, NoticeAck.room_id == delivery.room_id).limit(1))
            if acked is None:
                outgoing.append(Outgoing(
                    text=f"【提醒】N{notice.id} 通知还没有人确认：{notice.text[:60]}\n看到的居民请回复“收到”。",
                    room_id=delivery.room_id, notice_id=notice.id, dedupe_key=f"remind:{notice.id}:{delivery.room_id}",
                ))
        return outgoing


def sync_config_reminders(session: Session, config: Config, now: datetime) -> None:
    """Recurring reminders declared in config.yaml become scheduled notices (sender: 居委会)."""
    for reminder in config.reminders:
        for at in reminder.times:
            hour, minute = (int(part) for part in at.split(":"))
            days = "daily" if reminder.days == "mon-sun" else reminder.days.replace(" ", "")
            recurrence = f"{days} {hour:02d}:{minute:02d}"
            key = f"config:{reminder.name}:{at}"
            row = session.scalar(select(Notice).where(Notice.source_message_id == key))
            if row is None:
                row = Notice(sender_id="config", sender_name="居委会", source_message_id=key, created_at=now,
                             scheduled_for=next_occurrence(recurrence, now), status="scheduled")
                session.add(row)
            if row.recurrence != recurrence:  # its days or time changed in config.yaml
                row.scheduled_for = next_occurrence(recurrence, now)
            row.text, row.targets, row.recurrence = reminder.text, reminder.targets, recurrence
    known = {f"config:{r.name}:{at}" for r in config.reminders for at in r.times}
    for row in session.scalars(select(Notice).where(Notice.sender_id == "config", Notice.status == "scheduled")):
        if row.source_message_id not in known:
            row.status = "cancelled"


def register(router: Router) -> None:
    router.pattern("#紧急通知", r"^[#＃]\s*紧急通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15)(urgent_notice)
    router.pattern("#定时通知", r"^[#＃]\s*定时通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15)(scheduled_notice)
    router.pattern("#通知", r"^[#＃]\s*通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15)(notice)
    router.command("回执", allow=allow.party | allow.staff)(receipts)
    router.command("定时", allow=allow.party | allow.staff)(list_scheduled)
    router.command("取消", allow=allow.party | allow.staff)(cancel_scheduled)
    router.command("撤回通知", allow=allow.party | allow.staff)(recall_notice)
    router.when("收到", is_ack, priority=30)(acknowledge)
