"""The one message model every transport speaks.

WeChat, replay files, the console and tests all turn what they receive into an
``IncomingMessage`` and hand it to :class:`bot.app.Bot`; what the bot wants to say is an
``Outgoing`` that the unit of work queues as an ``OutboxMessage`` row (bot/outbox.py).
Nothing here knows about wechaty.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime


class MessageType(str, enum.Enum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    FILE = "file"
    LINK = "link"
    MINI_PROGRAM = "mini_program"
    VIDEO = "video"
    EMOTICON = "emoticon"
    OTHER = "other"


# WeChat separates a mention from the text with U+2005 (four-per-em space); people who type
# the name by hand use an ordinary space, or nothing at the end of the message.
_LEADING_MENTIONS = re.compile(r"^(?:\s*@[^\s\u2005@]{1,32}[\s\u2005]*)+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\ufeff]")


# Cleaned once, where a message enters: what storage, the ledger (openpyxl refuses C0 controls,
# XML refuses U+FFFE/U+FFFF and unpaired surrogates) and PostgreSQL (no NUL) cannot take. Line
# breaks in other clothes (Word's vertical tab, form feed, U+2028/2029, NEL, a lone CR) become a
# newline, so a 接龙 pasted from Word keeps its lines; every other control character goes.
_LINE_BREAK = re.compile(r"\r\n|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029\r]")
_UNSAFE = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
_BREAKS_IN_A_NAME = re.compile(r"[\t\n]+")
# The longest name or group topic kept: longer is not a WeChat name but a paste (columns fit these).
MAX_NAME = 128
MAX_TOPIC = 256


def clean_text(raw: str | None) -> str:
    """Text as it may be stored and shown anywhere: line breaks made newlines, the characters
    no database, spreadsheet or chart can take removed."""
    if not raw:
        return ""
    if raw.isprintable() and raw.isascii():
        return raw
    return _UNSAFE.sub("", _LINE_BREAK.sub("\n", raw))


def clean_name(raw: str | None, limit: int = MAX_NAME) -> str:
    """A display name or a group topic: one line, cleaned, at most ``limit`` characters."""
    return _BREAKS_IN_A_NAME.sub(" ", clean_text(raw)).strip()[:limit]


def normalise_text(raw: str) -> str:
    """NFKC (full-width digits and punctuation become ASCII), no control characters,
    no leading @mentions, trimmed."""
    text = unicodedata.normalize("NFKC", raw or "")
    text = _CONTROL.sub("", text)
    text = _LEADING_MENTIONS.sub("", text)
    return text.strip()


def display_text(raw: str) -> str:
    """Like :func:`normalise_text` but keeping the characters as typed (for relaying)."""
    text = _CONTROL.sub("", raw or "")
    text = _LEADING_MENTIONS.sub("", text)
    return text.strip()


@dataclass(frozen=True)
class IncomingMessage:
    """A message as the bot sees it, whatever carried it."""

    message_id: str
    sent_at: datetime  # tz-aware
    sender_id: str
    sender_name: str
    text: str  # raw text as received
    room_id: str | None = None  # None: private chat with the bot
    room_topic: str | None = None
    type: MessageType = MessageType.TEXT
    sender_alias: str | None = None
    mention_ids: tuple[str, ...] = ()
    mentions_bot: bool = False
    is_self: bool = False

    def __post_init__(self) -> None:
        # every transport builds this model, so cleaning here is cleaning once, at the edge
        object.__setattr__(self, "text", clean_text(self.text))
        # ids are ASCII from WeChat, but replay files and the console derive them from names
        object.__setattr__(self, "sender_id", clean_name(self.sender_id))
        object.__setattr__(self, "message_id", clean_name(self.message_id))
        if self.room_id is not None:
            object.__setattr__(self, "room_id", clean_name(self.room_id))
        object.__setattr__(self, "sender_name", clean_name(self.sender_name) or self.sender_id[:MAX_NAME])
        if self.sender_alias is not None:
            object.__setattr__(self, "sender_alias", clean_name(self.sender_alias, 64) or None)
        if self.room_topic is not None:
            object.__setattr__(self, "room_topic", clean_name(self.room_topic, MAX_TOPIC))

    @property
    def is_private(self) -> bool:
        return self.room_id is None

    @property
    def clean_text(self) -> str:
        return normalise_text(self.text)

    @property
    def display_text(self) -> str:
        return display_text(self.text)


@dataclass(frozen=True)
class Reply:
    """What a handler wants said. ``to_room`` False means a private message to the sender."""

    text: str = ""
    file_path: str | None = None
    private: bool = False  # send to the asker privately instead of into the room
    mention_sender: bool = False
    urgent: bool = False


@dataclass
class Outgoing:
    """A message addressed to a room or a person, about to enter the outbox."""

    text: str
    room_id: str | None = None
    person_id: str | None = None
    file_path: str | None = None
    mention_ids: list[str] = field(default_factory=list)
    urgent: bool = False
    dedupe_key: str | None = None  # unique: (source message id, target) so a redelivery is a no-op
    not_before: datetime | None = None
    notice_id: int | None = None
    recall_message_id: str | None = None  # set: this is not a message but the recall of that one
