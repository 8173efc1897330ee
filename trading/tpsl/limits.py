"""Firing limit orders: the sweep's trigger lookup (trading.tpsl.sweep.triggers_find) finds the active limit orders
whose level the price crossed or whose expiry passed, and this places their orders.

Each limit order is claimed on its own, in one transaction: its row is locked (`FOR UPDATE SKIP LOCKED` where the
database has row locks) and still `active`, so an event and the beat sweep (or the trader's cancel) never both act on
it; the order is placed inside that transaction and the row becomes `placed` with it, so a limit order places at most
one order. The order goes through the same services as a market order: a buy through position_open (kill switch,
risk limits, balance; its position gets its exit plan), after the token's safety card is checked against the trader's
setting; a sell through position_sell. A check that refuses cancels the limit order with the refusal's sentence (a
`limit.ended` event tells the trader): nothing is queued for later. A sell whose position has another sell in flight
waits for a later tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from trading.errors import TradingError
from trading.events import event_publish
from trading.models import LimitOrder, OrderReason, OrderSide
from trading.safety import token_safety
from trading.services.positions import position_open, position_sell
from trading.services.safety import token_safety_verdict

logger = logging.getLogger(__name__)
WAIT_CODES = {"exit_in_flight"}
PER_TICK = 200  # limit orders one sweep handles; the rest are found again by the next tick's lookup  # a sell that meets these stays active and is tried again on a later tick


@dataclass
class LimitsResult:
    placed: list[int] = field(default_factory=list)  # order ids
    cancelled: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    waiting: int = 0


def crossed(limit: LimitOrder, price: Decimal | None) -> bool:
    if price is None:
        return False
    return price <= limit.price if limit.direction == LimitOrder.Direction.BELOW else price >= limit.price


def limit_end(*, limit: LimitOrder, status: str, note: str) -> bool:
    """Move an active limit order to `status` (cancelled or expired) with the sentence why, and tell the trader. A
    compare-and-swap: False if it was no longer active."""
    with transaction.atomic():
        changed = LimitOrder.objects.filter(id=limit.id, status=LimitOrder.Status.ACTIVE).update(
            status=status, note=note[:300], ended_at=timezone.now()
        )
        if changed:
            event_publish(kind="limit.ended", trader=limit.trader, payload={
                "limit_id": limit.id, "side": limit.side, "status": status, "note": note,
                "price": str(limit.price), "mint": limit.token.mint, "symbol": limit.token.symbol,
            })
    return bool(changed)


def _safety_refusal(limit: LimitOrder) -> str | None:
    """The sentence a buy of this token meets on its safety card now, or None (the card may be checked)."""
    try:
        safety = token_safety(mint=limit.token.mint)
    except Exception as exc:  # a look-up failure leaves lines unchecked inside token_safety; this is anything else
        logger.warning("safety card of %s for limit %s failed: %s", limit.token.mint, limit.id, type(exc).__name__)
        return None
    verdict = token_safety_verdict(trader=limit.trader, safety=safety, accepted=tuple(limit.accepted_risks or ()))
    return None if verdict is None else verdict.message


def _place(limit: LimitOrder) -> int:
    """Place the limit order's order (inside the caller's transaction); returns the order id."""
    if limit.side == OrderSide.BUY:
        position = position_open(trader=limit.trader, mint=limit.token.mint, amount_lamports=limit.amount_lamports,
                                 exit_plan=limit.exit_plan or None, reason=OrderReason.LIMIT)
        limit.position = position
        return position.orders.values_list("id", flat=True).get()
    return position_sell(trader=limit.trader, position_id=limit.position_id, percent=limit.percent,
                         reason=OrderReason.LIMIT).id


def limits_fire(*, limit_ids: list[int], prices: dict[int, Decimal], now: datetime) -> LimitsResult:
    """Expire, cancel or place each limit order of `limit_ids` (found by the lookup at `prices`, token id -> fresh
    price)."""
    result = LimitsResult()
    limits = LimitOrder.objects.filter(id__in=limit_ids, status=LimitOrder.Status.ACTIVE).select_related("token", "trader")
    for limit in limits.order_by("id")[:PER_TICK]:
        if limit.expires_at <= now:
            if limit_end(limit=limit, status=LimitOrder.Status.EXPIRED,
                         note=f"It expired unfilled: the price did not reach {limit.price.normalize():f} SOL in time."):
                result.expired.append(limit.id)
            continue
        if not crossed(limit, prices.get(limit.token_id)):
            continue
        if limit.side == OrderSide.BUY:
            refusal = _safety_refusal(limit)  # network look-ups: before the row lock, not under it
            if refusal is not None:
                if limit_end(limit=limit, status=LimitOrder.Status.CANCELLED, note=refusal):
                    result.cancelled.append(limit.id)
                continue
        with transaction.atomic():
            locked = LimitOrder.objects.select_for_update(skip_locked=True).filter(
                id=limit.id, status=LimitOrder.Status.ACTIVE).first()
            if locked is None:
                continue  # fired, cancelled or being handled elsewhere
            try:
                with transaction.atomic():
                    order_id = _place(limit)
            except TradingError as exc:
                if limit.side == OrderSide.SELL and exc.code in WAIT_CODES:
                    result.waiting += 1
                elif limit_end(limit=limit, status=LimitOrder.Status.CANCELLED,
                               note=f"It reached its price but was not placed: {exc.message}"):
                    result.cancelled.append(limit.id)
                continue
            LimitOrder.objects.filter(id=limit.id).update(
                status=LimitOrder.Status.PLACED, order_id=order_id, position_id=limit.position_id,
                ended_at=timezone.now(),
            )
            result.placed.append(order_id)
    return result
