"""The Excel ledger (台帐): a summary sheet and one sheet per report kind, as committees keep them.

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
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Config
from bot.message import clean_text
from bot.parsing.vocabulary import load_vocabulary
from bot.periods import Period
from bot.reports import KIND_LABEL, STATUS_LABEL
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


def write_ledger(session: Session, config: Config, period: Period, out_path: str | Path) -> Path:
    labels = {c.code: c.label for c in load_vocabulary(overrides=config.categories).categories}
    start, end = period.bounds(config.tzinfo)
    reports = list(
        session.scalars(
            select(Report).where(Report.created_at >= start, Report.created_at < end).order_by(Report.id)
        )
    )
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)  # before the workbook: a failure leaves nothing half-built
    workbook = Workbook(write_only=True)
    summary = workbook.create_sheet("汇总")
    summary.column_dimensions["A"].width = 24
    summary.column_dimensions["B"].width = 10
    summary.append([_styled(summary, f"{config.community} 台帐 · {period.label}（{period.start} 至 {period.end}）",
                            font=Font(bold=True, size=13))])
    summary.append([f"报告共 {len(reports)} 条"])
    row_groups = [
        ("按报告类型", Counter(KIND_LABEL.get(r.kind, r.kind) for r in reports)),
        ("按类别", Counter(labels.get(r.category, r.category) for r in reports)),
        ("按楼号", Counter(f"{r.building}号楼" if r.building else "（未填楼号）" for r in reports)),
        ("按状态", Counter(STATUS_LABEL.get(r.status, r.status) for r in reports)),
    ]
    for title, counts in row_groups:
        summary.append([])
        summary.append([_styled(summary, text, font=HEADER_FONT, fill=HEADER_FILL) for text in (title, "数量")])
        for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            summary.append([name, count])

    for kind, label in KIND_LABEL.items():
        sheet = workbook.create_sheet(label)
        _header(sheet, [c[0] for c in COLUMNS], [c[1] for c in COLUMNS])
        for report in (r for r in reports if r.kind == kind):
            values = []
            for _, _, key in COLUMNS:
                value = _value(report, key, labels, config)
                if isinstance(value, str):
                    value = clean_text(value)  # rows stored before text was cleaned at the edge
                date_format = DATE_FORMATS.get(key)
                values.append(_styled(sheet, value, number_format=date_format) if date_format and value else value)
            sheet.append(values)
    workbook.save(path)
    return path
