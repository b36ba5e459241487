"""Reports, their follow-up questions (pending_questions) and the lists staff read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, literal, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from storage.models import PendingQuestion, Report, Room

# ------------------------------------------------------------------ follow-up questions


def open_question(session: Session, room_key: str, person_id: str, now: datetime) -> PendingQuestion | None:
    """The question open to this person in this room (not yet expired), if any."""
    return session.scalar(
        select(PendingQuestion).where(
            PendingQuestion.room_key == room_key,
            PendingQuestion.person_id == person_id,
            PendingQuestion.expires_at > now,
        )
    )


def question_lapses(session: Session) -> dict[tuple[str, str], datetime]:
    """When each open question (room, person) lapses: the latest, if there are several."""
    lapses: dict[tuple[str, str], datetime] = {}
    for room_key, person_id, expires_at in session.execute(
        select(PendingQuestion.room_key, PendingQuestion.person_id, PendingQuestion.expires_at)
    ):
        lapses[(room_key, person_id)] = max(expires_at, lapses.get((room_key, person_id), expires_at))
    return lapses


def questions_to(session: Session, room_key: str, person_id: str) -> Sequence[PendingQuestion]:
    """Every question to this person in this room, expired or not."""
    return session.scalars(
        select(PendingQuestion).where(
            PendingQuestion.room_key == room_key, PendingQuestion.person_id == person_id
        )
    ).all()


def questions_about(session: Session, report_id: int) -> Sequence[PendingQuestion]:
    return session.scalars(select(PendingQuestion).where(PendingQuestion.report_id == report_id)).all()


def drop_questions_about(session: Session, report_id: int) -> None:
    session.execute(delete(PendingQuestion).where(PendingQuestion.report_id == report_id))


def latest_unfinished(
    session: Session, reporter_id: str, room_id: str | None, since: datetime
) -> Report | None:
    """The reporter's latest report in this room (None: private chat) since ``since`` that still
    misses a field a follow-up asked for (a 接龙 line is never asked)."""
    return session.scalar(
        select(Report)
        .where(
            Report.reporter_id == reporter_id,
            Report.room_id.is_(None) if room_id is None else Report.room_id == room_id,
            Report.status.in_(("pending", "incomplete")),
            Report.missing.is_not(None),
            Report.dedupe_key.is_(None),
            Report.created_at >= since,
        )
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(1)
    )


# ------------------------------------------------------------------ 接龙


def chain_reports(session: Session, key_prefix: str, since: datetime) -> Sequence[Report]:
    """The reports made from 接龙 lines whose key starts with ``key_prefix`` since ``since``, oldest
    first, withdrawn ones left out."""
    return session.scalars(
        select(Report)
        .where(
            Report.dedupe_key.like(f"{key_prefix}%"), Report.status != "withdrawn", Report.created_at >= since
        )
        .order_by(Report.id)
    ).all()


def key_taken(session: Session, dedupe_key: str) -> bool:
    return session.scalar(select(Report.id).where(Report.dedupe_key == dedupe_key)) is not None


# ------------------------------------------------------------------ lists staff read


@dataclass(frozen=True)
class ReportFilter:
    """What /查询 asks for. Every value narrows the list (two buildings find nothing: a report has
    one); a period is ``start``–``end``, left open when a number is asked for."""

    numbers: tuple[int, ...] = ()
    buildings: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [Report.id == number for number in self.numbers]
        found += [Report.building == building for building in self.buildings]
        found += [Report.unit == unit for unit in self.units]
        found += [Report.category == category for category in self.categories]
        if self.start is not None:
            found.append(Report.created_at >= self.start)
        if self.end is not None:
            found.append(Report.created_at < self.end)
        return found


def in_scope(buildings: Sequence[str], area: str | None, branch: int | None) -> ColumnElement[bool]:
    """The reports a scope covers (bot/periods.py): its buildings, plus an area's own area
    reports, plus the reports made in a branch's own party room."""
    covered: list[ColumnElement[bool]] = [Report.building.in_(buildings)]
    if area is not None:
        covered.append(Report.area == area)
    if branch is not None:
        rooms = select(Room.id).where(Room.role == "branch", Room.branch == branch)
        covered.append(Report.room_id.in_(rooms))
    return or_(*covered)


def newest(session: Session, wanted: ReportFilter, limit: int) -> Sequence[Report]:
    """The newest ``limit`` reports ``wanted`` names, newest first."""
    return session.scalars(
        select(Report)
        .where(*wanted.conditions())
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    ).all()


