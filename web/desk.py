"""The workbench's plumbing: one unit of work per request, who is looking, CSRF, the cookie.

Every page runs as ``handler(page)`` inside :func:`storage.db.unit_of_work`; messages a page
queues go through the same outbox as chat replies, and the bot is woken when there are some.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, Signer
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from bot.clock import Clock
from bot.config import Config
from bot.errors import UserError
from bot.identity import ROLE_LABEL, Identity, resolve_identity
from bot.message import Outgoing
from bot.outbox import enqueue
from bot.reports import Labels
from bot.services.login import live_session
from bot.services.queries import log_query
from storage.db import unit_of_work
from storage.models import WebSession

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "qinlin_session"
LOGIN_COOKIE = "qinlin_login"  # CSRF for the login form itself, before there is a session
STAFF = ("staff", "admin")
EVERYONE = ("leader", "staff", "admin")


@dataclass
class Desk:
    """What every page may use, built once by :func:`web.app.create_app`."""

    config: Config
    factory: sessionmaker[Session]
    clock: Clock
    labels: Labels
    signer: Signer
    on_queued: Callable[[], None] | None = None  # wakes the bot's outbox when it runs in this process
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(directory=str(HERE / "templates"))
    )

    def sign(self, value: str) -> str:
        return self.signer.sign(value).decode()

    def unsign(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return self.signer.unsign(value).decode()
        except BadSignature:
            return None


@dataclass
class Page:
    """One request: who asks, their session row, the form, the unit of work, what to send."""

    request: Request
    desk: Desk
    session: Session
    now: datetime
    viewer: Identity
    web_session: WebSession
    form: FormData | None = None
    outgoing: list[Outgoing] = field(default_factory=list)

    @property
    def config(self) -> Config:
        return self.desk.config

    @property
    def is_staff(self) -> bool:
        return self.viewer.role in STAFF

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def upload(self, name: str) -> UploadFile | None:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, UploadFile) else None

    def log_query(self, command: str, arguments: str) -> None:
        """The same query-log row as the chat command (room: none, as in private chat)."""
        log_query(self.session, self.viewer.wechat_id, self.viewer.name, None, command, arguments, self.now)

    def flash(self, text: str, ok: bool = True) -> None:
        self.web_session.filters = {**(self.web_session.filters or {}), "flash": [text, ok]}

    def take_flash(self) -> tuple[str, bool] | None:
        filters = dict(self.web_session.filters or {})
        shown = filters.pop("flash", None)
        if shown is not None:
            self.web_session.filters = filters
        return (shown[0], bool(shown[1])) if shown else None

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        return self.desk.templates.TemplateResponse(
            self.request,
            template,
            {
                "viewer": self.viewer,
                "role_label": ROLE_LABEL.get(self.viewer.role, ""),
                "is_staff": self.is_staff,
                "csrf": self.web_session.csrf_token,
                "community": self.config.community,
                "flash": self.take_flash(),
                "tz": self.config.tzinfo,
                "labels": self.desk.labels,
                "now": self.now,
                **values,
            },
            status_code=status_code,
        )

    def refuse(self, text: str, status_code: int = 403) -> HTMLResponse:
        return self.render("refused.html", status_code=status_code, reason=text)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


PageHandler = Callable[[Page], Response]


def page(
    desk_of: Callable[[Request], Desk],
    path: str,
    handler: PageHandler,
    *,
    methods: tuple[str, ...] = ("GET",),
    who: tuple[str, ...] = STAFF,
    done: str | None = None,
) -> Route:
    """A route that needs a logged-in person with one of the roles ``who``. POSTs must carry the
    session's CSRF token. A UserError from an action is shown on ``done`` (or as a page)."""

    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=2, max_fields=200) if request.method == "POST" else None
        try:
            return await run_in_threadpool(_serve, desk_of(request), request, form, handler, who, done)
        finally:
            if form is not None:
                await form.close()

    return Route(path, endpoint, methods=list(methods), name=handler.__name__)


def _serve(
    desk: Desk,
    request: Request,
    form: FormData | None,
    handler: PageHandler,
    who: tuple[str, ...],
    done: str | None,
) -> Response:
    queued = 0
    with unit_of_work(desk.factory) as session:
        now = desk.clock.now()
        token = desk.unsign(request.cookies.get(SESSION_COOKIE))
        web_session = live_session(session, token, now) if token else None
        if web_session is None:
            return see_other("/login")
        viewer = resolve_identity(session, web_session.wechat_id, web_session.name, None, now)
        current = Page(request, desk, session, now, viewer, web_session, form)
        if viewer.role not in EVERYONE:  # the role was taken away since the login
            web_session.ended_at = now
            return see_other("/login")
        if form is not None and not secrets.compare_digest(str(form.get("csrf", "")), web_session.csrf_token):
            return current.refuse("页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
        if viewer.role not in who:
            return current.refuse("抱歉，楼组长只能查看本楼组的汇总（今日页）。")
        try:
            with session.begin_nested():  # a mistake undoes the half-done action, as in chat
                response = handler(current)
        except UserError as mistake:
            if done is None:
                return current.refuse(str(mistake), status_code=400)
            current.flash(str(mistake), ok=False)
            response = see_other(done.format(**request.path_params))
        for out in current.outgoing:
            if enqueue(session, out, now) is not None:
                queued += 1
    if queued and desk.on_queued is not None:
        desk.on_queued()
    return response
