"""Errors every floor may raise; nothing here imports the rest of the bot."""

from __future__ import annotations


class UserError(Exception):
    """A mistake by the person typing; its text is sent back as a polite reply with an example."""
