"""Uptime per component and minute (written once a minute from beat), kept MONITORING_UPTIME_KEEP_DAYS days."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from monitoring.checks import readiness_run
from monitoring.models import Heartbeat, UptimeMinute


def uptime_record(*, now: datetime | None = None, report: dict | None = None) -> int:
    """Run the readiness checks and store one row per component for the current minute (idempotent)."""
    now = now or timezone.now()
    minute = now.replace(second=0, microsecond=0)
    report = report or readiness_run()
    rows = [
        UptimeMinute(component=name, minute=minute, up=result["status"] == "up")
        for name, result in report["components"].items()
    ]
    UptimeMinute.objects.bulk_create(rows, ignore_conflicts=True)
    for name, result in report["components"].items():
        if result["status"] == "up":
            Heartbeat.objects.update_or_create(component=name, defaults={"last_seen": now, "detail": {"via": "uptime"}})
    return len(rows)


def uptime_prune(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.MONITORING_UPTIME_KEEP_DAYS)
    deleted, _ = UptimeMinute.objects.filter(minute__lt=cutoff).delete()
    return deleted
