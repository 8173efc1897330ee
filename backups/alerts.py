"""Loud failures: every backup, verification or prune failure is logged at ERROR, recorded on its BackupRecord by the
caller, and raised as an alert through monitoring (`monitoring.services.alert_raise`, which notifies the admins and
deduplicates per key while the alert is open)."""

from __future__ import annotations

import logging

from django.apps import apps

logger = logging.getLogger(__name__)


def backup_alert(*, key: str, title: str, detail: str) -> None:
    logger.error("%s: %s", title, detail, extra={"alert_key": key})
    if not apps.is_installed("monitoring"):
        return
    try:
        from monitoring.services import alert_raise

        alert_raise(key=f"backups:{key}", summary=f"{title}: {detail}"[:1000], severity="critical")
    except Exception:  # an alerting failure must not hide the backup failure that caused it
        logger.exception("could not raise the backup alert %s through monitoring", key)
