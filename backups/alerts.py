"""Loud failures: every backup, verification or prune failure is logged at ERROR, recorded on its BackupRecord by the
caller, and raised as an alert through monitoring when that app offers an alert API."""

from __future__ import annotations

import importlib
import logging

logger = logging.getLogger(__name__)

# Candidate alert entry points of the monitoring app, tried in order (keyword-only: key, title, detail).
_ALERT_APIS = (("monitoring.services", "alert_raise"), ("monitoring.alerts", "alert_raise"))


def _alert_api():
    for module_name, attribute in _ALERT_APIS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, attribute, None)
        if callable(function):
            return function
    return None


def backup_alert(*, key: str, title: str, detail: str) -> None:
    logger.error("%s: %s", title, detail, extra={"alert_key": key})
    function = _alert_api()
    if function is None:
        return
    try:
        function(key=key, title=title, detail=detail, source="backups")
    except Exception:  # an alerting failure must not hide the backup failure that caused it
        logger.exception("could not raise the backup alert %s through monitoring", key)
