"""``qinlin roster import``: people and roles from the committee's own CSV or XLSX roster.

Headers are Chinese, as committees keep them (姓名, 微信名, 微信号, 角色, 楼号, 室号, 支部, 电话).
Bad rows are reported by line number; the good ones are imported. A file that cannot be read
at all is one :class:`RosterFileError`, which the CLI prints as one line. Both are
:class:`~bot.errors.Problem` codes with their values: the web page says them in Chinese
(bot/texts.py), the CLI in English.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import cast

from openpyxl import load_workbook
from sqlalchemy import String
from sqlalchemy.orm import Session

from bot.binding import bound_admins
from bot.bounds import MAX_BUILDING
from bot.config import Config, parse_building_range
from bot.errors import Problem
from bot.identity import ROLE_LABEL, ROLE_WORDS, record_role_change
from bot.parsing.numerals import to_int
from storage.models import Person
from storage.repositories import people as person_rows

HEADERS = {
    "姓名": "name",
    "微信名": "alias",
    "昵称": "alias",
    "微信号": "wechat_id",
    "微信ID": "wechat_id",
    "角色": "role",
    "楼号": "building",
    "室号": "unit",
    "支部": "branch",
    "电话": "phone",
    "负责楼号": "buildings",
}
ROLES = ROLE_WORDS | {ROLE_LABEL["street"]: "street", "": "resident"}  # an empty 角色 cell is a resident
# Text columns checked against the database's own widths: SQLite would store a longer value,
# PostgreSQL refuses it and the whole import with it.
SIZED = ("name", "alias", "wechat_id", "unit", "phone", "buildings")
CSV_FIELD_LIMIT = csv.field_size_limit()  # 128 KB; no roster cell is that long unless a quote is unclosed


class RosterFileError(Exception):
    """The file as a whole cannot be used; nothing is imported."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.problem = Problem(code, params)


@dataclass
class RosterImport:
    imported: int = 0  # distinct people written
    errors: list[Problem] = field(default_factory=list)  # each with its line


@dataclass
class _Table:
    rows: list[list[str]]
    formulas: set[tuple[int, int]] = field(default_factory=set)  # (row, column) of formulas never calculated


@dataclass
class _Entry:
    """One row, checked and normalised, ready to write."""

    name: str
    wechat_id: str | None
    alias: str | None
    role: str
    building: str | None
    unit: str | None
    branch: int | None
    phone: str | None
    buildings: str | None


def _read_table(path: Path) -> _Table:
    if path.is_dir():
        raise RosterFileError("folder", file=path.name)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    raise RosterFileError("suffix", file=path.name)


def _sheet_values(path: Path, data_only: bool) -> list[tuple[object, ...]]:
    book = load_workbook(path, read_only=True, data_only=data_only)
    try:
        return list(book.active.iter_rows(values_only=True))
    finally:
        book.close()


def _read_xlsx(path: Path) -> _Table:
    try:
        values = _sheet_values(path, data_only=True)
        # A formula saved by a program rather than Excel has no calculated value: with data_only it
        # reads as an empty cell. The second read tells such a cell from one left blank.
        written = _sheet_values(path, data_only=False)
    except Exception as error:  # zip, XML and openpyxl's own errors all mean "not a workbook"
        raise RosterFileError("not_excel", file=path.name, error=str(error)) from None
    rows = [["" if value is None else str(value).strip() for value in row] for row in values]
    formulas = {
        (r, c)
        for r, (shown, raw) in enumerate(zip(values, written))
        for c, (value, cell) in enumerate(zip(shown, raw))
        if value is None and cell is not None
    }
    return _Table(rows, formulas)


def _read_csv(path: Path) -> _Table:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            with path.open(encoding=encoding, newline="") as handle:
                text = handle.read()
        except UnicodeDecodeError:
            continue
        except OSError as error:
            raise RosterFileError("unreadable", file=path.name, error=error.strerror or str(error)) from None
        return _Table(_csv_rows(path, text))
    raise RosterFileError("encoding", file=path.name)


