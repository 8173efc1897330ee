"""Task outcomes per minute in Redis: what the error-rate alert reads, across every worker and host."""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings

from monitoring.heartbeats import redis_for

logger = logging.getLogger(__name__)

KEEP_SECONDS = 3 * 3600


def _key(minute: int) -> str:
    return f"jarvis:tasks:{minute}"


def task_outcome_record(*, failed: bool, now: float | None = None) -> None:
    minute = int((time.time() if now is None else now) // 60)
    try:
        pipe = redis_for(settings.REDIS_URL).pipeline(transaction=False)
        pipe.hincrby(_key(minute), "failed" if failed else "ok", 1)
        pipe.expire(_key(minute), KEEP_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("task outcome not recorded: %s", exc)


def task_outcomes(*, minutes: int, now: float | None = None) -> tuple[int, int]:
    """(failed, finished) over the last ``minutes`` whole minutes, this one included."""
    current = int((time.time() if now is None else now) // 60)
    pipe = redis_for(settings.REDIS_URL).pipeline(transaction=False)
    for minute in range(current - minutes + 1, current + 1):
        pipe.hmget(_key(minute), "ok", "failed")
    failed = finished = 0
    for ok, bad in pipe.execute():
        failed += int(bad or 0)
        finished += int(ok or 0) + int(bad or 0)
    return failed, finished
