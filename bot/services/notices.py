"""Notice verbs: relay (#通知, #紧急通知), schedule (#定时通知), cancel (/取消), recall (/撤回通知).

Chat handlers and the web workbench call these with who is acting and where the request came
from, so a notice sent from the page reaches the same rooms with the same text as one from chat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.config import Config
from bot.errors import UserError
from bot.identity import Identity
from bot.message import Outgoing
from bot.notices import EXAMPLE, fan_out, resolve_targets
from bot.outbox import Pacing
from bot.phones import has_number
from bot.schedules import parse_when
from bot.services import Outcome
from bot.texts import NOTICE_NOT_YOURS
from storage.models import Notice
from storage.repositories import notices as notice_rows


@dataclass(frozen=True)
class Origin:
    """Where a notice request came from: the room (None: private chat or the workbench), the
    request's id, and how to give text back as it was typed (chat normalises with NFKC)."""

    room_id: str | None
    request_id: str
    as_typed: Callable[[str], str] = str


def quiet_hours_clause(config: Config, now: datetime) -> str:
    """Tell the sender when a notice posted at night will really go out (the rooms see nothing yet)."""
    quiet_end = Pacing(config.outbox, config.tzinfo).quiet_until(now)
    if quiet_end is None:
        return ""
    return f"（现在是夜间静默时段 {config.outbox.quiet_hours}，将于 {quiet_end.astimezone(config.tzinfo):%H:%M} 起发出）"


def _room_word(rooms_label: str) -> str:
    return "群" if rooms_label == "各支部" else "楼组群"


def _needs_confirmation(config: Config, actor: Identity, rooms: int) -> bool:
    """A relay to many rooms by anyone but staff waits for the sender's 确认 N12: a party member's
    phone in the wrong hands (or a slip of the thumb) must not reach every building at once."""
    return not (actor.is_staff or actor.is_street) and rooms > config.limits.relay_confirm_above_rooms


def _held(config: Config, notice: Notice, rooms: int, label: str) -> Outcome:
    minutes = f"{config.limits.relay_confirm_minutes:g}"
    return Outcome(
        f"N{notice.id} 将发往 {rooms} 个{_room_word(label)}（{label}），超过 "
        f"{config.limits.relay_confirm_above_rooms} 个群需要确认：请在 {minutes} 分钟内回复“确认 N{notice.id}”，"
        f"否则不发送；不发了请回复“/取消 N{notice.id}”。",
        notes={"notice_id": notice.id},
    )


def _target_rooms(
    session: Session, config: Config, targets: str, source_room_id: str | None
) -> tuple[int, str]:
    found, _ = resolve_targets(session, config, targets)
    return len([room for room in found.rooms if room.id != source_room_id]), found.label


def post_notice(
    session: Session,
    config: Config,
    actor: Identity,
    arguments: str,
    urgent: bool,
    now: datetime,
    origin: Origin,
    signed: str | None = None,
) -> Outcome:
    """#通知 [targets] text: a notice relayed to every target room through the outbox (after the
    sender's 确认 when it goes to many rooms and the sender is not staff). ``signed``: the header's
    sender when the caller knows it better than this area's roster (the street office's)."""
    _, text = resolve_targets(session, config, arguments)
    if not text:
        raise UserError(f"通知内容是空的。{EXAMPLE}")
    text = origin.as_typed(text)
    notice = Notice(
        text=text[:2000],
        targets=arguments[: len(arguments) - len(text)].strip() or "全体",
        urgent=urgent,
        sender_id=actor.wechat_id,
        sender_name=actor.name,
        source_room_id=origin.room_id,
        source_message_id=origin.request_id,
        status="sent",
        created_at=now,
    )
    session.add(notice)
    session.flush()
    rooms, label = _target_rooms(session, config, notice.targets, notice.source_room_id)
    if _needs_confirmation(config, actor, rooms):
        notice.status = "held"
        return _held(config, notice, rooms, label)
    return _relayed(session, config, notice, now, signed=signed)


