"""Named permission checks, attached to routes at declaration (see bot/router.py)."""

from __future__ import annotations

from bot.router import Permission

anyone = Permission("所有人", lambda ctx: True)
leader = Permission("楼组长", lambda ctx: ctx.identity.at_least("leader"))
party = Permission(
    "党员",
    lambda ctx: ctx.identity.at_least("party")
    or (ctx.identity.delegated_until is not None and ctx.identity.delegated_until > ctx.now),
)
staff = Permission("社工", lambda ctx: ctx.identity.at_least("staff"))
admin = Permission("管理员", lambda ctx: ctx.identity.at_least("admin"))


def in_room(*roles: str) -> Permission:
    from bot.rooms import ROOM_ROLE_LABEL

    label = "、".join(ROOM_ROLE_LABEL[r] for r in roles)
    return Permission(f"在{label}", lambda ctx: ctx.room is not None and ctx.room.role in roles)


private_chat = Permission("私聊", lambda ctx: ctx.room is None)
