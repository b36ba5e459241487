"""Who is speaking: a WeChat contact matched to a known person and role.

Matched by WeChat id first, then alias, then display name (ids are stable; names and aliases can
be edited by their owners, and the SDK cannot read aliases from a puppet service at all).

A display name proves nothing: anyone can call themselves 李书记 in a group. So a role above
resident holds only for the contact whose id was proven (config or roster id, a one-time code,
an admin's @-pick; see bot/binding.py). Someone matched only by name to such a person is a
resident, and ``unbound_role`` lets the refusal tell them how to bind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import Config, parse_building_range
from bot.memo import Memo
from storage.models import Delegation, Person, RoleEvent
from storage.repositories import people as person_rows

# 街道 (street) stands beside the area's ladder, not on it: it sees aggregates of every area on
# the database and sends street notices, and nothing of any area's people (no rank in an area)
ROLE_RANK = {"resident": 0, "leader": 1, "party": 2, "staff": 3, "admin": 4, "street": 0}
ROLE_LABEL = {
    "resident": "居民",
    "leader": "楼组长",
    "party": "党员",
    "staff": "社工",
    "admin": "管理员",
    "street": "街道",
}
# The words people write for a role, in /设为 and in a roster's 角色 column: the labels and the
# other names a building leader goes by. 街道 is written only in a roster: an area's /设为 cannot
# make a street account.
ROLE_WORDS = {label: role for role, label in ROLE_LABEL.items() if role != "street"} | {
    "党小组长": "leader",
    "居民小组长": "leader",
    "业主代表": "leader",
}


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
    unbound_role: str | None = None  # the roster's role for this name, not yet proven for this contact

    @property
    def rank(self) -> int:
        return ROLE_RANK.get(self.role, 0)

    def at_least(self, role: str) -> bool:
        return self.rank >= ROLE_RANK[role]

    @property
    def is_staff(self) -> bool:
        return self.at_least("staff")

    @property
    def is_street(self) -> bool:
        return self.role == "street"


def find_person(session: Session, wechat_id: str, name: str, alias: str | None = None) -> Person | None:
    by_id = person_rows.by_wechat_id(session, wechat_id)
    if by_id is not None:
        return by_id
    names = [n for n in (alias, name) if n]
    if not names:
        return None
    candidates = person_rows.answering_to(session, names)
    # prefer an alias match, then a name match; never steal a record bound to another WeChat id
    for candidate in sorted(candidates, key=lambda p: 0 if p.alias in names else 1):
        if candidate.wechat_id in (None, wechat_id):
            return candidate
    return None


@dataclass(frozen=True)
class _Known:
    """A person of the roster as matching needs them, detached from any session."""

    id: int
    wechat_id: str | None
    name: str
    alias: str | None
    role: str
    branch: int | None
    buildings: str | None
    building: str | None
    unit: str | None
    bound_via: str | None

    @property
    def is_bound(self) -> bool:
        return self.wechat_id is not None and self.bound_via is not None


@dataclass
class _Snapshot:
    by_id: dict[str, _Known] = field(default_factory=dict)
    by_name: dict[str, list[_Known]] = field(default_factory=dict)  # alias or name → people, by row id
    delegated_until: dict[str, list[datetime]] = field(default_factory=dict)  # unrevoked grants by WeChat id


class Directory:
    """Everyone the committee knows and every delegation, read once and kept until a person or a
    delegation row changes (bot/memo.py): most speakers are residents nobody listed, and asking
    the people table three times per message to learn that was a third of a chatter's cost."""

    KEY = "people"

    def __init__(self, memo: Memo) -> None:
        self.memo = memo
        memo.watch(self.KEY, {Person: None, Delegation: None})

    def snapshot(self, session: Session) -> _Snapshot:
        hit, kept = self.memo.known(self.KEY)
        if hit:
            return kept  # type: ignore[return-value]
        version = self.memo.version(self.KEY)
        snapshot = _Snapshot()
        for row in person_rows.directory_rows(session):
            known = _Known(**row)  # type: ignore[arg-type]
            if known.wechat_id:
                snapshot.by_id.setdefault(known.wechat_id, known)
            for key in {known.name, known.alias} - {None}:
                snapshot.by_name.setdefault(key, []).append(known)  # type: ignore[arg-type]
        for wechat_id, until in person_rows.delegation_ends(session):
            snapshot.delegated_until.setdefault(wechat_id, []).append(until)
        self.memo.store(self.KEY, version, snapshot)
        return snapshot


