"""The ``qinlin`` command line (also ``python -m bot``).

A user mistake (bad config, missing file, bad argument) is one line on stderr and a non-zero
exit; tracebacks are for bugs only. The operator reads English here, in one tone: what is wrong,
then what to do. Texts the staff also read (roster problems, binding refusals) arrive as
:class:`~bot.errors.Problem` codes and are said with this module's templates; the web page and
chat say the same codes in Chinese (bot/texts.py).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from bot.clock import FIRST_YEAR, LAST_YEAR
from bot.config import Config, ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="亲邻助手 qinlin — 居委会微信群助手")
db_app = typer.Typer(no_args_is_help=True, help="Database migrations")
roster_app = typer.Typer(no_args_is_help=True, help="People and roles")
app.add_typer(db_app, name="db")
app.add_typer(roster_app, name="roster")

ConfigOption = Annotated[Path, typer.Option("--config", help="config.yaml to use")]
DEFAULT_CONFIG = Path("config.yaml")
MAX_PURGE_DAYS = 36500

# bot/texts.py ROSTER_PROBLEMS and BINDING_PROBLEMS, said to the operator (tests/test_cli.py checks
# that every code has its line here). Column headings and values stay as the file writes them.
ROSTER_PROBLEMS = {
    "nul": "{column} holds a NUL character (\\x00); check this cell",
    "no_name": "姓名 (name) is empty",
    "unknown_role": "unknown role '{role}' in 角色",
    "branch_not_number": "支部 should be a number, not '{value}'",
    "no_such_branch": "there is no branch {branch} (config.yaml has branches {first} to {last})",
    "no_branches": "there is no branch {branch} (config.yaml sets no branches)",
    "building_not_number": "楼号 should be a number, not '{value}'",
    "building_out_of_range": "楼号 '{value}' is outside 1-{max}",
    "unit_not_digits": "室号 should be 1 to 4 digits (like 201 or 1201), not '{value}'",
    "leads_not_range": "负责楼号 should be a building or a range (like 3, 3,5 or 1-6), not '{value}'",
    "too_long": "{column} is too long (at most {limit} characters)",
    "too_many_leads": "负责楼号 names too many buildings: '{value}'",
    "formula": "{column} is a formula with no calculated value in the file; paste it as values in Excel and import again",
    "repeated_id": "微信号 '{wechat_id}' is already on line {first_line} ({first_name}); this line is not imported",
    "repeated_name": "{name} is already on line {first_line}; this line is not imported (delete the copy, or give two people of one name their 微信号)",
    "last_admin": "{name} is the last admin and cannot take another role; this line is not imported",
    "folder": "{file} is a folder, not a roster file",
    "suffix": "{file}: a roster must be .csv or .xlsx",
    "not_excel": "cannot read {file} as an Excel file: {error}",
    "unreadable": "cannot read {file}: {error}",
    "encoding": "{file}: unknown text encoding (save it as UTF-8 or GBK CSV)",
    "cell_too_big": "{file}: line {line}: a cell is over {kb} KB, most likely a quote left open; check this line",
    "csv_broken": "{file}: line {line}: cannot be read ({error})",
    "empty": "{file} is empty",
    "no_name_column": "{file}: no 姓名 column in the header row",
}
BINDING_PROBLEMS = {
    "not_in_roster": "no one called {name} in the roster (add them to config.yaml or import a roster: qinlin roster import FILE)",
    "ambiguous": "the roster has {count} people called {name}; tell them apart in the roster first",
    "not_bound": "{name} has no WeChat contact bound",
}


def fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"qinlin: {message}", err=True)
    return typer.Exit(code)


def _config(path: Path) -> Config:
    try:
        return load_config(path if path != DEFAULT_CONFIG or path.exists() else None)
    except ConfigError as error:
        raise fail(str(error)) from None


# Engines this command made. A refusal (an unmigrated database, say) leaves its pooled connection
# to the garbage collector otherwise: an "unclosed database" ResourceWarning on Python 3.13.
_made_engines: list[Any] = []


def _engine(config: Config, url: str | None = None):
    from storage.db import make_engine

    try:
        engine = make_engine(url or config.database.url)
    except Exception as error:  # a malformed URL or a missing driver is the operator's to fix
        raise fail(f"database: {error}") from None
    _made_engines.append(engine)  # main() closes its connections however the command ends
    return engine


def _first_line(error: BaseException) -> str:
    """The driver's own words (SQLAlchemy wraps them in SQL and a link to its FAQ)."""
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _stdin() -> TextIO:
    # Bytes that are not UTF-8 become U+FFFD instead of a UnicodeDecodeError mid-stream.
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")
    return sys.stdin


