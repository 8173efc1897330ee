"""The order state machine: compare-and-swap transitions and failure.

Every status change is `filter(id=, status__in=from).update(...)`: whichever worker wins the swap owns the
next step, so a redelivered task or a second worker can never act on an order twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from trading.events import event_publish
from trading.models import ExitLeg, Order, OrderSide, OrderStatus, Position, PositionStatus
from trading.models.choices import ORDER_TERMINAL

logger = logging.getLogger(__name__)

# Allowed moves; order_transition refuses anything else so a bug cannot resurrect a finished order.
TRANSITIONS: dict[str, set[str]] = {
    OrderStatus.PENDING: {OrderStatus.QUOTING, OrderStatus.SIGNED, OrderStatus.FAILED},
    OrderStatus.QUOTING: {OrderStatus.SIGNED, OrderStatus.FAILED, OrderStatus.PENDING, OrderStatus.CONFIRMED},
    OrderStatus.SIGNED: {
        OrderStatus.SUBMITTED, OrderStatus.CONFIRMED, OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.QUOTING
    },
    OrderStatus.SUBMITTED: {OrderStatus.CONFIRMED, OrderStatus.FAILED, OrderStatus.EXPIRED},
    OrderStatus.EXPIRED: {OrderStatus.QUOTING, OrderStatus.SIGNED, OrderStatus.PENDING, OrderStatus.FAILED},
    OrderStatus.CONFIRMED: set(),
    OrderStatus.FAILED: set(),
}


def order_transition(*, order_id: int, from_statuses: Iterable[str], to_status: str, **fields) -> bool:
    """Move the order to `to_status` if it is still in one of `from_statuses`; return whether this call won."""
    sources = [str(s) for s in from_statuses]
    for source in sources:
        if source != to_status and to_status not in TRANSITIONS[source]:
            raise ValueError(f"order transition {source} -> {to_status} is not allowed")
    if to_status == OrderStatus.SUBMITTED and "submitted_at" not in fields:
        fields["submitted_at"] = timezone.now()
    if to_status == OrderStatus.CONFIRMED and "confirmed_at" not in fields:
        fields["confirmed_at"] = timezone.now()
    updated = Order.objects.filter(id=order_id, status__in=sources).update(
        status=to_status, updated_at=timezone.now(), **fields
    )
    return updated == 1


def order_fail(*, order_id: int, error: str) -> bool:
    """Mark a non-terminal order failed (with a reason), undo what it reserved, publish `order.failed`.

    A failed buy fails its position (nothing was bought, the reserved cost is released); a failed sell
    puts its position back to open so the trader or the exit engine can try again. Returns False if the
    order had already ended.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("position", "trader").get(id=order_id)
        if order.status in ORDER_TERMINAL:
            return False
        order_transition(order_id=order.id, from_statuses=[order.status], to_status=OrderStatus.FAILED, error=error[:2000])
        if order.position_id is None:  # a withdrawal of SOL: nothing was reserved
            event_publish(kind="order.failed", trader=order.trader, payload={
                "order_id": order.id, "position_id": None, "side": order.side, "reason": order.reason,
                "mint": "", "symbol": "SOL", "error": error[:500]})
            logger.warning("order %s failed: %s", order_id, error[:200])
            return True
        position = (  # trader and token read now, not lazily while the row locks are held
            Position.objects.select_for_update(of=("self",)).select_related("trader", "token").get(id=order.position_id)
        )
        if order.side == OrderSide.BUY and position.status == PositionStatus.OPENING:
            position.status = PositionStatus.FAILED
            position.cost_lamports = 0
            position.closed_at = timezone.now()
            position.save(update_fields=["status", "cost_lamports", "closed_at", "updated_at"])
        elif order.side in (OrderSide.SELL, OrderSide.WITHDRAW) and position.status == PositionStatus.CLOSING:
            position.status = PositionStatus.OPEN
            position.save(update_fields=["status", "updated_at"])
        if order.leg_id is not None:
            ExitLeg.objects.filter(id=order.leg_id, status=ExitLeg.Status.CLAIMED).update(status=ExitLeg.Status.PENDING)
        event_publish(
            kind="order.failed",
            trader=position.trader,
            payload={
                "order_id": order.id,
                "position_id": position.id,
                "side": order.side,
                "reason": order.reason,
                "mint": position.token.mint,
                "symbol": position.token.symbol,
                "error": error[:500],
            },
        )
    logger.warning("order %s failed: %s", order_id, error[:200])
    return True
