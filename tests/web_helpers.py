"""Driving the workbench as staff do: a code from the bot in private chat, then the browser."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from bot.transports.simulated import Simulation

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CODE = re.compile(r"登录码：(\d{6})")


def code_from_bot(chat: Simulation, name: str) -> str:
    replies = chat.say(None, name, "/登录")
    found = CODE.search(replies[0].text) if replies else None
    assert found, replies
    return found.group(1)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html[:500]
    return found.group(1)


def log_in(client: TestClient, chat: Simulation, name: str, code: str | None = None) -> str:
    """Logs in; returns the board's HTML."""
    code = code or code_from_bot(chat, name)
    form = client.get("/login")
    answer = client.post("/login", data={"name": name, "code": code, "csrf": csrf_of(form.text)})
    assert answer.status_code == 200 and answer.url.path == "/", answer.text[:400]
    return answer.text


def post(client: TestClient, path: str, data: dict[str, str], page: str | None = None):
    html = client.get(page or "/").text
    return client.post(path, data={**data, "csrf": csrf_of(html)})