def _parse_moment(text: str, config: Config) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"not a timestamp: {text} (e.g. 2026-11-22T09:00:00+08:00)") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise fail(f"timestamp {text} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return moment if moment.tzinfo else moment.replace(tzinfo=config.tzinfo)


# ------------------------------------------------------------------ parse


@app.command()
def parse(
    text: Annotated[str | None, typer.Argument(help="one message; omit with --jsonl")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="parse each stdin line")] = False,
    now: Annotated[str | None, typer.Option(help="the message time, ISO (default: now)")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Print the parse of one message (or of each stdin line) as JSON."""
    from bot.clock import SystemClock
    from bot.parsing import ReportParser, load_vocabulary

    config = _config(config_path)
    if jsonl and text is not None:
        raise fail("give one TEXT or --jsonl (one message a line on stdin), not both")
    moment = _parse_moment(now, config) if now else SystemClock(config.tzinfo).now()
    parser = ReportParser(load_vocabulary(overrides=config.categories))
    if jsonl:
        for line in _stdin():
            line = line.rstrip("\n")
            print(json.dumps(parser.parse(line, moment).to_json(), ensure_ascii=False), flush=False)
        return
    if text is None:
        raise fail("give a message to parse, or --jsonl to read stdin")
    print(json.dumps(parser.parse(text, moment).to_json(), ensure_ascii=False))


# ------------------------------------------------------------------ replay


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="recorded messages, one JSON object a line")],
    db: Annotated[str | None, typer.Option("--db", help="database URL (overrides config)")] = None,
    until: Annotated[str | None, typer.Option(help="move the clock on to this timestamp")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="write outgoing JSON lines here")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Feed recorded messages through the whole bot (no network); print what it sends."""
    from bot.transports.replay import ReplayError, run_replay

    config = _config(config_path)
    if not file.exists() and str(file) != "-":
        raise fail(f"file not found: {file}")
    if file.is_dir():
        raise fail(f"{file} is a folder, not a recording")
    try:
        sink = out.open("w", encoding="utf-8") if out else sys.stdout
    except OSError as error:
        raise fail(f"cannot write {out}: {error.strerror or error}") from None
    started = time.perf_counter()
    try:
        source = _stdin() if str(file) == "-" else file.open(encoding="utf-8")
        with source:
            stats = run_replay(
                config,
                _engine(config, db),
                source,
                sink,
                until=_parse_moment(until, config) if until else None,
            )
    except ReplayError as error:
        raise fail(str(error)) from None
    except UnicodeDecodeError:
        raise fail(f"{file} is not UTF-8 text (save the recording as UTF-8)") from None
    finally:
        if out:
            sink.close()
    seconds = time.perf_counter() - started
    rate = stats.read / seconds if seconds > 0 else 0.0
    typer.echo(
        f"replay: {stats.read} messages read, {stats.sent} sent, {seconds:.2f} s, {rate:.0f} msg/s", err=True
    )


# ------------------------------------------------------------------ console and demo


@app.command()
def console(
    db: Annotated[str | None, typer.Option("--db", help="database URL (overrides config)")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Chat with the bot in the terminal: ':room 3号楼', ':as 张阿姨', then type."""
    from bot.transports.console import run_console

    config = _config(config_path)
    run_console(config, _engine(config, db), _stdin(), sys.stdout)


@app.command()
def demo(
    keep: Annotated[bool, typer.Option(help="keep the demo database under ./data/demo.db")] = False,
    config_path: Annotated[
        Path | None, typer.Option("--config", help="default: the bundled 江南新村 example")
    ] = None,
) -> None:
    """A morning in 江南新村 through the whole bot, on a fresh SQLite file; no WeChat needed."""
    from bot.demo import DEMO_CONFIG, run_demo

    # The script is a day in 江南新村 with its people and rooms: it runs on the bundled example,
    # not on whatever config.yaml sits in the current folder (where its people would be unknown).
    config = _config(config_path or DEMO_CONFIG)
    if not config.rooms or not config.people:
        # the script's rooms and people would all be unknown: a silent transcript says nothing
        raise fail(
            f"{config_path} has no rooms or no people for the demo's 江南新村 day; run 'qinlin demo' without --config"
        )
    run_demo(config, sys.stdout, keep=keep)


# ------------------------------------------------------------------ WeChat


HostOption = Annotated[
    str | None, typer.Option("--host", help="address to listen on (default: web.host, 127.0.0.1)")
]
PortOption = Annotated[int | None, typer.Option("--port", help="port (default: web.port, 8080)")]


def _listen(config: Config, host: str | None, port: int | None):
    from web.serve import PortTaken, bind

    try:
        return bind(host or config.web.host, port or config.web.port)
    except PortTaken as error:
        raise fail(str(error), 1) from None


@app.command()
def web(host: HostOption = None, port: PortOption = None, config_path: ConfigOption = DEFAULT_CONFIG) -> None:
    """Serve the staff workbench in the browser (same config and database as the bot)."""
    from bot.clock import SystemClock
    from web.serve import serve_forever, server_for

    config = _config(config_path)
    engine = _engine(config)
    from storage.db import check_migrated

    check_migrated(engine)  # as for the bot: migrating is the operator's step (qinlin db upgrade)
    sock = _listen(config, host, port)
    address = sock.getsockname()
    typer.echo(
        f"workbench at http://{address[0]}:{address[1]}/ (staff get a login code by sending /登录 "
        "to the bot in a private chat; Ctrl+C stops)",
        err=True,
    )
    serve_forever(server_for(config, engine, SystemClock(config.tzinfo)), sock)


@app.command()
def run(
    config_path: ConfigOption = DEFAULT_CONFIG,
    with_web: Annotated[
        bool, typer.Option("--web", help="also serve the staff workbench in this process")
    ] = False,
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Connect to WeChat through a Wechaty puppet service and serve."""
    config = _config(config_path)
    if not config.puppet_endpoint() or not config.puppet_token():
        raise fail(
            "no puppet service configured: set WECHATY_PUPPET_SERVICE_ENDPOINT and WECHATY_PUPPET_SERVICE_TOKEN "
            "(or wechaty.endpoint and wechaty.token in config.yaml)"
        )
    if not re.fullmatch(r"[\w.\-]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}", config.puppet_endpoint() or ""):
        raise fail(
            f"the puppet service endpoint should be HOST:PORT (e.g. 127.0.0.1:8788), not {config.puppet_endpoint()!r}"
        )
    from bot.transports.wechaty_transport import run as run_wechaty

    sock = _listen(config, host, port) if with_web else None
    raise typer.Exit(run_wechaty(config, str(config_path), web_socket=sock))


# ------------------------------------------------------------------ database and roster


@db_app.command("upgrade")
def db_upgrade(
    db: Annotated[str | None, typer.Option("--db", help="database URL (overrides config)")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Apply all migrations."""
    from storage.db import upgrade

    config = _config(config_path)
    engine = _engine(config, db)
    try:
        upgrade(engine)
    except Exception as error:
        raise fail(f"database: {_first_line(error)}", 1) from None
    typer.echo("database is up to date")


def _session(config: Config, db: str | None, street: bool = False):
    """Sessions for the configured area, or (street) the street office's view of every area."""
    from storage.db import check_migrated, session_factory, upgrade

    engine = _engine(config, db)
    upgrade(engine)
    check_migrated(engine)
    return session_factory(engine, area=None if street else config.area_id)


@roster_app.command("import")
def roster_import(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX with 姓名, 微信名, 角色, 楼号, 室号, 支部")],
    db: Annotated[str | None, typer.Option("--db")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Load people and roles from a roster file."""
    from bot.clock import SystemClock
    from bot.roster import RosterFileError, import_roster_file
    from storage.db import unit_of_work

    config = _config(config_path)
    if not file.exists():
        raise fail(f"file not found: {file}")
    try:
        with unit_of_work(_session(config, db)) as session:
            result = import_roster_file(session, file, SystemClock(config.tzinfo).now(), config=config)
    except RosterFileError as error:
        raise fail(error.problem.say(ROSTER_PROBLEMS)) from None
    for problem in result.errors:
        typer.echo(f"  line {problem.line}: {problem.say(ROSTER_PROBLEMS)}", err=True)
    typer.echo(
        f"imported {_counted(result.imported, 'person', 'people')}; "
        f"{_counted(len(result.errors), 'row', 'rows')} not imported"
    )
    if result.errors:
        raise typer.Exit(1)


def _roster_session(config: Config, db: str | None):
    """A session on a migrated database whose people include config.yaml's (a fresh install's
    first admin exists only there until the bot has started once)."""
    from bot.clock import SystemClock
    from bot.identity import sync_config_people
    from storage.db import unit_of_work

    factory = _session(config, db)
    with unit_of_work(factory) as session:
        sync_config_people(session, config, SystemClock(config.tzinfo).now())
    return factory


@roster_app.command("code")
def roster_code(
    name: Annotated[str, typer.Argument(help="the person's name as in config.yaml or the roster")],
    db: Annotated[str | None, typer.Option("--db")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Print a one-time code that binds NAME to the WeChat contact who sends it to the bot."""
    from bot.binding import BindingError, issue_code
    from bot.clock import SystemClock
    from bot.identity import ROLE_LABEL
    from storage.db import unit_of_work

    config = _config(config_path)
    try:
        with unit_of_work(_roster_session(config, db)) as session:
            issued = issue_code(
                session,
                name,
                SystemClock(config.tzinfo).now(),
                actor_id="cli",
                actor_name="qinlin roster code",
            )
            who = f"{issued.person.name} ({ROLE_LABEL[issued.person.role]})"
    except BindingError as error:
        raise fail(error.problem.say(BINDING_PROBLEMS)) from None
    until = issued.expires_at.astimezone(config.tzinfo)
    typer.echo(
        f"code for {who}: {issued.code}\n"
        f"valid until {until:%Y-%m-%d %H:%M}, once. Give it to the person (in person or by phone); "
        f"they send the bot, in private chat: /绑定 {issued.code}"
    )


@roster_app.command("list")
def roster_list(
    db: Annotated[str | None, typer.Option("--db")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """List people with their role and whether their WeChat contact is bound."""
    from bot.identity import ROLE_LABEL, ROLE_RANK
    from storage.repositories import people as people_rows

    config = _config(config_path)
    with _roster_session(config, db)() as session:
        people = people_rows.ranked(session, ROLE_RANK)
        rows = [
            (
                person.name,
                ROLE_LABEL.get(person.role, person.role),
                f"bound ({person.bound_via}, {person.wechat_id})"
                if person.is_bound
                else "NOT BOUND: qinlin roster code " + person.name
                if person.role != "resident"
                else "-",
            )
            for person in people
        ]
    width = max((len(name) for name, _, _ in rows), default=4)
    for name, role, bound in rows:
        typer.echo(f"{name:<{width}}  {role:<4}  {bound}")
    typer.echo(f"{len(rows)} people")


@roster_app.command("unbind")
def roster_unbind(
    name: Annotated[str, typer.Argument(help="the person whose phone or WeChat account is lost")],
    db: Annotated[str | None, typer.Option("--db")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Forget NAME's WeChat contact (lost phone); their role waits for a new code."""
    from bot.binding import BindingError, unbind
    from bot.clock import SystemClock
    from storage.db import unit_of_work

    config = _config(config_path)
    try:
        with unit_of_work(_roster_session(config, db)) as session:
            person = unbind(
                session,
                name,
                SystemClock(config.tzinfo).now(),
                actor_id="cli",
                actor_name="qinlin roster unbind",
            )
            shown = person.name
    except BindingError as error:
        raise fail(error.problem.say(BINDING_PROBLEMS), 1) from None
    typer.echo(f"{shown} is no longer bound; give them a new code: qinlin roster code {shown}")


@app.command()
def export(
    period: Annotated[str, typer.Option(help="今天, 本月, 2026-11, 2026-11-01~2026-11-15 …")] = "本月",
    out: Annotated[Path, typer.Option("--out", help="the .xlsx file to write")] = Path("台帐.xlsx"),
    street: Annotated[
        bool,
        typer.Option(
            "--street",
            help="every area of the database: a summary across areas and a sheet per area, without personal columns",
        ),
    ] = False,
    db: Annotated[str | None, typer.Option("--db")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Write the Excel ledger (台帐) for a period; with --street, the street office's ledger."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.clock import SystemClock
    from bot.errors import UserError
    from bot.ledger import write_ledger, write_street_ledger
    from bot.periods import parse_period

    config = _config(config_path)
    if out.suffix.lower() != ".xlsx":
        raise fail(f"--out must name an .xlsx file, not {out}")
    try:
        chosen = parse_period(period or "本月", SystemClock(config.tzinfo).now())
    except UserError:  # its text is the chat's Chinese reply
        raise fail(
            f"--period: cannot read {period!r}; give 今天, 本月, 2026-11 or 2026-11-01~2026-11-15"
        ) from None
    factory = _session(config, db, street=street)
    try:
        with factory() as session:
            path = (write_street_ledger if street else write_ledger)(session, config, chosen, out)
    except OSError as error:
        raise fail(f"cannot write {out}: {error.strerror or error}", 1) from None
    except SQLAlchemyError:
        raise  # main prints the database's own one line
    except Exception as error:  # a record the spreadsheet cannot hold is a bug to report, not a traceback
        logging.getLogger(__name__).debug("ledger failed", exc_info=True)
        raise fail(f"could not write the ledger: {_first_line(error)}", 1) from None
    finally:
        factory.kw["bind"].dispose()  # a PostgreSQL connection is closed, not left to the garbage collector
    typer.echo(f"ledger written: {path}")


@app.command()
def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="e.g. 28d")] = "28d",
    categories: Annotated[str, typer.Option(help="category codes, comma separated")] = "return,health",
    db: Annotated[str | None, typer.Option("--db")] = None,
    config_path: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Remove personal fields from old epidemic-era records, keeping the counts."""
    from bot.clock import SystemClock
    from bot.parsing.vocabulary import category_labels
    from bot.purge import purge_personal_fields
    from storage.db import unit_of_work

    config = _config(config_path)
    days = re.fullmatch(r"([0-9]{1,5})d", older_than.strip())
    if not days or not 1 <= int(days.group(1)) <= MAX_PURGE_DAYS:
        raise fail(f"--older-than takes days from 1d to {MAX_PURGE_DAYS}d, like 28d; not {older_than!r}")
    codes = [code.strip() for code in categories.split(",") if code.strip()]
    known = list(category_labels(config.categories))
    unknown = [code for code in codes if code not in known]
    if unknown or not codes:
        raise fail(
            f"unknown categories {','.join(unknown) or '(none given)'}; the codes are {','.join(known)}"
        )
    with unit_of_work(_session(config, db)) as session:
        count = purge_personal_fields(
            session, timedelta(days=int(days.group(1))), codes, SystemClock(config.tzinfo).now()
        )
    typer.echo(f"personal fields removed from {_counted(count, 'report', 'reports')}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    except Exception as error:
        # the database's errors are imported only when one is raised: `qinlin parse` starts
        # without loading SQLAlchemy at all
        from sqlalchemy.exc import SQLAlchemyError

        from storage.db import DatabaseNotMigrated, DatabaseUnavailable

        if isinstance(error, DatabaseNotMigrated):
            typer.echo(f"qinlin: {error}", err=True)
        elif isinstance(error, DatabaseUnavailable):
            typer.echo(f"qinlin: database: {error}", err=True)
        elif isinstance(error, SQLAlchemyError):
            # unreachable server, a file that is not a database, a read-only file: the operator's to fix
            typer.echo(f"qinlin: database: {_first_line(error)}", err=True)
        else:
            raise
        sys.exit(1)
    finally:
        while _made_engines:
            _made_engines.pop().dispose()