def oldest_in(session: Session, statuses: Sequence[str], limit: int) -> tuple[Sequence[Report], int]:
    """The oldest ``limit`` reports in ``statuses``, oldest first, and how many there are in all."""
    rows = session.scalars(
        select(Report).where(Report.status.in_(statuses)).order_by(Report.created_at, Report.id).limit(limit)
    ).all()
    total = (
        len(rows)
        if len(rows) < limit
        else (
            session.scalar(select(func.count()).select_from(Report).where(Report.status.in_(statuses))) or 0
        )
    )
    return rows, total


# ------------------------------------------------------------------ the workbench's board and list


def open_by_building(session: Session, statuses: Sequence[str]) -> list[tuple[str | None, int, datetime]]:
    """(building, how many, the oldest's created_at) of the reports in ``statuses``: one grouped
    scan (index on status, created_at)."""
    rows = session.execute(
        select(Report.building, func.count(), func.min(Report.created_at))
        .where(Report.status.in_(statuses), Report.building.is_not(None))
        .group_by(Report.building)
    ).all()
    return [(building, count, oldest) for building, count, oldest in rows]


def _among(buildings: Sequence[str] | None) -> list[ColumnElement[bool]]:
    return [] if buildings is None else [Report.building.in_(buildings)]


def count_since(session: Session, since: datetime, buildings: Sequence[str] | None = None) -> int:
    """Reports made since ``since`` (of these buildings, or everywhere with None)."""
    return (
        session.scalar(
            select(func.count()).select_from(Report).where(Report.created_at >= since, *_among(buildings))
        )
        or 0
    )


def count_in_before(
    session: Session, statuses: Sequence[str], before: datetime, buildings: Sequence[str] | None = None
) -> int:
    """Reports in ``statuses`` made before ``before`` (overdue ones)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.status.in_(statuses), Report.created_at < before, *_among(buildings))
        )
        or 0
    )


def made_since(session: Session, since: datetime, limit: int) -> Sequence[Report]:
    """The newest ``limit`` reports made since ``since``, newest first."""
    return session.scalars(
        select(Report)
        .where(Report.created_at >= since)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(limit)
    ).all()


def in_before(session: Session, statuses: Sequence[str], before: datetime, limit: int) -> Sequence[Report]:
    """The oldest ``limit`` reports in ``statuses`` made before ``before``, oldest first."""
    return session.scalars(
        select(Report)
        .where(Report.status.in_(statuses), Report.created_at < before)
        .order_by(Report.created_at, Report.id)
        .limit(limit)
    ).all()


def page_of(
    session: Session, conditions: Sequence[ColumnElement[bool]], cap: int, size: int, offset: int
) -> tuple[int, Sequence[Report]]:
    """How many reports match (counted up to ``cap`` + 1 only: a free-text search over a busy
    month would otherwise read every row of the period just to print its total) and one page of
    them, newest first."""
    matching = select(Report.id).where(*conditions).limit(cap + 1).subquery()
    total = session.scalar(select(func.count()).select_from(matching)) or 0
    rows = session.scalars(
        select(Report)
        .where(*conditions)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(size)
        .offset(offset)
    ).all()
    return total, rows


def counts_by(session: Session, column: QueryableAttribute[str]) -> list[tuple[str, int]]:
    """(value, how many reports) for each value of a report column (Report.kind, Report.status)."""
    return [(value, count) for value, count in session.execute(select(column, func.count()).group_by(column))]


def open_alike(session: Session, report: Report, since: datetime) -> Sequence[Report]:
    """Other open reports of the same kind and category at the report's building (or, without
    one, its area) made since ``since``, oldest first: the candidates of one incident."""
    place = Report.building == report.building if report.building else Report.area == report.area
    return session.scalars(
        select(Report)
        .where(
            Report.id != report.id,
            Report.kind == report.kind,
            Report.category == report.category,
            Report.status == "open",
            Report.created_at >= since,
            place,
        )
        .order_by(Report.id)
    ).all()


def of_incident(session: Session, incident_id: int) -> list[Report]:
    return list(session.scalars(select(Report).where(Report.incident_id == incident_id).order_by(Report.id)))


def contact_names(session: Session) -> set[str]:
    """Every name 接龙 lines gave, of two characters or more (kept by bot/privacy.py)."""
    return {
        name
        for name in session.scalars(
            select(Report.contact_name).where(func.length(Report.contact_name) >= 2).distinct()
        )
        if name
    }


def contact_names_in(session: Session, text: str) -> set[str]:
    """The names 接龙 lines gave (two characters or more) that ``text`` contains."""
    return set(
        session.scalars(
            select(Report.contact_name)
            .where(func.length(Report.contact_name) >= 2)
            .where(literal(text).contains(Report.contact_name))
            .distinct()
        )
    )
