"""Routes with declared permissions and a written-down order.

Dispatch rule, the whole of it: routes are tried by ascending ``priority``, ties in declaration
order; the first route whose matcher accepts the message is the one — if the sender passes its
permission it runs, otherwise the sender gets the route's polite refusal. Nothing else is tried
after a match. Messages in an unbound room only reach routes declared ``in_unbound_rooms``.
``tests/test_routing_table.py`` pins the table, so a reordering shows up as a diff.

A matcher returns ``None`` (not this route) or the match its handler receives: the argument text
for commands and patterns, a typed match object (a frozen dataclass) for ``when`` routes — what
the matcher found is handed over in it, never left in the context for the handler to look up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bot.message import Reply
from bot.texts import REFUSED

if TYPE_CHECKING:
    from bot.context import Ctx

HandlerResult = Reply | str | list[Reply] | None
Handler = Callable[["Ctx", str], HandlerResult]  # a command's or pattern's handler: the argument text
M = TypeVar("M")  # what a ``when`` route's matcher finds and its handler receives


@dataclass(frozen=True)
class Permission:
    """A named check on the context, combinable with | and &."""

    label: str  # who may, in the refusal: "社工", "党员、社工"
    check: Callable[[Ctx], bool]

    def __call__(self, ctx: Ctx) -> bool:
        return self.check(ctx)

    def __or__(self, other: Permission) -> Permission:
        return Permission(f"{self.label}、{other.label}", lambda ctx: self(ctx) or other(ctx))

    def __and__(self, other: Permission) -> Permission:
        return Permission(f"{self.label}（{other.label}）", lambda ctx: self(ctx) and other(ctx))


Matcher = Callable[["Ctx"], "str | None"]  # returns the argument text when the route applies


@dataclass
class Route:
    name: str
    matcher: Callable[[Ctx], Any]  # None: not this route; else the match the handler receives
    handler: Callable[[Ctx, Any], HandlerResult]
    allow: Permission | None
    priority: int
    order: int
    in_unbound_rooms: bool = False
    help: str = ""  # the handler's docstring: shown by /帮助, so help cannot drift from code
    command: str | None = None  # "/汇总" for slash commands
    limited: bool = True  # counts towards the sender's per-minute limit (bot/limits.py); 收到 does not

    def refusal(self) -> str:
        who = self.allow.label if self.allow else ""
        what = self.command or self.name
        return REFUSED.format(command=what, who=who)


def _command_matcher(words: tuple[str, ...]) -> Matcher:
    pattern = re.compile(
        r"^[/／](?:%s)(?=$|[\s:：,，])\s*[:：,，]?\s*(.*)$" % "|".join(map(re.escape, words)), re.S
    )

    def match(ctx: Ctx) -> str | None:
        found = pattern.match(ctx.text)
        return found.group(1).strip() if found else None

    return match


def _pattern_matcher(pattern: re.Pattern[str]) -> Matcher:
    def match(ctx: Ctx) -> str | None:
        found = pattern.match(ctx.text)
        if not found:
            return None
        return found.group("args").strip() if "args" in pattern.groupindex and found.group("args") else ""

    return match


@dataclass
class Router:
    routes: list[Route] = field(default_factory=list)

    def _add(self, route: Route) -> None:
        if any(existing.name == route.name for existing in self.routes):
            raise ValueError(f"route {route.name} declared twice")
        self.routes.append(route)

    def command(
        self,
        *words: str,
        allow: Permission | None = None,
        priority: int = 10,
        in_unbound_rooms: bool = False,
    ) -> Callable[[Handler], Handler]:
        """A slash command: ``/汇总 本周``. The first word names it in help and refusals."""

        def register(handler: Handler) -> Handler:
            self._add(
                Route(
                    name=f"/{words[0]}",
                    matcher=_command_matcher(words),
                    handler=handler,
                    allow=allow,
                    priority=priority,
                    order=len(self.routes),
                    in_unbound_rooms=in_unbound_rooms,
                    help=(handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else "",
                    command=f"/{words[0]}",
                )
            )
            return handler

        return register

    def pattern(
        self, name: str, regex: str, *, allow: Permission | None = None, priority: int = 50
    ) -> Callable[[Handler], Handler]:
        """A text pattern anchored at the start; a named group ``args`` becomes the argument."""
        compiled = re.compile(regex, re.S)

        def register(handler: Handler) -> Handler:
            self._add(
                Route(
                    name,
                    _pattern_matcher(compiled),
                    handler,
                    allow,
                    priority,
                    len(self.routes),
                    help=(handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else "",
                )
            )
            return handler

        return register

    def when(
        self,
        name: str,
        matcher: Callable[[Ctx], M | None],
        *,
        allow: Permission | None = None,
        priority: int = 90,
        in_unbound_rooms: bool = False,
        limited: bool = True,
    ) -> Callable[[Callable[[Ctx, M], HandlerResult]], Callable[[Ctx, M], HandlerResult]]:
        """Any matcher over the context (report intake asks the parser); the handler receives the
        match it returns, typed alike. ``limited=False``: a route that never answers, which a fast
        sender cannot use to crowd the outbox (bot/limits.py)."""

        def register(handler: Callable[[Ctx, M], HandlerResult]) -> Callable[[Ctx, M], HandlerResult]:
            self._add(
                Route(
                    name,
                    matcher,
                    handler,
                    allow,
                    priority,
                    len(self.routes),
                    in_unbound_rooms,
                    help=(handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else "",
                    limited=limited,
                )
            )
            return handler

        return register

    def ordered(self) -> list[Route]:
        return sorted(self.routes, key=lambda route: (route.priority, route.order))

    def match(self, ctx: Ctx) -> tuple[Route, Any] | None:
        """The route this message is for and what its matcher found (the handler's argument)."""
        for route in self.ordered():
            if ctx.room is not None and ctx.room.role is None and not route.in_unbound_rooms:
                continue
            found = route.matcher(ctx)
            if found is not None:
                return route, found
        return None

    def table(self) -> list[tuple[int, str, str]]:
        """(priority, name, who may) in dispatch order: what the routing-table test pins."""
        return [(r.priority, r.name, r.allow.label if r.allow else "所有人") for r in self.ordered()]
