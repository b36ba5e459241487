"""The Excel ledger (台帐): a summary sheet and one sheet per report kind, as committees keep them;
and the street office's ledger: a summary across areas and one sheet per area.

Chinese headers, frozen header row, dates as real dates, column widths that fit. Personal fields
(names, phones, units) are in the ledger because it is the committee's own record; it is only
ever sent into the staff room or to staff privately.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.message import clean_text
from bot.parsing.vocabulary import category_labels
from bot.periods import Period
from bot.reports import KIND_LABEL, STATUS_LABEL
from bot.tally import Tally, areas_in, tally_by_area
from storage.models import Report

HEADER_FONT = Font(bold=True)
DATE_FORMATS = {"created": "yyyy-mm-dd hh:mm", "event_date": "yyyy-mm-dd", "resolved": "yyyy-mm-dd hh:mm"}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
# (header, width, how to read the value from a report)
COLUMNS: list[tuple[str, int, str]] = [
    ("编号", 8, "number"),
    ("登记时间", 18, "created"),
    ("类别", 12, "category"),
    ("状态", 10, "status"),
    ("楼号", 7, "building"),
    ("室号", 7, "unit"),
    ("片区", 9, "area"),
    ("人数", 6, "people"),
    ("户数", 6, "households"),
    ("来源地", 10, "origin"),
    ("日期", 12, "event_date"),
    ("联系人", 10, "contact"),
    ("电话", 14, "phone"),
    ("报告人", 10, "reporter_name"),
    ("原文", 50, "raw_text"),
    ("办结时间", 18, "resolved"),
    ("办理情况", 30, "resolution"),
]


def _summary_sheet(workbook: Workbook, name: str, title: str, period: Period, widths: dict[str, int]):
    """A ledger's first sheet: its column widths (set before any row, as write-only sheets need)
    and the title row naming the period."""
    summary = workbook.create_sheet(name)
    for column, width in widths.items():
        summary.column_dimensions[column].width = width
    summary.append(
        [
            _styled(
                summary,
                f"{title} · {period.label}（{period.start} 至 {period.end}）",
                font=Font(bold=True, size=13),
            )
        ]
    )
    return summary


def _styled(sheet, value, **style) -> WriteOnlyCell:  # openpyxl sheet and cell value
    cell = WriteOnlyCell(sheet, value=value)
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def _header(sheet, titles: list[str], widths: list[int]) -> None:  # openpyxl sheet
    # write-only sheets (fast for a month of an epidemic) take widths and panes before any row
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_styled(sheet, title, font=HEADER_FONT, fill=HEADER_FILL) for title in titles])


def _value(report: Report, key: str, labels: dict[str, str], config: Config):  # cell value
    tz = config.tzinfo
    match key:
        case "number":
            return f"#{report.id}"
        case "created":
            return report.created_at.astimezone(tz).replace(tzinfo=None)
        case "resolved":
            return report.resolved_at.astimezone(tz).replace(tzinfo=None) if report.resolved_at else None
        case "category":
            return labels.get(report.category, report.category)
        case "status":
            return STATUS_LABEL.get(report.status, report.status)
        case "contact":
            return report.contact_name
        case _:
            return getattr(report, key)


# what a sheet row reads, as plain columns: rows stream from the database in chunks instead of
# every report of the period becoming an ORM object at once (300,000 of them did not fit)
ROW_COLUMNS = [
    Report.id,
    Report.created_at,
    Report.category,
    Report.status,
    Report.building,
    Report.unit,
    Report.area,
    Report.people,
    Report.households,
    Report.origin,
    Report.event_date,
    Report.contact_name,
    Report.phone,
    Report.reporter_name,
    Report.raw_text,
    Report.resolved_at,
    Report.resolution,
]
CHUNK = 2000


def write_ledger(session: Session, config: Config, period: Period, out_path: str | Path) -> Path:
    """The ledger of a period, written as it is read: memory stays flat however many reports
    (openpyxl's write-only sheets go to disk as rows are appended; the rows come in chunks)."""
    labels = category_labels(config.categories)
    start, end = period.bounds(config.tzinfo)
    in_period = (Report.created_at >= start, Report.created_at < end)
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)  # before the workbook: a failure leaves nothing half-built
    # the summary from the counts alone: one grouped query, folded four ways
    counts: dict[str, Counter[str]] = {
        "kind": Counter(),
        "category": Counter(),
        "building": Counter(),
        "status": Counter(),
    }
    for kind, category, building, status, count in session.execute(
        select(Report.kind, Report.category, Report.building, Report.status, func.count())
        .where(*in_period)
        .group_by(Report.kind, Report.category, Report.building, Report.status)
    ):
        counts["kind"][KIND_LABEL.get(kind, kind)] += count
        counts["category"][labels.get(category, category)] += count
        counts["building"][f"{building}号楼" if building else "（未填楼号）"] += count
        counts["status"][STATUS_LABEL.get(status, status)] += count
    workbook = Workbook(write_only=True)
    summary = _summary_sheet(workbook, "汇总", f"{config.community} 台帐", period, {"A": 24, "B": 10})
    summary.append([f"报告共 {sum(counts['kind'].values())} 条"])
    row_groups = [
        ("按报告类型", counts["kind"]),
        ("按类别", counts["category"]),
        ("按楼号", counts["building"]),
        ("按状态", counts["status"]),
    ]
    for title, group in row_groups:
        summary.append([])
        summary.append(
            [_styled(summary, text, font=HEADER_FONT, fill=HEADER_FILL) for text in (title, "数量")]
        )
        for name, count in sorted(group.items(), key=lambda item: (-item[1], item[0])):
            summary.append([name, count])

    for kind, label in KIND_LABEL.items():
        sheet = workbook.create_sheet(label)
        _header(sheet, [c[0] for c in COLUMNS], [c[1] for c in COLUMNS])
        rows = session.execute(
            select(*ROW_COLUMNS)
            .where(*in_period, Report.kind == kind)
            .order_by(Report.id)
            .execution_options(yield_per=CHUNK)
        )
        for report in rows:
            values = []
            for _, _, key in COLUMNS:
                value = _value(report, key, labels, config)  # type: ignore[arg-type]  # a row of Report's columns
                if isinstance(value, str):
                    value = clean_text(value)  # rows stored before text was cleaned at the edge
                date_format = DATE_FORMATS.get(key)
                values.append(
                    _styled(sheet, value, number_format=date_format) if date_format and value else value
                )
            sheet.append(values)
    workbook.save(path)
    return path


