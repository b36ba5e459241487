"""Dependencies that go away and come back: one log line when one goes, one when it is back.

The outbox pump, the alarms and the intake path each retry on their own rhythm; logging every
retry would bury the one line an operator needs ("database unavailable since 09:12").
"""

from __future__ import annotations

import logging
import threading

from storage.db import unavailable_reason

log = logging.getLogger(__name__)


class Outages:
    def __init__(self) -> None:
        self._down: dict[str, str] = {}
        self._lock = threading.Lock()

    def failed(self, where: str, error: BaseException) -> None:
        reason = (
            unavailable_reason(error)
            or f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        )
        with self._lock:
            if where in self._down:
                return
            self._down[where] = reason
        log.warning("%s: database unavailable (%s); retrying until it is back", where, reason)

    def recovered(self, where: str) -> None:
        with self._lock:
            if self._down.pop(where, None) is None:
                return
        log.warning("%s: database is back; resuming", where)
