"""Optional alert webhook: with MONITORING_ALERT_WEBHOOK_URL set, each firing and resolution is POSTed as JSON."""

from __future__ import annotations

import httpx
from django.conf import settings

from monitoring.models import AlertEvent

TIMEOUT = httpx.Timeout(5.0, connect=3.0)


def webhook_notifier(alert_event_id: int) -> None:
    """Subscribed to "alert.changed" events: hands the delivery to the default queue (retries there)."""
    if settings.MONITORING_ALERT_WEBHOOK_URL:
        from monitoring.tasks import alert_webhook

        alert_webhook.delay(alert_event_id)


def webhook_deliver(*, alert_event_id: int) -> None:
    """POST the event; 5xx and transport errors raise (retried), 4xx is permanent and raises nothing."""
    url = settings.MONITORING_ALERT_WEBHOOK_URL
    event = AlertEvent.objects.select_related("rule").filter(pk=alert_event_id).first()
    if not url or event is None:
        return
    payload = {
        "id": event.pk,
        "rule": event.rule.name,
        "metric": event.rule.metric,
        "target": event.target,
        "state": event.state,
        "value": str(event.value) if event.value is not None else None,
        "text": event.text(),
        "started_at": event.started_at.isoformat(),
        "resolved_at": event.resolved_at.isoformat() if event.resolved_at else None,
    }
    response = httpx.post(url, json=payload, timeout=TIMEOUT)
    if response.status_code >= 500:
        response.raise_for_status()
