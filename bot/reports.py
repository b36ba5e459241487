"""What every face needs about a report: its labels, the fields a kind requires, its status as
those fields fill in, the audit trail every change writes, the one-line description the bot
confirms with and who may change it. The verbs (intake in handlers/reports.py, correct and resolve
in bot/services/reports.py) are built from these."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Config
from bot.identity import Identity
from bot.parsing import Fields, required_fields
from bot.privacy import mask_phones
from storage.models import PendingQuestion, Report, ReportEvent

KIND_LABEL = {"family": "家庭报告", "building": "楼组报告", "area": "片区报告"}
STATUS_LABEL = {
    "pending": "待补充",
    "open": "待处理",
    "incomplete": "信息不全",
    "withdrawn": "已撤回",
    "resolved": "已办结",
}
OPEN_STATUSES = ("open", "incomplete", "pending")  # on the to-do list: not yet resolved or withdrawn
CLOSED_STATUSES = ("resolved", "withdrawn")
SYSTEM = Identity(wechat_id="system", name="亲邻助手", role="admin")  # the actor of timed changes
FIELD_LABEL = {"building": "楼号", "unit": "室号"}
FIELD_EXAMPLE = {"building": "3号楼", "unit": "201"}


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Labels:
    """Category labels come from the vocabulary data (configurable), not from code."""

    categories: dict[str, str]

    def category(self, code: str | None) -> str:
        return self.categories.get(code or "other", code or "其他")


def fields_to_columns(fields: Fields) -> dict[str, Any]:
    values = {
        "building": fields.building,
        "unit": fields.unit,
        "people": fields.people,
        "households": fields.households,
        "origin": fields.origin,
        "event_date": fields.date,
        "phone": fields.phone,
        "category": fields.category,
    }
    return {key: value for key, value in values.items() if value is not None}


def missing_fields(report: Report) -> list[str]:
    return [name for name in required_fields(report.kind) if not getattr(report, name)]


def record_event(
    session: Session,
    report: Report,
    action: str,
    actor: Identity,
    now: datetime,
    changes: dict[str, Any] | None = None,
) -> None:
    session.add(
        ReportEvent(
            report=report,
            action=action,
            actor_id=actor.wechat_id,
            actor_name=actor.name,
            changes={key: [_plain(old), _plain(new)] for key, (old, new) in (changes or {}).items()},
            at=now,
        )
    )


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def apply_changes(report: Report, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    changes = {}
    for key, new in values.items():
        old = getattr(report, key)
        if old != new:
            setattr(report, key, new)
            changes[key] = (old, new)
    return changes


def refresh_status(report: Report, config: Config) -> None:
    """pending while a required field is missing; open once complete. Area follows the building."""
    missing = missing_fields(report)
    report.missing = ",".join(missing) or None
    if report.building and not report.area:
        report.area = config.area_of_building(report.building)
    if report.status == "pending" and not missing:
        report.status = "open"
    elif report.status == "open" and missing:
        report.status = "pending"


def describe(report: Report, labels: Labels, phones_whole: bool = False, gist: str = "") -> str:
    """3号楼201室｜返沪登记｜2人｜来自武汉 — what the bot understood, without names or phones; with
    ``gist`` (a few of the resident's own words, already masked) last, so a wrong category shows."""
    parts = []
    place = ""
    if report.building:
        place = f"{report.building}号楼"
    if report.unit:
        place += f"{report.unit}室"
    if not place and report.area:
        place = report.area
    if place:
        parts.append(place)
    parts.append(labels.category(report.category))
    if report.people:
        parts.append(f"{report.people}人")
    if report.households:
        parts.append(f"{report.households}户")
    if report.origin:
        parts.append(f"来自{report.origin}")
    if report.event_date:
        parts.append(f"{report.event_date.month}月{report.event_date.day}日")
    if report.phone:
        parts.append(report.phone if phones_whole else mask_phones(report.phone))
    if gist:
        parts.append(gist)
    return "｜".join(parts)


def confirmation(report: Report, labels: Labels, gist: str = "") -> str:
    number = report.id
    return (
        f"已登记 {KIND_LABEL[report.kind]} #{number}：{describe(report, labels, gist=gist)}。"
        f"有误请回复“更正 {number} …”，撤回请回复“撤回 {number}”。"
    )


def ask_for(missing: list[str]) -> str:
    names = "和".join(FIELD_LABEL[name] for name in missing)
    example = "".join(FIELD_EXAMPLE[name] for name in missing)
    return f"请补充{names}，例如 {example}"


def may_change(report: Report, actor: Identity) -> bool:
    """Only the reporter or staff may correct or withdraw a report."""
    return actor.is_staff or report.reporter_id == actor.wechat_id


def expire_question(session: Session, question: PendingQuestion, now: datetime) -> None:
    """The question lapses; a report still waiting for its answer stays in the ledger as incomplete."""
    report = session.get(Report, question.report_id)
    if report is not None and report.status == "pending":
        report.status = "incomplete"
        report.updated_at = now
        record_event(session, report, "expire", SYSTEM, now, {"status": ("pending", "incomplete")})
    session.delete(question)
