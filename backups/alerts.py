"""Loud failures: every backup, verification or prune failure is logged at ERROR, recorded on its BackupRecord by the
caller, and published as an "alert.raise" event (jarvis.events): monitoring raises it, which notifies the admins and
deduplicates per key while the alert is open. Backups import no other app."""

from __future__ import annotations

import logging

from jarvis.events import event_emit

logger = logging.getLogger(__name__)


def backup_alert(*, key: str, title: str, detail: str) -> None:
    logger.error("%s: %s", title, detail, extra={"alert_key": key})
    # a subscriber's failure is logged by the registry and never hides the backup failure that caused it
    event_emit("alert.raise", {"key": f"backups:{key}", "summary": f"{title}: {detail}"[:1000], "severity": "critical"})
