"""Admin commands: /绑定 a room to its role, /设为 a person's role, /授权 and /撤销授权."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from sqlalchemy import select

from bot import permissions as allow
from bot.config import parse_building_range
from bot.context import Ctx
from bot.errors import UserError
from bot.identity import ROLE_LABEL, find_person
from bot.message import Reply
from bot.parsing.numerals import record_number
from bot.rooms import Binding, apply_binding
from bot.router import Router
from storage.models import Delegation, Person

BIND_EXAMPLE = "例如：/绑定 3号楼、/绑定 第2支部、/绑定 一片区、/绑定 工作群、/绑定 党总支"
ROLE_WORDS = {"楼组长": "leader", "党员": "party", "社工": "staff", "管理员": "admin", "居民": "resident",
              "党小组长": "leader", "居民小组长": "leader", "业主代表": "leader"}
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
            binding = Binding("building", buildings=tuple(parse_building_range(building.group(1).replace("，", ",").replace("、", ","))))
        except ValueError:
            binding = None
    elif branch and (number := record_number(branch.group(1))) is not None:
        if ctx.config.branches and number not in ctx.config.branches:
            # a branch config.yaml does not know has no buildings: 第2支部 relays would reach nobody
            known = "、".join(f"第{n}支部" for n in sorted(ctx.config.branches))
            raise UserError(f"config.yaml 里没有第{number}支部（有：{known}），请先在 branches 里写上它的楼号。")
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
    label = words + ("楼组群" if binding.role == "building" else "" if words.endswith("群") else "群")
    return Reply(f"已将本群绑定为{label}。")


def _person(ctx: Ctx, name: str) -> Person:
    mentioned = ctx.message.mention_ids[0] if ctx.message.mention_ids else f"wxid_{name}"
    person = find_person(ctx.session, mentioned, name)
    if person is None:
        person = Person(name=name, wechat_id=ctx.message.mention_ids[0] if ctx.message.mention_ids else None,
                        role="resident", source="chat", updated_at=ctx.now)
        ctx.session.add(person)
    return person


def set_role(ctx: Ctx, arguments: str) -> Reply:
    """/设为 @某人 楼组长 3号楼：设置某人的角色"""
    match = _MENTION.match(arguments.strip())
    if not match:
        raise UserError("格式：/设为 @某人 楼组长 3号楼（角色：居民、楼组长、党员、社工、管理员）")
    name, rest = match.groups()
    parts = rest.split()
    if not parts or parts[0] not in ROLE_WORDS:
        raise UserError("格式：/设为 @某人 楼组长 3号楼（角色：居民、楼组长、党员、社工、管理员）")
    role = ROLE_WORDS[parts[0]]
    person = _person(ctx, name)
    person.role, person.updated_at = role, ctx.now
    detail = ""
    if role == "leader":
        buildings = re.fullmatch(r"([\d,、\-]+)号楼", parts[1]) if len(parts) > 1 else None
        if not buildings:
            raise UserError("设为楼组长需要写楼号，例如：/设为 @钱组长 楼组长 3号楼")
        try:
            person.buildings = ",".join(parse_building_range(buildings.group(1).replace("、", ",")))
        except ValueError:
            raise UserError("楼号看不懂，例如：/设为 @钱组长 楼组长 3号楼 或 3-5号楼") from None
        detail = f"（{parts[1]}）"
    if role == "party" and len(parts) > 1 and (branch := re.fullmatch(r"第(\d{1,9})支部", parts[1])):
        person.branch = int(branch.group(1))
        detail = f"（{parts[1]}）"
    return Reply(f"已将 {name} 设为{ROLE_LABEL[role]}{detail}。")


def delegate(ctx: Ctx, arguments: str) -> Reply:
    """/授权 @某人 今天：当天临时授予转发通知的权限（到午夜为止）"""
    match = _MENTION.match(arguments.strip())
    if not match or match.group(2).strip() not in ("今天", ""):
        raise UserError("格式：/授权 @某人 今天")
    name = match.group(1)
    wechat_id = ctx.message.mention_ids[0] if ctx.message.mention_ids else (
        (find_person(ctx.session, f"wxid_{name}", name) or Person(wechat_id=f"wxid_{name}")).wechat_id or f"wxid_{name}")
    local = ctx.now.astimezone(ctx.config.tzinfo)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), ctx.config.tzinfo)
    ctx.session.add(Delegation(wechat_id=wechat_id, name=name, granted_by=ctx.message.sender_name,
                               granted_at=ctx.now, valid_until=midnight))
    return Reply(f"已授权 {name} 今天发布通知（到今晚24:00为止）。")


def revoke(ctx: Ctx, arguments: str) -> Reply:
    """/撤销授权 @某人：收回临时授权"""
    match = _MENTION.match(arguments.strip())
    if not match:
        raise UserError("格式：/撤销授权 @某人")
    name = match.group(1)
    rows = ctx.session.scalars(select(Delegation).where(Delegation.name == name, Delegation.revoked_at.is_(None),
                                                        Delegation.valid_until > ctx.now)).all()
    if not rows:
        return Reply(f"{name} 目前没有临时授权。")
    for row in rows:
        row.revoked_at = ctx.now
    return Reply(f"已撤销 {name} 的临时授权。")


def register(router: Router) -> None:
    router.command("绑定", allow=allow.admin, in_unbound_rooms=True)(bind)
    router.command("设为", allow=allow.admin)(set_role)
    router.command("授权", allow=allow.admin)(delegate)
    router.command("撤销授权", allow=allow.admin)(revoke)
