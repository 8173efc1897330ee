"""Domain events: trading publishes, other apps subscribe. Trading imports no consumer.

`event_publish` writes a DomainEvent row inside the caller's transaction and, on commit, calls every
subscribed handler with the event id. A handler failure is logged and never affects trading; the consumer
marks `delivered_at` in its own transaction and sweeps undelivered events, so a crash loses none.

A subscriber may name the kinds it wants (`event_subscribe(handler, kinds=...)`): it is then called for those
kinds only, so the process that commits a fill does no work for a consumer that ignores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction

from trading.models import DomainEvent, Trader

logger = logging.getLogger(__name__)

KINDS = (
    "position.opened",
    "position.closed",
    "order.failed",
    "order.delayed",  # accepted (committed) but not queued yet: reconciliation queues it again
    "exit.filled",
    "exit.stuck",
    "wallet.exported",
    "prices.stale",  # trading.tpsl: mints with open positions and no fresh price (trader=None)
)

# handler -> the kinds it is called for (None: every kind)
_handlers: dict[Callable[[int], object], frozenset[str] | None] = {}


def event_subscribe(handler: Callable[[int], object], *, kinds: Iterable[str] | None = None) -> None:
    """Register `handler(event_id)`; called after commit for every new event (of `kinds` only, if given).
    Subscribing a handler again replaces its kinds."""
    wanted = None if kinds is None else frozenset(kinds)
    if wanted is not None and not wanted <= set(KINDS):
        raise ValueError(f"unknown event kinds {sorted(wanted - set(KINDS))}")
    _handlers[handler] = wanted


def event_unsubscribe(handler: Callable[[int], object]) -> None:
    _handlers.pop(handler, None)


def event_build(*, kind: str, trader: Trader | None, payload: dict) -> DomainEvent:
    """The event row, not saved: for a caller that writes it together with other rows (then `event_deliver_on_commit`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return DomainEvent(kind=kind, trader=trader, payload=payload)


def event_publish(*, kind: str, trader: Trader | None, payload: dict) -> DomainEvent:
    event = event_build(kind=kind, trader=trader, payload=payload)
    event.save(force_insert=True)
    event_deliver_on_commit(event)
    return event


def event_deliver_on_commit(event: DomainEvent) -> None:
    """Call the subscribers of `event` (saved in the current transaction) once the transaction commits."""
    if any(kinds is None or event.kind in kinds for kinds in _handlers.values()):
        event_id, kind = event.pk, event.kind
        transaction.on_commit(lambda: _deliver(event_id, kind))


def _deliver(event_id: int, kind: str) -> None:
    for handler, kinds in list(_handlers.items()):
        if kinds is not None and kind not in kinds:
            continue
        try:
            handler(event_id)
        except Exception:
            logger.exception("event handler %s failed for event %s", getattr(handler, "__qualname__", handler), event_id)
