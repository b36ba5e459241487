"""Notices downward: who a notice goes to, what the relayed text looks like, what counts as 收到.

Acknowledgement attribution (the rule /回执, the digest and the 【提醒】 follow-up all count by;
docs/notices.md says the same for people):

- A *notice* is what ``#通知``/``#紧急通知``/``#定时通知`` (or a config reminder with ``ack: true``)
  relays: it has a number (N12), ends with "请回复“收到”确认" and has one delivery per target room.
- A *routine reminder* (config.yaml ``reminders``, the daily 垃圾分类 times) is an announcement:
  no number, no request for 收到, never counted, never followed up.
- A notice is *delivered* to a room when its relay has left the outbox (a relay held by quiet
  hours is not delivered yet; one withdrawn before sending never is). It is *live* in that room
  from delivery until ``notices.ack_window_hours`` later, unless the notice was recalled.
- 收到 (已阅, 好的收到, 收到👌 …) counts in every room a notice is delivered to — building and
  area rooms, and the 第N党支部 and 党总支 rooms that 各支部/党员 notices go to — for the notice
  most recently delivered and live in that room. ``收到 N12`` counts for N12 if N12 is live there.
  Anything else (no live notice, the staff room, private chat) is chatter and stays silent.
- Once per person per notice; routine reminders in between change nothing.
- A delivered room with no 收到 after ``notices.remind_after_hours`` gets one 【提醒】.
- /回执 and the digest count delivered rooms of notices that were not recalled; rooms still
  waiting for the morning are named as not yet sent, never as silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.config import Config, RecurringReminder, parse_building_range
from bot.errors import UserError
from bot.identity import ROLE_LABEL
from bot.message import Outgoing
from bot.outbox import Pacing
from bot.parsing.numerals import record_number, to_int
from bot.rooms import building_rooms, rooms_with_role
from bot.schedules import next_occurrence
from storage.models import JobRun, Notice, NoticeDelivery, Room
from storage.repositories import jobs as job_rows
from storage.repositories import notices as notice_rows
from storage.repositories import people as person_rows

ACK_WORDS = ("好的收到", "收到", "已阅", "已收到", "收到了", "知道了")
_ACK = re.compile(
    r"^(?:%s)[!！。.~～👌👍🙏\s]*(?:N(?P<number>\d+))?[!！。.~～👌👍🙏\s]*$" % "|".join(ACK_WORDS)
)
_BUILDINGS = re.compile(
    r"^((?:\d+|[一二三四五六七八九十两]+)(?:\s*[-~～至]\s*\d+)?(?:\s*[、,，和及]\s*\d+(?:\s*[-~～]\s*\d+)?)*)\s*号楼"
)
_BRANCH = re.compile(r"^第\s*(\d+|[一二三四五六七八九十]+)\s*支部")
READERS = {"branch": "党员", "general": "党员"}  # who a 【提醒】 asks to confirm, by room role; else 居民
CONFIG_SENDER = "config"  # the sender id of reminders declared in config.yaml: no WeChat contact
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
            numbers = [
                str(to_int(part)) if not part.isdigit() and "-" not in part else part
                for part in spec.split(",")
                if part
            ]
            try:
                buildings.extend(
                    parse_building_range(
                        ",".join(numbers).replace("~", "-").replace("～", "-").replace("至", "-")
                    )
                )
            except ValueError:
                raise UserError(f"楼号看不懂：{building.group(0)[:20]}。{EXAMPLE}") from None
            labels.append(building.group(0).replace(" ", ""))
            rest = rest[building.end() :]
            continue
        area = next((name for name in config.areas if rest.startswith(name)), None)
        if area:
            buildings.extend(config.area_buildings(area))
            labels.append(area)
            rest = rest[len(area) :]
            continue
        branch = _BRANCH.match(rest)
        if branch:
            number = to_int(branch.group(1)) or 0
            if number not in config.branches:
                raise UserError(f"没有第{number}支部，请核对。{EXAMPLE}")
            buildings.extend(config.branch_buildings(number))
            labels.append(f"第{number}支部")
            rest = rest[branch.end() :]
            continue
        break
    for word in ("各支部", "党员"):
        if not labels and rest.startswith(word):
            rooms = rooms_with_role(session, "branch", "general")
            return Targets("各支部", rooms), rest[len(word) :].strip()
    for word in ("全体", "所有楼组"):
        if not labels and rest.startswith(word):
            rest = rest[len(word) :]
            break
    rest = rest.strip(" ：:,，")
    if not labels:
        return Targets("全体楼组", building_rooms(session)), rest
    unique = list(dict.fromkeys(buildings))
    return Targets("、".join(labels), building_rooms(session, unique)), rest


def signature(session: Session, sender_id: str, sender_name: str) -> str:
    """Who sent a notice, as the header shows it to residents: the roster name and role of the
    bound person whose id sent it — never the sender's display name, which anyone can change —
    居委会 for a reminder from config.yaml, and for someone relaying on an admin's /授权 the name
    they wrote under and that they were authorised."""
    if sender_id == CONFIG_SENDER:
        return sender_name
    person = person_rows.signer(session, sender_id)
    if person is not None:
        name, role = person
        return f"{name}（{ROLE_LABEL[role]}）"
    return f"{sender_name}（临时授权）"


def relay_text(config: Config, notice: Notice, signed: str) -> str:
    head = "【紧急通知】" if notice.urgent else "【通知】"
    return f"{head}{config.community} N{notice.id}｜{signed}\n{notice.text}\n——请回复“收到”确认"


def relay_key(notice_id: int, room_id: str) -> str:
    """The outbox key of a notice's relay to one room (one relay per room, ever)."""
    return f"notice:{notice_id}:{room_id}"


