from __future__ import annotations

from django.utils import timezone

from monitoring.models import Heartbeat


def heartbeat_record(*, component: str, detail: dict | None = None) -> Heartbeat:
    """Record that ``component`` is alive now (one upsert)."""
    beat, _ = Heartbeat.objects.update_or_create(
        component=component, defaults={"last_seen": timezone.now(), "detail": detail or {}}
    )
    return beat
