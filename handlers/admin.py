"""Admin commands: /绑定 a room to its role, /设为 a person's role, /授权 and /撤销授权; and binding a
person to their WeChat contact by a one-time code (/绑定码 for the admin, /绑定 CODE for the person)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot import permissions as allow
from bot.binding import (
    CODE_DIGITS,
    BindingError,
    bound_admins,
    issue_code,
    normalise_code,
    redeem_code,
    unbind,
    void_code,
)
from bot.config import parse_building_range
from bot.context import Ctx
from bot.errors import UserError
from bot.identity import ROLE_LABEL, ROLE_WORDS, record_role_change, seen_contact
from bot.message import Outgoing, Reply
from bot.parsing.numerals import record_number
from bot.rooms import PROVEN_ROOM_ROLES, ROOM_ROLE_LABEL, Binding, apply_binding, rooms_with_role
from bot.router import Router
from bot.texts import usage
from storage.models import PERSON_NAME_LENGTH, Delegation, Person, RoleEvent
from storage.repositories import people

BIND_EXAMPLE = "例如：/绑定 3号楼、/绑定 第2支部、/绑定 一片区、/绑定 工作群、/绑定 党总支"
_MENTION = re.compile(r"^@(\S+)\s*(.*)$")


def bind(ctx: Ctx, arguments: str) -> Reply:
    """/绑定 3号楼（或 第2支部、一片区、工作群）：把本群绑定为对应的群"""
    if ctx.room is None:
        raise UserError("请在要绑定的群里发送 /绑定。")
    words = arguments.strip()
    binding: Binding | None = None
    building = re.fullmatch(r"([\d,，、\-]+)\s*号楼", words)
    branch = re.fullmatch(r"第\s*(\d+)\s*(?:党)?支部", words)
    if building:
        try:
            binding = Binding(
                "building",
                buildings=tuple(
                    parse_building_range(building.group(1).replace("，", ",").replace("、", ","))
                ),
            )
        except ValueError:
            binding = None
    elif branch and (number := record_number(branch.group(1))) is not None:
        if ctx.config.branches and number not in ctx.config.branches:
            # a branch config.yaml does not know has no buildings: 第2支部 relays would reach nobody
            known = "、".join(f"第{n}支部" for n in sorted(ctx.config.branches))
            raise UserError(
                f"config.yaml 里没有第{number}支部（有：{known}），请先在 branches 里写上它的楼号。"
            )
        binding = Binding("branch", branch=number, buildings=tuple(ctx.config.branch_buildings(number)))
    elif words in ctx.config.areas:
        binding = Binding("area", area=words, buildings=tuple(ctx.config.area_buildings(words)))
    elif words in ("工作群", "居委工作群"):
        binding = Binding("staff")
    elif words in ("党总支", "总支", "党总支群"):
        binding = Binding("general")
    if binding is None:
        raise UserError(f"没看懂要绑定成什么群。{BIND_EXAMPLE}")
    apply_binding(ctx.room, binding, "admin", ctx.now)
    if binding.role in PROVEN_ROOM_ROLES:  # the rooms that see more than residents do: staff hear of each
        for staff in rooms_with_role(ctx.session, "staff"):
            if staff.id != ctx.room.id:
                ctx.send(
                    Outgoing(
                        text=f"提示：{ctx.message.sender_name} 已将群“{ctx.room.topic}”绑定为{ROOM_ROLE_LABEL[binding.role]}。",
                        room_id=staff.id,
                        dedupe_key=f"bound:{ctx.message.message_id}:{staff.id}",
                    )
                )
    label = words + ("楼组群" if binding.role == "building" else "" if words.endswith("群") else "群")
    return Reply(f"已将本群绑定为{label}。")


MENTION_HELP = "请从微信的 @ 列表里选中这个人（手打的名字不算），"


NAME_TOO_LONG = f"名字太长了（名册最多记 {PERSON_NAME_LENGTH} 个字），请先让 TA 改个短些的群昵称再设置。"


def _mentioned_contact(ctx: Ctx, name: str, example: str) -> str:
    """The WeChat id of the one person @-picked in the message. A typed name is no one: a role or
    a delegation goes only to a contact WeChat itself named, and never to the bot."""
    if len(name) > PERSON_NAME_LENGTH:
        raise UserError(NAME_TOO_LONG)
    picked = [
        wechat_id for wechat_id in dict.fromkeys(ctx.message.mention_ids) if wechat_id != ctx.services.bot_id
    ]
    if not picked:
        raise UserError(f"{MENTION_HELP}例如：{example}")
    if len(picked) > 1:
        raise UserError(f"一次只能设置一个人，请只 @ 一位。例如：{example}")
    if not seen_contact(ctx.session, picked[0]):
        raise UserError(f"还没见过 {name} 发言：请让 TA 先在群里说一句话，再 @ TA 设置。")
    return picked[0]


def _person_for_contact(ctx: Ctx, wechat_id: str, name: str) -> Person:
    """The roster person of a contact an admin has @-picked. Picking the contact in WeChat is the
    admin's word that this contact is that person: an unbound roster entry of that name is bound."""
    person = people.by_wechat_id(ctx.session, wechat_id) or people.first_unbound_named(ctx.session, name)
    if person is None:
        person = Person(name=name, role="resident", source="chat", updated_at=ctx.now)
        ctx.session.add(person)
    if not person.is_bound:
        person.wechat_id, person.bound_via, person.bound_at = wechat_id, "admin", ctx.now
    ctx.session.flush()
    return person