def live_notice(
    session: Session, room_id: str, now: datetime, window: timedelta, number: int | None = None
) -> int | None:
    """The notice a 收到 said in this room now counts for (see the module's rule), or None."""
    return notice_rows.last_delivered_to(session, room_id, now - window, now, number)


def fan_out(
    session: Session, config: Config, notice: Notice, now: datetime, signed: str | None = None
) -> tuple[list[Outgoing], str, int]:
    """Deliveries and outbox messages for every target room (never back into the source room)."""
    targets, _ = resolve_targets(session, config, notice.targets)
    rooms = [room for room in targets.rooms if room.id != notice.source_room_id]
    outgoing = []
    text = relay_text(config, notice, signed or signature(session, notice.sender_id, notice.sender_name))
    for room in rooms:
        session.add(NoticeDelivery(notice_id=notice.id, room_id=room.id))
        outgoing.append(
            Outgoing(
                text=text,
                room_id=room.id,
                urgent=notice.urgent,
                notice_id=notice.id,
                dedupe_key=relay_key(notice.id, room.id),
            )
        )
    held_until = _night_would_split(session, config, len(outgoing), now) if not notice.urgent else None
    for out in outgoing:
        out.not_before = held_until
    notice.sent_at = now
    notice.status = "sent"
    return outgoing, targets.label, len(rooms)


def _night_would_split(session: Session, config: Config, count: int, now: datetime) -> datetime | None:
    """When a fan-out started now would still be running as quiet hours begin, the morning it
    should all wait for instead (docs/notices.md: quiet hours never split a notice). Counted at
    the outbox's slowest pace, behind everything already queued."""
    pacing = Pacing(config.outbox, config.tzinfo)
    window = config.outbox.quiet_window()
    if window is None or count == 0 or pacing.quiet_until(now) is not None:
        return None  # no quiet hours, or already quiet: the outbox holds every relay anyway
    local = now.astimezone(config.tzinfo)
    quiet_start = datetime.combine(local.date(), window[0], config.tzinfo)
    if quiet_start <= local:
        quiet_start += timedelta(days=1)
    queued = notice_rows.relays_in(session, "queued")
    per_message = timedelta(seconds=config.outbox.min_interval_seconds + config.outbox.jitter_seconds)
    if now + per_message * (queued + count) < quiet_start:
        return None
    return pacing.quiet_until(quiet_start)


def reminder_recurrence(reminder: RecurringReminder, at: str) -> str:
    """ "daily 07:00" or "mon-fri 08:30" for one of a config reminder's times."""
    hour, minute = (int(part) for part in at.split(":"))
    days = "daily" if reminder.days == "mon-sun" else reminder.days.replace(" ", "")
    return f"{days} {hour:02d}:{minute:02d}"


def routine_keys(config: Config) -> list[tuple[str, RecurringReminder, str]]:
    """(job_runs key, reminder, recurrence) for each time of each routine (not ack) reminder."""
    return [
        (
            f"reminder:{reminder.name}:{reminder_recurrence(reminder, at)}",
            reminder,
            reminder_recurrence(reminder, at),
        )
        for reminder in config.reminders
        if not reminder.ack
        for at in reminder.times
    ]


def routine_slots(
    session: Session, config: Config
) -> list[tuple[str, RecurringReminder, str, JobRun, datetime]]:
    """Each routine reminder time with its last run and the next time it is due."""
    found = []
    for key, reminder, recurrence in routine_keys(config):
        run = job_rows.run_of(session, key)
        if run is not None:
            found.append(
                (
                    key,
                    reminder,
                    recurrence,
                    run,
                    next_occurrence(recurrence, run.last_run_at.astimezone(config.tzinfo)),
                )
            )
    return found


def sync_config_reminders(session: Session, config: Config, now: datetime) -> None:
    """Recurring reminders declared in config.yaml: routine ones start counting their times from
    now; those with ``ack: true`` become scheduled notices (sender: 居委会), numbered and confirmed."""
    for key, _, _ in routine_keys(config):
        if job_rows.run_of(session, key) is None:
            session.add(JobRun(job_id=key, last_run_at=now))
    asking = [reminder for reminder in config.reminders if reminder.ack]
    for reminder in asking:
        for at in reminder.times:
            recurrence = reminder_recurrence(reminder, at)
            key = f"config:{reminder.name}:{at}"
            row = notice_rows.by_source_message(session, key)
            if row is None:
                row = Notice(
                    sender_id=CONFIG_SENDER,
                    sender_name="居委会",
                    source_message_id=key,
                    created_at=now,
                    scheduled_for=next_occurrence(recurrence, now),
                    status="scheduled",
                )
                session.add(row)
            if row.recurrence != recurrence:  # its days or time changed in config.yaml
                row.scheduled_for = next_occurrence(recurrence, now)
            row.text, row.targets, row.recurrence = reminder.text, reminder.targets, recurrence
    known = {f"config:{r.name}:{at}" for r in asking for at in r.times}  # a routine one is no notice any more
    for row in notice_rows.scheduled_from(session, CONFIG_SENDER):
        if row.source_message_id not in known:
            row.status = "cancelled"