# The street's sheets carry no personal column (no name, phone, room or the resident's words):
# the street sees numbers and where in an area, never who; each area's own ledger has the rest.
STREET_COLUMNS: list[tuple[str, int, str]] = [
    ("编号", 8, "number"),
    ("登记时间", 18, "created"),
    ("类型", 10, "kind"),
    ("类别", 12, "category"),
    ("状态", 10, "status"),
    ("楼号", 7, "building"),
    ("片区", 9, "area"),
    ("人数", 6, "people"),
    ("户数", 6, "households"),
    ("来源地", 10, "origin"),
    ("日期", 12, "event_date"),
    ("办结时间", 18, "resolved"),
]
STREET_ROW_COLUMNS = [
    Report.id,
    Report.created_at,
    Report.kind,
    Report.category,
    Report.status,
    Report.building,
    Report.area,
    Report.people,
    Report.households,
    Report.origin,
    Report.event_date,
    Report.resolved_at,
]
SUMMARY_HEADERS = ["居民区", "报告", *KIND_LABEL.values(), "待办", "已办结", "返沪登记人数"]
_SHEET_NAME_FORBIDDEN = str.maketrans({ch: "_" for ch in "[]:*?/\\"})


def _sheet_name(area: str, taken: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = area.translate(_SHEET_NAME_FORBIDDEN)[:31] or "居民区"
    name, n = base, 2
    while name in taken or name == "街道汇总":
        name = f"{base[:28]}({n})"
        n += 1
    taken.add(name)
    return name


def _summary_row(name: str, counted: Tally) -> list[object]:
    return [
        name,
        counted.total,
        *(counted.by_kind[kind] for kind in KIND_LABEL),
        counted.still_open,
        counted.by_status["resolved"],
        counted.returned,
    ]


def write_street_ledger(session: Session, config: Config, period: Period, out_path: str | Path) -> Path:
    """The street's ledger of a period from a session that sees every area: a summary sheet (one
    row per area and the street's total, then categories by area) and one sheet per area, its
    reports without personal columns, streamed as in :func:`write_ledger`."""
    labels = category_labels(config.categories)
    start, end = period.bounds(config.tzinfo)
    in_period = [Report.created_at >= start, Report.created_at < end]
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    counted = tally_by_area(session, in_period)
    areas = sorted(set(areas_in(session)) | set(counted))
    total = Tally()
    for part in counted.values():
        total.add(part)
    workbook = Workbook(write_only=True)
    summary = _summary_sheet(workbook, "街道汇总", f"{config.street} 街道台帐", period, {"A": 24})
    summary.append([f"{len(areas)} 个居民区，报告共 {total.total} 条"])
    summary.append([])
    summary.append([_styled(summary, text, font=HEADER_FONT, fill=HEADER_FILL) for text in SUMMARY_HEADERS])
    for area in areas:
        summary.append(_summary_row(area, counted.get(area, Tally())))
    summary.append([_styled(summary, value, font=HEADER_FONT) for value in _summary_row("合计", total)])
    summary.append([])
    summary.append(
        [_styled(summary, text, font=HEADER_FONT, fill=HEADER_FILL) for text in ("按类别", *areas, "合计")]
    )
    for code, count in sorted(total.by_category.items(), key=lambda item: (-item[1], item[0])):
        summary.append(
            [labels.get(code, code), *(counted.get(area, Tally()).by_category[code] for area in areas), count]
        )

    taken: set[str] = set()
    for area in areas:
        sheet = workbook.create_sheet(_sheet_name(area, taken))
        _header(sheet, [c[0] for c in STREET_COLUMNS], [c[1] for c in STREET_COLUMNS])
        rows = session.execute(
            select(*STREET_ROW_COLUMNS)
            .where(*in_period, Report.community == area)
            .order_by(Report.id)
            .execution_options(yield_per=CHUNK)
        )
        for report in rows:
            values = []
            for _, _, key in STREET_COLUMNS:
                value = (
                    KIND_LABEL.get(report.kind, report.kind)
                    if key == "kind"
                    else _value(report, key, labels, config)  # type: ignore[arg-type]
                )
                if isinstance(value, str):
                    value = clean_text(value)
                date_format = DATE_FORMATS.get(key)
                values.append(
                    _styled(sheet, value, number_format=date_format) if date_format and value else value
                )
            sheet.append(values)
    workbook.save(path)
    return path