def _match(snapshot: _Snapshot, wechat_id: str, name: str, alias: str | None) -> _Known | None:
    """find_person over the snapshot: the same order of preference."""
    by_id = snapshot.by_id.get(wechat_id)
    if by_id is not None:
        return by_id
    names = [n for n in (alias, name) if n]
    candidates = sorted(
        {c.id: c for n in names for c in snapshot.by_name.get(n, ())}.values(), key=lambda c: c.id
    )
    for candidate in sorted(candidates, key=lambda p: 0 if p.alias in names else 1):
        if candidate.wechat_id in (None, wechat_id):
            return candidate
    return None


def resolve_identity(
    session: Session,
    wechat_id: str,
    name: str,
    alias: str | None,
    now: datetime,
    directory: Directory | None = None,
) -> Identity:
    if directory is not None:
        snapshot = directory.snapshot(session)
        known = _match(snapshot, wechat_id, name, alias)
        grants = [until for until in snapshot.delegated_until.get(wechat_id, ()) if until > now]
        delegated_until = max(grants) if grants else None
        person: Person | _Known | None = known
        if known is not None and known.wechat_id is None and known.role == "resident":
            person = session.get(Person, known.id)  # its stable id is learnt below: a write
    else:
        person = find_person(session, wechat_id, name, alias)
        delegation = person_rows.longest_delegation(session, wechat_id, now)
        delegated_until = delegation.valid_until if delegation else None
    if person is None:
        return Identity(wechat_id=wechat_id, name=name, delegated_until=delegated_until)
    if person.role != "resident" and not (person.is_bound and person.wechat_id == wechat_id):
        # A name (or an id learned from one) is no proof: this contact gets nothing of that
        # person — no role, no home address — only the hint how the real one binds.
        return Identity(
            wechat_id=wechat_id, name=name, delegated_until=delegated_until, unbound_role=person.role
        )
    if (
        isinstance(person, Person) and person.wechat_id is None
    ):  # a resident: learn the stable id the first time they speak
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
        delegated_until=delegated_until,
    )


def sync_config_people(session: Session, config: Config, now: datetime) -> None:
    """Config people are the seed of the roster; config wins for the fields it names. An entry
    with a wechat_id is bound by it (the operator wrote it); one without keeps a code binding."""
    for entry in config.people:
        person = None
        if entry.wechat_id:
            person = person_rows.by_wechat_id(session, entry.wechat_id)
        if person is None:
            person = person_rows.first_named_from(session, entry.name, "config")
        if person is None:
            person = Person(name=entry.name, source="config", role="resident", updated_at=now)
            session.add(person)
            session.flush()  # its id, for the audit trail
        if entry.wechat_id and (person.wechat_id != entry.wechat_id or not person.is_bound):
            person.wechat_id, person.bound_via, person.bound_at = entry.wechat_id, "config", now
        person.alias = entry.alias
        if person.role != entry.role:
            record_role_change(
                session, person, entry.role, now, actor_id="config", actor_name="config.yaml", action="config"
            )
        person.role = entry.role
        person.branch = entry.branch
        person.buildings = ",".join(parse_building_range(entry.buildings)) if entry.buildings else None
        person.building = entry.building
        person.unit = entry.unit
        person.phone = entry.phone
        person.updated_at = now


def record_role_change(
    session: Session,
    person: Person,
    new_role: str | None,
    now: datetime,
    *,
    actor_id: str,
    actor_name: str,
    action: str,
    detail: str | None = None,
) -> None:
    """Write who changed whose role (or binding, or delegation), and when, in the audit trail."""
    session.add(
        RoleEvent(
            at=now,
            action=action,
            person_id=person.id,
            person_name=person.name[:128],
            wechat_id=person.wechat_id,
            old_role=person.role,
            new_role=new_role,
            actor_id=actor_id[:128],
            actor_name=actor_name[:128],
            detail=detail[:256] if detail else None,
        )
    )


def note_contact(session: Session, wechat_id: str, name: str, now: datetime) -> None:
    """Remember a contact the bot has seen speak, so an @mention can be checked against real ones.

    One upsert: a new contact is added, a renamed one updated, and a second message of a new
    contact handled at the same time by another worker is not an error."""
    person_rows.upsert_contact(session, wechat_id[:128], name[:128], now)


def seen_contact(session: Session, wechat_id: str) -> bool:
    return person_rows.contact_seen(session, wechat_id)
