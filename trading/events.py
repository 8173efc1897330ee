"""Trading's domain events: what happened to money (a position opened, an exit filled, prices gone stale), written
as DomainEvent rows and handed to their subscribers through the desk's one event registry (`jarvis.events`).

`event_publish` writes the row inside the caller's transaction and, on commit, calls every handler subscribed to
its kind with the event id (`jarvis.events.event_subscribe(handler, kinds=KINDS)`). A handler failure is logged and
never affects trading; a consumer marks `delivered_at` in its own transaction and sweeps undelivered events, so a
crash loses none. Trading imports no consumer.
"""

from __future__ import annotations

from jarvis.events import DOMAIN_KINDS, event_emit_on_commit
from trading.models import DomainEvent, Trader

KINDS = DOMAIN_KINDS


def event_build(
    *, kind: str, trader: Trader | None = None, payload: dict, trader_id: int | None = None
) -> DomainEvent:
    """The event row, not saved: for a caller that writes it together with other rows (then `event_deliver_on_commit`).
    Its trader is `trader`, or the one of id `trader_id` (a caller that has the id only), or none."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return DomainEvent(kind=kind, trader_id=trader.id if trader is not None else trader_id, payload=payload)


def event_publish(
    *, kind: str, trader: Trader | None = None, payload: dict, trader_id: int | None = None
) -> DomainEvent:
    event = event_build(kind=kind, trader=trader, payload=payload, trader_id=trader_id)
    event.save(force_insert=True)
    event_deliver_on_commit(event)
    return event


def event_deliver_on_commit(event: DomainEvent) -> None:
    """Call the subscribers of `event` (saved in the current transaction) once the transaction commits."""
    event_emit_on_commit(event.kind, event.pk)
