"""/帮助: each person sees the commands they may use; the lines are the handlers' docstrings."""

from __future__ import annotations

from bot.context import Ctx
from bot.message import Reply
from bot.router import Router


def make_help(router: Router):  # returns a handler bound to this router
    def help_command(ctx: Ctx, _: str) -> Reply:
        """/帮助：查看您可以使用的功能"""
        lines = []
        for route in router.ordered():
            if not route.help:
                continue
            if route.allow is not None and not route.allow(ctx):
                continue
            lines.append(f"· {route.help}")
        header = f"亲邻助手 · {ctx.config.community}\n您可以使用："
        return Reply(header + "\n" + "\n".join(dict.fromkeys(lines)))

    return help_command


def register(router: Router) -> None:
    router.command("帮助", "help", "菜单", priority=1, in_unbound_rooms=False)(make_help(router))
