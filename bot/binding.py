"""Binding a person to a WeChat contact by proof: one-time codes, unbinding, who counts as admin.

The verbs live here so that chat (/绑定码, /绑定) and the command line (`qinlin roster code`,
`qinlin roster unbind`) do the same thing. A code is eight digits, valid 24 hours, used once;
only its hash is stored. Five failed codes within an hour lock the sending contact for an hour.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.errors import Problem
from bot.identity import ROLE_LABEL, record_role_change
from bot.texts import BINDING_PROBLEMS
from storage.models import BindCode, BindFailure, Person
from storage.repositories import logins as login_rows
from storage.repositories import people as person_rows

CODE_DIGITS = 8
CODE_VALID = timedelta(hours=24)
LOCK_AFTER_FAILURES = 5
LOCK_FOR = timedelta(hours=1)
BIND_HINT = (
    "您在名册中是{role}，但这个微信号还没有绑定。请向管理员要一个绑定码"
    "（管理员私聊我发 /绑定码 您的姓名，或在服务器上运行 qinlin roster code 您的姓名），"
    "然后私聊我发送“/绑定 绑定码”。"
)


class BindingError(Exception):
    """The request cannot be done as asked. Its text is the staff's Chinese (chat says it); the
    terminal says its :attr:`problem` in English."""

    def __init__(self, code: str, **params: object) -> None:
        self.problem = Problem(code, params)
        super().__init__(self.problem.say(BINDING_PROBLEMS))


@dataclass(frozen=True)
class IssuedCode:
    person: Person
    code: str
    expires_at: datetime


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def normalise_code(text: str) -> str | None:
    """'1234 5678' or '1234-5678' as typed on a phone → '12345678'; None when it is not a code."""
    digits = "".join(ch for ch in text if ch not in " -")
    return digits if digits.isdigit() and len(digits) == CODE_DIGITS else None


def person_named(session: Session, name: str) -> Person:
    """The one roster person called ``name`` exactly. Two people of one name cannot be told
    apart here: the clerk gives them different names or ids in the roster first."""
    people = person_rows.named(session, name.strip())
    if not people:
        raise BindingError("not_in_roster", name=name.strip())
    privileged = [person for person in people if person.role != "resident"] or people
    if len(privileged) > 1:
        raise BindingError("ambiguous", name=name.strip(), count=len(privileged))
    return privileged[0]


def issue_code(session: Session, name: str, now: datetime, *, actor_id: str, actor_name: str) -> IssuedCode:
    person = person_named(session, name)
    # A new code replaces any unused one: the last code handed out is the only one that works.
    login_rows.drop_unused_codes(session, person_id=person.id)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    expires_at = now + CODE_VALID
    session.add(
        BindCode(
            person_id=person.id,
            code_hash=code_hash(code),
            issued_by=actor_name[:128],
            created_at=now,
            expires_at=expires_at,
        )
    )
    record_role_change(
        session, person, person.role, now, actor_id=actor_id, actor_name=actor_name, action="code"
    )
    return IssuedCode(person, code, expires_at)


def void_code(session: Session, typed: str) -> None:
    """The unused code ``typed`` no longer works (it was seen by more than its person)."""
    login_rows.drop_unused_codes(session, code_hash=code_hash(normalise_code(typed) or ""))


def locked_until(session: Session, wechat_id: str, now: datetime) -> datetime | None:
    recent = login_rows.failures_since(session, wechat_id, now - LOCK_FOR, LOCK_AFTER_FAILURES)
    if len(recent) < LOCK_AFTER_FAILURES:
        return None
    return recent[0] + LOCK_FOR  # an hour after the failure that made it five


def redeem_code(session: Session, wechat_id: str, contact_name: str, typed: str, now: datetime) -> str:
    """Bind the sender to the person the code was issued for; the reply for the sender. A failure
    is recorded (and answered) rather than raised, so that it survives the handler's rollback."""
    until = locked_until(session, wechat_id, now)
    if until is not None:
        minutes = max(1, int((until - now).total_seconds() // 60) + 1)
        return f"绑定码错误次数太多，请 {minutes} 分钟后再试，或请管理员重新发码。"
    code = normalise_code(typed)
    row = login_rows.code_by_hash(session, code_hash(code)) if code else None
    problem = None
    if row is None:
        problem = "绑定码不对，请核对管理员给您的 8 位数字。"
    elif row.used_at is not None:
        problem = "这个绑定码已经用过了，每个码只能用一次。请向管理员要一个新码。"
    elif row.expires_at <= now:
        problem = "这个绑定码已过期（有效期 24 小时），请向管理员要一个新码。"
    if problem is not None or row is None:
        session.add(BindFailure(wechat_id=wechat_id[:128], at=now))
        return problem or ""
    person = session.get(Person, row.person_id)
    if person is None:  # the person was removed from the roster after the code was issued
        return "这个绑定码对应的人已不在名册中，请联系管理员。"
    holder = person_rows.other_holder(session, wechat_id, person.id)
    if holder is not None:
        if holder.is_bound and holder.role != "resident":
            return f"这个微信号已绑定为 {holder.name}（{ROLE_LABEL[holder.role]}），请先请管理员解绑。"
        holder.wechat_id = None  # only learned from a display name, or a plain resident record
        session.flush()
    row.used_at, row.used_by = now, wechat_id[:128]
    person.wechat_id, person.bound_via, person.bound_at, person.updated_at = wechat_id, "code", now, now
    record_role_change(
        session, person, person.role, now, actor_id=wechat_id, actor_name=contact_name, action="bind"
    )
    return (
        f"绑定成功：您是 {person.name}（{ROLE_LABEL[person.role]}）。以后按这个微信号认人，"
        "改昵称不影响；换手机或换微信号请找管理员解绑后重新绑定。"
    )


def unbind(session: Session, name: str, now: datetime, *, actor_id: str, actor_name: str) -> Person:
    """Forget the contact bound to ``name`` (a lost phone): their role waits for a new binding."""
    person = person_named(session, name)
    if person.wechat_id is None:
        raise BindingError("not_bound", name=person.name)
    record_role_change(
        session, person, person.role, now, actor_id=actor_id, actor_name=actor_name, action="unbind"
    )
    person.wechat_id, person.bound_via, person.bound_at, person.updated_at = None, None, None, now
    login_rows.drop_unused_codes(session, person_id=person.id)
    return person


def bound_admins(session: Session, excluding: int | None = None) -> int:
    return person_rows.count_bound_admins(session, excluding)
