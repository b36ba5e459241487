"""Staff commands: /汇总 /查询 /待办 /办结 /导出.

Privacy: answers that carry personal details (names, phones, room numbers) are given only in the
staff room or in private chat; asked anywhere else, the answer goes to the asker privately and
the room gets a one-line pointer. Every query is written to the query log.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from bot import permissions as allow
from bot.context import Ctx
from bot.errors import UserError
from bot.message import Reply
from bot.parsing.numerals import record_number
from bot.periods import Period, Scope, parse_period, parse_scope
from bot.privacy import mask_phones
from bot.reports import KIND_LABEL, OPEN_STATUSES, STATUS_LABEL, describe
from bot.router import Router
from bot.services import queries
from bot.services.reports import resolve_report
from bot.services.street import street_tally
from bot.tally import Tally, tally
from bot.texts import usage
from handlers.reports import gist, labels
from storage.models import QueryLog, Report
from storage.repositories import reports as report_rows

log = logging.getLogger(__name__)

_BUILDING = re.compile(r"^(\d+)号楼(\d{3,4})?室?$")
_NUMBER = re.compile(r"^#?(\d+)$")
POINTER = "详细结果含个人信息，已私信发给您。"


def log_query(ctx: Ctx, command: str, arguments: str) -> QueryLog:
    return queries.log_query(
        ctx.session,
        ctx.message.sender_id,
        ctx.message.sender_name,
        ctx.room.id if ctx.room else None,
        command,
        arguments,
        ctx.now,
    )


def private_place(ctx: Ctx) -> bool:
    return ctx.room is None or ctx.room.role == "staff"


def personal(ctx: Ctx, text: str, file_path: str | None = None) -> list[Reply]:
    """Personal details only where they belong."""
    if private_place(ctx):
        return [Reply(text, file_path=file_path)]
    return [Reply(text, file_path=file_path, private=True), Reply(POINTER)]


def _categories(ctx: Ctx, words: list[str]) -> tuple[list[str], list[str]]:
    """Category codes named by a word (its label 返沪登记, or any vocabulary word: 返沪, 发烧), and
    the other words."""
    codes, rest = [], []
    for word in words:
        code = ctx.services.parser.category_of_word(word)
        if code:
            codes.append(code)
        else:
            rest.append(word)
    return codes, rest


def summary(ctx: Ctx, arguments: str) -> Reply:
    """/汇总 [今天/本周/本月/近7天/2026-11] [3号楼/一片区/第2支部] [返沪…]：统计报告数量"""
    categories, words = _categories(ctx, arguments.split())
    scope, rest = parse_scope(ctx.config, " ".join(words))
    period = parse_period(rest, ctx.now)
    if ctx.identity.is_street:
        return street_summary(ctx, arguments, period, scope, categories)
    if not ctx.identity.is_staff:  # a leader sees aggregates of their own buildings only
        own = list(ctx.identity.led_buildings)
        if scope is None:
            scope = Scope("、".join(f"{b}号楼" for b in own) or "本楼组", own)
        elif not set(scope.buildings) <= set(own):
            raise UserError("抱歉，楼组长只能查看自己楼组的汇总。")
    log_query(ctx, "/汇总", arguments)
    start, end = period.bounds(ctx.config.tzinfo)
    conditions = [Report.created_at >= start, Report.created_at < end]
    if scope is not None:
        conditions.append(report_rows.in_scope(scope.buildings, scope.area, scope.branch))
    scope_label = scope.label if scope is not None else "全居民区"
    if categories:
        conditions.append(Report.category.in_(categories))
        scope_label += "·" + "、".join(labels(ctx).category(code) for code in dict.fromkeys(categories))

    # one scan of the period, grouped three ways at once (bot/tally.py)
    counted = tally(ctx.session, conditions)
    lines = [
        f"{scope_label} · {period.label}（{period.span()}）报告 {counted.total} 条",
        *tally_lines(ctx, counted),
    ]
    return Reply("\n".join(lines))


STREET_SCOPE = "全街道汇总按居民区列出，不分楼号、片区或支部；要看某楼请向该居民区社工了解。"
STREET_NO_DETAILS = (
    "街道只看各居民区的汇总数字（发 /汇总 本周）；报告明细含居民的姓名、电话和门牌，"
    "只在各居民区的工作群里由社工查询。"
)


def street_summary(
    ctx: Ctx, arguments: str, period: Period, scope: Scope | None, categories: list[str]
) -> Reply:
    """/汇总 of a street person: every area of the database, per area and in total — counts only."""
    if scope is not None:
        raise UserError(STREET_SCOPE)
    log_query(ctx, "/汇总", arguments)
    start, end = period.bounds(ctx.config.tzinfo)
    conditions = [Report.created_at >= start, Report.created_at < end]
    label = f"全街道（{ctx.config.street}）"
    if categories:
        conditions.append(Report.category.in_(categories))
        label += "·" + "、".join(labels(ctx).category(code) for code in dict.fromkeys(categories))
    street = street_tally(ctx.session, conditions)
    lines = [
        f"{label} · {period.label}（{period.span()}）报告 {street.total.total} 条，{len(street.areas)} 个居民区"
    ]
    for area, counted in street.areas:
        returned = f"，返沪登记 {counted.returned} 人" if counted.returned else ""
        lines.append(f"{area}：{counted.total} 条（待办 {counted.still_open}）{returned}")
    return Reply("\n".join([*lines, *tally_lines(ctx, street.total)]))


def _by_count(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def tally_lines(ctx: Ctx, counted: Tally) -> list[str]:
    """The lines under a /汇总 heading: by kind, category and status, and who returned."""
    if not counted.total:
        return []
    names = labels(ctx)
    lines = [
        "类型：" + "，".join(f"{KIND_LABEL.get(k, k)} {c}" for k, c in _by_count(counted.by_kind)),
        "类别：" + "，".join(f"{names.category(k)} {c}" for k, c in _by_count(counted.by_category)),
        "状态：" + "，".join(f"{STATUS_LABEL.get(k, k)} {c}" for k, c in _by_count(counted.by_status)),
    ]
    if counted.returned:
        lines.append(f"返沪登记人数：{counted.returned} 人")
    return lines


def _line(ctx: Ctx, report: Report, with_people: bool) -> str:
    """One report; with_people: the reporter's name and the whole phone, for answers that go only
    to staff in the staff room or in private chat (see personal())."""
    when = report.created_at.astimezone(ctx.config.tzinfo)
    described = describe(report, labels(ctx), phones_whole=with_people, gist=gist(ctx, report))
    text = f"#{report.id} {when:%m-%d %H:%M} {KIND_LABEL[report.kind]}｜{described}｜{STATUS_LABEL[report.status]}"
    if with_people:
        return f"{text}｜{report.reporter_name}"
    return mask_phones(text)


def query(ctx: Ctx, arguments: str) -> list[Reply]:
    """/查询 [类别/3号楼/3号楼201/#7] [时间段]：查看报告明细（最多20条）"""
    if ctx.identity.is_street:  # aggregates only across areas: not even a masked line of any area
        raise UserError(STREET_NO_DETAILS)
    logged = log_query(ctx, "/查询", arguments)
    numbers: list[int] = []
    buildings: list[str] = []
    units: list[str] = []
    categories: list[str] = []
    rest = []
    for word in arguments.split():
        number = _NUMBER.match(word)
        building = _BUILDING.match(word)
        category = ctx.services.parser.category_of_word(word)  # 返沪登记, 返沪, return
        if number and word.startswith("#"):
            numbers.append(record_number(word) or 0)  # 0: no record has it
        elif building:
            buildings.append(building.group(1))
            if building.group(2):
                units.append(building.group(2))
        elif category:
            categories.append(category)
        else:
            rest.append(word)
    if rest:
        period = parse_period(" ".join(rest), ctx.now)
    else:
        period = Period(ctx.now.date() - timedelta(days=29), ctx.now.date(), "近30天")
    # a report asked for by its number is shown whatever its age
    start, end = period.bounds(ctx.config.tzinfo) if not numbers else (None, None)
    wanted = report_rows.ReportFilter(
        tuple(numbers), tuple(buildings), tuple(units), tuple(categories), start, end
    )
    rows = report_rows.newest(ctx.session, wanted, limit=20)
    if not rows:
        return [Reply(f"没有找到符合条件的报告（{period.label}）。")]
    # SPEC §6: staff see whole phones, and personal() sends this only to the staff room or to the
    # asker privately; the outbox masks any group but the staff room whatever is queued
    text = f"查询结果（最新 {len(rows)} 条）：\n" + "\n".join(_line(ctx, r, True) for r in rows)
    logged.phones_whole = any(r.phone for r in rows)
    return personal(ctx, text)


def open_items(ctx: Ctx, _: str) -> list[Reply]:
    """/待办：未办结的报告，最早的在前"""
    log_query(ctx, "/待办", "")
    rows, total = report_rows.oldest_in(ctx.session, OPEN_STATUSES, limit=30)
    if not rows:
        return [Reply("没有待办，辛苦了！")]
    head = f"待办 {total} 条" + ("（显示最早的 30 条）" if total > len(rows) else "") + "："
    return personal(ctx, head + "\n" + "\n".join(_line(ctx, r, False) for r in rows))


def resolve(ctx: Ctx, arguments: str) -> Reply:
    """/办结 7 [说明]：办结报告并在原群告知报告人"""
    typed, _, note = arguments.strip().partition(" ")
    number = record_number(typed)
    if number is None:
        raise UserError(usage("/办结"))
    done = resolve_report(
        ctx.session,
        labels(ctx),
        ctx.identity,
        number,
        ctx.as_typed(note.strip()),
        ctx.now,
        request_key=ctx.message.message_id,
    )
    for out in done.outgoing:
        ctx.send(out)
    return Reply(done.text)


@contextmanager
def _saving(ctx: Ctx, what: str) -> Iterator[None]:
    """A file the server cannot write (full disk, exports_dir not writable) is the operator's to
    fix: staff get one line saying so instead of the generic failure."""
    try:
        yield
    except OSError as error:
        log.error("%s not written to %s: %s", what, ctx.config.exports_dir, error)
        raise UserError(
            f"{what}没能保存到服务器的 {ctx.config.exports_dir} 目录（{error.strerror or error}），请管理员检查磁盘和目录权限。"
        ) from None


def chart(ctx: Ctx, arguments: str) -> list[Reply]:
    """/图表 [本周/本月]：各楼报告数量图"""
    period = parse_period(arguments or "本月", ctx.now)
    log_query(ctx, "/图表", arguments)
    with _saving(ctx, "图表"):
        path = queries.chart_file(ctx.session, ctx.config, period, ctx.now)
    # WeChat shows a file without words: the caption goes as its own line just before it
    return [Reply(f"报告分布图（{period.label}，{period.span()}）："), Reply(file_path=str(path))]


def export(ctx: Ctx, arguments: str) -> list[Reply]:
    """/导出 [本月/2026-11]：导出 Excel 台帐"""
    period = parse_period(arguments or "本月", ctx.now)
    log_query(ctx, "/导出", arguments)
    with _saving(ctx, "台帐"):
        path = queries.ledger_file(ctx.session, ctx.config, period, ctx.now)
    size = path.stat().st_size
    if size > ctx.config.wechaty.max_file_bytes:
        return personal(
            ctx,
            f"台帐（{period.label}）已生成：{path.name}（{size / 1_000_000:.1f} MB），超过微信能发送的大小，"
            f"已保存在服务器 exports 目录。可以分段导出，例如 /导出 本周。",
        )
    return personal(ctx, f"台帐（{period.label}）已生成：{path.name}", file_path=str(path))


def register(router: Router) -> None:
    router.command("汇总", allow=allow.staff | allow.leader | allow.street)(summary)
    router.command("查询", allow=allow.staff | allow.street)(query)
    router.command("待办", allow=allow.staff)(open_items)
    router.command("办结", allow=allow.staff)(resolve)
    router.command("导出", allow=allow.staff)(export)
    router.command("图表", allow=allow.staff)(chart)
