"""Celery tasks of the `backups` queue. They take JSON primitives, call one service and return a small summary.

Failures propagate: the service has already recorded the error on the BackupRecord and alerted, and the worker logs the
task as failed. There is no in-task retry: the next scheduled run is the retry (a full disk does not empty itself in
seconds, and a second dump started by a redelivery would only compete with the first).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from backups.selectors import backup_latest
from backups.services import backup_create, backup_prune, backup_verify

_SOFT = settings.BACKUP_TIMEOUT_SECONDS + 120
_HARD = settings.BACKUP_TIMEOUT_SECONDS + 240


@shared_task(name="backups.run", soft_time_limit=_SOFT, time_limit=_HARD)
def run(kind: str = "hourly") -> dict:
    record = backup_create(kind=kind)
    return {"backup_id": record.pk, "bytes": record.size_bytes, "sha256": record.sha256}


@shared_task(name="backups.verify", soft_time_limit=_SOFT, time_limit=_HARD)
def verify(record_id: int | None = None) -> dict:
    if record_id is None and backup_latest() is None:
        return {"backup_id": None, "skipped": "no successful backup yet"}  # a fresh install, before its first backup
    record = backup_verify(record_id=record_id)
    return {"backup_id": record.pk, "verified_at": record.verified_at.isoformat()}


@shared_task(name="backups.prune", soft_time_limit=600, time_limit=660)
def prune() -> dict:
    result = backup_prune()
    return {"pruned": result.pruned, "failed_deleted": result.failed_deleted, "errors": result.errors}
