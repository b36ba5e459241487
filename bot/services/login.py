"""Logging in to the web workbench through WeChat: no passwords.

A bound staff member, admin or leader sends /登录 in private chat and gets a one-time code; the
login page takes their name and the code. Codes are kept hashed, live ``web.code_minutes`` and
work once; five wrong codes lock that person's logins for 15 minutes. A session ends at local
midnight, at /退出登录 in chat, or at 退出 on the page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, time, timedelta

from sqlalchemy.orm import Session

from bot.config import Config
from bot.errors import UserError
from bot.identity import Identity, resolve_identity
from bot.services import Outcome
from storage.models import AppSecret, Person, WebLoginCode, WebLoginLock, WebSession
from storage.repositories import logins as login_rows
from storage.repositories import people as person_rows

WEB_ROLES = ("leader", "staff", "admin")  # party members relay notices in chat; the desk is not theirs
MAX_FAILURES = 5
LOCK = timedelta(minutes=15)
WRONG = "登录码不对或已过期，请在微信里私聊亲邻助手重新发送 /登录。"
LOCKED = "登录码错误次数太多，请 15 分钟后再试。"


def _hash(wechat_id: str, code: str) -> str:
    return hashlib.sha256(f"{wechat_id}\n{code}".encode()).hexdigest()


def issue_login_code(
    session: Session, config: Config, actor: Identity, private: bool, now: datetime
) -> Outcome:
    """/登录: a fresh six-digit code for this person; earlier unused codes stop working."""
    if actor.role not in WEB_ROLES:
        raise UserError("抱歉，工作台只供社工、管理员和楼组长登录。")
    if not private:
        raise UserError("为了安全，请私聊亲邻助手发送 /登录，登录码只发在私聊里。")
    login_rows.use_up_codes(session, actor.wechat_id, now)
    code = f"{secrets.randbelow(1_000_000):06d}"
    minutes = config.web.code_minutes
    session.add(
        WebLoginCode(
            wechat_id=actor.wechat_id,
            code_hash=_hash(actor.wechat_id, code),
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
    )
    return Outcome(
        f"工作台登录码：{code}（{minutes} 分钟内有效，只能用一次）。请在登录页输入您的名字“{actor.name}”和这个码。"
        "不是您本人在登录，请忽略并告诉管理员。",
        notes={"code": code},
    )


def _lock(session: Session, subject: str) -> WebLoginLock | None:
    return login_rows.lock_of(session, subject)


def _lock_subject(name: str, person: Person | None) -> str:
    return person.wechat_id if person is not None and person.wechat_id else f"name:{name}"[:160]


def check_login(session: Session, name: str, code: str, now: datetime) -> Identity:
    """The person a name and code belong to, or a UserError (counted towards the lock-out)."""
    name, code = name.strip()[:64], code.strip()
    people = person_rows.bound_named_in(session, name, WEB_ROLES)
    subjects = [_lock_subject(name, person) for person in people] or [_lock_subject(name, None)]
    for subject in subjects:
        lock = _lock(session, subject)
        if lock is not None and lock.locked_until is not None and lock.locked_until > now:
            raise UserError(LOCKED)
    for person in people:
        assert person.wechat_id is not None
        row = login_rows.newest_live_code(session, person.wechat_id, now)
        if row is not None and hmac.compare_digest(row.code_hash, _hash(person.wechat_id, code)):
            row.used_at = now
            lock = _lock(session, person.wechat_id)
            if lock is not None:
                session.delete(lock)
            who = resolve_identity(session, person.wechat_id, person.name, None, now)
            if who.role in WEB_ROLES:  # the identity rules decide (an unproven binding is a resident)
                return who
    for subject in subjects:
        _count_failure(session, subject, now)
    raise UserError(WRONG)


def _count_failure(session: Session, subject: str, now: datetime) -> None:
    lock = _lock(session, subject)
    if (
        lock is None
        or (lock.locked_until is not None and lock.locked_until <= now)
        or now - lock.last_failure_at > LOCK
    ):
        if lock is None:
            lock = WebLoginLock(subject=subject)
            session.add(lock)
        lock.failures, lock.locked_until = 0, None
    lock.failures += 1
    lock.last_failure_at = now
    if lock.failures >= MAX_FAILURES:
        lock.locked_until = now + LOCK


def next_midnight(config: Config, now: datetime) -> datetime:
    local = now.astimezone(config.tzinfo)
    return datetime.combine(local.date() + timedelta(days=1), time(0), config.tzinfo)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, config: Config, who: Identity, now: datetime) -> tuple[str, WebSession]:
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=token_hash(token),
        wechat_id=who.wechat_id,
        name=who.name,
        csrf_token=secrets.token_urlsafe(24),
        filters={},
        created_at=now,
        expires_at=next_midnight(config, now),
    )
    session.add(row)
    session.flush()
    return token, row


def live_session(session: Session, token: str, now: datetime) -> WebSession | None:
    row = login_rows.session_by_hash(session, token_hash(token))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    return row


def end_sessions(session: Session, wechat_id: str, now: datetime) -> Outcome:
    """/退出登录: every browser logged in as this person is logged out."""
    live = login_rows.live_sessions_of(session, wechat_id, now)
    for row in live:
        row.ended_at = now
    ended = len(live)
    return Outcome(f"已退出工作台登录（{ended} 个浏览器）。" if ended else "您目前没有登录工作台。")


def signing_secret(session: Session) -> str:
    """Made once per database, so the bot, `qinlin web` and a restart all agree on it."""
    row = session.get(AppSecret, "web_cookie")
    if row is None:
        row = AppSecret(name="web_cookie", value=secrets.token_urlsafe(48))
        session.add(row)
        session.flush()
    return row.value
