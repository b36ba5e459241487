"""What a handler gets: the message, who sent it, where, the clock's now, and one session
(one unit of work per message). Handlers return replies; anything addressed elsewhere (a relay,
a private answer, telling a reporter their case is closed) goes through ``ctx.send``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.config import Config
from bot.identity import Identity
from bot.message import IncomingMessage, Outgoing
from storage.models import Room

if TYPE_CHECKING:
    from bot.app import Services
    from bot.parsing import ParseResult


@dataclass
class Ctx:
    message: IncomingMessage
    text: str  # normalised: NFKC, no control characters, no leading @mentions
    session: Session
    config: Config
    identity: Identity
    room: Room | None  # None: private chat with the bot
    now: datetime
    services: Services
    outgoing: list[Outgoing] = field(default_factory=list)

    @cached_property
    def parsed(self) -> ParseResult:
        """The parser's reading of ``text``, made once per message: the follow-up and report
        matchers both ask whether the message is a report."""
        return self.services.parser.parse(self.text, self.now)

    @property
    def room_key(self) -> str:
        return self.room.id if self.room else ""

    @property
    def is_private(self) -> bool:
        return self.room is None

    def as_typed(self, tail: str) -> str:
        """``tail`` of ``text`` as the sender typed it: NFKC turns Chinese punctuation (，) into
        ASCII, which is right for parsing and wrong for text relayed to people."""
        display = self.message.display_text
        return display[-len(tail) :] if tail and len(display) == len(self.text) else tail

    def send(self, out: Outgoing) -> None:
        self.outgoing.append(out)
