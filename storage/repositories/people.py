"""People (the roster and those the bot has met), the contacts seen, and the delegations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import Executable, bindparam, case, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import Contact, Delegation, Person, UTCDateTime


def by_wechat_id(session: Session, wechat_id: str) -> Person | None:
    return session.scalar(select(Person).where(Person.wechat_id == wechat_id))


def first_unbound_named(session: Session, name: str) -> Person | None:
    """The oldest roster entry of that name no WeChat account is bound to yet."""
    return session.scalars(
        select(Person).where(Person.name == name, Person.wechat_id.is_(None)).order_by(Person.id)
    ).first()


def live_delegations(
    session: Session, now: datetime, wechat_ids: Sequence[str] = (), name: str | None = None
) -> Sequence[Delegation]:
    """Delegations not revoked and still valid at ``now``, of these accounts (or, with none
    given, of anyone by that name)."""
    who = Delegation.wechat_id.in_(wechat_ids) if wechat_ids else Delegation.name == name
    return session.scalars(
        select(Delegation).where(who, Delegation.revoked_at.is_(None), Delegation.valid_until > now)
    ).all()


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Person)) or 0


def ranked(
    session: Session, rank: Mapping[str, int], limit: int | None = None, offset: int = 0
) -> Sequence[Person]:
    """Everyone, the highest ``rank`` of role first, then by name (bot.identity.ROLE_RANK)."""
    order = case(rank, value=Person.role, else_=0)
    return session.scalars(
        select(Person).order_by(order.desc(), Person.name, Person.id).limit(limit).offset(offset)
    ).all()


def named(session: Session, name: str) -> Sequence[Person]:
    """Everyone called ``name`` exactly, oldest record first."""
    return session.scalars(select(Person).where(Person.name == name).order_by(Person.id)).all()


def answering_to(session: Session, names: Sequence[str]) -> Sequence[Person]:
    """Everyone whose name or 微信名 (alias) is one of ``names``, oldest record first."""
    return session.scalars(
        select(Person).where(or_(Person.alias.in_(names), Person.name.in_(names))).order_by(Person.id)
    ).all()


def first_named_from(session: Session, name: str, source: str, unbound_only: bool = False) -> Person | None:
    """The oldest record called ``name`` that came from ``source`` (config, roster), with
    ``unbound_only`` one no WeChat account is bound to yet."""
    query = select(Person).where(Person.name == name, Person.source == source)
    if unbound_only:
        query = query.where(Person.wechat_id.is_(None))
    return session.scalars(query.order_by(Person.id)).first()


def other_holder(session: Session, wechat_id: str, person_id: int) -> Person | None:
    """Whoever but ``person_id`` has ``wechat_id``."""
    return session.scalar(select(Person).where(Person.wechat_id == wechat_id, Person.id != person_id))


def count_bound_admins(session: Session, excluding: int | None = None) -> int:
    """Admins bound by proof, but ``excluding``."""
    query = (
        select(func.count())
        .select_from(Person)
        .where(Person.role == "admin", Person.wechat_id.is_not(None), Person.bound_via.is_not(None))
    )
    if excluding is not None:
        query = query.where(Person.id != excluding)
    return session.scalar(query) or 0


def bound_named_in(session: Session, name: str, roles: Sequence[str]) -> Sequence[Person]:
    """Everyone called ``name`` bound by proof to a WeChat account, in one of ``roles``."""
    return session.scalars(
        select(Person).where(
            Person.name == name,
            Person.wechat_id.is_not(None),
            Person.bound_via.is_not(None),
            Person.role.in_(roles),
        )
    ).all()


def directory_rows(session: Session) -> list[dict[str, object]]:
    """What the identity directory keeps of everyone (bot.identity.Directory), oldest record first."""
    return [
        dict(row._mapping)
        for row in session.execute(
            select(
                Person.id,
                Person.wechat_id,
                Person.name,
                Person.alias,
                Person.role,
                Person.branch,
                Person.buildings,
                Person.building,
                Person.unit,
                Person.bound_via,
            ).order_by(Person.id)
        )
    ]


def delegation_ends(session: Session) -> list[tuple[str, datetime]]:
    """(account, valid until) of every delegation not revoked."""
    return [
        (wechat_id, until)
        for wechat_id, until in session.execute(
            select(Delegation.wechat_id, Delegation.valid_until).where(Delegation.revoked_at.is_(None))
        )
    ]


def longest_delegation(session: Session, wechat_id: str, now: datetime) -> Delegation | None:
    """The account's delegation valid longest after ``now``, not revoked."""
    return session.scalar(
        select(Delegation)
        .where(
            Delegation.wechat_id == wechat_id, Delegation.revoked_at.is_(None), Delegation.valid_until > now
        )
        .order_by(Delegation.valid_until.desc())
    )


def contact_seen(session: Session, wechat_id: str) -> bool:
    """The bot has met this account: as a contact, or as a person's bound or learnt id."""
    return (
        session.scalar(select(Contact.wechat_id).where(Contact.wechat_id == wechat_id[:128])) is not None
        or session.scalar(select(Person.id).where(Person.wechat_id == wechat_id)) is not None
    )


def upsert_contact(session: Session, key: str, name: str, now: datetime) -> None:
    """One upsert: a new contact is added, a renamed one updated, and a second message of a new
    contact handled at the same time by another worker is not an error."""
    session.execute(_contact_upsert(session.get_bind().dialect.name), {"key": key, "name": name, "now": now})


@cache
def _contact_upsert(dialect: str) -> Executable:
    """Built once: the statement is the same for every contact (building it was most of its cost)."""
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    now = bindparam("now", type_=UTCDateTime())
    statement = upsert(Contact).values(
        wechat_id=bindparam("key"), name=bindparam("name"), first_seen_at=now, updated_at=now
    )
    return statement.on_conflict_do_update(
        index_elements=[Contact.community, Contact.wechat_id],  # the area is stamped in (storage/scoping.py)
        set_={"name": statement.excluded.name, "updated_at": statement.excluded.updated_at},
        where=Contact.name != statement.excluded.name,
    )


def signer(session: Session, wechat_id: str) -> tuple[str, str] | None:
    """(name, role) of the person bound by proof to ``wechat_id``, when they hold a role."""
    row = session.execute(
        select(Person.name, Person.role).where(
            Person.wechat_id == wechat_id, Person.bound_via.is_not(None), Person.role != "resident"
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def resident_names(session: Session) -> set[str]:
    """Every resident's name of two characters or more (kept by bot/privacy.py until people change)."""
    return {
        name
        for name in session.scalars(
            select(Person.name).where(Person.role == "resident", func.length(Person.name) >= 2).distinct()
        )
        if name
    }


def resident_names_in(session: Session, text: str) -> set[str]:
    """The residents' names (two characters or more) that ``text`` contains."""
    return set(
        session.scalars(
            select(Person.name)
            .where(Person.role == "resident", func.length(Person.name) >= 2)
            .where(literal(text).contains(Person.name))
            .distinct()
        )
    )
