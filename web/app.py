"""The workbench application: login, logout, static files and every page's route."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from itsdangerous import Signer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.charts import cjk_font_path
from bot.clock import Clock
from bot.config import Config
from bot.errors import UserError
from bot.parsing.vocabulary import category_labels
from bot.reports import Labels
from bot.services.login import check_login, live_session, next_midnight, signing_secret, start_session
from storage.db import check_migrated, session_factory, unit_of_work
from web import board, charts, notices, people, reports
from web.desk import HERE, LOGIN_COOKIE, SESSION_COOKIE, Desk, see_other


class SafetyHeaders:
    """Pages are never framed by another site, never cached (they carry residents' details), and
    load nothing from anywhere but this server."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith(("/static/", "/fonts/"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + self.HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _cookie_seconds(desk: Desk, now: datetime) -> int:
    return max(60, int((next_midnight(desk.config, now) - now).total_seconds()))


def _login_page(desk: Desk, request: Request, error: str = "", status_code: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = desk.templates.TemplateResponse(
        request,
        "login.html",
        {
            "community": desk.config.community,
            "csrf": nonce,
            "error": error,
            "minutes": desk.config.web.code_minutes,
        },
        status_code=status_code,
    )
    response.set_cookie(LOGIN_COOKIE, desk.sign(nonce), max_age=3600, httponly=True, samesite="strict")
    return response


def create_app(
    config: Config,
    engine: Engine,
    clock: Clock,
    on_queued: Callable[[], None] | None = None,
    factory: sessionmaker[Session] | None = None,
) -> Starlette:
    """The workbench on the bot's database; ``on_queued`` is called after a page queues messages.
    Beside the bot in one process, pass the bot's ``factory``: its outbox then sees the rows a page
    queues at once (bot/due.py listens to that factory's sessions)."""
    check_migrated(engine)
    factory = factory or session_factory(engine, area=config.area_id)
    with unit_of_work(factory) as session:
        secret = signing_secret(session)
    labels = Labels(category_labels(config.categories))
    desk = Desk(
        config=config,
        factory=factory,
        clock=clock,
        labels=labels,
        signer=Signer(secret, salt="qinlin-web"),
        on_queued=on_queued,
    )

    def desk_of(request: Request) -> Desk:
        return desk

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return _login_page(desk, request)
        form = await request.form()
        nonce = desk.unsign(request.cookies.get(LOGIN_COOKIE))
        if not nonce or not secrets.compare_digest(str(form.get("csrf", "")), nonce):
            return _login_page(desk, request, "页面已过期，请重新输入。", 403)
        name, code = str(form.get("name", "")), str(form.get("code", ""))

        def check() -> tuple[str | None, str]:
            with unit_of_work(desk.factory) as session:  # a wrong code is counted even though it fails
                now = desk.clock.now()
                try:
                    who = check_login(session, name, code, now)
                except UserError as mistake:
                    return None, str(mistake)
                token, _ = start_session(session, desk.config, who, now)
                return token, ""

        token, error = await run_in_threadpool(check)
        if token is None:
            return _login_page(desk, request, error, 400)
        response = see_other("/")
        response.set_cookie(
            SESSION_COOKIE,
            desk.sign(token),
            max_age=_cookie_seconds(desk, clock.now()),
            httponly=True,
            samesite="lax",
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    async def logout(request: Request) -> Response:
        form = await request.form()

        def end() -> None:
            token = desk.unsign(request.cookies.get(SESSION_COOKIE))
            with unit_of_work(desk.factory) as session:
                row = live_session(session, token, desk.clock.now()) if token else None
                if row is not None and secrets.compare_digest(str(form.get("csrf", "")), row.csrf_token):
                    row.ended_at = desk.clock.now()

        await run_in_threadpool(end)
        response = see_other("/login")
        response.delete_cookie(SESSION_COOKIE)
        return response

    async def cjk_font(request: Request) -> Response:
        # A machine without Chinese fonts (a fresh Linux) would show boxes: the charts' own font
        # (Noto Sans CJK SC from mplfonts) is served too, and the browser fetches it only then.
        return FileResponse(
            cjk_font_path(), media_type="font/otf", headers={"Cache-Control": "max-age=2592000"}
        )

    routes: list[Route | Mount] = [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/fonts/cjk.otf", cjk_font),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    for module in (board, reports, notices, people, charts):
        routes.extend(module.routes(desk_of))
    app = Starlette(routes=routes, middleware=[Middleware(SafetyHeaders)])
    app.state.desk = desk
    return app
