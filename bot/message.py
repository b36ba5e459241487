"""The one message model every transport speaks.

WeChat, replay files, the console and tests all turn what they receive into an
``IncomingMessage`` and hand it to :class:`bot.app.Bot`; what the bot wants to say goes
out as ``OutgoingMessage`` rows through the outbox. Nothing here knows about wechaty.
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
