"""The newest log lines of every process, kept in Redis for /vibe's log tool (`log_lines_search`).

`RecentLogHandler` (in LOGGING, at LOG_RECENT_LEVEL and above, after the redaction filter) pushes one JSON line per
record onto a capped Redis list. It never raises and never slows a caller for long: Redis unreachable, the line is
dropped (the console handler still has it).
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis
from django.conf import settings

from jarvis.redact import redact_text
from jarvis.redis import redis_client

KEY = "jarvis:logs:recent"
_busy = threading.local()


def _client(url: str) -> redis.Redis:
    return redis_client(url, timeout=0.5, retry=False)


def log_line_append(*, at: float, level: str, logger: str, message: str) -> None:
    """Keep one line (newest first), trimmed to LOG_RECENT_LINES."""
    line = json.dumps({"at": at, "level": level, "logger": logger, "message": message[:2000]})
    pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
    pipe.lpush(KEY, line)
    pipe.ltrim(KEY, 0, settings.LOG_RECENT_LINES - 1)
    pipe.execute()


def log_lines_search(*, word: str, since_seconds: int = 3600, limit: int = 50) -> list[dict]:
    """The newest lines of the last ``since_seconds`` whose text contains ``word`` (case-insensitive), newest first."""
    cutoff = time.time() - since_seconds
    needle = word.lower()
    found = []
    for raw in _client(settings.REDIS_URL).lrange(KEY, 0, -1):
        line = json.loads(raw)
        if line["at"] < cutoff:
            break
        if needle in line["message"].lower() or needle in line["logger"].lower():
            found.append(line)
            if len(found) >= limit:
                break
    return found


class RecentLogHandler(logging.Handler):
    """After a failure to reach Redis the handler rests PAUSE_S seconds (a caller never waits on a dead Redis twice)."""

    PAUSE_S = 5.0

    def __init__(self, level=logging.NOTSET):
        super().__init__(level)
        self._resting_until = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_busy, "on", False) or record.name.startswith("redis") or time.monotonic() < self._resting_until:
            return  # a log line written while keeping one (redis-py's own) would loop
        _busy.on = True
        try:
            message = record.getMessage()
            if record.exc_text:
                message = f"{message}\n{record.exc_text}"
            elif record.exc_info and record.exc_info[0] is not None:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            log_line_append(at=record.created, level=record.levelname, logger=record.name, message=redact_text(message))
        except Exception:  # Redis down, settings not ready: the console handler has the line
            self._resting_until = time.monotonic() + self.PAUSE_S
        finally:
            _busy.on = False
