"""Errors every floor may raise; nothing here imports the rest of the bot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class UserError(Exception):
    """A mistake by the person typing; its text is sent back as a polite reply with an example."""


@dataclass(frozen=True)
class Problem:
    """What is wrong as a code and its values, for a text two faces share: the staff's web page
    and chat say it in Chinese, the operator's terminal in English, each from its own templates
    (bot/texts.py and bot/cli.py), so that neither face shows the other's language."""

    code: str
    params: Mapping[str, object] = field(default_factory=dict)
    line: int | None = None  # a file's line, counted as Excel counts rows

    def say(self, templates: Mapping[str, str]) -> str:
        return templates[self.code].format(**self.params)
