"""Notices, their deliveries (one per target room), the relays in the outbox and the 收到."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from storage.models import Notice, NoticeAck, NoticeDelivery, OutboxMessage, Room


def delivered_relays() -> Subquery:
    """(notice_id, room_id, delivered_at) for every delivery whose relay has left the outbox, of
    notices not recalled: the deliveries a 收到 may count for and /回执 and the digest count."""
    return (
        select(NoticeDelivery.notice_id, NoticeDelivery.room_id, OutboxMessage.sent_at.label("delivered_at"))
        .join(OutboxMessage, (OutboxMessage.id == NoticeDelivery.outbox_id) & (OutboxMessage.state == "sent"))
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .where(Notice.status == "sent")
        .subquery("delivered")
    )


def relay_of(session: Session, delivery: NoticeDelivery) -> OutboxMessage | None:
    """The outbox row that carries ``delivery``'s relay (None: not queued yet)."""
    return session.get(OutboxMessage, delivery.outbox_id) if delivery.outbox_id is not None else None


def deliveries(session: Session, notice_id: int) -> list[NoticeDelivery]:
    return list(session.scalars(select(NoticeDelivery).where(NoticeDelivery.notice_id == notice_id)))


def delivery_rooms(session: Session, notice_id: int) -> list[tuple[str, str]]:
    """(topic, room id) of each room the notice was addressed to, by topic."""
    return sorted((topic, room_id) for topic, room_id in session.execute(
        select(Room.topic, Room.id).join(NoticeDelivery, NoticeDelivery.room_id == Room.id)
        .where(NoticeDelivery.notice_id == notice_id)))


def relay_states(session: Session, notice_id: int) -> dict[str, str]:
    """room id → the state of the notice's relay there (queued, sending, sent, failed, withdrawn)."""
    return {room_id: state for room_id, state in session.execute(
        select(NoticeDelivery.room_id, OutboxMessage.state)
        .join(OutboxMessage, OutboxMessage.id == NoticeDelivery.outbox_id)
        .where(NoticeDelivery.notice_id == notice_id))}


def ack_counts(session: Session, notice_id: int) -> dict[str, int]:
    """room id → how many said 收到 for the notice there."""
    return {room_id: count for room_id, count in session.execute(
        select(NoticeAck.room_id, func.count()).where(NoticeAck.notice_id == notice_id).group_by(NoticeAck.room_id))}


def has_acked(session: Session, notice_id: int, person_id: str) -> bool:
    return session.scalar(
        select(NoticeAck.id).where(NoticeAck.notice_id == notice_id, NoticeAck.person_id == person_id)) is not None


def scheduled(session: Session) -> list[Notice]:
    """Notices waiting for their time, soonest first (/定时)."""
    return list(session.scalars(select(Notice).where(Notice.status == "scheduled").order_by(Notice.scheduled_for)))


def held(session: Session) -> list[Notice]:
    """Relays waiting for their sender's 确认 N12, oldest first."""
    return list(session.scalars(select(Notice).where(Notice.status == "held").order_by(Notice.id)))


def oldest_held_at(session: Session) -> datetime | None:
    """When the oldest relay still waiting for its sender's 确认 was posted."""
    return session.scalar(select(func.min(Notice.created_at)).where(Notice.status == "held"))
