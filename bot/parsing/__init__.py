"""Chinese report parsing: triggers, fields, categories, 接龙 (SPEC §4)."""

from bot.parsing.fields import Fields
from bot.parsing.parser import ParseResult, ReportParser, required_fields, shared_parser
from bot.parsing.vocabulary import Vocabulary, load_vocabulary

__all__ = [
    "Fields",
    "ParseResult",
    "ReportParser",
    "Vocabulary",
    "load_vocabulary",
    "required_fields",
    "shared_parser",
]
