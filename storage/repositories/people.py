"""People (the roster and those the bot has met) and the day's delegations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from storage.models import Delegation, Person


def by_wechat_id(session: Session, wechat_id: str) -> Person | None:
    return session.scalar(select(Person).where(Person.wechat_id == wechat_id))


def first_unbound_named(session: Session, name: str) -> Person | None:
    """The oldest roster entry of that name no WeChat account is bound to yet."""
    return session.scalars(
        select(Person).where(Person.name == name, Person.wechat_id.is_(None)).order_by(Person.id)).first()


def live_delegations(session: Session, now: datetime, wechat_ids: Sequence[str] = (), name: str | None = None) -> Sequence[Delegation]:
    """Delegations not revoked and still valid at ``now``, of these accounts (or, with none
    given, of anyone by that name)."""
    who = Delegation.wechat_id.in_(wechat_ids) if wechat_ids else Delegation.name == name
    return session.scalars(select(Delegation).where(who, Delegation.revoked_at.is_(None),
                                                    Delegation.valid_until > now)).all()


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Person)) or 0


def ranked(session: Session, rank: Mapping[str, int], limit: int | None = None, offset: int = 0) -> Sequence[Person]:
    """Everyone, the highest ``rank`` of role first, then by name (bot.identity.ROLE_RANK)."""
    order = case(rank, value=Person.role, else_=0)
    return session.scalars(select(Person).order_by(order.desc(), Person.name, Person.id)
                           .limit(limit).offset(offset)).all()
