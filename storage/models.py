"""The records the committee relies on. SQLAlchemy 2 typed models; the schema is created and
changed only through Alembic migrations (storage/migrations).

Nothing here is SQLite-only: the same models run on PostgreSQL for a street office.
Times are stored as timezone-aware UTC (``DateTime(timezone=True)``); SQLite keeps them as text
and :class:`UTCDateTime` gives them back aware.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; returns them aware (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AreaScoped:
    """A record that belongs to one residential area (居民区). Many areas may share one database
    (a street office, SPEC §11): a session made for an area sees and writes only its own rows
    (storage/scoping.py), so no handler, job or export has to remember a WHERE. '' marks rows
    from before areas, adopted by the first area that starts on the database."""

    community: Mapped[str] = mapped_column(String(64), index=True, default="", server_default="")


# ---------------------------------------------------------------- rooms and people

PERSON_NAME_LENGTH = 64  # a roster name; /设为 and /授权 refuse a longer one rather than cut it into another


class Room(AreaScoped, Base):
    """A WeChat group the bot has seen. Keyed by WeChat room id so a renamed group stays bound."""

    __tablename__ = "rooms"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    topic: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str | None] = mapped_column(String(16))  # general/branch/building/area/staff; None = unbound
    branch: Mapped[int | None] = mapped_column(Integer)
    buildings: Mapped[str | None] = mapped_column(Text)  # "3" or "3,5,8" (/绑定 1-300号楼: 300 of them)
    area: Mapped[str | None] = mapped_column(String(64))
    bound_by: Mapped[str | None] = mapped_column(String(16))  # "config" (topic rule) or "admin" (/绑定)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def building_list(self) -> list[str]:
        return [b for b in (self.buildings or "").split(",") if b]


class Person(AreaScoped, Base):
    """Someone the committee knows, from config.yaml, a roster import or /设为."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("community", "wechat_id", name="uq_people_community_wechat_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wechat_id: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(PERSON_NAME_LENGTH), index=True)
    alias: Mapped[str | None] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16), default="resident")
    branch: Mapped[int | None] = mapped_column(Integer)
    buildings: Mapped[str | None] = mapped_column(Text)  # a leader's buildings, "3,5"
    building: Mapped[str | None] = mapped_column(String(16))  # home
    unit: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16), default="config")  # config/roster/chat
    # How ``wechat_id`` was proven: config/roster (an id written by the committee), code (a
    # one-time code redeemed in private chat), admin (an admin @-picked the contact). None: the id
    # was only learned from a display name, which proves nothing — such a person is a resident.
    bound_via: Mapped[str | None] = mapped_column(String(16))
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def is_bound(self) -> bool:
        return self.wechat_id is not None and self.bound_via is not None


