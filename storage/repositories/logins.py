"""Binding codes and their failures, and the workbench's login codes, lock-outs and sessions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.models import BindCode, BindFailure, WebLoginCode, WebLoginLock, WebSession

# ------------------------------------------------------------------ binding codes (/绑定)


def code_by_hash(session: Session, code_hash: str) -> BindCode | None:
    return session.scalar(select(BindCode).where(BindCode.code_hash == code_hash))


def drop_unused_codes(session: Session, person_id: int | None = None, code_hash: str | None = None) -> None:
    """Unused codes no longer work: the person's, or the one with ``code_hash``."""
    which = BindCode.person_id == person_id if code_hash is None else BindCode.code_hash == code_hash
    session.execute(delete(BindCode).where(which, BindCode.used_at.is_(None)))


def failures_since(session: Session, wechat_id: str, since: datetime, limit: int) -> Sequence[datetime]:
    """When the account's last ``limit`` failed codes since ``since`` were typed, newest first."""
    return session.scalars(
        select(BindFailure.at)
        .where(BindFailure.wechat_id == wechat_id, BindFailure.at > since)
        .order_by(BindFailure.at.desc())
        .limit(limit)
    ).all()


# ------------------------------------------------------------------ the workbench's login


def lock_of(session: Session, subject: str) -> WebLoginLock | None:
    return session.scalar(select(WebLoginLock).where(WebLoginLock.subject == subject))  # this area's lock


def use_up_codes(session: Session, wechat_id: str, now: datetime) -> None:
    """The account's unused login codes count as used: only the newest one works."""
    session.execute(
        update(WebLoginCode)
        .where(WebLoginCode.wechat_id == wechat_id, WebLoginCode.used_at.is_(None))
        .values(used_at=now)
    )


def newest_live_code(session: Session, wechat_id: str, now: datetime) -> WebLoginCode | None:
    """The account's newest login code not used and not expired at ``now``."""
    return session.scalar(
        select(WebLoginCode)
        .where(
            WebLoginCode.wechat_id == wechat_id,
            WebLoginCode.used_at.is_(None),
            WebLoginCode.expires_at > now,
        )
        .order_by(WebLoginCode.id.desc())
        .limit(1)
    )


def session_by_hash(session: Session, token_hash: str) -> WebSession | None:
    return session.scalar(select(WebSession).where(WebSession.token_hash == token_hash))


def live_sessions_of(session: Session, wechat_id: str, now: datetime) -> Sequence[WebSession]:
    """The account's browser sessions not ended and not expired at ``now``."""
    return session.scalars(
        select(WebSession).where(
            WebSession.wechat_id == wechat_id, WebSession.ended_at.is_(None), WebSession.expires_at > now
        )
    ).all()