def _relayed(
    session: Session,
    config: Config,
    notice: Notice,
    now: datetime,
    prefix: str = "",
    signed: str | None = None,
) -> Outcome:
    outgoing, label, count = fan_out(session, config, notice, now, signed)
    if count == 0:
        raise UserError(f"没有找到{label}对应的群（机器人需要先在群里）。")
    held = "" if notice.urgent else quiet_hours_clause(config, now)
    if outgoing and outgoing[0].not_before is not None:
        start = config.outbox.quiet_hours.split("-")[0] if config.outbox.quiet_hours else ""
        held = (
            f"（{start} 前发不完，为免一半群今晚收到、一半明早收到，"
            f"将于 {outgoing[0].not_before.astimezone(config.tzinfo):%H:%M} 起统一发出）"
        )
    if has_number(notice.text):
        held += "（群里的手机号会隐去中间四位，请留座机或到居委会联系）"
    return Outcome(
        f"{prefix}已排队发送 N{notice.id} 至 {count} 个{_room_word(label)}（{label}）{held}。用 /回执 N{notice.id} 查看确认情况。",
        outgoing,
        notes={"notice_id": notice.id},
    )


def confirm_relay(session: Session, config: Config, actor: Identity, number: int, now: datetime) -> Outcome:
    """确认 N12: the sender's yes to a relay held for confirmation (see _needs_confirmation)."""
    notice = session.get(Notice, number)
    if notice is None or notice.status not in ("held", "lapsed") or notice.sender_id != actor.wechat_id:
        raise UserError(f"N{number} 不是您待确认的通知。")
    if notice.status == "lapsed" or now > confirm_deadline(config, notice):
        raise UserError(
            f"N{number} 已超过 {config.limits.relay_confirm_minutes:g} 分钟未确认，已作废、没有发出；如仍需发送，请重新发布。"
        )
    if notice.scheduled_for is not None:
        notice.status = "scheduled"
        local = notice.scheduled_for.astimezone(config.tzinfo)
        repeat = "每天" if notice.recurrence else ""
        return Outcome(
            f"已确认 N{notice.id}：{repeat}{local:%m月%d日 %H:%M}发送。取消请回复 /取消 N{notice.id}",
            notes={"notice_id": notice.id},
        )
    return _relayed(session, config, notice, now, prefix="已确认。")


def confirm_deadline(config: Config, notice: Notice) -> datetime:
    return notice.created_at + timedelta(minutes=config.limits.relay_confirm_minutes)


def _to_sender(notice: Notice, text: str, dedupe_key: str) -> Outgoing:
    """A word to a notice's sender where they posted it: @-mentioned in that room, or privately."""
    return Outgoing(
        text=text,
        room_id=notice.source_room_id,
        person_id=None if notice.source_room_id else notice.sender_id,
        mention_ids=[notice.sender_id] if notice.source_room_id else [],
        urgent=True,
        dedupe_key=dedupe_key,
    )


def lapse_held_relays(session: Session, config: Config, now: datetime) -> list[Outgoing]:
    """Held relays whose sender did not confirm in time: void, and the sender is told where they asked."""
    outgoing = []
    for notice in notice_rows.held(session):
        if confirm_deadline(config, notice) > now:
            continue
        notice.status = "lapsed"
        outgoing.append(
            _to_sender(
                notice,
                f"N{notice.id} 没有在 {config.limits.relay_confirm_minutes:g} 分钟内确认，已作废、没有发出；如仍需发送，请重新发布。",
                dedupe_key=f"lapsed:{notice.id}",
            )
        )
    return outgoing


def held_relays(session: Session, config: Config) -> list[tuple[Notice, int, str]]:
    """Relays waiting for their sender's 确认, oldest first, with how many rooms each would reach."""
    rows = notice_rows.held(session)
    return [(row, *_target_rooms(session, config, row.targets, row.source_room_id)) for row in rows]


def schedule_notice(
    session: Session, config: Config, actor: Identity, arguments: str, now: datetime, origin: Origin
) -> Outcome:
    """#定时通知 明天 8:00 [targets] text (also 每天 7:00): kept in the database until due."""
    when, rest = parse_when(arguments, now)
    targets, text = resolve_targets(session, config, rest)
    if not text:
        raise UserError(f"通知内容是空的。{EXAMPLE}")
    text = origin.as_typed(text)
    row = Notice(
        text=text[:2000],
        targets=rest[: len(rest) - len(text)].strip() or "全体",
        urgent=False,
        sender_id=actor.wechat_id,
        sender_name=actor.name,
        source_room_id=origin.room_id,
        source_message_id=origin.request_id,
        status="scheduled",
        scheduled_for=when.first,
        recurrence=when.recurrence,
        created_at=now,
    )
    session.add(row)
    session.flush()
    rooms, label = _target_rooms(session, config, row.targets, row.source_room_id)
    if _needs_confirmation(config, actor, rooms):
        row.status = "held"
        return _held(config, row, rooms, label)
    local = when.first.astimezone(config.tzinfo)
    repeat = "每天" if when.recurrence else ""
    return Outcome(
        f"已定时 N{row.id}：{repeat}{local:%m月%d日 %H:%M}发送至{targets.label}。取消请回复 /取消 N{row.id}",
        notes={"notice_id": row.id},
    )