def _csv_rows(path: Path, text: str) -> list[list[str]]:
    # Python 3.10's csv refuses a whole file at a NUL ("line contains NUL"); 3.11 reads it as a
    # character. Read it as 3.11 does on every version, so that its row is refused by line and cell.
    hidden = "\ufffe" if "\x00" in text and sys.version_info < (3, 11) else None
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text.replace("\x00", hidden) if hidden else text)):
            rows.append([(cell.replace(hidden, "\x00") if hidden else cell).strip() for cell in row])
    except csv.Error as error:
        # Once the parser has lost its place, later lines cannot be trusted: refuse the file and
        # name the line (counted as Excel counts rows) where it went wrong.
        line = len(rows) + 1
        if "field limit" in str(error):
            raise RosterFileError(
                "cell_too_big", file=path.name, line=line, kb=CSV_FIELD_LIMIT // 1024
            ) from None
        raise RosterFileError("csv_broken", file=path.name, line=line, error=str(error)) from None
    return rows


def _titles(header: list[str], columns: list[str | None]) -> dict[str, str]:
    """Column key → the heading this file uses for it, so messages speak the clerk's words."""
    titles = {
        "name": "姓名",
        "alias": "微信名",
        "wechat_id": "微信号",
        "unit": "室号",
        "phone": "电话",
        "buildings": "负责楼号",
    }
    for title, key in reversed(list(zip(header, columns))):
        if key:
            titles[key] = title.strip()
    return titles


UNIT = re.compile(r"\d{1,4}")  # 201, 1201: a 室号 longer than four digits is a typo (or a phone)


def _check_row(
    values: dict[str, str], titles: dict[str, str], config: Config | None = None
) -> _Entry | Problem:
    """The row's fields, or what is wrong with it (columns named by the file's own headings). With
    the config, a 支部 must be one of its branches."""
    for key, value in values.items():
        if "\x00" in value:  # PostgreSQL refuses it in text; it is never meant
            return Problem("nul", {"column": titles[key]})
    if not values.get("name"):
        return Problem("no_name")
    if values.get("role", "") not in ROLES:
        return Problem("unknown_role", {"role": values["role"]})
    branch_text, building_text = values.get("branch", ""), values.get("building", "")
    branch = to_int(branch_text.removeprefix("第").removesuffix("支部")) if branch_text else None
    if branch_text and branch is None:
        return Problem("branch_not_number", {"value": branch_text})
    if branch is not None and config is not None and branch not in config.branches:
        numbers = sorted(config.branches)
        if not numbers:
            return Problem("no_branches", {"branch": branch})
        return Problem("no_such_branch", {"branch": branch, "first": numbers[0], "last": numbers[-1]})
    number = to_int(building_text.removesuffix("号楼")) if building_text else None
    if building_text and number is None:
        return Problem("building_not_number", {"value": building_text})
    if number is not None and not 0 < number <= MAX_BUILDING:
        return Problem("building_out_of_range", {"value": building_text, "max": MAX_BUILDING})
    unit_text = values.get("unit", "").removesuffix("室")
    if unit_text and not UNIT.fullmatch(unit_text):
        return Problem("unit_not_digits", {"value": values["unit"]})
    role = ROLES[values.get("role", "")]
    building = str(number) if number is not None else None
    leads_text = values.get("buildings", "")
    leads = leads_text or (building if role == "leader" else None)
    try:
        buildings = (",".join(parse_building_range(leads.replace("号楼", ""))) or None) if leads else None
    except ValueError:
        # One leader's mistyped range costs that line, not the whole roster.
        if leads_text:
            return Problem("leads_not_range", {"value": leads_text})
        return Problem("building_out_of_range", {"value": building_text, "max": MAX_BUILDING})
    entry = _Entry(
        name=values["name"],
        wechat_id=values.get("wechat_id"),
        alias=values.get("alias"),
        role=role,
        building=building,
        unit=values.get("unit", "").removesuffix("室") or None,
        branch=branch,
        phone=values.get("phone"),
        buildings=buildings,
    )
    for key in SIZED:
        value, limit = getattr(entry, key), cast(String, Person.__table__.c[key].type).length
        if value and limit and len(value) > limit:
            if key == "buildings":
                return Problem("too_many_leads", {"value": leads_text})
            return Problem("too_long", {"column": titles[key], "limit": limit})
    return entry


