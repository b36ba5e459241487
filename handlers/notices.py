"""Notices in chat: #通知 / #紧急通知 / #定时通知, 收到, /回执, /定时, /取消, /撤回通知."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot import permissions as allow
from bot.context import Ctx
from bot.errors import UserError
from bot.message import Reply
from bot.notices import ack_number, live_notice, routine_slots
from bot.parsing.numerals import record_number
from bot.router import Router
from bot.schedules import recurrence_label
from bot.services import Outcome, notices
from bot.texts import usage
from storage.models import Notice, NoticeAck
from storage.repositories import notices as notice_rows

ACK_CLOCK_LEEWAY = timedelta(minutes=1)  # WeChat's clock and ours may differ by seconds

POSTING_ROOMS = ("general", "branch", "staff")
# every kind of room a notice is delivered to: building and area rooms, and the party rooms that
# 各支部/党员 notices go to (bot/notices.py states the whole attribution rule)
ACK_ROOMS = ("building", "area", "branch", "general")


def _check_posting_room(ctx: Ctx) -> None:
    if ctx.room is not None and ctx.room.role not in POSTING_ROOMS:
        raise UserError("通知请在党总支群、党支部群、工作群或私聊中发布。")


def _origin(ctx: Ctx) -> notices.Origin:
    return notices.Origin(ctx.room.id if ctx.room else None, ctx.message.message_id, ctx.as_typed)


def _replied(ctx: Ctx, done: Outcome) -> Reply:
    for out in done.outgoing:
        ctx.send(out)
    return Reply(done.text)


def post_notice(ctx: Ctx, arguments: str, urgent: bool) -> Reply:
    _check_posting_room(ctx)
    return _replied(
        ctx,
        notices.post_notice(ctx.session, ctx.config, ctx.identity, arguments, urgent, ctx.now, _origin(ctx)),
    )


def notice(ctx: Ctx, arguments: str) -> Reply:
    """#通知 [3号楼/一片区/第2支部/各支部] 内容：转发通知到楼组群"""
    return post_notice(ctx, arguments, urgent=False)


def urgent_notice(ctx: Ctx, arguments: str) -> Reply:
    """#紧急通知 [范围] 内容：立即转发，不受夜间静默限制"""
    return post_notice(ctx, arguments, urgent=True)


def scheduled_notice(ctx: Ctx, arguments: str) -> Reply:
    """#定时通知 明天 8:00 [范围] 内容：定时发送（也可“每天 7:00”）"""
    _check_posting_room(ctx)
    return _replied(
        ctx, notices.schedule_notice(ctx.session, ctx.config, ctx.identity, arguments, ctx.now, _origin(ctx))
    )


# ------------------------------------------------------------------ acknowledgements


@dataclass(frozen=True)
class Ack:
    """A 收到 that counts: for this notice."""

    notice_id: int


def is_ack(ctx: Ctx) -> Ack | None:
    """收到 in a room where a notice is live (bot/notices.py: delivered, not recalled, within the
    window); anywhere else it is chatter and stays silent."""
    if ctx.room is None or ctx.room.role not in ACK_ROOMS:
        return None
    is_ack_text, number = ack_number(ctx.text)
    if not is_ack_text:
        return None
    window = timedelta(hours=ctx.config.notices.ack_window_hours)
    # judged at the moment WeChat says it was written (a minute's leeway between WeChat's clock
    # and ours): a 收到 time-stamped before its notice arrived cannot be answering it
    written = min(ctx.now, ctx.message.sent_at + ACK_CLOCK_LEEWAY)
    notice_id = live_notice(ctx.session, ctx.room_key, written, window, number)
    if notice_id is None:
        return None
    return Ack(notice_id)


def acknowledge(ctx: Ctx, ack: Ack) -> None:
    """在楼组群回复“收到”确认最新通知"""
    notice_id = ack.notice_id
    if not notice_rows.has_acked(ctx.session, notice_id, ctx.message.sender_id):
        ctx.session.add(
            NoticeAck(
                notice_id=notice_id,
                room_id=ctx.room_key,
                person_id=ctx.message.sender_id,
                person_name=ctx.message.sender_name[:128],
                at=ctx.now,
            )
        )
    return None  # a group of 200 people saying 收到 needs no 200 answers