def cancel_scheduled(session: Session, actor: Identity, number: int) -> Outcome:
    """/取消 N13: a scheduled notice, or a relay still waiting for its sender's 确认; when staff
    cancel someone else's held relay, the sender is told where they asked."""
    row = session.get(Notice, number)
    if row is None or row.status not in ("scheduled", "held"):
        raise UserError(f"N{number} 不是待发送的定时通知或待确认的通知。")
    if row.sender_id != actor.wechat_id and not actor.is_staff:
        raise UserError(NOTICE_NOT_YOURS.format(verb="取消", number=number))
    held, row.status = row.status == "held", "cancelled"
    outgoing = []
    if held and row.sender_id != actor.wechat_id:
        outgoing.append(
            _to_sender(row, f"N{row.id} 已由{actor.name}取消，没有发出。", dedupe_key=f"cancelled:{row.id}")
        )
    return Outcome(f"已取消 N{row.id}。", outgoing)


def recall_notice(
    session: Session, config: Config, actor: Identity, number: int, now: datetime, reply_room_id: str | None
) -> Outcome:
    """/撤回通知: take the notice back from every room still inside WeChat's window; what is still
    queued never leaves. The result report goes to ``reply_room_id`` (None: the actor privately)."""
    notice = session.get(Notice, number)
    if notice is None or notice.status not in ("sent", "recalled"):
        raise UserError(f"没有找到已发出的通知 N{number}（待发的定时通知请用 /取消 N{number}）。")
    if notice.sender_id != actor.wechat_id and not actor.is_staff:
        raise UserError(NOTICE_NOT_YOURS.format(verb="撤回", number=number))
    if notice.recall_requested_by is not None:
        raise UserError(f"N{number} 已经在撤回了，结果会另行告知。")
    window = timedelta(minutes=config.notices.recall_window_minutes)
    notice.status = "recalled"
    notice.recall_requested_by = actor.wechat_id
    notice.recall_reply_room_id = reply_room_id
    counts: dict[str, int] = {}
    outgoing = []
    for delivery in notice_rows.deliveries(session, notice.id):
        relay = notice_rows.relay_of(session, delivery)
        if relay is None or relay.state in ("queued", "failed"):
            if relay is not None and relay.state == "queued":
                relay.state = "withdrawn"  # never leaves the outbox: nothing to take back
            delivery.recall_state = "withdrawn"
        elif relay.sent_at is not None and now - relay.sent_at > window:
            delivery.recall_state = "too_late"
        else:  # sent within the window, or being sent right now: recall it as soon as it has gone
            delivery.recall_state = "requested"
            outgoing.append(
                Outgoing(
                    text="",
                    room_id=delivery.room_id,
                    urgent=True,
                    notice_id=notice.id,
                    recall_message_id=relay.transport_message_id or f"outbox:{relay.id}",
                    dedupe_key=f"recall:{notice.id}:{delivery.room_id}",
                )
            )
        counts[delivery.recall_state] = counts.get(delivery.recall_state, 0) + 1
    parts = []
    if counts.get("requested"):
        parts.append(f"{counts['requested']} 个群正在撤回")
    if counts.get("withdrawn"):
        parts.append(f"{counts['withdrawn']} 个群尚未发出，已取消")
    if counts.get("too_late"):
        minutes = f"{config.notices.recall_window_minutes:g}"
        parts.append(f"{counts['too_late']} 个群已超过{minutes}分钟，微信不允许撤回，请在这些群里另发更正")
    follow = "，结果稍后告知" if counts.get("requested") else ""
    if not counts.get("requested"):
        notice.recall_reported_at = now  # nothing is left to try: this reply is the report
    return Outcome(
        f"N{notice.id} 撤回：" + "；".join(parts or ["没有需要撤回的群"]) + follow + "。", outgoing
    )
