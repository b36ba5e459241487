"""Notices, their deliveries (one per target room), the relays in the outbox and the 收到."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Executable, Subquery, func, select
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
    return sorted(
        (topic, room_id)
        for topic, room_id in session.execute(
            select(Room.topic, Room.id)
            .join(NoticeDelivery, NoticeDelivery.room_id == Room.id)
            .where(NoticeDelivery.notice_id == notice_id)
        )
    )


def relay_states(session: Session, notice_id: int) -> dict[str, str]:
    """room id → the state of the notice's relay there (queued, sending, sent, failed, withdrawn)."""
    return {
        room_id: state
        for room_id, state in session.execute(
            select(NoticeDelivery.room_id, OutboxMessage.state)
            .join(OutboxMessage, OutboxMessage.id == NoticeDelivery.outbox_id)
            .where(NoticeDelivery.notice_id == notice_id)
        )
    }


def ack_counts(session: Session, notice_id: int) -> dict[str, int]:
    """room id → how many said 收到 for the notice there."""
    return {
        room_id: count
        for room_id, count in session.execute(
            select(NoticeAck.room_id, func.count())
            .where(NoticeAck.notice_id == notice_id)
            .group_by(NoticeAck.room_id)
        )
    }


def has_acked(session: Session, notice_id: int, person_id: str) -> bool:
    return (
        session.scalar(
            select(NoticeAck.id).where(NoticeAck.notice_id == notice_id, NoticeAck.person_id == person_id)
        )
        is not None
    )


def scheduled(session: Session) -> list[Notice]:
    """Notices waiting for their time, soonest first (/定时)."""
    return list(
        session.scalars(select(Notice).where(Notice.status == "scheduled").order_by(Notice.scheduled_for))
    )


def held(session: Session) -> list[Notice]:
    """Relays waiting for their sender's 确认 N12, oldest first."""
    return list(session.scalars(select(Notice).where(Notice.status == "held").order_by(Notice.id)))


def oldest_held_at(session: Session) -> datetime | None:
    """When the oldest relay still waiting for its sender's 确认 was posted."""
    return session.scalar(select(func.min(Notice.created_at)).where(Notice.status == "held"))


# ------------------------------------------------------------------ the workbench's notice pages


def sent_since(session: Session, since: datetime, limit: int) -> list[Notice]:
    """Notices sent since ``since``, newest first."""
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.status == "sent", Notice.sent_at >= since)
            .order_by(Notice.id.desc())
            .limit(limit)
        )
    )


def room_count(session: Session, notice_id: int) -> int:
    """How many rooms the notice was delivered to."""
    return (
        session.scalar(
            select(func.count()).select_from(NoticeDelivery).where(NoticeDelivery.notice_id == notice_id)
        )
        or 0
    )


def confirmed_room_count(session: Session, notice_id: int) -> int:
    """How many of its rooms someone has confirmed (收到) in."""
    return (
        session.scalar(
            select(func.count(func.distinct(NoticeAck.room_id))).where(NoticeAck.notice_id == notice_id)
        )
        or 0
    )


def posted_by_people(session: Session, statuses: Sequence[str], limit: int) -> list[Notice]:
    """The newest ``limit`` notices in ``statuses`` that people posted (not config.yaml's timed ones)."""
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.status.in_(statuses), Notice.sender_id != "config")
            .order_by(Notice.id.desc())
            .limit(limit)
        )
    )


def scheduled_by_people(session: Session) -> list[Notice]:
    """Notices people scheduled (not config.yaml's), soonest first."""
    return list(
        session.scalars(
            select(Notice)
            .where(Notice.status == "scheduled", Notice.sender_id != "config")
            .order_by(Notice.scheduled_for)
        )
    )