def receipts(ctx: Ctx, arguments: str) -> Reply:
    """/回执 N12：查看通知在各群的确认人数"""
    number = record_number(arguments)
    if number is None:
        raise UserError(usage("/回执"))
    row = ctx.session.get(Notice, number)
    if row is None or row.status in ("scheduled", "cancelled", "skipped", "held", "lapsed"):
        raise UserError(f"没有找到已发送的通知 N{number}。")
    counts = notice_rows.ack_counts(ctx.session, row.id)
    if row.status == "recalled":
        return Reply(f"N{row.id} 已撤回，不再统计确认（撤回前 {sum(counts.values())} 人确认）。")
    relays = notice_rows.relay_states(ctx.session, row.id)
    rooms = notice_rows.delivery_rooms(ctx.session, row.id)
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
        lines.append("尚未发出：" + "、".join(waiting) + notices.quiet_hours_clause(ctx.config, ctx.now))
    if failed:
        lines.append("发送失败：" + "、".join(failed))
    return Reply("\n".join(lines))


def list_scheduled(ctx: Ctx, _: str) -> Reply:
    """/定时：查看待发送的定时通知"""
    rows = notice_rows.scheduled(ctx.session)
    tz = ctx.config.tzinfo
    lines = [
        f"N{r.id} {recurrence_label(r.recurrence)}{r.scheduled_for.astimezone(tz):%m-%d %H:%M} {r.targets}：{r.text[:30]}"
        for r in rows
        if r.scheduled_for
    ]
    text = "待发送的定时通知：\n" + "\n".join(lines) if lines else "没有待发送的定时通知。"
    routine = [
        f"{recurrence_label(recurrence)}{due.astimezone(tz):%m-%d %H:%M} {reminder.targets}：{reminder.text[:30]}"
        for _, reminder, recurrence, _, due in routine_slots(ctx.session, ctx.config)
    ]
    if routine:
        text += "\n例行提示（config.yaml，不需回复收到）：\n" + "\n".join(routine)
    return Reply(text)


def confirm_relay(ctx: Ctx, arguments: str) -> Reply:
    """确认 N12：确认发往很多群的通知（在提示的时限内）"""
    number = record_number(arguments)
    if number is None:
        raise UserError(usage("确认"))
    return _replied(ctx, notices.confirm_relay(ctx.session, ctx.config, ctx.identity, number, ctx.now))


def list_held(ctx: Ctx, _: str) -> Reply:
    """/待确认：查看等待发布人确认的通知（可用 /取消 N12 取消）"""
    tz = ctx.config.tzinfo
    lines = [
        f"N{row.id} {row.sender_name} {row.created_at.astimezone(tz):%H:%M} 发往{rooms}个群（{label}）"
        f"，{notices.confirm_deadline(ctx.config, row).astimezone(tz):%H:%M} 前未确认作废：{row.text[:30]}"
        for row, rooms, label in notices.held_relays(ctx.session, ctx.config)
    ]
    return Reply(
        "等待发布人确认的通知：\n" + "\n".join(lines) + "\n不发请回复 /取消 N编号。"
        if lines
        else "没有等待确认的通知。"
    )


def cancel_scheduled(ctx: Ctx, arguments: str) -> Reply:
    """/取消 N13：取消定时通知或待确认的通知"""
    number = record_number(arguments)
    if number is None:
        raise UserError(usage("/取消"))
    return _replied(ctx, notices.cancel_scheduled(ctx.session, ctx.identity, number))


# ------------------------------------------------------------------ recall


def recall_notice(ctx: Ctx, arguments: str) -> Reply:
    """/撤回通知 N12：从各楼组群撤回通知（发出2分钟内）"""
    number = record_number(arguments)
    if number is None:
        raise UserError(usage("/撤回通知"))
    return _replied(
        ctx,
        notices.recall_notice(
            ctx.session, ctx.config, ctx.identity, number, ctx.now, ctx.room.id if ctx.room else None
        ),
    )


def register(router: Router) -> None:
    router.pattern(
        "#紧急通知", r"^[#＃]\s*紧急通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15
    )(urgent_notice)
    router.pattern(
        "#定时通知", r"^[#＃]\s*定时通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15
    )(scheduled_notice)
    router.pattern(
        "#通知", r"^[#＃]\s*通知\s*[:：]?(?P<args>.*)$", allow=allow.party | allow.staff, priority=15
    )(notice)
    router.command("回执", allow=allow.party | allow.staff)(receipts)
    router.command("定时", allow=allow.party | allow.staff)(list_scheduled)
    router.command("取消", allow=allow.party | allow.staff)(cancel_scheduled)
    router.command("撤回通知", allow=allow.party | allow.staff)(recall_notice)
    router.command("待确认", allow=allow.staff)(list_held)
    router.pattern("确认", r"^确认\s*(?P<args>[Nn]\d+)\s*$", allow=allow.party | allow.staff, priority=15)(
        confirm_relay
    )
    router.when("收到", is_ack, priority=30, limited=False)(acknowledge)  # never answered: no flood to fear
