"""今日: the estate at a glance — buildings coloured by open items and their age, today's new
reports, overdue items, notices still waiting for 收到."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.config import Config, parse_building_range
from bot.reports import KIND_LABEL, OPEN_STATUSES
from storage.models import Notice, NoticeAck, NoticeDelivery, Report
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
    rows = page.session.execute(
        select(Report.building, func.count(), func.min(Report.created_at))
        .where(Report.status.in_(OPEN_STATUSES), Report.building.is_not(None)).group_by(Report.building)
    ).all()
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
        buildings = [b for b in buildings if b in page.viewer.led_buildings] or list(page.viewer.led_buildings)
    cells = building_cells(page, buildings)
    today = day_start(config, page.now)
    cutoff = page.now - timedelta(days=config.web.overdue_days)
    scope = [] if page.is_staff else [Report.building.in_(buildings)]
    new_today = page.session.scalar(select(func.count()).select_from(Report).where(Report.created_at >= today, *scope)) or 0
    overdue_count = page.session.scalar(select(func.count()).select_from(Report).where(
        Report.status.in_(OPEN_STATUSES), Report.created_at < cutoff, *scope)) or 0
    values: dict[str, Any] = {
        "cells": cells, "new_today": new_today, "overdue_count": overdue_count, "overdue_days": config.web.overdue_days,
        "open_total": sum(cell.open for cell in cells), "kind_label": KIND_LABEL,
    }
    if page.is_staff:
        page.log_query("/待办", "")
        values["today_reports"] = page.session.scalars(
            select(Report).where(Report.created_at >= today).order_by(Report.created_at.desc(), Report.id.desc())
            .limit(LIST_LIMIT)).all()
        values["overdue"] = page.session.scalars(
            select(Report).where(Report.status.in_(OPEN_STATUSES), Report.created_at < cutoff)
            .order_by(Report.created_at, Report.id).limit(LIST_LIMIT)).all()
        values["waiting_notices"] = waiting_notices(page)
    return page.render("board.html", **values)


def waiting_notices(page: Page) -> list[dict[str, object]]:
    """Notices inside the 收到 window with rooms where nobody has confirmed yet."""
    window = timedelta(hours=page.config.notices.ack_window_hours)
    notices = page.session.scalars(select(Notice).where(Notice.status == "sent", Notice.sent_at >= page.now - window)
                                   .order_by(Notice.id.desc()).limit(20)).all()
    waiting = []
    for notice in notices:
        rooms = page.session.scalar(select(func.count()).select_from(NoticeDelivery)
                                    .where(NoticeDelivery.notice_id == notice.id)) or 0
        confirmed = page.session.scalar(select(func.count(func.distinct(NoticeAck.room_id)))
                                        .where(NoticeAck.notice_id == notice.id)) or 0
        if rooms > confirmed:
            waiting.append({"notice": notice, "rooms": rooms, "silent": rooms - confirmed})
    return waiting


def routes(desk_of: Callable[[Request], Desk]) -> list[Route]:
    return [page(desk_of, "/", show_board, who=EVERYONE)]
