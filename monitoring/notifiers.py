"""Alert delivery hooks: other apps register a callable; monitoring calls it after commit.

    from monitoring import notifiers
    notifiers.register(fn)        # fn(alert_event_id: int) -> None

`fn` is called once when an alert event is created (state "firing") and once more, with the same id, when it
is resolved (state "resolved"); read `monitoring.models.AlertEvent` for the rest. Calls happen after the
transaction that wrote the event commits, so the row is visible. A failing notifier is logged and never stops
the others or the evaluation. The telegram app registers one in its AppConfig.ready (admin outbox messages);
monitoring itself registers the optional webhook notifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)

Notifier = Callable[[int], object]

_notifiers: list[Notifier] = []


def register(fn: Notifier) -> Notifier:
    """Register ``fn(alert_event_id)``. Idempotent per callable; returns ``fn`` so it works as a decorator."""
    if fn not in _notifiers:
        _notifiers.append(fn)
    return fn


def unregister(fn: Notifier) -> None:
    if fn in _notifiers:
        _notifiers.remove(fn)


def registered() -> tuple[Notifier, ...]:
    return tuple(_notifiers)


def notify_on_commit(alert_event_id: int) -> None:
    """Deliver ``alert_event_id`` to every notifier once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: deliver(alert_event_id))


def deliver(alert_event_id: int) -> None:
    for fn in list(_notifiers):
        try:
            fn(alert_event_id)
        except Exception:
            logger.exception("alert notifier %s failed for event %s", getattr(fn, "__qualname__", fn), alert_event_id)
