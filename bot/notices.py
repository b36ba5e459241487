"""Notices downward: who a notice goes to, what the relayed text looks like, what counts as 收到."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config, parse_building_range
from bot.errors import UserError
from bot.message import Outgoing
from bot.parsing.numerals import record_number, to_int
from bot.rooms import building_rooms, rooms_with_role
from bot.schedules import next_occurrence
from storage.models import Notice, NoticeDelivery, Room

ACK_WORDS = ("好的收到", "收到", "已阅", "已收到", "收到了", "知道了")
_ACK = re.compile(r"^(?:%s)[!！。.~～👌👍🙏\s]*(?:N(?P<number>\d+))?[!！。.~～👌👍🙏\s]*$" % "|".join(ACK_WORDS))
_BUILDINGS = re.compile(r"^((?:\d+|[一二三四五六七八九十两]+)(?:\s*[-~～至]\s*\d+)?(?:\s*[、,，和及]\s*\d+(?:\s*[-~～]\s*\d+)?)*)\s*号楼")
_BRANCH = re.compile(r"^第\s*(\d+|[一二三四五六七八九十]+)\s*支部")
EXAMPLE = "例如：#通知 3号楼 明天上午9点停水，请提前储水。"


@dataclass(frozen=True)
class Targets:
    label: str  # as shown in receipts: "3号楼、5号楼", "全体楼组", "第2支部", "各支部"
    rooms: list[Room]


def ack_number(text: str) -> tuple[bool, int | None]:
    """Is this a 收到? And which notice did it name (收到 N12), if any."""
    match = _ACK.match(text.strip())
    if not match:
        return False, None
    if not match.group("number"):
        return True, None
    return True, record_number(match.group("number")) or 0  # 0: names no notice, stays chatter


def resolve_targets(session: Session, config: Config, text: str) -> tuple[Targets, str]:
    """Targets at the start of the text, and the text that remains. Default: every building room."""
    rest = text.strip()
    buildings: list[str] = []
    labels: list[str] = []
    while True:
        rest = rest.lstrip(" ,，、")
        building = _BUILDINGS.match(rest)
        if building:
            spec = re.sub(r"[、，和及\s]", ",", building.group(1))
            numbers = [str(to_int(part)) if not part.isdigit() and "-" not in part else part for part in spec.split(",") if part]
            try:
                buildings.extend(parse_building_range(",".join(numbers).replace("~", "-").replace("～", "-").replace("至", "-")))
            except ValueError:
                raise UserError(f"楼号看不懂：{building.group(0)[:20]}。{EXAMPLE}") from None
            labels.append(building.group(0).replace(" ", ""))
            rest = rest[building.end():]
            continue
        area = next((name for name in config.areas if rest.startswith(name)), None)
        if area:
            buildings.extend(config.area_buildings(area))
            labels.append(area)
            rest = rest[len(area):]
            continue
        branch = _BRANCH.match(rest)
        if branch:
            number = to_int(branch.group(1)) or 0
            if number not in config.branches:
                raise UserError(f"没有第{number}支部，请核对。{EXAMPLE}")
            buildings.extend(config.branch_buildings(number))
            labels.append(f"第{number}支部")
            rest = rest[branch.end():]
            continue
        break
    for word in ("各支部", "党员"):
        if not labels and rest.startswith(word):
            rooms = rooms_with_role(session, "branch", "general")
            return Targets("各支部", rooms), rest[len(word):].strip()
    for word in ("全体", "所有楼组"):
        if not labels and rest.startswith(word):
            rest = rest[len(word):]
            break
    rest = rest.strip(" ：:,，")
    if not labels:
        return Targets("全体楼组", building_rooms(session)), rest
    unique = list(dict.fromkeys(buildings))
    return Targets("、".join(labels), building_rooms(session, unique)), rest


def relay_text(config: Config, notice: Notice) -> str:
    head = "【紧急通知】" if notice.urgent else "【通知】"
    return f"{head}{config.community} N{notice.id}\n{notice.text}\n——请回复“收到”确认"


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