class Contact(AreaScoped, Base):
    """A WeChat contact the bot has seen speak: an @mention must name one of these, so a role is
    never granted to an id nobody has. Per area: one area's account having seen a contact is no
    reason for another area's admin to be able to pick it."""

    __tablename__ = "contacts"

    community: Mapped[str] = mapped_column(String(64), primary_key=True, default="", server_default="")
    wechat_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BindCode(AreaScoped, Base):
    """A one-time code that binds a person to the WeChat contact who sends it in private chat.
    Only its hash is kept: the database alone cannot be used to bind."""

    __tablename__ = "bind_codes"
    __table_args__ = (UniqueConstraint("community", "code_hash", name="uq_bind_codes_community_code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))  # unique per area (migration 0011)
    issued_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by: Mapped[str | None] = mapped_column(String(128))


class BindFailure(AreaScoped, Base):
    """A wrong, used or expired code sent by a contact: five within an hour lock that contact."""

    __tablename__ = "bind_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wechat_id: Mapped[str] = mapped_column(String(128), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoleEvent(AreaScoped, Base):
    """The audit trail of who may do what: role changes, delegations, bindings, codes issued."""

    __tablename__ = "role_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(16))  # set_role/import/config/delegate/revoke/code/bind/unbind
    person_id: Mapped[int | None] = mapped_column(Integer)
    person_name: Mapped[str] = mapped_column(String(128))
    wechat_id: Mapped[str | None] = mapped_column(String(128))
    old_role: Mapped[str | None] = mapped_column(String(16))
    new_role: Mapped[str | None] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    actor_name: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(String(256))


class Delegation(AreaScoped, Base):
    """/授权 @某人 今天: party relay rights until a moment (midnight), unless revoked first."""

    __tablename__ = "delegations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wechat_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(PERSON_NAME_LENGTH))
    granted_by: Mapped[str] = mapped_column(String(128))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- incoming messages


class IncomingRecord(AreaScoped, Base):
    """Every incoming message the bot acts on, by WeChat message id: a redelivery is acted on once."""

    __tablename__ = "incoming_messages"
    __table_args__ = (
        UniqueConstraint("community", "message_id", name="uq_incoming_messages_community_message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128))
    room_id: Mapped[str | None] = mapped_column(String(128), index=True)
    sender_id: Mapped[str] = mapped_column(String(128))
    sender_name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- reports


class Incident(AreaScoped, Base):
    """Several residents reporting the same thing: one incident, many reports."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    building: Mapped[str | None] = mapped_column(String(16))
    area: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    reports: Mapped[list[Report]] = relationship(back_populates="incident")


class Report(AreaScoped, Base):
    """A family, building or area report. ``id`` is the short number shown as #7."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("community", "dedupe_key", name="uq_reports_community_dedupe_key"),
        # the status, category and building indexes lead with the area (migration 0014_area_query_indexes)
        Index("ix_reports_status_created", "community", "status", "created_at"),
        # the questions staff ask (migration 0007_speed): /汇总 counts a period from this index
        # alone; /查询 by category or building reads its newest twenty in date order
        Index("ix_reports_created_counts", "created_at", "kind", "category", "status", "people"),
        Index("ix_reports_category_created", "community", "category", "created_at"),
        Index("ix_reports_building_created", "community", "building", "created_at"),
        # the workbench's board (migration 0008_web_board): open items and the oldest per building
        Index("ix_reports_status_building_created", "community", "status", "building", "created_at"),
        # many areas on one database (migration 0013_area_indexes): an area's /汇总 reads its own rows
        Index(
            "ix_reports_community_created_counts",
            "community",
            "created_at",
            "kind",
            "category",
            "status",
            "people",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # family/building/area
    category: Mapped[str] = mapped_column(String(32), default="other")
    status: Mapped[str] = mapped_column(
        String(16), default="open"
    )  # pending/open/incomplete/withdrawn/resolved
    building: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(16))
    area: Mapped[str | None] = mapped_column(String(64))
    people: Mapped[int | None] = mapped_column(Integer)
    households: Mapped[int | None] = mapped_column(Integer)
    origin: Mapped[str | None] = mapped_column(String(64))
    event_date: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    contact_name: Mapped[str | None] = mapped_column(String(64))  # the person a 接龙 line names
    missing: Mapped[str | None] = mapped_column(String(64))  # "building,unit" while pending/incomplete
    reporter_id: Mapped[str] = mapped_column(String(128), index=True)
    reporter_name: Mapped[str] = mapped_column(String(128))
    room_id: Mapped[str | None] = mapped_column(String(128), index=True)  # None: private chat
    message_id: Mapped[str | None] = mapped_column(String(128))
    raw_text: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(512))  # 接龙 line identity, unique per area
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    incident: Mapped[Incident | None] = relationship(back_populates="reports")
    events: Mapped[list[ReportEvent]] = relationship(back_populates="report", order_by="ReportEvent.id")


class ReportEvent(AreaScoped, Base):
    """The audit trail: every change to a report, who made it and when."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # create/complete/correct/withdraw/expire/resolve/purge
    actor_id: Mapped[str] = mapped_column(String(128))
    actor_name: Mapped[str] = mapped_column(String(128))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)  # {"unit": ["201", "302"]}
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    report: Mapped[Report] = relationship(back_populates="events")


class PendingQuestion(AreaScoped, Base):
    """Conversation state: the bot asked this person in this room for a missing field."""

    __tablename__ = "pending_questions"
    __table_args__ = (
        UniqueConstraint("community", "room_key", "person_id", name="uq_pending_questions_room_person"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_key: Mapped[str] = mapped_column(String(128))  # room id, or "" for private chat
    person_id: Mapped[str] = mapped_column(String(128))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# ---------------------------------------------------------------- notices


class Notice(AreaScoped, Base):
    """A notice relayed downward; ``id`` is shown as N12. Scheduled and recurring ones too."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    targets: Mapped[str] = mapped_column(Text, default="全体")  # as the sender wrote them
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    sender_id: Mapped[str] = mapped_column(String(128))
    sender_name: Mapped[str] = mapped_column(String(128))
    source_room_id: Mapped[str | None] = mapped_column(String(128))
    source_message_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(
        String(16), default="sent"
    )  # scheduled/sent/cancelled/skipped/recalled/held/lapsed
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recurrence: Mapped[str | None] = mapped_column(String(64))  # e.g. "daily 07:00"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # /撤回通知: who asked, where to report (room id; None = private), when the report went out
    recall_requested_by: Mapped[str | None] = mapped_column(String(128))
    recall_reply_room_id: Mapped[str | None] = mapped_column(String(128))
    recall_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    deliveries: Mapped[list[NoticeDelivery]] = relationship(back_populates="notice")


class NoticeDelivery(AreaScoped, Base):
    """One target room of a notice, with its outbox row and reminder."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (UniqueConstraint("notice_id", "room_id", name="uq_notice_deliveries_notice_room"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    room_id: Mapped[str] = mapped_column(String(128), index=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # after /撤回通知: withdrawn (never sent), too_late (past WeChat's window), requested (a
    # recall is in the outbox), recalled, refused (the transport said no)
    recall_state: Mapped[str | None] = mapped_column(String(16))

    notice: Mapped[Notice] = relationship(back_populates="deliveries")


class NoticeAck(AreaScoped, Base):
    """收到: once per person per notice."""

    __tablename__ = "notice_acks"
    __table_args__ = (UniqueConstraint("notice_id", "person_id", name="uq_notice_acks_notice_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    room_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[str] = mapped_column(String(128))
    person_name: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- outbox


class OutboxMessage(AreaScoped, Base):
    """Every outgoing message. queued → sending → sent, or failed after max attempts.

    ``dedupe_key`` is unique so a redelivered incoming message, or a restart that replays a
    fan-out, cannot queue the same send twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("community", "dedupe_key", name="uq_outbox_community_dedupe_key"),
        Index("ix_outbox_state_due", "state", "next_attempt_at"),
        # an area's pacing inputs and queue from its own rows alone (migration 0013_area_indexes)
        Index("ix_outbox_community_sent_at", "community", "sent_at"),
        Index("ix_outbox_community_state_due", "community", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room_id: Mapped[str | None] = mapped_column(String(128))
    person_id: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")
    file_path: Mapped[str | None] = mapped_column(String(512))
    mention_ids: Mapped[list] = mapped_column(JSON, default=list)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued/sending/sent/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(256))  # unique per area
    notice_id: Mapped[int | None] = mapped_column(Integer)
    transport_message_id: Mapped[str | None] = mapped_column(String(128))  # for recall
    # "say" sends text or a file; "recall" takes back the message ``recall_message_id`` (the
    # transport's id of an earlier send), paced and retried like any other outgoing action.
    action: Mapped[str] = mapped_column(String(16), default="say", server_default="say")
    recall_message_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # the sender that claimed the row (host:pid:worker) and until when the claim holds; after
    # that a row still 'sending' is taken back (bot/outbox.py)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- audit of queries


class QueryLog(AreaScoped, Base):
    """Who asked what, where: every staff query is written down."""

    __tablename__ = "query_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    person_id: Mapped[str] = mapped_column(String(128))
    person_name: Mapped[str] = mapped_column(String(128))
    room_id: Mapped[str | None] = mapped_column(String(128))
    command: Mapped[str] = mapped_column(String(32))
    arguments: Mapped[str] = mapped_column(Text, default="")
    # whole phone numbers were in the answer (SPEC §6: staff, in the staff room or private chat)
    phones_whole: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class JobRun(AreaScoped, Base):
    """Last run of a periodic job (digest, reminders) so a restart does not repeat or skip one."""

    __tablename__ = "job_runs"

    # one digest, one reminder slot per area: the area is part of the key
    community: Mapped[str] = mapped_column(String(64), primary_key=True, default="", server_default="")
    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- the web workbench


class WebLoginCode(AreaScoped, Base):
    """A one-time code sent by the bot after /登录: kept hashed, valid minutes, used once."""

    __tablename__ = "web_login_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wechat_id: Mapped[str] = mapped_column(String(128), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebLoginLock(AreaScoped, Base):
    """Wrong codes typed for one person; five lock that person's logins for a while."""

    __tablename__ = "web_login_locks"

    community: Mapped[str] = mapped_column(String(64), primary_key=True, default="", server_default="")
    subject: Mapped[str] = mapped_column(
        String(160), primary_key=True
    )  # the person's WeChat id, or the name typed
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSession(AreaScoped, Base):
    """A browser logged in as a person; the cookie carries the token, signed; the row ends it."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    wechat_id: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(128))
    csrf_token: Mapped[str] = mapped_column(String(64))
    filters: Mapped[dict] = mapped_column(JSON, default=dict)  # report filters: kept here, not in URLs
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppSecret(Base):
    """Secrets the program makes for itself on first use (the cookie signing key)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
