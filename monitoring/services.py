"""Heartbeat writes, and the entry points other apps call. More in budgets.py, alerts.py, uptime.py."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.utils import timezone

from monitoring import alerts
from monitoring.heartbeats import heartbeat_write, redis_for
from monitoring.models import Heartbeat

logger = logging.getLogger(__name__)


def heartbeat_record(*, component: str, detail: dict | None = None, mode: str | None = None) -> float | None:
    """Record in Redis that ``component`` (beat, bot, price_feed, ...) is alive now.

    Returns the timestamp written, or None when Redis is unreachable: a heartbeat never breaks its caller
    (the bot's loop, the price feed); the missing heartbeat is what readiness and alerts then report. ``mode``: the
    trading mode the component runs, when it is not this process (beat's heartbeat is written by a worker).
    """
    try:
        return heartbeat_write(redis_for(settings.REDIS_URL), component=component, detail=detail, mode=mode)
    except redis.RedisError as exc:
        logger.warning("heartbeat of %s not recorded: %s", component, exc)
        return None


def heartbeat_row_record(*, component: str, detail: dict | None = None):
    """Upsert the component's Heartbeat row (the admin's view of the last sign of life)."""
    row, _ = Heartbeat.objects.update_or_create(
        component=component, defaults={"last_seen": timezone.now(), "detail": detail or {}}
    )
    return row


def alert_raise(*, key: str, summary: str, severity: str = "warning") -> bool:
    """Raise an alert to the admins from code; see monitoring.alerts.alert_raise."""
    return alerts.alert_raise(key=key, summary=summary, severity=severity)
