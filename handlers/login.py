"""/登录 and /退出登录: the web workbench's login through WeChat (see bot/services/login.py)."""

from __future__ import annotations

from bot.context import Ctx
from bot.message import Reply
from bot.router import Permission, Router
from bot.services.login import WEB_ROLES, end_sessions, issue_login_code

web_user = Permission("社工、管理员、楼组长", lambda ctx: ctx.identity.role in WEB_ROLES)


def login(ctx: Ctx, _: str) -> Reply:
    """/登录：私聊获取网页工作台的一次性登录码"""
    return Reply(
        issue_login_code(ctx.session, ctx.config, ctx.identity, ctx.is_private, ctx.now).text, private=True
    )


def logout(ctx: Ctx, _: str) -> Reply:
    """/退出登录：退出所有浏览器上的工作台登录"""
    return Reply(end_sessions(ctx.session, ctx.identity.wechat_id, ctx.now).text)


def register(router: Router) -> None:
    router.command("登录", allow=web_user)(login)
    router.command("退出登录", allow=web_user)(logout)
