"""Orders: the one builder every order goes through, queueing, and execution.

`order_build` sets every field of an order the same way whoever places it (a trader's buy or sell, an operator's
close or retry, the exit engine's automatic exits in bulk): trader, mode, venue, slippage, priority fee
policy and cap, MEV protection, client id, leg. Execution is `order_execute`, the same steps for every mode
(trading.execution.onchain).
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from trading.events import event_publish
from trading.execution.onchain import order_land
from trading.execution.state import order_fail, order_transition
from trading.models import Mode, Order, OrderReason, OrderSide, OrderStatus, Position, Trader, TradingSettings, Wallet

_BPS = 10_000

__all__ = ["order_build", "order_enqueue", "order_execute", "order_fail", "order_transition"]

logger = logging.getLogger(__name__)


def order_build(
    *,
    position: Position | None,
    side: str,
    reason: str,
    amount: int,
    prefs: TradingSettings | None,
    leg_id: int | None = None,
    slippage_bps: int | None = None,
    expected_out: int | None = None,
    withdrawal: dict | None = None,
) -> Order:
    """The unsaved order of `amount` (lamports to buy, base units to sell) for `position`.

    `prefs`: the trader's TradingSettings (None: the defaults of a trader who has none). `slippage_bps`: an override
    of the trader's buy or sell slippage. `expected_out`: what a quote at the current price gives; the order then
    carries a minimum out under that slippage.
    A withdrawal (side "withdraw"): `amount` is lamports of SOL when `position` is None, else base units of the
    position's token; `withdrawal` holds trader, mode, wallet (None on paper), destination and value_lamports.
    """
    prefs = prefs or TradingSettings()
    if side == OrderSide.WITHDRAW:
        return _withdrawal_build(position=position, amount=amount, prefs=prefs, **(withdrawal or {}))
    if slippage_bps is None:
        slippage_bps = prefs.buy_slippage_bps if side == OrderSide.BUY else prefs.sell_slippage_bps
    return Order(
        position=position,
        trader_id=position.trader_id,
        side=side,
        reason=reason,
        leg_id=leg_id,
        mode=position.mode,
        venue="paper" if position.mode == Mode.PAPER else "",
        client_id=uuid.uuid4(),
        status=OrderStatus.PENDING,
        amount_in=amount,
        amount_out_expected=expected_out,
        min_amount_out=None if expected_out is None else expected_out * (_BPS - slippage_bps) // _BPS,
        slippage_bps=slippage_bps,
        priority_fee_lamports=prefs.priority_fee_max_lamports,
        priority_fee_policy=prefs.priority_fee_policy,
        mev_protection=prefs.mev_protection and position.mode != Mode.PAPER,
    )


def order_execute(*, order_id: int) -> None:
    """Run one order: quote, build, sign (or, on paper, seal), persist, land, fill, publish. Idempotent: every move
    is a compare-and-swap on the order row. The order's mode picks the venues and the chain, nothing else."""
    order_land(order_id=order_id)


def _withdrawal_build(
    *, trader: Trader, mode: str, position: Position | None, wallet: Wallet | None, destination: str, amount: int,
    value_lamports: int, prefs: TradingSettings,
) -> Order:
    return Order(
        position=position,
        trader=trader,
        side=OrderSide.WITHDRAW,
        reason=OrderReason.MANUAL,
        mode=mode,
        venue="paper" if mode == Mode.PAPER else "transfer",
        client_id=uuid.uuid4(),
        status=OrderStatus.PENDING,
        amount_in=amount,
        amount_out_expected=amount,
        slippage_bps=0,
        priority_fee_lamports=prefs.priority_fee_max_lamports,
        priority_fee_policy=prefs.priority_fee_policy,
        wallet=wallet,
        destination=destination,
        value_lamports=value_lamports,
    )


def order_enqueue(*, order_id: int) -> None:
    """Queue execution once the surrounding transaction commits (never from inside an open one).

    Nobody waits for the task's return value (the order row is the outcome), so no result is stored: that spares
    a result-channel subscription on send and the worker's "started" and result writes to Redis on every order.
    """
    from trading.tasks import execute_order

    def publish() -> None:
        try:
            execute_order.apply_async((order_id,), ignore_result=True)
        except Exception as exc:  # the broker refused (full, away): the order is committed and stays pending
            order_delayed(order_id=order_id, error=exc)

    transaction.on_commit(publish)


def order_delayed(*, order_id: int, error: Exception) -> None:
    """An accepted order that could not be queued: logged, and an `order.delayed` event tells the trader. The order
    stays pending; reconciliation queues it again once it is stale (trading.execution.reconcile)."""
    logger.error("order %s committed but not queued: %s", order_id, str(error)[:200])
    order = Order.objects.select_related("position__token", "trader").filter(id=order_id).first()
    if order is None:
        return
    token = order.position.token if order.position_id else None  # None: a withdrawal of SOL
    event_publish(kind="order.delayed", trader=order.trader, payload={
        "order_id": order.id, "position_id": order.position_id, "side": order.side, "reason": order.reason,
        "mint": token.mint if token else "", "symbol": token.symbol if token else "SOL",
    })
