"""Notices in chat: #通知 / #紧急通知 / #定时通知, 收到, /回执, /定时, /取消, /撤回通知."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot import permissions as allow
from bot.context import Ctx
from bot.errors import UserError
from bot.message import Outgoing, Reply
from bot.notices import EXAMPLE, ack_number, fan_out, live_notice, resolve_targets, routine_slots
from bot.outbox import Pacing
from bot.parsing.numerals import record_number
from bot.phones import has_number
from bot.router import Router
from bot.schedules import parse_when, recurrence_label
from storage.models import Notice, NoticeAck, NoticeDelivery, OutboxMessage, Room

POSTING_ROOMS = ("general", "branch", "staff")
# every kind of room a notice is delivered to: building and area rooms, and the party rooms that
# 各支部/党员 notices go to (bot/notices.py states the whole attribution rule)
ACK_ROOMS = ("building", "area", "branch", "general")


def _check_posting_room(ctx: Ctx) -> None:
    if ctx.room is not None and ctx.room.role not in POSTING_ROOMS:
        raise UserError("通知请在党总支群、党支部群、工作群或私聊中发布。")


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
    _, text = resolve_targets(ctx.session, ctx.config, arguments)
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
    if outgoing and outgoing[0].not_before is not None:
        start = ctx.config.outbox.quiet_hours.split("-")[0] if ctx.config.outbox.quiet_hours else ""
        held = (f"（{start} 前发不完，为免一半群今晚收到、一半明早收到，"
                f"将于 {outgoing[0].not_before.astimezone(ctx.config.tzinfo):%H:%M} 起统一发出）")
    if has_number(text):
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


def is_ack(ctx: Ctx) -> str | None:
    """收到 in a room where a notice is live (bot/notices.py: delivered, not recalled, within the
    window); anywhere else it is chatter and stays silent."""
    if ctx.room is None or ctx.room.role not in ACK_ROOMS:
        return None
    is_ack_text, number = ack_number(ctx.text)
    if not is_ack_text:
        return None
    window = timedelta(hours=ctx.config.notices.ack_window_hours)
    notice_id = live_notice(ctx.session, ctx.room_key, ctx.now, window, number)
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
    if row is None or row.status in ("scheduled", "cancelled", "skipped"):
        raise UserError(f"没有找到已发送的通知 N{number}。")
    counts = dict(ctx.session.execute(
        select(NoticeAck.room_id, func.count()).where(NoticeAck.notice_id == row.id).group_by(NoticeAck.room_id)
    ).all())
    if row.status == "recalled":
        return Reply(f"N{row.id} 已撤回，不再统计确认（撤回前 {sum(counts.values())} 人确认）。")
    relays = dict(ctx.session.execute(
        select(OutboxMessage.room_id, OutboxMessage.state).where(
            OutboxMessage.notice_id == row.id, OutboxMessage.dedupe_key.like(f"notice:{row.id}:%"))
    ).all())
    rooms = sorted(ctx.session.execute(
        select(Room.topic, Room.id).join(NoticeDelivery, NoticeDelivery.room_id == Room.id)
        .where(NoticeDelivery.notice_id == row.id)
    ).all())
    shown = [(topic, room_id) for topic, room_id in rooms if relays.get(room_id) == "sent"]
    waiting = [topic for topic, room_id in rooms if relays.get(room_id) in ("queued", "sending")]
    failed = [topic for topic, room_id in rooms if relays.get(room_id) == "failed"]
    confirmed = sum(counts.get(room_id, 0) for _, room_id in shown)
    lines = [f"N{row.id} 回执（共 {len(shown)} 个群，{confirmed} 人确认）："]
    lines += [f"· {topic}：{counts[room_id]} 人" for topic, room_id in shown if counts.get(room_id)]
    silent = [topic for topic, room_id in shown if not counts.get(room_id)]
    if silent:
        lines.append("无人确认：" + "、".join(silent))
    if waiting:
        lines.append("尚未发出：" + "、".join(waiting) + _quiet_hours_clause(ctx))
    if failed:
        lines.append("发送失败：" + "、".join(failed))
    return Reply("\n".join(lines))


def list_scheduled(ctx: Ctx, _: str) -> Reply:
    """/定时：查看待发送的定时通知"""
    rows = ctx.session.scalars(select(Notice).where(Notice.status == "scheduled").order_by(Notice.scheduled_for)).all()
    tz = ctx.config.tzinfo
    lines = [f"N{r.id} {recurrence_label(r.recurrence)}{r.scheduled_for.astimezone(tz):%m-%d %H:%M} {r.targets}：{r.text[:30]}"
             for r in rows if r.scheduled_for]
    text = "待发送的定时通知：\n" + "\n".join(lines) if lines else "没有待发送的定时通知。"
    routine = [f"{recurrence_label(recurrence)}{due.astimezone(tz):%m-%d %H:%M} {reminder.targets}：{reminder.text[:30]}"
               for _, reminder, recurrence, _, due in routine_slots(ctx.session, ctx.config)]
    if routine:
        text += "\n例行提示（config.yaml，不需回复收到）：\n" + "\n".join(routine)
    return Reply(text)


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


def register(router: Router) -> None:
    router.pattern("#紧急通知", r"^[#＃]\s*紧急通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15)(urgent_notice)
    router.pattern("#定时通知", r"^[#＃]\s*定时通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15)(scheduled_notice)
    router.pattern("#通知", r"^[#＃]\s*通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15)(notice)
    router.command("回执", allow=allow.party | allow.staff)(receipts)
    router.command("定时", allow=allow.party | allow.staff)(list_scheduled)
    router.command("取消", allow=allow.party | allow.staff)(cancel_scheduled)
    router.command("撤回通知", allow=allow.party | allow.staff)(recall_notice)
    router.when("收到", is_ack, priority=30)(acknowledge)
