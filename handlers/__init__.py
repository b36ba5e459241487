"""All routes and timed jobs are wired here, in one place and one order.

The order of ``register`` calls is the declaration order that breaks priority ties
(see bot/router.py); tests/test_routing_table.py pins the resulting table.
"""

from __future__ import annotations

from bot.app import TimedJob
from bot.router import Router


def build_router() -> Router:
    from handlers import help as help_routes
    from handlers import admin, notices, reports, staff

    router = Router()
    help_routes.register(router)
    admin.register(router)
    staff.register(router)
    notices.register(router)
    reports.register(router)
    return router


def build_jobs() -> list[TimedJob]:
    from bot.digest import DailyDigest
    from handlers.notices import RecallReports, ScheduledNotices, SilentRoomReminders
    from handlers.reports import FollowupExpiry

    return [FollowupExpiry(), ScheduledNotices(), SilentRoomReminders(), RecallReports(), DailyDigest()]
