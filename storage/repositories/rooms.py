"""Rooms (the WeChat groups and private chats the bot has seen)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.models import Room


def by_role(session: Session) -> Sequence[Room]:
    """Every room, those bound to a role first (by role), then by topic."""
    return session.scalars(select(Room).order_by(Room.role.is_(None), Room.role, Room.topic)).all()


def by_topic(session: Session) -> Sequence[Room]:
    return session.scalars(select(Room).order_by(Room.topic)).all()


def topic_of(session: Session, room_id: str) -> str | None:
    return session.scalar(select(Room.topic).where(Room.id == room_id))


def with_role(session: Session, roles: Sequence[str]) -> list[Room]:
    """The rooms bound to one of ``roles``, by topic."""
    return list(session.scalars(select(Room).where(Room.role.in_(roles)).order_by(Room.topic)))


def bound_not_by_admin(session: Session, roles: Sequence[str]) -> Sequence[Room]:
    """Rooms bound to one of ``roles`` by anything but an admin's word (a topic, config.yaml)."""
    return session.scalars(
        select(Room).where(Room.role.in_(roles), or_(Room.bound_by.is_(None), Room.bound_by != "admin"))
    ).all()


def role_of(session: Session, room_id: str) -> str | None:
    return session.scalar(select(Room.role).where(Room.id == room_id))


def every_room_as_values(session: Session) -> dict[str, dict[str, Any]]:
    """Every room's columns by room id, detached from any session (bot/rooms.py's RoomBook)."""
    columns = [getattr(Room, column.key) for column in Room.__table__.columns]
    return {row.id: row._asdict() for row in session.execute(select(*columns))}
