"""Counting reports: by kind, category and status, and the people who returned — for one area's
/汇总 and, per area, for the street office's /汇总 and ledger. One grouped query; the few dozen
rows it returns are folded here, so every face counts the same way."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, case, func, select, union
from sqlalchemy.orm import Session

from bot.reports import OPEN_STATUSES
from storage.models import Person, Report, Room


@dataclass
class Tally:
    by_kind: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    returned: int = 0  # people of 返沪登记 reports not withdrawn

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    @property
    def still_open(self) -> int:
        return sum(self.by_status[status] for status in OPEN_STATUSES)

    def add(self, other: Tally) -> None:
        self.by_kind.update(other.by_kind)
        self.by_category.update(other.by_category)
        self.by_status.update(other.by_status)
        self.returned += other.returned


def tally_by_area(session: Session, conditions: list[ColumnElement[bool]]) -> dict[str, Tally]:
    """The reports ``conditions`` select, counted per area (one key in an area's own session)."""
    tallies: dict[str, Tally] = {}
    rows = session.execute(
        select(
            Report.community,
            Report.kind,
            Report.category,
            Report.status,
            func.count(),
            func.sum(case((Report.category == "return", Report.people), else_=0)),
        )
        .where(*conditions)
        .group_by(Report.community, Report.kind, Report.category, Report.status)
    )
    for area, kind, category, status, count, returned in rows:
        tally = tallies.setdefault(area, Tally())
        tally.by_kind[kind] += count
        tally.by_category[category] += count
        tally.by_status[status] += count
        if status != "withdrawn":
            tally.returned += returned or 0
    return tallies


def tally(session: Session, conditions: list[ColumnElement[bool]]) -> Tally:
    whole = Tally()
    for part in tally_by_area(session, conditions).values():
        whole.add(part)
    return whole


def areas_in(session: Session) -> list[str]:
    """The residential areas a database serves: every area whose bot has started (its config
    people) or seen a room. In the street's view, all of them; in an area's session, that one."""
    known = union(select(Person.community), select(Room.community))
    return sorted(area for area in session.scalars(select(known.subquery().c.community).distinct()) if area)
