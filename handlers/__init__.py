"""The one place that wires the application: routes, timed jobs and the parser into a bot.

The order of ``register`` calls is the declaration order that breaks priority ties
(see bot/router.py); tests/test_routing_table.py pins the resulting table. Every face that runs
the bot (WeChat, console, replay, demo, tests, benchmarks) builds it with
:func:`build_application`.
"""

from __future__ import annotations

from sqlalchemy import Engine

from bot.app import Bot, build_bot
from bot.clock import Clock
from bot.config import Config
from bot.jobs import default_jobs
from bot.parsing import ReportParser, load_vocabulary, shared_parser
from bot.router import Router
from handlers import admin, login, notices, reports, staff, street
from handlers import help as help_routes


def build_router() -> Router:
    router = Router()
    help_routes.register(router)
    admin.register(router)
    staff.register(router)
    login.register(router)
    street.register(router)
    notices.register(router)
    reports.register(router)
    return router


def build_application(
    config: Config, engine: Engine, clock: Clock, *, parser: ReportParser | None = None
) -> Bot:
    """A bot with every route and job, on a database already migrated (`qinlin db upgrade`).
    The parser defaults to the process's shared one for config's vocabulary."""
    return build_bot(
        config,
        engine,
        clock,
        router=build_router(),
        jobs=default_jobs(),
        parser=parser or shared_parser(load_vocabulary(overrides=config.categories)),
    )
