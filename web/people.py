"""People and rooms: the roster with roles, importing a roster file (bad rows shown by line), and
the rooms the bot has seen — bound to a role or not yet."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import Problem, UserError
from bot.identity import ROLE_LABEL, ROLE_RANK
from bot.parsing.numerals import record_number
from bot.phones import mask
from bot.rooms import ROOM_ROLE_LABEL
from bot.roster import RosterFileError, import_roster_file
from bot.texts import ROSTER_LINE, ROSTER_PROBLEMS
from storage.repositories import people as people_rows
from storage.repositories import rooms as room_rows
from web.desk import Desk, Page, page, see_other

PAGE_SIZE = 100
SOURCE_LABEL = {"config": "config.yaml", "roster": "名单导入", "chat": "微信设置"}
MAX_ROSTER_BYTES = 5_000_000
ROSTER_SUFFIXES = (".csv", ".xlsx")


def roster_line(problem: Problem) -> str:
    """A roster row's problem as the page shows it: 第3行：未知角色“主任”."""
    return ROSTER_LINE.format(line=problem.line, problem=problem.say(ROSTER_PROBLEMS))


def show_people(page: Page) -> Response:
    page.log_query("/名单", "")  # names, homes and phones of residents are on this page
    number = max(1, record_number(page.request.query_params.get("page", "1")) or 1)
    total = people_rows.count(page.session)
    people = people_rows.ranked(page.session, ROLE_RANK, PAGE_SIZE, (number - 1) * PAGE_SIZE)
    rooms = room_rows.by_role(page.session)
    report = (page.web_session.filters or {}).get("roster_report")
    if report is not None:
        page.web_session.filters = {
            k: v for k, v in (page.web_session.filters or {}).items() if k != "roster_report"
        }
    return page.render(
        "people.html",
        people=people,
        total=total,
        page_number=number,
        pages=max(1, -(-total // PAGE_SIZE)),
        rooms=rooms,
        role_labels=ROLE_LABEL,
        room_labels=ROOM_ROLE_LABEL,
        mask=mask,
        sources=SOURCE_LABEL,
        report=report,
    )


def import_roster(page: Page) -> Response:
    upload = page.upload("roster")
    if upload is None or not upload.filename:
        raise UserError("请选择名单文件（CSV 或 XLSX）。")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in ROSTER_SUFFIXES:
        raise UserError(f"名单只能是 CSV 或 XLSX 文件，不是 {suffix or '无后缀的文件'}。")
    content = upload.file.read(MAX_ROSTER_BYTES + 1)
    if len(content) > MAX_ROSTER_BYTES:
        raise UserError("名单文件超过 5 MB，请分成几个文件导入。")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"roster{suffix}"
        path.write_bytes(content)
        try:
            result = import_roster_file(page.session, path, page.now)
        except RosterFileError as error:
            raise UserError(f"名单没有导入：{error.problem.say(ROSTER_PROBLEMS)}") from None
    page.web_session.filters = {
        **(page.web_session.filters or {}),
        "roster_report": {
            "imported": result.imported,
            "errors": [roster_line(e) for e in result.errors[:200]],
            "error_count": len(result.errors),
        },
    }
    page.flash(
        f"已导入 {result.imported} 人"
        + (f"，{len(result.errors)} 行有问题（见下）" if result.errors else "。"),
        ok=not result.errors,
    )
    return see_other("/people")


def routes(desk_of: Callable[[Request], Desk]) -> list[Route]:
    return [
        page(desk_of, "/people", show_people),
        page(desk_of, "/people/import", import_roster, methods=("POST",), done="/people"),
    ]
