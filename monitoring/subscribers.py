"""What monitoring makes of other apps' events (jarvis.events): exits counted by reason, alerts raised for trading
and backups, provider calls counted against their budgets. Publishers import none of this."""

from __future__ import annotations

from django.apps import apps

from jarvis.events import event_subscribe
from monitoring import metrics
from monitoring.alerts import alert_raise
from monitoring.budgets import budget_spend_calls
from monitoring.webhook import webhook_notifier


def on_exit_filled(event_id: int) -> None:
    """Count an "exit.filled" event as one exit of its reason (tp, sl, trailing, time, kill, manual). Subscribed
    for that kind only, so the fills of other kinds (every buy) cost no read here."""
    event = apps.get_model("trading", "DomainEvent").objects.filter(pk=event_id, kind="exit.filled").first()
    if event is not None:
        metrics.exit_recorded(reason=str(event.payload.get("reason") or "unknown"))


def on_alert_raise(message: dict) -> None:
    alert_raise(key=message["key"], summary=message["summary"], severity=message.get("severity", "warning"))


def on_provider_calls(calls: dict[str, int]) -> None:
    budget_spend_calls(calls=calls)


def subscribe() -> None:
    event_subscribe(on_exit_filled, kinds=("exit.filled",))
    event_subscribe(on_alert_raise, kinds=("alert.raise",))
    event_subscribe(on_provider_calls, kinds=("provider.calls",))
    event_subscribe(webhook_notifier, kinds=("alert.changed",))
