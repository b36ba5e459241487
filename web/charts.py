"""Charts and the ledger: the /图表 chart for any period and scope, the /导出 Excel ledger."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import UserError
from bot.periods import parse_period
from bot.services.queries import chart_file, ledger_file
from web.desk import Desk, Page, page

DEFAULT_PERIOD = "本月"


def _scopes(page: Page) -> dict[str, tuple[str, list[str] | None]]:
    """Scope choices from config.yaml: the whole estate, each 片区, each 支部."""
    config = page.config
    choices: dict[str, tuple[str, list[str] | None]] = {"": ("全居民区", None)}
    for area in config.areas:
        choices[f"area:{area}"] = (area, config.area_buildings(area))
    for branch in sorted(config.branches):
        choices[f"branch:{branch}"] = (f"第{branch}支部", config.branch_buildings(branch))
    return choices


def show_charts(page: Page) -> Response:
    params = page.request.query_params
    period_text = params.get("period", "").strip()[:40] or DEFAULT_PERIOD
    scope_key = params.get("scope", "")
    building = params.get("building", "").strip().removesuffix("号楼")[:8]
    scopes = _scopes(page)
    problem, image = "", None
    try:
        period = parse_period(period_text, page.now)
        label, buildings = scopes.get(scope_key, scopes[""])
        if building:
            if not building.isdigit():
                raise UserError("楼号只写数字，例如 3。")
            label, buildings = f"{building}号楼", [building]
        page.log_query("/图表", f"{period_text} {label}".strip())
        try:
            path = chart_file(
                page.session, page.config, period, page.now, buildings, "" if buildings is None else label
            )
        except OSError as error:
            raise UserError(
                f"图表没能保存到服务器的 {page.config.exports_dir} 目录（{error.strerror or error}），"
                "请管理员检查磁盘和目录权限。"
            ) from None
        image = base64.b64encode(path.read_bytes()).decode()
    except UserError as mistake:
        problem = str(mistake)
    return page.render(
        "charts.html",
        scopes=scopes,
        scope_key=scope_key,
        period_text=period_text,
        building=building,
        image=image,
        problem=problem,
    )


def download_ledger(page: Page) -> Response:
    period_text = page.field("period")[:40] or DEFAULT_PERIOD
    period = parse_period(period_text, page.now)
    page.log_query("/导出", period_text)
    try:
        path = ledger_file(page.session, page.config, period, page.now)
    except OSError as error:
        raise UserError(
            f"台帐没能保存到服务器的 {page.config.exports_dir} 目录（{error.strerror or error}），"
            "请管理员检查磁盘和目录权限。"
        ) from None
    content = path.read_bytes()
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f"attachment; filename=\"ledger.xlsx\"; filename*=UTF-8''{quote(path.name)}",
            "Cache-Control": "no-store",
        },
    )


def routes(desk_of: Callable[[Request], Desk]) -> list[Route]:
    return [
        page(desk_of, "/charts", show_charts),
        page(desk_of, "/charts/ledger", download_ledger, methods=("POST",), done="/charts"),
    ]
