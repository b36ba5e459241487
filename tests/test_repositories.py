"""Queries behind repository functions: a notice's delivery names the outbox row of its relay
(recall, /回执, the web page and 收到 follow that link instead of rebuilding a key), and a
database from before the link gets it when migrated."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.transports.simulated import Simulation
from storage.db import alembic_config, make_engine, upgrade
from storage.models import Notice, NoticeDelivery, OutboxMessage

BRANCH = "第2党支部"


def test_each_delivery_points_at_the_outbox_row_of_its_relay(chat: Simulation) -> None:
    for topic in (BRANCH, "江南新村3号楼", "江南新村5号楼"):  # the bot knows a room once it has seen it
        chat.say(topic, "某居民", "大家好")
    chat.say(BRANCH, "赵党员", "#通知 3号楼 5号楼 明天上午9点停水，请提前储水。")
    with chat.bot.services.factory() as session:
        deliveries = session.scalars(select(NoticeDelivery).order_by(NoticeDelivery.id)).all()
        relays = [session.get(OutboxMessage, d.outbox_id) if d.outbox_id else None for d in deliveries]
        assert len(deliveries) == 2
        for delivery, relay in zip(deliveries, relays, strict=True):
            assert relay is not None, delivery.room_id
            assert (relay.notice_id, relay.room_id, relay.action, relay.state) == (
                delivery.notice_id,
                delivery.room_id,
                "say",
                "sent",
            )
    # the link is what 收到 follows: a confirmation in a delivered room counts
    assert chat.say("江南新村3号楼", "孙师傅", "收到") == []
    receipt = chat.say(BRANCH, "赵党员", "/回执 N1")[0].text
    assert receipt.startswith("N1 回执（共 2 个群，1 人确认）")


def test_migrating_links_the_deliveries_made_before(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    command.upgrade(alembic_config(engine), "0011_area_roles")
    now = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    with Session(engine) as session:
        notice = Notice(
            text="停水",
            sender_id="wxid_赵党员",
            sender_name="赵党员",
            created_at=now,
            sent_at=now,
            community="江南新村",
        )
        session.add(notice)
        session.flush()
        relay = OutboxMessage(
            room_id="room-3",
            text="停水",
            next_attempt_at=now,
            created_at=now,
            state="sent",
            sent_at=now,
            dedupe_key=f"notice:{notice.id}:room-3",
            notice_id=notice.id,
            community="江南新村",
        )
        other_area = OutboxMessage(
            room_id="room-5",
            text="停水",
            next_attempt_at=now,
            created_at=now,
            dedupe_key=f"notice:{notice.id}:room-5",
            notice_id=notice.id,
            community="东风新村",
        )
        session.add_all(
            [
                relay,
                other_area,
                NoticeDelivery(notice_id=notice.id, room_id="room-3", community="江南新村"),
                NoticeDelivery(notice_id=notice.id, room_id="room-5", community="江南新村"),
            ]
        )
        session.commit()
        relay_id = relay.id
    upgrade(engine)
    with Session(engine) as session:
        linked = dict(session.execute(select(NoticeDelivery.room_id, NoticeDelivery.outbox_id)).all())
    assert linked == {"room-3": relay_id, "room-5": None}  # another area's row is not this area's relay
    engine.dispose()
