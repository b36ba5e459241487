"""config.yaml → typed, strict settings, loaded once at start-up.

An unknown key, a bad pattern or a bad range stops start-up with one line that names the key
(:class:`ConfigError`); the CLI prints it and exits 2.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.bounds import MAX_BUILDING, MAX_BUILDING_RANGE
from bot.clock import WEEKDAYS

RoomRole = Literal["general", "branch", "building", "area", "staff"]
PersonRole = Literal["resident", "leader", "party", "staff", "admin", "street"]


class ConfigError(Exception):
    """A configuration mistake, worded as one line for the operator."""


def parse_building_range(spec: str | int) -> list[str]:
    """ "1-6" → ["1",…,"6"]; "3,5,8-9" → ["3","5","8","9"]; 3 → ["3"]."""
    result: list[str] = []
    for part in re.split(r"[,，、\s]+", str(spec).strip()):
        if not part:
            continue
        bounds = re.fullmatch(r"(\d+)\s*[-~～]\s*(\d+)", part)
        if bounds:
            low, high = int(bounds.group(1)), int(bounds.group(2))
            if low > high:
                raise ValueError(f"range {part} runs backwards")
            if low < 1 or high > MAX_BUILDING:
                raise ValueError(f"range {part} goes past building numbers 1-{MAX_BUILDING}")
            if high - low >= MAX_BUILDING_RANGE:
                raise ValueError(f"range {part} is longer than {MAX_BUILDING_RANGE} buildings")
            result.extend(str(n) for n in range(low, high + 1))
        elif part.isdigit():
            if not 0 < int(part) <= MAX_BUILDING:
                raise ValueError(f"'{part}' is not a building number (1-{MAX_BUILDING})")
            result.append(str(int(part)))
        else:
            raise ValueError(f"'{part}' is not a building number or range")
    return result


def _checked_range(value: str) -> str:
    parse_building_range(value)
    return value


BuildingRange = Annotated[str, AfterValidator(_checked_range)]  # "3", "1-6", "3,5,8-9", checked at load


def parse_clock_time(value: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"'{value}' is not a time like 20:00")
    return time(int(match.group(1)), int(match.group(2)))


class Strict(BaseModel):
    # Every number has an upper bound too: 1e308 seconds between sends passes "ge=0" and then
    # overflows the first time the outbox adds it to a date.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatabaseConfig(Strict):
    url: str = "sqlite:///data/qinlin.db"
    # where messages wait while the database is away (bot/spool.py); default: next to the SQLite
    # file, or data/spool.jsonl for a server database
    spool: str | None = None

    def spool_path(self, url: str | None = None) -> Path:
        """The spool file for the database at ``url`` (default: this config's)."""
        if self.spool:
            return Path(self.spool)
        from sqlalchemy.engine import make_url  # here: `qinlin parse` reads config and never a database

        parsed = make_url(url or self.url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            database = Path(parsed.database)
            return database.with_name(database.stem + ".spool.jsonl")
        return Path("data") / "spool.jsonl"


class WechatyConfig(Strict):
    endpoint: str | None = None
    token: str | None = None
    startup_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    # Files above ~3 MiB fail over the puppet-service gRPC (RESOURCE_EXHAUSTED, measured); a
    # ledger larger than this is kept under exports/ and staff are told instead.
    max_file_bytes: int = Field(3_000_000, gt=0, le=100_000_000)


class RoomRule(Strict):
    """Binds rooms to a role: by a topic pattern (building and area rooms; a staff or party room
    only gets proposed to an admin, since anyone can name a group 工作群), or by a room's WeChat
    id, which binds that room to any role whatever its topic."""

    topic: str | None = None
    id: str | None = None
    role: RoomRole
    branch: int | None = None
    buildings: BuildingRange | None = None
    area: str | None = None

    @field_validator("topic")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"bad regular expression {value!r}: {error}") from None
        return value

    @model_validator(mode="after")
    def _topic_or_id(self) -> RoomRule:
        if (self.topic is None) == (self.id is None):
            raise ValueError("give either topic (a pattern) or id (the room's WeChat id)")
        return self


class PersonEntry(Strict):
    name: str
    role: PersonRole = "resident"
    wechat_id: str | None = None
    alias: str | None = None
    branch: int | None = None
    buildings: BuildingRange | None = None  # for leaders: the buildings they lead
    building: str | None = None  # for residents: their home
    unit: str | None = None
    phone: str | None = None

    @field_validator("building", "unit", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @field_validator("building")
    @classmethod
    def _home_building(cls, value: str | None) -> str | None:
        if value is not None and (not value.isdigit() or not 0 < int(value) <= MAX_BUILDING):
            raise ValueError(f"'{value}' is not a building number (1-{MAX_BUILDING})")
        return value


class OutboxConfig(Strict):
    min_interval_seconds: float = Field(2.0, ge=0, le=3600)
    jitter_seconds: float = Field(1.0, ge=0, le=3600)
    quiet_hours: str | None = "22:00-07:00"
    max_per_day: int = Field(3000, ge=1, le=1_000_000)
    max_attempts: int = Field(8, ge=1, le=100)
    # A claimed row is another sender's for this long; after it, the row is taken back (its
    # sender died mid-send). Longer than any one send to WeChat takes.
    claim_seconds: float = Field(60, ge=5, le=3600)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value:
            parts = value.split("-")
            if len(parts) != 2:
                raise ValueError(f"'{value}' is not a range like 22:00-07:00")
            for part in parts:
                parse_clock_time(part)
        return value

    def quiet_window(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        start, end = self.quiet_hours.split("-")
        return parse_clock_time(start), parse_clock_time(end)


class NoticesConfig(Strict):
    ack_window_hours: float = Field(72, gt=0, le=24 * 366)
    remind_after_hours: float = Field(24, gt=0, le=24 * 366)
    missed_grace_minutes: float = Field(60, ge=0, le=60 * 24 * 7)
    recall_window_minutes: float = Field(2, ge=0, le=60 * 24)  # WeChat lets a sender recall for 2 minutes


class RecurringReminder(Strict):
    """A reminder declared in config, e.g. 垃圾分类投放 at 7:00 and 18:00 every day."""

    name: str
    times: list[str]
    days: str = "mon-sun"  # APScheduler day names; never numbers (APScheduler counts Monday as 0)
    targets: str = "全体"
    text: str
    # false: an announcement (no number, no 收到, no follow-up); true: a numbered notice that asks
    # for 收到 and is counted and followed up like #通知 (bot/notices.py)
    ack: bool = False

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_clock_time(item)
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        if any(ch.isdigit() for ch in value):
            raise ValueError("use day names such as mon-fri or sat,sun, not numbers")
        try:
            CronTrigger(day_of_week=value)
        except ValueError as error:
            raise ValueError(f"not a list of days: {value!r} ({error})") from None
        return value


class DigestConfig(Strict):
    time: str = "20:00"
    weekly_day: str = "mon"

    @field_validator("weekly_day")
    @classmethod
    def _weekly_day(cls, value: str) -> str:
        if value not in WEEKDAYS:
            raise ValueError(f"'{value}' is not one of {', '.join(WEEKDAYS)}")
        return value

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_clock_time(value)
        return value


class CategoryEntry(Strict):
    """config.yaml ``categories: {pets: {label: 宠物, words: [狗叫, 遛狗]}}``."""

    label: str | None = None
    words: list[str] | None = None


class IntakeConfig(Strict):
    followup_minutes: float = Field(10, gt=0, le=60 * 24 * 7)


class LimitsConfig(Strict):
    """Abuse limits at the door (bot/limits.py, docs/security.md)."""

    # reports and commands acted on per contact and minute; the rest are kept but not acted on.
    # Nobody types twenty commands a minute; a script or a stuck phone does.
    per_contact_per_minute: int = Field(20, ge=1, le=10_000)
    # a #通知 to more rooms than this, by anyone but staff, waits for the sender's 确认 N12
    relay_confirm_above_rooms: int = Field(20, ge=1, le=100_000)
    relay_confirm_minutes: float = Field(10, gt=0, le=24 * 60)


class WebConfig(Strict):
    """The staff workbench (qinlin web)."""

    host: str = "127.0.0.1"  # the office PC only, unless the operator opens it up
    port: int = Field(8080, ge=1, le=65535)
    overdue_days: int = Field(3, ge=1, le=365)  # the board's 超期 list: open longer than this
    code_minutes: int = Field(5, ge=1, le=60)
    page_size: int = Field(50, ge=10, le=500)


class Config(Strict):
    community: str = "江南新村居民区"
    # The residential area's key in a database shared by a street office: every record carries
    # it, and one process per area holds the area's lease. Defaults to the community's name;
    # set it once and never change it (it is in every row).
    community_id: str | None = Field(None, min_length=1, max_length=64)
    # The street office (街道) whose areas share the database: it heads a street notice in every
    # area's rooms and the street ledger (docs/deploy.md).
    street: str = Field("街道", min_length=1, max_length=64)
    timezone: str = "Asia/Shanghai"
    database: DatabaseConfig = DatabaseConfig()
    wechaty: WechatyConfig = WechatyConfig()
    rooms: list[RoomRule] = []
    branches: dict[int, str] = {}
    areas: dict[str, str] = {}
    people: list[PersonEntry] = []
    outbox: OutboxConfig = OutboxConfig()
    notices: NoticesConfig = NoticesConfig()
    digest: DigestConfig = DigestConfig()
    intake: IntakeConfig = IntakeConfig()
    limits: LimitsConfig = LimitsConfig()
    reminders: list[RecurringReminder] = []
    categories: dict[str, CategoryEntry | None] | None = None  # optional override of the packaged vocabulary
    exports_dir: str = "exports"
    web: WebConfig = WebConfig()

    @property
    def area_id(self) -> str:
        return self.community_id or self.community[:64]

    @field_validator("branches", "areas")
    @classmethod
    def _ranges(cls, value: dict[Any, str]) -> dict[Any, str]:
        # A building belongs to one branch and one area: relays, /汇总 scopes and leaders'
        # views would otherwise depend on which range happens to be read first.
        owner: dict[str, Any] = {}
        for key, spec in value.items():
            try:
                buildings = parse_building_range(spec)
            except ValueError as error:
                raise ValueError(f"{key}: {error}") from None
            if not buildings:
                raise ValueError(f"{key}: no buildings")
            for building in buildings:
                if building in owner:
                    raise ValueError(f"building {building} is in both {owner[building]} and {key}")
                owner[building] = key
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    # Derived views, computed once.
    def branch_buildings(self, branch: int) -> list[str]:
        spec = self.branches.get(branch)
        return parse_building_range(spec) if spec else []

    def area_buildings(self, area: str) -> list[str]:
        spec = self.areas.get(area)
        return parse_building_range(spec) if spec else []

    def area_of_building(self, building: str) -> str | None:
        for name, spec in self.areas.items():
            if building in parse_building_range(spec):
                return name
        return None

    @property
    def tzinfo(self):  # ZoneInfo
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    def puppet_endpoint(self) -> str | None:
        return os.environ.get("WECHATY_PUPPET_SERVICE_ENDPOINT") or self.wechaty.endpoint

    def puppet_token(self) -> str | None:
        return os.environ.get("WECHATY_PUPPET_SERVICE_TOKEN") or self.wechaty.token


LISTS = {"rooms", "people", "reminders", "times", "words"}  # their positions are counted from 1 for people


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    parts: list[str] = []
    for part in first["loc"]:
        if isinstance(part, int) and parts and parts[-1] in LISTS:
            parts[-1] = f"{parts[-1]}[{part + 1}]"  # people[2]: the second entry, as a person counts
        else:
            parts.append(str(part))
    key = ".".join(parts) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"config: unknown key '{key}'"
    message = first["msg"].removeprefix("Value error, ")
    message = re.sub(
        r" or instance of \w+$", "", message
    )  # pydantic names our classes; operators do not need them
    return f"config: {key}: {message}"


class DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word: the first `outbox:` block an
    operator wrote would silently stop counting."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def config_from_dict(data: dict[str, Any] | None) -> Config:
    try:
        return Config.model_validate(data or {})
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


def load_config(path: str | Path | None = None) -> Config:
    """Load config.yaml; a missing default file means all defaults, a missing named file is an error."""
    explicit = path is not None
    config_path = Path(path) if path is not None else Path("config.yaml")
    if not config_path.exists():
        if explicit:
            raise ConfigError(f"config: file not found: {config_path}")
        return Config()
    try:
        text = config_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config: {config_path} is not UTF-8 text (save it as UTF-8)") from None
    except OSError as error:
        raise ConfigError(f"config: cannot read {config_path}: {error.strerror or error}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except DuplicateKey as duplicate:
        raise ConfigError(f"config: key '{duplicate.key}' appears twice (line {duplicate.line})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"config: {config_path} is not valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"config: {config_path} is nested too deeply") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config: {config_path} must be a mapping of keys")
    return config_from_dict(data)
