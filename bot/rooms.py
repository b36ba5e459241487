"""Rooms the bot has seen, and their binding to a role: by topic rule (building and area rooms),
by a config entry naming the room's id, or by a bound admin's /绑定."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from bot.config import Config, RoomRule, parse_building_range
from bot.memo import Memo
from bot.message import Outgoing
from bot.parsing.numerals import to_int
from storage.models import Room
from storage.repositories import rooms as room_rows

ROOM_ROLE_LABEL = {
    "general": "党总支群",
    "branch": "党支部群",
    "building": "楼组群",
    "area": "片区群",
    "staff": "工作群",
}


@dataclass(frozen=True)
class Binding:
    role: str
    branch: int | None = None
    buildings: tuple[str, ...] = ()
    area: str | None = None


# A staff or party room receives the daily digest, names and phones, and notices before the
# residents: only a bound admin's /绑定 or a config entry naming the room's id makes one.
PROVEN_ROOM_ROLES = ("general", "branch", "staff")
BIND_COMMAND = {"general": "/绑定 党总支", "staff": "/绑定 工作群"}


def _binding(config: Config, rule: RoomRule, groups: dict[str, str], topic: str) -> Binding:
    branch = rule.branch
    if groups.get("branch"):
        branch = to_int(groups["branch"])
    buildings: tuple[str, ...] = ()
    if rule.buildings:
        buildings = tuple(parse_building_range(rule.buildings))
    elif groups.get("building"):
        number = to_int(groups["building"])
        buildings = (str(number),) if number is not None else ()
    area = rule.area or groups.get("area")
    if rule.role == "area" and area is None:
        area = next((name for name in config.areas if name in topic), None)
    if rule.role == "branch" and branch is not None and not buildings:
        buildings = tuple(config.branch_buildings(branch))
    if rule.role == "area" and area and not buildings:
        buildings = tuple(config.area_buildings(area))
    return Binding(rule.role, branch, buildings, area)


def binding_from_topic(config: Config, topic: str) -> Binding | None:
    """First matching topic rule wins (config.yaml order)."""
    for rule in config.rooms:
        found = re.search(rule.topic, topic or "") if rule.topic is not None else None
        if found:
            return _binding(config, rule, found.groupdict(), topic or "")
    return None


def binding_for_id(config: Config, room_id: str) -> Binding | None:
    rule = next((rule for rule in config.rooms if rule.id is not None and rule.id == room_id), None)
    return _binding(config, rule, {}, "") if rule is not None else None


def bind_command(binding: Binding) -> str:
    return BIND_COMMAND.get(binding.role) or f"/绑定 第{binding.branch}支部"


def apply_binding(room: Room, binding: Binding, bound_by: str, now: datetime) -> None:
    room.role = binding.role
    room.branch = binding.branch
    room.buildings = ",".join(binding.buildings) or None
    room.area = binding.area
    room.bound_by = bound_by
    room.updated_at = now


def _same(room: Room, binding: Binding) -> bool:
    return (room.role, room.branch, room.buildings, room.area) == (
        binding.role,
        binding.branch,
        ",".join(binding.buildings) or None,
        binding.area,
    )


@dataclass(frozen=True)
class RoomSighting:
    room: Room
    renamed_from: str | None  # the old topic when a bound room was renamed
    is_new: bool
    looks_like: Binding | None = (
        None  # a topic that would make a staff or party room: for an admin to confirm
    )


def _bind_by_topic(room: Room, config: Config, now: datetime) -> Binding | None:
    """Bind a building or area room by its topic; a staff or party binding is only returned."""
    binding = binding_from_topic(config, room.topic)
    if binding is None:
        return None
    if binding.role in PROVEN_ROOM_ROLES:
        return binding
    apply_binding(room, binding, "config", now)
    return None


class RoomBook:
    """Every room of the area, read once and kept (detached) until a room row changes
    (bot/memo.py): each message names its room, and a room is nearly never new or renamed."""

    KEY = "rooms"

    def __init__(self, memo: Memo) -> None:
        self.memo = memo

    def get(self, session: Session, room_id: str) -> Room | None:
        """The room as a row of ``session`` (changes to it are written), without a statement
        while the kept rooms are still good."""
        kept: dict[str, dict[str, Any]] = self.memo.answer(
            self.KEY, {Room: None}, session, room_rows.every_room_as_values
        )
        values = kept.get(room_id)
        if values is None:
            return session.get(Room, room_id)  # new since the rooms were read, or in this transaction
        present = session.identity_map.get(identity_key(Room, room_id))
        if present is not None:
            return present
        room = Room(**values)
        make_transient_to_detached(room)  # a row as read: only what changes on it is written
        session.add(room)
        return room


def see_room(
    session: Session,
    config: Config,
    room_id: str,
    topic: str | None,
    now: datetime,
    book: RoomBook | None = None,
) -> RoomSighting:
    """Record a room the bot has seen. A config entry naming its id binds it; otherwise a topic
    rule may bind a new or still unbound room as a building or area room. A bound room keeps its
    binding when renamed (it is keyed by id), and a rename never raises a room's role; the caller
    tells staff about a rename and about a topic that looks like a staff or party room."""
    room = book.get(session, room_id) if book is not None else session.get(Room, room_id)
    by_id = binding_for_id(config, room_id)
    if room is None:
        room = Room(id=room_id, topic=topic or "", first_seen_at=now, updated_at=now)
        looks_like = None
        if by_id is not None:
            apply_binding(room, by_id, "config", now)
        else:
            looks_like = _bind_by_topic(room, config, now)
        try:
            with session.begin_nested():  # another worker may be seeing this new room at the same moment
                session.add(room)
        except IntegrityError:
            # it stored the room first: this message goes on with that row, as for any known room
            return see_room(session, config, room_id, topic, now)
        return RoomSighting(room, None, True, looks_like)
    if by_id is not None and not _same(room, by_id):  # config.yaml wins, as it does for people
        apply_binding(room, by_id, "config", now)
    renamed_from = None
    looks_like = None
    if topic and topic != room.topic:
        renamed_from = room.topic
        room.topic = topic
        room.updated_at = now
        if room.role is None:  # an unbound room may match a building or area rule under its new name
            looks_like = _bind_by_topic(room, config, now)
            renamed_from = None
    return RoomSighting(room, renamed_from if room.role else None, False, looks_like)


def confirm_notes(session: Session, room: Room, looks_like: Binding, key: str) -> list[Outgoing]:
    """Tell the staff room about a group whose name looks like a staff or party room: an admin
    confirms it there with /绑定, or leaves it an ordinary group."""
    label = ROOM_ROLE_LABEL[looks_like.role]
    text = (
        f"提示：新群“{room.topic}”的名字像{label}，但群名谁都能改，所以没有自动绑定。"
        f"如果它确实是{label}，请管理员在该群里发送 {bind_command(looks_like)}。"
    )
    return [
        Outgoing(text=text, room_id=staff.id, dedupe_key=f"looks-like:{key}:{staff.id}")
        for staff in rooms_with_role(session, "staff")
        if staff.id != room.id
    ]


def lower_unproven_rooms(session: Session, config: Config, now: datetime) -> list[Outgoing]:
    """Staff and party rooms that nothing proves — bound by a topic rule before topics stopped
    making such rooms, or by a config entry since removed — become unbound (a name is no proof).
    The staff rooms that remain and each lowered room itself are told once: an admin's /绑定 in
    the room binds it again. Rooms an admin bound are kept."""
    unproven = [
        room
        for room in room_rows.bound_not_by_admin(session, PROVEN_ROOM_ROLES)
        if binding_for_id(config, room.id) is None
    ]
    lowered = []
    for room in unproven:
        label, command = ROOM_ROLE_LABEL[room.role or ""], bind_command(Binding(room.role or "", room.branch))
        room.role, room.branch, room.buildings, room.area, room.bound_by, room.updated_at = (
            None,
            None,
            None,
            None,
            None,
            now,
        )
        lowered.append((room, label, command))
    session.flush()
    staff_rooms = [staff.id for staff in rooms_with_role(session, "staff")] if lowered else []
    notes: list[Outgoing] = []
    for room, label, command in lowered:
        text = (
            f"提示：群“{room.topic}”以前只凭群名绑定为{label}。群名谁都能改，现已解除绑定，不再收到{label}的消息；"
            f"如果它确实是{label}，请管理员在该群里发送 {command}。"
        )
        notes.extend(
            Outgoing(text=text, room_id=target, dedupe_key=f"lowered:{room.id}:{now.isoformat()}:{target}")
            for target in dict.fromkeys([room.id, *staff_rooms])
        )
    return notes


def rooms_with_role(session: Session, *roles: str) -> list[Room]:
    return room_rows.with_role(session, roles)


def building_rooms(session: Session, buildings: list[str] | None = None) -> list[Room]:
    """Building rooms, all or those serving any of ``buildings``."""
    rooms = rooms_with_role(session, "building")
    if buildings is None:
        return rooms
    wanted = set(buildings)
    return [room for room in rooms if wanted.intersection(room.building_list)]
