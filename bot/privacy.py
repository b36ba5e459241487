"""What the bot may show where.

Phones are never whole in a group chat (138****1234), whoever typed them: the outbox masks
every message bound for a group other than the staff room. Free text that staff write for a
group — the note of /办结 — also loses room numbers and the names of residents other than the
reporter: staff write it with the staff room in mind, and a building group is not that room.
"""

from __future__ import annotations

import re

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from storage.models import Person, Room

# 13812345678, 138-1234-5678, 138 1234 5678
PHONE = re.compile(r"(?<!\d)(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
# 201室, 3号楼201, 3-201, 3幢1201号房: the household part becomes ***
_UNIT_AFTER_BUILDING = re.compile(
    r"(?<!\d)(\d{1,4}\s*(?:(?:号楼|幢|栋|号)\s*[-—_]?|[-—_])\s*)(\d{3,4})(\s*(?:室|号房|房)?)(?!\d)"
)
_UNIT = re.compile(r"(?<!\d)\d{3,4}(\s*(?:室|号房|房间))")


def mask_phones(text: str | None) -> str:
    """138****1234: a phone number is never shown whole in a chat."""
    if not text:
        return ""
    return PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def for_group(session: Session, room_id: str | None, text: str) -> str:
    """The text as it may appear in this room: phones masked unless it is the staff room."""
    if room_id is None or not PHONE.search(text):
        return text
    role = session.scalar(select(Room.role).where(Room.id == room_id))
    return text if role == "staff" else mask_phones(text)


def staff_note_for_residents(session: Session, note: str, reporter_name: str | None) -> str:
    """A staff member's free text as residents may read it: no phones, room numbers or the names
    of other residents (the reporter is @mentioned anyway)."""
    shown = mask_phones(note)
    shown = _UNIT.sub(r"***\1", shown)
    shown = _UNIT_AFTER_BUILDING.sub(lambda m: f"{m.group(1)}***{m.group(3)}", shown)
    names = session.scalars(
        select(Person.name)
        .where(Person.role == "resident", func.length(Person.name) >= 2)
        .where(literal(note).contains(Person.name))
        .distinct()
    )
    for name in sorted(names, key=len, reverse=True):
        if name != reporter_name:
            shown = shown.replace(name, "某居民")
    return shown