def _existing(session: Session, entry: _Entry) -> Person | None:
    if entry.wechat_id:
        person = person_rows.by_wechat_id(session, entry.wechat_id)
        if person is not None:
            return person
    # 同名 is common on an estate: a roster 张三 with another 微信号 is another person, so a row
    # naming a 微信号 only takes over a 张三 who has none yet.
    return person_rows.first_named_from(session, entry.name, "roster", unbound_only=bool(entry.wechat_id))


def _apply(person: Person, entry: _Entry, now: datetime) -> None:
    if entry.wechat_id and (person.wechat_id != entry.wechat_id or not person.is_bound):
        # the committee wrote this id into its own roster: that is proof, as a code would be
        person.wechat_id, person.bound_via, person.bound_at = entry.wechat_id, "roster", now
    person.alias = entry.alias
    person.role = entry.role
    person.building, person.unit = entry.building, entry.unit
    person.branch = entry.branch
    person.phone = entry.phone
    person.buildings = entry.buildings
    person.updated_at = now


def _repeated(entry: _Entry, line: int, first_line: int, first_name: str) -> Problem:
    if entry.wechat_id and entry.name != first_name:
        return Problem(
            "repeated_id",
            {"wechat_id": entry.wechat_id, "first_line": first_line, "first_name": first_name},
            line,
        )
    return Problem("repeated_name", {"name": entry.name, "first_line": first_line}, line)


def import_roster_file(
    session: Session, path: Path, now: datetime, config: Config | None = None
) -> RosterImport:
    path = Path(path)
    table = _read_table(path)
    if not table.rows:
        raise RosterFileError("empty", file=path.name)
    columns = [HEADERS.get(title.strip()) for title in table.rows[0]]
    if "name" not in columns:
        raise RosterFileError("no_name_column", file=path.name)
    titles = _titles(table.rows[0], columns)
    result = RosterImport()
    # A person met again is refused, not merged. The roster is one line per person, so a second
    # line is a copy-paste slip or a different 张三; letting it silently overwrite the first (or
    # the first vanish) puts a wrong building or role in the database unseen. The clerk is told
    # which two lines clash, fixes one and imports again — a re-import updates, never duplicates.
    written: dict[Person, tuple[int, str]] = {}  # person → (line that wrote them, name on it)
    for index, row in enumerate(table.rows[1:], start=1):
        line_number = index + 1
        formula = next(
            (
                table.rows[0][column].strip()
                for column, key in enumerate(columns)
                if key and (index, column) in table.formulas
            ),
            None,
        )
        if formula:
            result.errors.append(Problem("formula", {"column": formula}, line_number))
            continue
        if not any(row):
            continue
        values = {key: value for key, value in zip(columns, row) if key and value}
        entry = _check_row(values, titles, config)
        if isinstance(entry, Problem):
            result.errors.append(replace(entry, line=line_number))
            continue
        person = _existing(session, entry)
        if person is not None and person in written:
            result.errors.append(_repeated(entry, line_number, *written[person]))
            continue
        if (
            person is not None
            and person.role == "admin"
            and entry.role != "admin"
            and bound_admins(session, excluding=person.id) == 0
        ):
            result.errors.append(Problem("last_admin", {"name": entry.name}, line_number))
            continue
        if person is None:
            person = Person(name=entry.name, source="roster", role="resident", updated_at=now)
            session.add(person)
            session.flush()  # its id, for the audit trail
        if person.role != entry.role:
            record_role_change(
                session,
                person,
                entry.role,
                now,
                actor_id="roster",
                actor_name=f"roster import {path.name}",
                action="import",
            )
        _apply(person, entry, now)
        written[person] = (line_number, entry.name)
    session.flush()
    result.imported = len(written)
    return result
