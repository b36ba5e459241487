"""``qinlin purge``: epidemic-era records keep their counts but lose their personal fields."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.identity import Identity
from bot.reports import record_event
from storage.models import IncomingRecord, Report

PERSONAL_FIELDS = ("phone", "unit", "contact_name", "reporter_name", "raw_text")
PLACEHOLDER = "（个人信息已按规定清除）"
PURGER = Identity(wechat_id="system", name="qinlin purge", role="admin")


def purge_personal_fields(session: Session, older_than: timedelta, categories: list[str], now: datetime) -> int:
    cutoff = now - older_than
    reports = session.scalars(
        select(Report).where(Report.created_at < cutoff, Report.category.in_(categories),
                             Report.personal_data_purged_at.is_(None))
    ).all()
    for report in reports:
        removed = [name for name in PERSONAL_FIELDS if getattr(report, name)]
        report.phone = report.unit = report.contact_name = None
        report.reporter_name = "（已清除）"
        report.raw_text = PLACEHOLDER
        report.personal_data_purged_at = now
        # earlier audit events and the stored message held the same details: scrub them too
        for event in report.events:
            if any(key in event.changes for key in PERSONAL_FIELDS):
                event.changes = {k: (["（已清除）", None] if k in PERSONAL_FIELDS else v) for k, v in event.changes.items()}
        if report.message_id:
            for message in session.scalars(select(IncomingRecord).where(IncomingRecord.message_id == report.message_id)):
                message.text = PLACEHOLDER
        # the audit trail records that fields were removed, never their old values
        record_event(session, report, "purge", PURGER, now, {name: ("（已清除）", None) for name in removed})
    return len(reports)
