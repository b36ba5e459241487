"""``qinlin roster import``: people and roles from the committee's own CSV or XLSX roster.

Headers are Chinese, as committees keep them (姓名, 微信名, 微信号, 角色, 楼号, 室号, 支部, 电话).
Bad rows are reported by line number; the good ones are imported.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import parse_building_range
from bot.parsing.numerals import to_int
from storage.models import Person

HEADERS = {"姓名": "name", "微信名": "alias", "昵称": "alias", "微信号": "wechat_id", "微信ID": "wechat_id",
           "角色": "role", "楼号": "building", "室号": "unit", "支部": "branch", "电话": "phone", "负责楼号": "buildings"}
ROLES = {"居民": "resident", "楼组长": "leader", "党小组长": "leader", "居民小组长": "leader", "业主代表": "leader",
         "党员": "party", "社工": "staff", "管理员": "admin", "": "resident"}


class RosterFileError(Exception):
    pass


@dataclass
class RosterImport:
    imported: int = 0
    errors: list[str] = field(default_factory=list)


def _rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            sheet = load_workbook(path, read_only=True, data_only=True).active
        except Exception as error:
            raise RosterFileError(f"cannot read {path.name} as an Excel file: {error}") from None
        return [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
    if path.suffix.lower() == ".csv":
        for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
            try:
                with path.open(encoding=encoding, newline="") as handle:
                    return [[cell.strip() for cell in row] for row in csv.reader(handle)]
            except UnicodeDecodeError:
                continue
        raise RosterFileError(f"{path.name}: unknown text encoding (save as UTF-8 or GBK CSV)")
    raise RosterFileError(f"{path.name}: roster must be .csv or .xlsx")


def import_roster_file(session: Session, path: Path, now: datetime) -> RosterImport:
    rows = _rows(Path(path))
    if not rows:
        raise RosterFileError(f"{Path(path).name} is empty")
    columns = [HEADERS.get(title.strip()) for title in rows[0]]
    if "name" not in columns:
        raise RosterFileError(f"{Path(path).name}: no 姓名 column in the header row")
    result = RosterImport()
    for line_number, row in enumerate(rows[1:], start=2):
        if not any(row):
            continue
        values = {key: value for key, value in zip(columns, row) if key and value}
        problem = None
        if not values.get("name"):
            problem = "姓名为空"
        elif values.get("role", "") not in ROLES:
            problem = f"未知角色“{values['role']}”"
        elif values.get("branch") and to_int(values["branch"].removeprefix("第").removesuffix("支部")) is None:
            problem = f"支部应为数字“{values['branch']}”"
        elif values.get("building") and to_int(values["building"].removesuffix("号楼")) is None:
            problem = f"楼号应为数字“{values['building']}”"
        if problem:
            result.errors.append(f"line {line_number}: {problem}")
            continue
        role = ROLES[values.get("role", "")]
        person = None
        if values.get("wechat_id"):
            person = session.scalar(select(Person).where(Person.wechat_id == values["wechat_id"]))
        if person is None:
            person = session.scalar(select(Person).where(Person.name == values["name"], Person.source == "roster"))
        if person is None:
            person = Person(name=values["name"], source="roster")
            session.add(person)
        building = str(to_int(values["building"].removesuffix("号楼"))) if values.get("building") else None
        person.wechat_id = values.get("wechat_id") or person.wechat_id
        person.alias = values.get("alias")
        person.role = role
        person.building, person.unit = building, values.get("unit", "").removesuffix("室") or None
        person.branch = to_int(values["branch"].removeprefix("第").removesuffix("支部")) if values.get("branch") else None
        person.phone = values.get("phone")
        leads = values.get("buildings") or (building if role == "leader" else None)
        person.buildings = ",".join(parse_building_range(leads.replace("号楼", ""))) if leads else None
        person.updated_at = now
        result.imported += 1
    session.flush()
    return result
