"""Reports: the filtered list (filters kept in the session, never in the URL: a name or a room
number typed into the search box is personal data) and one report's page with its actions."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import UserError
from bot.incidents import incident_reports
from bot.parsing.numerals import record_number
from bot.periods import Period, parse_period
from bot.reports import KIND_LABEL, OPEN_STATUSES, STATUS_LABEL, describe
from bot.services.reports import correct_report, find_report, link_reports, resolve_report, unlink_report
from storage.models import Report, Room
from storage.repositories import reports as report_rows
from web.desk import Desk, Page, page, see_other

ACTION_LABEL = {
    "create": "登记",
    "complete": "补充",
    "correct": "更正",
    "withdraw": "撤回",
    "expire": "超时未补充",
    "resolve": "办结",
    "purge": "清除个人信息",
    "link": "关联同一问题",
    "unlink": "移出关联",
}
FIELD_LABEL = {
    "building": "楼号",
    "unit": "室号",
    "people": "人数",
    "households": "户数",
    "origin": "来源地",
    "event_date": "日期",
    "phone": "电话",
    "category": "类别",
    "kind": "类型",
    "status": "状态",
    "resolution": "说明",
    "incident_id": "事件",
    "area": "片区",
}
FILTER_KEYS = ("period", "kind", "category", "building", "status", "text")
DEFAULT_PERIOD = "近30天"
COUNT_CAP = 2000


def _period(page: Page, text: str) -> Period:
    if not text:
        return Period(
            page.now.astimezone(page.config.tzinfo).date() - timedelta(days=29),
            page.now.astimezone(page.config.tzinfo).date(),
            DEFAULT_PERIOD,
        )
    return parse_period(text, page.now)


def _as_query_arguments(filters: dict[str, str]) -> str:
    """The filters as /查询 words would say them, for the query log."""
    words = [filters.get("period") or DEFAULT_PERIOD]
    if filters.get("building"):
        words.append(f"{filters['building']}号楼")
    words += [f"{key}={filters[key]}" for key in ("kind", "category", "status", "text") if filters.get(key)]
    return " ".join(words)


def list_reports(page: Page) -> Response:
    filters = {
        key: str(value) for key, value in (page.web_session.filters or {}).items() if key in FILTER_KEYS
    }
    problem = ""
    try:
        period = _period(page, filters.get("period", ""))
    except UserError as mistake:
        problem, period = str(mistake), _period(page, "")
    start, end = period.bounds(page.config.tzinfo)
    conditions = [Report.created_at >= start, Report.created_at < end]
    if filters.get("kind") in KIND_LABEL:
        conditions.append(Report.kind == filters["kind"])
    if filters.get("category"):
        # With a building chosen too, SQLite (no statistics) would still walk the category's
        # index, ~13 times wider than the building's (measured 139 ms against 18 ms on 100,000
        # reports); `|| ''` keeps it off the category index. Same rows on every database.
        category = Report.category.concat("") if filters.get("building") else Report.category
        conditions.append(category == filters["category"])
    if filters.get("building"):
        conditions.append(Report.building == filters["building"])
    if filters.get("status") == "open":
        conditions.append(Report.status.in_(OPEN_STATUSES))
    elif filters.get("status") in STATUS_LABEL:
        conditions.append(Report.status == filters["status"])
    if filters.get("text"):
        conditions.append(Report.raw_text.contains(filters["text"], autoescape=True))
    size = page.config.web.page_size
    number = max(1, record_number(page.request.query_params.get("page", "1")) or 1)
    # Counted up to COUNT_CAP only: a free-text search over a busy month would otherwise read
    # every row of the period just to print its total.
    total, rows = report_rows.page_of(page.session, conditions, COUNT_CAP, size, (number - 1) * size)
    page.log_query("/查询", _as_query_arguments(filters))
    capped = total > COUNT_CAP
    if capped:  # past the cap the page count is unknown: offer the next page while pages are full
        pages = number + 1 if len(rows) == size else number
    else:
        pages = max(1, -(-total // size))
    return page.render(
        "reports.html",
        rows=rows,
        total=total,
        capped=capped,
        cap=COUNT_CAP,
        page_number=number,
        pages=pages,
        filters=filters,
        period=period,
        problem=problem,
        kinds=KIND_LABEL,
        statuses=STATUS_LABEL,
        describe=describe,
    )


def set_filters(page: Page) -> Response:
    if page.field("clear"):
        chosen: dict[str, str] = {}
    else:
        chosen = {key: page.field(key)[:100] for key in FILTER_KEYS if page.field(key)}
        building = chosen.get("building", "").removesuffix("号楼")
        if building:
            chosen["building"] = building
        if chosen.get("period"):
            parse_period(chosen["period"], page.now)  # a period that cannot be read is said at once
    page.web_session.filters = {
        key: value for key, value in (page.web_session.filters or {}).items() if key not in FILTER_KEYS
    } | chosen
    return see_other("/reports")


def show_report(page: Page) -> Response:
    report = find_report(page.session, int(page.request.path_params["number"]))
    page.log_query("/查询", f"#{report.id}")
    linked = [r for r in incident_reports(page.session, report.incident_id) if r.id != report.id]
    room = page.session.get(Room, report.room_id) if report.room_id else None
    return page.render(
        "report.html",
        report=report,
        linked=linked,
        room=room,
        kinds=KIND_LABEL,
        statuses=STATUS_LABEL,
        describe=describe,
        events=report.events,
        actions=ACTION_LABEL,
        change_text=_change_text(page),
    )


def _change_text(page: Page) -> Callable[[str, list[object]], str]:
    """One audited change in words: 状态：待处理 → 已办结."""

    def shown(key: str, value: object) -> str:
        if value is None or value == "":
            return "空"
        if key == "category":
            return page.desk.labels.category(str(value))
        return {"status": STATUS_LABEL, "kind": KIND_LABEL}.get(key, {}).get(str(value), str(value))

    def change(key: str, values: list[object]) -> str:
        old, new = [*values, None, None][:2]
        return f"{FIELD_LABEL.get(key, key)}：{shown(key, old)} → {shown(key, new)}"

    return change


def _number(page: Page) -> int:
    return int(page.request.path_params["number"])


def resolve(page: Page) -> Response:
    done = resolve_report(
        page.session,
        page.desk.labels,
        page.viewer,
        _number(page),
        page.field("note")[:1000],
        page.now,
        request_key=f"web-{secrets.token_hex(8)}",
    )
    page.outgoing.extend(done.outgoing)
    page.flash(done.text)
    return see_other(f"/reports/{_number(page)}")


def correct(page: Page) -> Response:
    report = find_report(page.session, _number(page))
    values: dict[str, object] = {}
    for key in ("kind", "category"):
        if page.field(key) and page.field(key) != getattr(report, key):
            values[key] = page.field(key)
    for key in ("building", "unit"):
        typed = page.field(key).removesuffix("号楼").removesuffix("室")
        if typed != (getattr(report, key) or ""):
            if typed and not typed.isdigit():
                raise UserError(
                    f"{'楼号' if key == 'building' else '室号'}只写数字，例如 {'3' if key == 'building' else '201'}。"
                )
            values[key] = typed or None
    done = correct_report(
        page.session, page.config, page.desk.labels, page.viewer, report.id, values, page.now
    )
    page.flash(done.text)
    return see_other(f"/reports/{report.id}")


def link(page: Page) -> Response:
    other = record_number(page.field("other").lstrip("#"))
    if other is None:
        raise UserError("请写要关联的报告编号，例如 12。")
    page.flash(link_reports(page.session, page.viewer, _number(page), other, page.now).text)
    return see_other(f"/reports/{_number(page)}")


def unlink(page: Page) -> Response:
    page.flash(unlink_report(page.session, page.viewer, _number(page), page.now).text)
    return see_other(f"/reports/{_number(page)}")


def routes(desk_of: Callable[[Request], Desk]) -> list[Route]:
    detail = "/reports/{number}"
    return [
        page(desk_of, "/reports", list_reports),
        page(desk_of, "/reports/filter", set_filters, methods=("POST",), done="/reports"),
        page(desk_of, "/reports/{number:int}", show_report),
        page(desk_of, "/reports/{number:int}/resolve", resolve, methods=("POST",), done=detail),
        page(desk_of, "/reports/{number:int}/correct", correct, methods=("POST",), done=detail),
        page(desk_of, "/reports/{number:int}/link", link, methods=("POST",), done=detail),
        page(desk_of, "/reports/{number:int}/unlink", unlink, methods=("POST",), done=detail),
    ]
