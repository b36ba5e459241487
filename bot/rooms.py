"""Rooms the bot has seen, and their binding to a role by topic rule or by /绑定."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config, parse_building_range
from bot.parsing.numerals import to_int
from storage.models import Room

ROOM_ROLE_LABEL = {"general": "党总支群", "branch": "党支部群", "building": "楼组群", "area": "片区群", "staff": "工作群"}


@dataclass(frozen=True)
class Binding:
    role: str
    branch: int | None = None
    buildings: tuple[str, ...] = ()
    area: str | None = None


def binding_from_topic(config: Config, topic: str) -> Binding | None:
    """First matching topic rule wins (config.yaml order)."""
    for rule in config.rooms:
        found = re.search(rule.topic, topic or "")
        if not found:
            continue
        groups = found.groupdict()
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
            area = next((name for name in config.areas if name in (topic or "")), None)
        if rule.role == "branch" and branch is not None and not buildings:
            buildings = tuple(config.branch_buildings(branch))
        if rule.role == "area" and area and not buildings:
            buildings = tuple(config.area_buildings(area))
        return Binding(rule.role, branch, buildings, area)
    return None


def apply_binding(room: Room, binding: Binding, bound_by: str, now: datetime) -> None:
    room.role = binding.role
    room.branch = binding.branch
    room.buildings = ",".join(binding.buildings) or None
    room.area = binding.area
    room.bound_by = bound_by
    room.updated_at = now


@dataclass(frozen=True)
class RoomSighting:
    room: Room
    renamed_from: str | None  # the old topic when a bound room was renamed
    is_new: bool


def see_room(session: Session, config: Config, room_id: str, topic: str | None, now: datetime) -> RoomSighting:
    """Record a room the bot has seen; bind a new one by topic. A bound room keeps its binding
    when renamed (it is keyed by id); the caller tells staff about the rename."""
    room = session.get(Room, room_id)
    if room is None:
        room = Room(id=room_id, topic=topic or "", first_seen_at=now, updated_at=now)
        binding = binding_from_topic(config, topic or "")
        if binding is not None:
            apply_binding(room, binding, "config", now)
        session.add(room)
        return RoomSighting(room, None, True)
    renamed_from = None
    if topic and topic != room.topic:
        renamed_from = room.topic
        room.topic = topic
        room.updated_at = now
        if room.role is None:  # an unbound room may match a rule under its new name
            binding = binding_from_topic(config, topic)
            if binding is not None:
                apply_binding(room, binding, "config", now)
            renamed_from = None
    return RoomSighting(room, renamed_from if room.role else None, False)


def rooms_with_role(session: Session, *roles: str) -> list[Room]:
    return list(session.scalars(select(Room).where(Room.role.in_(roles)).order_by(Room.topic)))


def building_rooms(session: Session, buildings: list[str] | None = None) -> list[Room]:
    """Building rooms, all or those serving any of ``buildings``."""
    rooms = rooms_with_role(session, "building")
    if buildings is None:
        return rooms
    wanted = set(buildings)
    return [room for room in rooms if wanted.intersection(room.building_list)]
