"""今日: the estate at a glance — buildings coloured by open items and their age, today's new
reports, overdue items, notices still waiting for 收到."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.config import Config, parse_building_range
from bot.reports import KIND_LABEL, OPEN_STATUSES
from storage.repositories import notices as notice_rows
from storage.repositories import reports as report_rows
from web.desk import EVERYONE, Desk, Page, page

LIST_LIMIT = 30


@dataclass(frozen=True)
class Cell:
    building: str
    open: int
    oldest_days: int | None
    tone: str  # calm / some / many / late: the colour of the cell


def estate_buildings(config: Config) -> list[str]:
    """Every building config.yaml knows (areas and branches), in number order."""
    found: set[str] = set()
    for spec in [*config.areas.values(), *config.branches.values()]:
        found.update(parse_building_range(spec))
    return sorted(found, key=lambda b: (len(b), b))


def tone(open_count: int, oldest_days: int | None, overdue_days: int) -> str:
    if open_count == 0:
        return "calm"
    if oldest_days is not None and oldest_days >= overdue_days:
        return "late"
    return "many" if open_count >= 3 else "some"


def day_start(config: Config, now: datetime) -> datetime:
    return datetime.combine(now.astimezone(config.tzinfo).date(), time(0), config.tzinfo)


def building_cells(page: Page, buildings: list[str]) -> list[Cell]:
    """One grouped scan of the open reports (index on status, created_at)."""
    rows = report_rows.open_by_building(page.session, OPEN_STATUSES)
    by_building = {building: (count, oldest) for building, count, oldest in rows}
    overdue = page.config.web.overdue_days
    cells = []
    for building in buildings:
        count, oldest = by_building.get(building, (0, None))
        days = (page.now - oldest).days if oldest is not None else None
        cells.append(Cell(building, count, days, tone(count, days, overdue)))
    return cells


def show_board(page: Page) -> Response:
    config = page.config
    buildings = estate_buildings(config)
    if not page.is_staff:  # a leader: own buildings, aggregates only
        buildings = [b for b in buildings if b in page.viewer.led_buildings] or list(
            page.viewer.led_buildings
        )
    cells = building_cells(page, buildings)
    today = day_start(config, page.now)
    cutoff = page.now - timedelta(days=config.web.overdue_days)
    scope = None if page.is_staff else buildings
    new_today = report_rows.count_since(page.session, today, scope)
    overdue_count = report_rows.count_in_before(page.session, OPEN_STATUSES, cutoff, scope)
    values: dict[str, Any] = {
        "cells": cells,
        "new_today": new_today,
        "overdue_count": overdue_count,
        "overdue_days": config.web.overdue_days,
        "open_total": sum(cell.open for cell in cells),
        "kind_label": KIND_LABEL,
    }
    if page.is_staff:
        page.log_query("/待办", "")
        values["today_reports"] = report_rows.made_since(page.session, today, LIST_LIMIT)
        values["overdue"] = report_rows.in_before(page.session, OPEN_STATUSES, cutoff, LIST_LIMIT)
        values["waiting_notices"] = waiting_notices(page)
    return page.render("board.html", **values)


def waiting_notices(page: Page) -> list[dict[str, object]]:
    """Notices inside the 收到 window with rooms where nobody has confirmed yet."""
    window = timedelta(hours=page.config.notices.ack_window_hours)
    waiting = []
    for notice in notice_rows.sent_since(page.session, page.now - window, 20):
        rooms = notice_rows.room_count(page.session, notice.id)
        confirmed = notice_rows.confirmed_room_count(page.session, notice.id)
        if rooms > confirmed:
            waiting.append({"notice": notice, "rooms": rooms, "silent": rooms - confirmed})
    return waiting


def routes(desk_of: Callable[[Request], Desk]) -> list[Route]:
    return [page(desk_of, "/", show_board, who=EVERYONE)]