def set_role(ctx: Ctx, arguments: str) -> Reply:
    """/设为 @某人 楼组长 3号楼：设置某人的角色"""
    match = _MENTION.match(arguments.strip())
    if not match:
        raise UserError(usage("/设为"))
    name, rest = match.groups()
    parts = rest.split()
    if not parts or parts[0] not in ROLE_WORDS:
        raise UserError(usage("/设为"))
    role = ROLE_WORDS[parts[0]]
    detail, buildings, branch = "", None, None
    if role == "leader":
        written = re.fullmatch(r"([\d,、\-]+)号楼", parts[1]) if len(parts) > 1 else None
        if not written:
            raise UserError("设为楼组长需要写楼号，例如：/设为 @钱组长 楼组长 3号楼")
        try:
            buildings = ",".join(parse_building_range(written.group(1).replace("、", ",")))
        except ValueError:
            raise UserError("楼号看不懂，例如：/设为 @钱组长 楼组长 3号楼 或 3-5号楼") from None
        detail = f"（{parts[1]}）"
    if role == "party" and len(parts) > 1 and (written_branch := re.fullmatch(r"第(\d{1,9})支部", parts[1])):
        branch = int(written_branch.group(1))
        detail = f"（{parts[1]}）"
    person = _person_for_contact(ctx, _mentioned_contact(ctx, name, "/设为 @钱组长 楼组长 3号楼"), name)
    if person.role == "admin" and role != "admin" and bound_admins(ctx.session, excluding=person.id) == 0:
        raise UserError(f"{person.name} 是最后一位管理员，不能撤下；请先设另一位管理员。")
    if buildings is not None:
        person.buildings = buildings
    if branch is not None:
        person.branch = branch
    record_role_change(
        ctx.session,
        person,
        role,
        ctx.now,
        actor_id=ctx.message.sender_id,
        actor_name=ctx.message.sender_name,
        action="set_role",
        detail=rest.strip(),
    )
    person.role, person.updated_at = role, ctx.now
    return Reply(f"已将 {name} 设为{ROLE_LABEL[role]}{detail}。")


def delegate(ctx: Ctx, arguments: str) -> Reply:
    """/授权 @某人 今天：当天临时授予转发通知的权限（到午夜为止）"""
    match = _MENTION.match(arguments.strip())
    if not match or match.group(2).strip() not in ("今天", ""):
        raise UserError(usage("/授权"))
    name = match.group(1)
    wechat_id = _mentioned_contact(ctx, name, "/授权 @张阿姨 今天")
    local = ctx.now.astimezone(ctx.config.tzinfo)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), ctx.config.tzinfo)
    ctx.session.add(
        Delegation(
            wechat_id=wechat_id,
            name=name,
            granted_by=ctx.message.sender_name[:128],
            granted_at=ctx.now,
            valid_until=midnight,
        )
    )
    _audit_delegation(ctx, wechat_id, name, "delegate", f"至 {midnight:%Y-%m-%d %H:%M}")
    return Reply(f"已授权 {name} 今天发布通知（到今晚24:00为止）。")


def _audit_delegation(ctx: Ctx, wechat_id: str, name: str, action: str, detail: str) -> None:
    person = people.by_wechat_id(ctx.session, wechat_id)
    ctx.session.add(
        RoleEvent(
            at=ctx.now,
            action=action,
            person_id=person.id if person else None,
            person_name=name[:128],
            wechat_id=wechat_id,
            old_role=person.role if person else None,
            new_role=person.role if person else None,
            actor_id=ctx.message.sender_id[:128],
            actor_name=ctx.message.sender_name[:128],
            detail=detail,
        )
    )


