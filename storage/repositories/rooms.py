"""Rooms (the WeChat groups and private chats the bot has seen)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Room


def by_role(session: Session) -> Sequence[Room]:
    """Every room, those bound to a role first (by role), then by topic."""
    return session.scalars(select(Room).order_by(Room.role.is_(None), Room.role, Room.topic)).all()


def by_topic(session: Session) -> Sequence[Room]:
    return session.scalars(select(Room).order_by(Room.topic)).all()


def topic_of(session: Session, room_id: str) -> str | None:
    return session.scalar(select(Room.topic).where(Room.id == room_id))
