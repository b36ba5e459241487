"""Staff verbs on reports: 办结, correction, incident links. Chat (/办结, 更正) and the web
workbench both call these, so both write the same records and queue the same messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Config
from bot.errors import UserError
from bot.identity import Identity
from bot.incidents import incident_reports
from bot.message import Outgoing
from bot.privacy import staff_note_for_residents
from bot.reports import (
    CLOSED_STATUSES,
    KIND_LABEL,
    STATUS_LABEL,
    Labels,
    apply_changes,
    describe,
    may_change,
    missing_fields,
    record_event,
    refresh_status,
)
from bot.services import Outcome
from bot.texts import REPORT_CLOSED, REPORT_NOT_FOUND, REPORT_NOT_YOURS
from storage.models import Incident, Report


def find_report(session: Session, number: int) -> Report:
    report = session.get(Report, number)
    if report is None:
        raise UserError(REPORT_NOT_FOUND.format(number=number))
    return report


def resolve_report(
    session: Session, labels: Labels, actor: Identity, number: int, note: str, now: datetime, request_key: str
) -> Outcome:
    """办结: the report (and the open reports of its incident) resolved; every reporter is told in
    the room they reported from. ``request_key`` (the chat message id, or the web request's) makes
    a repeated request queue nothing twice."""
    report = find_report(session, number)
    if report.status in CLOSED_STATUSES:
        raise UserError(f"#{report.id} {STATUS_LABEL[report.status]}，无需办结。")
    note = note.strip() or "已处理"
    old = report.status
    report.status, report.resolution, report.resolved_at = "resolved", note, now
    report.resolved_by, report.updated_at = actor.name, now
    record_event(
        session, report, "resolve", actor, now, {"status": (old, "resolved"), "resolution": (None, note)}
    )
    linked = [
        r for r in incident_reports(session, report.incident_id) if r.id != report.id and r.status == "open"
    ]
    for other in linked:  # one incident, many reporters: every one of them hears back
        other.status, other.resolution, other.resolved_at = "resolved", note, now
        other.resolved_by, other.updated_at = actor.name, now
        record_event(session, other, "resolve", actor, now, {"status": ("open", "resolved")})
    masked = False
    outgoing = []
    for closed in [report, *linked]:
        what = f"#{closed.id}（{labels.category(closed.category)}）"
        key = f"resolved:{closed.id}:{request_key}"
        shown = staff_note_for_residents(session, note, closed.reporter_name)
        masked = masked or shown != note
        if closed.room_id is not None:
            outgoing.append(
                Outgoing(
                    text=f"@{closed.reporter_name} 您反映的{what}已处理：{shown}",
                    room_id=closed.room_id,
                    mention_ids=[closed.reporter_id],
                    dedupe_key=key,
                )
            )
        else:
            outgoing.append(
                Outgoing(text=f"您反映的{what}已处理：{shown}", person_id=closed.reporter_id, dedupe_key=key)
            )
    together = f"（同一问题的 {len(linked) + 1} 条报告一并办结）" if linked else ""
    hidden = "（说明里的电话、室号和其他居民姓名在群里已隐去）" if masked else ""
    return Outcome(f"已办结 #{report.id}{together}，已告知报告人{hidden}。", outgoing)


def correct_report(
    session: Session,
    config: Config,
    labels: Labels,
    actor: Identity,
    number: int,
    values: dict[str, Any],
    now: datetime,
) -> Outcome:
    """更正: set fields (building, unit, people, category, kind …) of a report, audited."""
    report = find_report(session, number)
    if not may_change(report, actor):
        raise UserError(REPORT_NOT_YOURS.format(verb="更正", number=number))
    if report.status in CLOSED_STATUSES:
        raise UserError(REPORT_CLOSED.format(number=report.id, status=STATUS_LABEL[report.status]))
    if "kind" in values and values["kind"] not in KIND_LABEL:
        raise UserError("报告类型只能是：" + "、".join(KIND_LABEL.values()))
    if "category" in values and values["category"] not in labels.categories:
        raise UserError("没有这个类别：" + str(values["category"])[:20])
    changes = apply_changes(report, values)
    if "building" in changes and report.building:
        report.area = config.area_of_building(report.building) or report.area
    if report.status == "incomplete" and not missing_fields(report):
        report.status = "open"
    refresh_status(report, config)
    report.updated_at = now
    if changes:
        record_event(session, report, "correct", actor, now, changes)
    return Outcome(f"已更正 #{report.id}：{describe(report, labels)}。")


def link_reports(session: Session, actor: Identity, number: int, other_number: int, now: datetime) -> Outcome:
    """Two reports about the same thing: one incident, so 办结 of one tells every reporter."""
    report, other = find_report(session, number), find_report(session, other_number)
    if report.id == other.id:
        raise UserError("不能把报告和自己关联。")
    incident_id = other.incident_id or report.incident_id
    if incident_id is None:
        incident = Incident(
            kind=other.kind, category=other.category, building=other.building, area=other.area, created_at=now
        )
        session.add(incident)
        session.flush()
        incident_id = incident.id
    for row in (report, other):
        if row.incident_id != incident_id:
            record_event(session, row, "link", actor, now, {"incident_id": (row.incident_id, incident_id)})
            row.incident_id, row.updated_at = incident_id, now
    session.flush()
    return Outcome(f"已将 #{report.id} 与 #{other.id} 关联为同一问题（事件 {incident_id}）。")


def unlink_report(session: Session, actor: Identity, number: int, now: datetime) -> Outcome:
    report = find_report(session, number)
    if report.incident_id is None:
        raise UserError(f"#{report.id} 没有关联的问题。")
    record_event(session, report, "unlink", actor, now, {"incident_id": (report.incident_id, None)})
    report.incident_id, report.updated_at = None, now
    return Outcome(f"已将 #{report.id} 从关联问题中移出。")