def counts_per_notice(
    session: Session, notice_ids: Sequence[int]
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """For each of these notices: rooms delivered to, 收到 in all, rooms with a 收到."""

    def per_notice(query: Executable) -> dict[int, int]:
        return {notice_id: count for notice_id, count in session.execute(query)}

    rooms = per_notice(
        select(NoticeDelivery.notice_id, func.count())
        .where(NoticeDelivery.notice_id.in_(notice_ids))
        .group_by(NoticeDelivery.notice_id)
    )
    acks = per_notice(
        select(NoticeAck.notice_id, func.count())
        .where(NoticeAck.notice_id.in_(notice_ids))
        .group_by(NoticeAck.notice_id)
    )
    confirmed = per_notice(
        select(NoticeAck.notice_id, func.count(func.distinct(NoticeAck.room_id)))
        .where(NoticeAck.notice_id.in_(notice_ids))
        .group_by(NoticeAck.notice_id)
    )
    return rooms, acks, confirmed


def deliveries_with_topics(session: Session, notice_id: int) -> list[tuple[NoticeDelivery, str]]:
    """The notice's deliveries with their room's topic, by topic."""
    return [
        (delivery, topic)
        for delivery, topic in session.execute(
            select(NoticeDelivery, Room.topic)
            .join(Room, Room.id == NoticeDelivery.room_id)
            .where(NoticeDelivery.notice_id == notice_id)
            .order_by(Room.topic)
        )
    ]


def relays_by_room(session: Session, notice_id: int) -> dict[str, tuple[str, datetime | None]]:
    """room id → (state, sent_at) of the notice's relay to that room."""
    return {
        room_id: (state, sent_at)
        for room_id, state, sent_at in session.execute(
            select(NoticeDelivery.room_id, OutboxMessage.state, OutboxMessage.sent_at)
            .join(OutboxMessage, OutboxMessage.id == NoticeDelivery.outbox_id)
            .where(NoticeDelivery.notice_id == notice_id)
        )
    }


def reminders_by_room(session: Session, notice_id: int) -> dict[str | None, datetime]:
    """room id → when the notice's 收到 reminder was queued there."""
    return {
        room_id: moment
        for room_id, moment in session.execute(
            select(OutboxMessage.room_id, OutboxMessage.created_at).where(
                OutboxMessage.dedupe_key.like(f"remind:{notice_id}:%")
            )
        )
    }


def ack_names_by_room(session: Session, notice_id: int) -> dict[str, list[str]]:
    """room id → the names of who confirmed there, in the order they did."""
    names: dict[str, list[str]] = {}
    for room_id, name in session.execute(
        select(NoticeAck.room_id, NoticeAck.person_name)
        .where(NoticeAck.notice_id == notice_id)
        .order_by(NoticeAck.at)
    ):
        names.setdefault(room_id, []).append(name)
    return names


def count_in(session: Session, status: str) -> int:
    """Notices in ``status``."""
    return session.scalar(select(func.count()).select_from(Notice).where(Notice.status == status)) or 0


def relays_in(session: Session, state: str) -> int:
    """Outbox rows in ``state`` (the relays and replies sent, queued …)."""
    return (
        session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == state))
        or 0
    )


def last_delivered_to(
    session: Session, room_id: str, since: datetime, until: datetime, number: int | None = None
) -> int | None:
    """The notice last delivered to the room between ``since`` and ``until`` (that one only, with
    ``number``), or None."""
    delivered = delivered_relays()
    query = select(delivered.c.notice_id).where(
        delivered.c.room_id == room_id, delivered.c.delivered_at <= until, delivered.c.delivered_at >= since
    )
    if number is not None:
        query = query.where(delivered.c.notice_id == number)
    return session.scalar(
        query.order_by(delivered.c.delivered_at.desc(), delivered.c.notice_id.desc()).limit(1)
    )


def by_source_message(session: Session, source_message_id: str) -> Notice | None:
    return session.scalar(select(Notice).where(Notice.source_message_id == source_message_id))


def scheduled_from(session: Session, sender_id: str) -> list[Notice]:
    """The notices ``sender_id`` has waiting for their time."""
    return list(
        session.scalars(select(Notice).where(Notice.sender_id == sender_id, Notice.status == "scheduled"))
    )
