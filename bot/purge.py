"""``qinlin purge``: epidemic-era records keep their counts but lose their personal fields.

Every copy goes, not only the report's own columns: the /办结 note (staff often write the
resident's name, phone or room into it), the audit trail's payloads and the names of the
residents who acted in it, the stored text of incoming messages, the bodies of the bot's own old
messages in the outbox and the names of those who confirmed notices. The report keeps what the
ledger counts: kind, category, status, building, area, people, households, dates.

Reports are purged by category (the epidemic-era ones); the conversation copies — incoming
messages, outbox bodies, 收到 names — are purged whatever they were about once they are older
than the cut-off, because a chat line cannot be told apart by category and no count needs them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.identity import Identity
from bot.reports import record_event
from storage.models import IncomingRecord, NoticeAck, OutboxMessage, Report

PERSONAL_FIELDS = ("phone", "unit", "contact_name", "reporter_name", "raw_text", "resolution")
PLACEHOLDER = "（个人信息已按规定清除）"
REMOVED = "（已清除）"
PURGER = Identity(wechat_id="system", name="qinlin purge", role="admin")


def _scrubbed(changes: dict[str, Any]) -> dict[str, Any]:
    return {key: ([REMOVED, None] if key in PERSONAL_FIELDS else value) for key, value in changes.items()}


def purge_personal_fields(
    session: Session, older_than: timedelta, categories: list[str], now: datetime
) -> int:
    cutoff = now - older_than
    reports = session.scalars(
        select(Report).where(
            Report.created_at < cutoff,
            Report.category.in_(categories),
            Report.personal_data_purged_at.is_(None),
        )
    ).all()
    for report in reports:
        removed = [name for name in PERSONAL_FIELDS if getattr(report, name)]
        report.phone = report.unit = report.contact_name = None
        report.reporter_name = REMOVED
        report.raw_text = PLACEHOLDER
        if report.resolution:
            report.resolution = PLACEHOLDER
        report.personal_data_purged_at = now
        # the audit trail held the same details, and the resident's own name as the actor
        for event in report.events:
            if any(key in event.changes for key in PERSONAL_FIELDS):
                event.changes = _scrubbed(event.changes)
            if event.actor_id == report.reporter_id:
                event.actor_name = REMOVED
        if report.message_id:
            for message in session.scalars(
                select(IncomingRecord).where(IncomingRecord.message_id == report.message_id)
            ):
                message.text = PLACEHOLDER
        # the audit trail records that fields were removed, never their old values
        record_event(session, report, "purge", PURGER, now, {name: (REMOVED, None) for name in removed})
    purge_conversation(session, cutoff)
    return len(reports)


def purge_conversation(session: Session, cutoff: datetime) -> None:
    """The chat's own copies older than the cut-off: what people wrote, what the bot said (once
    it has been sent or given up), who said 收到."""
    session.execute(
        update(IncomingRecord)
        .where(IncomingRecord.received_at < cutoff, IncomingRecord.text != "")
        .values(text=PLACEHOLDER, sender_name=REMOVED)
    )
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.created_at < cutoff,
            OutboxMessage.text != "",
            OutboxMessage.state.not_in(("queued", "sending")),
        )
        .values(text=PLACEHOLDER)
    )
    session.execute(update(NoticeAck).where(NoticeAck.at < cutoff).values(person_name=REMOVED))
