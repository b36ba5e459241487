"""Named permission checks, attached to routes at declaration (see bot/router.py)."""

from __future__ import annotations

from bot.router import Permission

leader = Permission("楼组长", lambda ctx: ctx.identity.at_least("leader"))
party = Permission(
    "党员",
    lambda ctx: (
        ctx.identity.at_least("party")
        or (ctx.identity.delegated_until is not None and ctx.identity.delegated_until > ctx.now)
    ),
)
staff = Permission("社工", lambda ctx: ctx.identity.at_least("staff"))
admin = Permission("管理员", lambda ctx: ctx.identity.at_least("admin"))
street = Permission("街道", lambda ctx: ctx.identity.is_street)
