"""Reply texts read together (bot/texts.py): every 格式 reply shows an example, and each is what
the bot says to that command typed wrongly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot.texts import USAGE
from bot.transports.simulated import Simulation

ROOT = Path(__file__).resolve().parent.parent
STAFF, B3 = "居委工作群", "江南新村3号楼"

# Each command typed without what it needs, by someone allowed to use it
MALFORMED = {
    "更正": (B3, "郑老伯", "更正"),
    "撤回": (B3, "郑老伯", "撤回"),
    "/办结": (STAFF, "王社工", "/办结 abc"),
    "/回执": (STAFF, "王社工", "/回执"),
    "/取消": (STAFF, "王社工", "/取消"),
    "/撤回通知": (STAFF, "王社工", "/撤回通知"),
    "确认": ("第2党支部", "赵党员", "确认 N0"),  # N0 names no notice
    "/设为": (STAFF, "李书记", "/设为"),
    "/授权": (STAFF, "李书记", "/授权"),
    "/撤销授权": (STAFF, "李书记", "/撤销授权"),
    "/绑定码": (None, "李书记", "/绑定码"),
    "/解绑": (None, "李书记", "/解绑"),
}


def test_every_command_with_a_format_is_tried() -> None:
    assert set(MALFORMED) == set(USAGE)


@pytest.mark.parametrize("command", sorted(MALFORMED))
def test_a_malformed_command_gets_its_format_with_an_example(chat: Simulation, command: str) -> None:
    room, who, text = MALFORMED[command]
    replies = chat.say(room, who, text)
    assert [reply.text for reply in replies] == [USAGE[command]]
    assert replies[0].text.startswith("格式：") and "例如" in replies[0].text


def _string_starts(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal and the literal start of every f-string in ``tree``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            found.append((node.lineno, str(node.values[0].value)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def test_every_format_text_is_in_the_texts_module_and_has_an_example() -> None:
    texts = ROOT / "bot" / "texts.py"
    elsewhere = []
    for folder in ("bot", "handlers", "web"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, value in _string_starts(ast.parse(path.read_text(encoding="utf-8"))):
                if value.startswith("格式"):
                    if path != texts:
                        elsewhere.append(f"{path.relative_to(ROOT)}:{line}")
                    else:
                        assert "例如" in value, f"bot/texts.py:{line}: {value} has no example"
    assert elsewhere == [], f"格式 texts outside bot/texts.py: {elsewhere}"
