"""Who is speaking: a WeChat contact matched to a known person and role.

Matched by WeChat id first, then alias, then display name (ids are stable; names and aliases can
be edited by their owners, and the SDK cannot read aliases from a puppet service at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.config import Config, parse_building_range
from storage.models import Delegation, Person

ROLE_RANK = {"resident": 0, "leader": 1, "party": 2, "staff": 3, "admin": 4}
ROLE_LABEL = {"resident": "居民", "leader": "楼组长", "party": "党员", "staff": "社工", "admin": "管理员"}


@dataclass(frozen=True)
class Identity:
    wechat_id: str
    name: str
    role: str = "resident"
    person_id: int | None = None
    branch: int | None = None
    led_buildings: tuple[str, ...] = ()  # a leader's buildings
    building: str | None = None  # home, from the roster
    unit: str | None = None
    delegated_until: datetime | None = None  # /授权: party relay rights until then

    @property
    def rank(self) -> int:
        return ROLE_RANK.get(self.role, 0)

    def at_least(self, role: str) -> bool:
        return self.rank >= ROLE_RANK[role]

    @property
    def is_staff(self) -> bool:
        return self.at_least("staff")


def find_person(session: Session, wechat_id: str, name: str, alias: str | None = None) -> Person | None:
    by_id = session.scalar(select(Person).where(Person.wechat_id == wechat_id))
    if by_id is not None:
        return by_id
    names = [n for n in (alias, name) if n]
    if not names:
        return None
    candidates = session.scalars(
        select(Person).where(or_(Person.alias.in_(names), Person.name.in_(names))).order_by(Person.id)
    ).all()
    # prefer an alias match, then a name match; never steal a record bound to another WeChat id
    for candidate in sorted(candidates, key=lambda p: 0 if p.alias in names else 1):
        if candidate.wechat_id in (None, wechat_id):
            return candidate
    return None


def resolve_identity(
    session: Session, wechat_id: str, name: str, alias: str | None, now: datetime
) -> Identity:
    person = find_person(session, wechat_id, name, alias)
    delegation = session.scalar(
        select(Delegation)
        .where(Delegation.wechat_id == wechat_id, Delegation.revoked_at.is_(None), Delegation.valid_until > now)
        .order_by(Delegation.valid_until.desc())
    )
    if person is None:
        return Identity(wechat_id=wechat_id, name=name, delegated_until=delegation.valid_until if delegation else None)
    if person.wechat_id is None:  # learn the stable id the first time a named person speaks
        person.wechat_id = wechat_id
    return Identity(
        wechat_id=wechat_id,
        name=name or person.name,
        role=person.role,
        person_id=person.id,
        branch=person.branch,
        led_buildings=tuple(parse_building_range(person.buildings)) if person.buildings else (),
        building=person.building,
        unit=person.unit,
        delegated_until=delegation.valid_until if delegation else None,
    )


def sync_config_people(session: Session, config: Config, now: datetime) -> None:
    """Config people are the seed of the roster; config wins for the fields it names."""
    for entry in config.people:
        person = None
        if entry.wechat_id:
            person = session.scalar(select(Person).where(Person.wechat_id == entry.wechat_id))
        if person is None:
            person = session.scalar(select(Person).where(Person.name == entry.name, Person.source == "config"))
        if person is None:
            person = Person(name=entry.name, source="config")
            session.add(person)
        person.wechat_id = entry.wechat_id or person.wechat_id
        person.alias = entry.alias
        person.role = entry.role
        person.branch = entry.branch
        person.buildings = ",".join(parse_building_range(entry.buildings)) if entry.buildings else None
        person.building = entry.building
        person.unit = entry.unit
        person.phone = entry.phone
        person.updated_at = now
