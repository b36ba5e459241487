"""What the bot may show where.

Phone and ID-card numbers are never whole in a group chat (138****1234), whoever typed them and
however (bot/phones.py): the outbox masks every message bound for a group other than the staff
room — one choke point, so a new feature cannot forget it. Free text that staff write for a group
— the note of /办结 — also loses room numbers and the names of residents other than the reporter,
known to the committee or not: staff write it with the staff room in mind, and a building group
is not that room.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from bot.memo import Memo
from bot.phones import has_number, mask
from storage.models import Person, Report
from storage.repositories import people as person_rows
from storage.repositories import reports as report_rows
from storage.repositories import rooms as room_rows

# 201室, 3号楼201, 3-201, 3幢1201号房: the household part becomes ***
_UNIT_AFTER_BUILDING = re.compile(
    r"(?<!\d)(\d{1,4}\s*(?:(?:号楼|幢|栋|号)\s*[-—_]?|[-—_])\s*)(\d{3,4})(\s*(?:室|号房|房)?)(?!\d)"
)
_UNIT = re.compile(r"(?<!\d)\d{3,4}(\s*(?:室|号房|房间))")
# Names the committee does not know: 王先生, 王小明阿姨 (up to three characters before a form of
# address) and 住户王小明 (up to three after the word for a resident). Words that cannot be part
# of a name end the name: 通知王先生 is 王, 住户反映 names nobody.
_NOT_IN_NAMES = set(
    "的了和与跟向对给把被让请找问说称讲知系通联已经将为在从及或是有位名个们家楼室号门处都也还来去到提投诉报告反映要求户民主租同意需希望表示现正本自均再不没无未就才又很太上下里前后工"
)
_BEFORE_TITLE = re.compile(
    r"([\u4e00-\u9fff]{1,3})(先生|女士|小姐|阿姨|师傅|老伯|阿婆|爷爷|奶奶|大爷|大妈|叔叔|老师)"
)
_AFTER_RESIDENT_WORD = re.compile(r"(住户|居民|业主|租户|户主|老人)([\u4e00-\u9fff]{1,3})")


def _name_before_title(match: re.Match[str]) -> str:
    before = match.group(1)
    cut = max((i for i, char in enumerate(before) if char in _NOT_IN_NAMES), default=-1)
    return f"{before[: cut + 1]}某{match.group(2)}" if cut + 1 < len(before) else match.group(0)


def _name_after_resident_word(match: re.Match[str]) -> str:
    after = match.group(2)
    cut = next((i for i, char in enumerate(after) if char in _NOT_IN_NAMES), len(after))
    return f"{match.group(1)}某居民{after[cut:]}" if cut >= 2 else match.group(0)  # one character is no name


def mask_phones(text: str | None) -> str:
    """138****1234: a phone or ID number is never shown whole in a chat (bot/phones.py)."""
    return mask(text)


def for_group(session: Session, room_id: str | None, text: str) -> str:
    """The text as it may appear in this room: phones masked unless it is the staff room."""
    if room_id is None or not has_number(text):
        return text
    role = room_rows.role_of(session, room_id)
    return text if role == "staff" else mask_phones(text)


NAMES = "resident names"  # kept (bot/memo.py) until a person changes or a report names someone


def _names_someone(report: Report) -> bool:
    return bool(report.contact_name)


def _resident_names(session: Session) -> frozenset[str]:
    """Residents' names the committee knows: the roster's residents and the people 接龙 lines named."""
    return frozenset(person_rows.resident_names(session)) | frozenset(report_rows.contact_names(session))


def staff_note_for_residents(
    session: Session, note: str, reporter_name: str | None, guess_names: bool = True, memo: Memo | None = None
) -> str:
    """A staff member's free text as residents may read it: no phones, room numbers or the names
    of other residents (the reporter is @mentioned anyway). ``guess_names`` also hides what looks
    like a name beside a title (王某某阿姨, 住户张三); off for a resident's own words, where 老人摔倒了
    is no name."""
    shown = mask_phones(note)
    shown = _UNIT.sub(r"***\1", shown)
    shown = _UNIT_AFTER_BUILDING.sub(lambda m: f"{m.group(1)}***{m.group(3)}", shown)
    if memo is None:
        known = person_rows.resident_names_in(session, note)
        known |= report_rows.contact_names_in(session, note)  # the people 接龙 lines named
    else:
        known = {
            name
            for name in memo.answer(NAMES, {Person: None, Report: _names_someone}, session, _resident_names)
            if name in note
        }
    for name in sorted(known, key=len, reverse=True):
        if name != reporter_name:
            shown = shown.replace(name, "某居民")
    if not guess_names:
        return shown
    shown = _BEFORE_TITLE.sub(_name_before_title, shown)
    return _AFTER_RESIDENT_WORD.sub(_name_after_resident_word, shown)
