"""The street office's (街道) chat commands: #通知 全街道 / #紧急通知 全街道 — a notice to every
building room of every area on the database, each area's account delivering its own rooms.
(/汇总 of a street person covers every area: handlers/staff.py.)"""

from __future__ import annotations

from bot import permissions as allow
from bot.context import Ctx
from bot.errors import UserError
from bot.message import Reply
from bot.router import Router
from bot.services import notices, street
from handlers.notices import POSTING_ROOMS


def _post(ctx: Ctx, arguments: str, urgent: bool) -> Reply:
    if ctx.room is not None and ctx.room.role not in POSTING_ROOMS:
        raise UserError("全街道通知请在工作群或私聊中发布。")
    origin = notices.Origin(ctx.room.id if ctx.room else None, ctx.message.message_id, ctx.as_typed)
    done = street.street_notice(ctx.session, ctx.config, ctx.identity, arguments, urgent, ctx.now, origin)
    for out in done.outgoing:
        ctx.send(out)
    return Reply(done.text)


def street_notice(ctx: Ctx, arguments: str) -> Reply:
    """#通知 全街道 内容：发到街道每个居民区的每个楼组群（各居民区的账号发自己的群）"""
    return _post(ctx, arguments, urgent=False)


def urgent_street_notice(ctx: Ctx, arguments: str) -> Reply:
    """#紧急通知 全街道 内容：同上，不受夜间静默限制"""
    return _post(ctx, arguments, urgent=True)


def register(router: Router) -> None:
    # ahead of #通知 (15): 全街道 is the street's word, an area's staff are told who may use it
    router.pattern(
        "#紧急通知 全街道",
        r"^[#＃]\s*紧急通知\s*[:：]?\s*全街道\s*[:：]?(?P<args>.*)$",
        allow=allow.street,
        priority=14,
    )(urgent_street_notice)
    router.pattern(
        "#通知 全街道",
        r"^[#＃]\s*通知\s*[:：]?\s*全街道\s*[:：]?(?P<args>.*)$",
        allow=allow.street,
        priority=14,
    )(street_notice)
