"""The verbs of the domain, one function each, under every face (chat handlers, web pages, CLI).

A service takes a session, the config, the acting person and the clock's now; it changes the
records, writes the audit trail and returns what to tell the actor plus the messages to queue.
It never commits and never sends: the face's unit of work does both. A user mistake is a
:class:`bot.errors.UserError` whose text every face shows as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.message import Outgoing


@dataclass
class Outcome:
    """What a service did: one line for the actor, and the messages for the outbox."""

    text: str
    outgoing: list[Outgoing] = field(default_factory=list)
    notes: dict[str, object] = field(default_factory=dict)  # for faces that show more (counts, ids)
