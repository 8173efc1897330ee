"""The desk's one event registry: a publisher names a kind, and the handlers subscribed to that kind are called
with the event's message. Publishers never import their subscribers (docs/architecture.md, "Direction of knowledge").

- DOMAIN_KINDS (position.opened, position.closed, order.failed, order.delayed, exit.filled, exit.stuck, wallet.exported,
  withdrawal.landed, prices.stale, limit.ended, dca.notice, launch.notice): published by trading (`trading.events`: a DomainEvent row, after commit); the message is the
  DomainEvent id; telegram_app turns them into messages, monitoring counts exits.
- alert.raise: published by trading and backups (at once); `{"key", "summary", "severity"}`; monitoring raises it.
- alert.changed: published by monitoring when an AlertEvent fires or resolves (after commit); the AlertEvent id;
  telegram_app tells the admins, monitoring's webhook posts it.
- provider.calls: published by trading (`trading.chain.observe`, at once); `{provider: calls}`; monitoring counts
  them against the providers' budgets.

A handler that raises is logged and never affects the publisher or the other handlers. Events published "at once"
run their handlers in the publisher's thread and transaction; "after commit" ones once that transaction commits
(at once outside one), and only if a handler wants the kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction

logger = logging.getLogger(__name__)

DOMAIN_KINDS = (
    "position.opened",
    "position.closed",
    "order.failed",
    "order.delayed",  # accepted (committed) but not queued yet: reconciliation queues it again
    "exit.filled",
    "exit.stuck",
    "wallet.exported",
    "withdrawal.landed",  # a withdrawal's transfer landed: what was sent, where, its fees
    "prices.stale",  # trading.tpsl: mints with open positions and no fresh price
    "limit.ended",  # a limit order cancelled at trigger time (a check refused it) or expired unfilled
    "launch.notice",  # a watched bags.fm launch launched (its buy on launch) or graduated (told; its buy on graduation)
    "dca.notice",  # a DCA plan finished, stopped by a stop condition, paused by the kill switch, or a round refused
)
KINDS = frozenset({*DOMAIN_KINDS, "alert.raise", "alert.changed", "provider.calls"})

Handler = Callable[[object], object]

# handler -> the kinds it is called for
_handlers: dict[Handler, frozenset[str]] = {}


def _known(kinds: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(kinds)
    if not wanted or not wanted <= KINDS:
        raise ValueError(f"unknown event kinds {sorted(wanted - KINDS) or '(none given)'}")
    return wanted


def event_subscribe(handler: Handler, *, kinds: Iterable[str]) -> None:
    """Call `handler(message)` for every event of `kinds`. Subscribing a handler again replaces its kinds."""
    _handlers[handler] = _known(kinds)


def event_unsubscribe(handler: Handler) -> None:
    _handlers.pop(handler, None)


def event_subscribed(kind: str) -> bool:
    """Whether any handler wants `kind` (a publisher may skip work nobody reads)."""
    return any(kind in kinds for kinds in _handlers.values())


def event_emit(kind: str, message: object) -> None:
    """Hand the event to its handlers now, in this thread."""
    _known((kind,))
    for handler, kinds in list(_handlers.items()):
        if kind not in kinds:
            continue
        try:
            handler(message)
        except Exception:
            logger.exception("event handler %s failed for %s %s", getattr(handler, "__qualname__", handler), kind,
                             message if isinstance(message, int) else "")


def event_emit_on_commit(kind: str, message: object) -> None:
    """Hand the event to its handlers once the current transaction commits (at once outside one); nothing if it
    rolls back."""
    _known((kind,))
    if event_subscribed(kind):
        transaction.on_commit(lambda: event_emit(kind, message))
