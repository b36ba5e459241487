"""Several residents reporting the same thing become one incident with a reporter count.

Only shared things are linked — a building's or an area's report (a stairwell light, rubble by
the garbage room); family reports are about one household and stay separate. Same place, same
category, similar words (character-pair overlap), within 72 hours.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage.models import Incident, Report
from storage.repositories import reports as report_rows

WINDOW = timedelta(hours=72)
SIMILARITY = 0.5  # share of the shorter text's character pairs found in the other
PLACE_WORDS = ("楼组", "片区", "号楼")  # every report of a place says these: they make no two alike


@functools.cache
def _noise(triggers: frozenset[str]) -> re.Pattern[str]:
    # What every report shares, left out of the comparison: digits, punctuation, the place words
    # and the vocabulary's trigger words (报告, 报修, 求助, …; longest first).
    words = sorted(triggers | set(PLACE_WORDS), key=lambda word: (-len(word), word))
    return re.compile(r"[\d\s#【】:：,，。!！?？、]" + "".join("|" + re.escape(word) for word in words))


def _bigrams(text: str, triggers: frozenset[str]) -> set[str]:
    text = _noise(triggers).sub("", text)
    pairs = {text[i : i + 2] for i in range(len(text) - 1)}
    return {pair for pair in pairs if not set(pair) & set("了的吗呢啊吧")}


def similar(a: str, b: str, triggers: Iterable[str]) -> bool:
    """Whether two reports' words say the same thing, ``triggers`` (the vocabulary's) aside."""
    words = frozenset(triggers)
    first, second = _bigrams(a, words), _bigrams(b, words)
    if not first or not second:
        # nothing but place and category ("报修 3号楼 👍"): a guess. Linking wrongly would tell a
        # resident their problem was fixed when another one was, so a bare report stays its own.
        return False
    return len(first & second) / min(len(first), len(second)) >= SIMILARITY


def link_incident(session: Session, report: Report, now: datetime, triggers: Iterable[str]) -> int:
    """Link ``report`` to a matching open report's incident; returns how many residents reported it."""
    if report.kind == "family" or report.status != "open":
        return 1
    if not report.building and not report.area:
        return 1
    candidates = report_rows.open_alike(session, report, now - WINDOW)
    words = frozenset(triggers)
    match = next((c for c in candidates if similar(c.raw_text, report.raw_text, words)), None)
    if match is None:
        return 1
    if match.incident_id is None:
        incident = Incident(
            kind=match.kind, category=match.category, building=match.building, area=match.area, created_at=now
        )
        session.add(incident)
        session.flush()
        match.incident_id = incident.id
    report.incident_id = match.incident_id
    session.flush()
    return len({r.reporter_id for r in incident_reports(session, report.incident_id)})


def incident_reports(session: Session, incident_id: int | None) -> list[Report]:
    if incident_id is None:
        return []
    return report_rows.of_incident(session, incident_id)
