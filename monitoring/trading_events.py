"""Metrics from trading's domain events: exits filled, by reason (trading publishes; monitoring reads)."""

from __future__ import annotations

from django.apps import apps

from monitoring import metrics


def on_trading_event(event_id: int) -> None:
    """Count an "exit.filled" event as one exit of its reason (tp, sl, trailing, time, kill, manual). Subscribed
    for that kind only, so the fills of other kinds (every buy) cost no read here."""
    event = apps.get_model("trading", "DomainEvent").objects.filter(pk=event_id, kind="exit.filled").first()
    if event is not None:
        metrics.exit_recorded(reason=str(event.payload.get("reason") or "unknown"))


def subscribe() -> None:
    try:
        from trading.events import event_subscribe
    except ImportError:  # trading not there yet: nothing to count
        return
    event_subscribe(on_trading_event, kinds=("exit.filled",))
