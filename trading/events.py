"""Domain events: trading publishes, other apps subscribe. Trading imports no consumer.

`event_publish` writes a DomainEvent row inside the caller's transaction and, on commit, calls every
subscribed handler with the event id. A handler failure is logged and never affects trading; the consumer
marks `delivered_at` in its own transaction and sweeps undelivered events, so a crash loses none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from trading.models import DomainEvent, Trader

logger = logging.getLogger(__name__)

KINDS = (
    "position.opened",
    "position.closed",
    "order.failed",
    "exit.filled",
    "exit.stuck",
    "wallet.exported",
    "prices.stale",  # trading.tpsl: mints with open positions and no fresh price (trader=None)
)

_handlers: list[Callable[[int], object]] = []


def event_subscribe(handler: Callable[[int], object]) -> None:
    """Register `handler(event_id)`; called after commit for every new event. Idempotent per handler."""
    if handler not in _handlers:
        _handlers.append(handler)


def event_unsubscribe(handler: Callable[[int], object]) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def event_publish(*, kind: str, trader: Trader | None, payload: dict) -> DomainEvent:
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    event = DomainEvent.objects.create(kind=kind, trader=trader, payload=payload)
    transaction.on_commit(lambda: _deliver(event.pk))
    return event


def _deliver(event_id: int) -> None:
    for handler in list(_handlers):
        try:
            handler(event_id)
        except Exception:
            logger.exception("event handler %s failed for event %s", getattr(handler, "__qualname__", handler), event_id)
