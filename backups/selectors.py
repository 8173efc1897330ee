"""Reads of the backup catalogue."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from backups.models import BackupRecord


def backup_list(*, limit: int = 50) -> QuerySet[BackupRecord]:
    return BackupRecord.objects.all()[:limit]


def backup_latest(*, verified: bool = False, exclude_kinds: tuple[str, ...] = ()) -> BackupRecord | None:
    """The newest successful backup (optionally only verified ones, optionally skipping some kinds)."""
    records = BackupRecord.objects.filter(status=BackupRecord.Status.SUCCEEDED).exclude(kind__in=exclude_kinds)
    if verified:
        records = records.filter(verified_at__isnull=False, verify_error="")
    return records.order_by("-started_at", "-id").first()


def database_other_connections() -> int:
    """How many other sessions are connected to the default database (PostgreSQL; 0 elsewhere)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]