def revoke(ctx: Ctx, arguments: str) -> Reply:
    """/撤销授权 @某人：收回临时授权"""
    match = _MENTION.match(arguments.strip())
    if not match:
        raise UserError(usage("/撤销授权"))
    name = match.group(1)
    # Taking a right back may go by the name too: it can only ever make someone less powerful.
    picked = [i for i in ctx.message.mention_ids if i != ctx.services.bot_id]
    rows = people.live_delegations(ctx.session, ctx.now, picked, name)
    if not rows:
        return Reply(f"{name} 目前没有临时授权。")
    for row in rows:
        row.revoked_at = ctx.now
        _audit_delegation(ctx, row.wechat_id, row.name, "revoke", f"授权于 {row.granted_at:%Y-%m-%d %H:%M}")
    return Reply(f"已撤销 {name} 的临时授权。")


# ------------------------------------------------------------------ binding people by code

CODE_ARGUMENT = re.compile(
    rf"^[/／]\s*绑定\s*[:：]?\s*(?P<args>\d[\d \-]{{{CODE_DIGITS - 2},{CODE_DIGITS + 4}}})$"
)


@dataclass(frozen=True)
class TypedCode:
    """/绑定 followed by what reads as a bind code, as typed (spaces and dashes included)."""

    code: str


def is_bind_code(ctx: Ctx) -> TypedCode | None:
    found = CODE_ARGUMENT.match(ctx.text)
    return TypedCode(found.group("args")) if found and normalise_code(found.group("args")) else None


def bind_person(ctx: Ctx, typed: TypedCode) -> Reply:
    """/绑定 12345678：私聊发送管理员给的绑定码，绑定您的微信号"""
    code = typed.code
    if ctx.room is not None:
        # a code read by a whole group proves nothing any more
        void_code(ctx.session, code)
        return Reply("绑定码请私聊我发送。发在群里的码已作废，请向管理员重新要一个。")
    return Reply(redeem_code(ctx.session, ctx.message.sender_id, ctx.message.sender_name, code, ctx.now))


def issue_bind_code(ctx: Ctx, arguments: str) -> Reply:
    """/绑定码 王社工：为名册里的人生成一次性绑定码（私聊使用）"""
    if ctx.room is not None:
        raise UserError("绑定码请私聊我获取，不要在群里发。")
    name = arguments.strip().lstrip("@")
    if not name:
        raise UserError(usage("/绑定码"))
    try:
        issued = issue_code(
            ctx.session, name, ctx.now, actor_id=ctx.message.sender_id, actor_name=ctx.message.sender_name
        )
    except BindingError as error:
        raise UserError(str(error)) from None
    until = issued.expires_at.astimezone(ctx.config.tzinfo)
    return Reply(
        f"{issued.person.name}（{ROLE_LABEL[issued.person.role]}）的绑定码：{issued.code}\n"
        f"有效至 {until:%m-%d %H:%M}，只能用一次。请当面或电话告诉本人，让 TA 私聊我发送：/绑定 {issued.code}"
    )


def unbind_person(ctx: Ctx, arguments: str) -> Reply:
    """/解绑 王社工：解除某人的微信号绑定（手机丢失时用），之后凭新绑定码重新绑定"""
    name = arguments.strip().lstrip("@").strip()
    if not name:
        raise UserError(usage("/解绑"))
    try:
        person = unbind(
            ctx.session, name, ctx.now, actor_id=ctx.message.sender_id, actor_name=ctx.message.sender_name
        )
    except BindingError as error:
        raise UserError(str(error)) from None
    return Reply(f"已解除 {person.name} 的微信号绑定。TA 的角色保留，凭新的绑定码重新绑定后恢复。")


def register(router: Router) -> None:
    # "/绑定 12345678" is a person proving who they are; any other "/绑定 …" binds a room
    router.when("/绑定 绑定码", is_bind_code, priority=5, in_unbound_rooms=True)(bind_person)
    router.command("绑定码", allow=allow.admin)(issue_bind_code)
    router.command("解绑", allow=allow.admin)(unbind_person)
    router.command("绑定", allow=allow.admin, in_unbound_rooms=True)(bind)
    router.command("设为", allow=allow.admin)(set_role)
    router.command("授权", allow=allow.admin)(delegate)
    router.command("撤销授权", allow=allow.admin)(revoke)
