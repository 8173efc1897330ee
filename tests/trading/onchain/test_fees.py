"""Fees that work: the trader's priority-fee policy is in the compute-unit price of every landed transaction the trader
causes (a buy, a manual sell, an automatic exit one level higher), read back from the sandbox chain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.chain import unit_price_of
from tests.conftest import wait_for
from trading.chain.rpc import SolanaRpc
from trading.models import Order, OrderStatus, Position, PositionStatus, TradingSettings
from trading.services.positions import position_open, position_sell
from trading.tpsl.sweep import tpsl_sweep

pytestmark = pytest.mark.django_db(transaction=True)

BAGS_LIMIT, JUPITER_LIMIT = 120_000, 400_000  # the compute-unit limits of the two venues' transactions


def _settled(order_id: int) -> Order:
    wait_for(lambda: Order.objects.filter(id=order_id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).exists(),
             timeout=30, message=f"order {order_id} to end")
    order = Order.objects.get(id=order_id)
    assert order.status == OrderStatus.CONFIRMED, order.error
    return order


def _landed_price(desk, order: Order) -> int:
    record = desk.sandbox.chain.record(order.signature)
    assert record is not None and record.err is None
    return unit_price_of(record.tx)


def _policy(desk, **fields) -> None:
    TradingSettings.objects.filter(trader=desk.trader).update(**fields)


def test_the_fee_policy_is_the_landed_compute_unit_price_of_a_buy_a_manual_sell_and_an_automatic_exit(
    desk, celery_worker, settings
):
    levels = settings.EXECUTION_PRIORITY_LEVEL_PRICES
    chain = desk.sandbox.chain
    mint = desk.sandbox.market.tokens()[2].mint
    # A buy on "auto": the median of the recent prioritization fees the node reports for the wallet and the mint.
    chain.priority_fee_series = [fee * 100 for fee in range(1, 151)]  # one per slot of the last 150
    _policy(desk, priority_fee_policy="auto", priority_fee_max_lamports=24_000)
    position = position_open(trader=desk.trader, mint=mint, amount_lamports=200_000_000)
    buy = _settled(position.orders.get().id)
    assert (buy.venue, buy.priority_fee_policy) == ("bags", "auto")
    assert buy.compute_unit_price == _landed_price(desk, buy) == 7_500
    # The node now reports what landed: the buy's own price is among the recent fees of the wallet's accounts.
    chain.priority_fee_series = []
    assert 7_500 in SolanaRpc(desk.sandbox.rpc_url).recent_prioritization_fees([desk.owner])

    # A manual sell on "low" goes one level higher (medium); bags.fm is down, so Jupiter builds it.
    _policy(desk, priority_fee_policy="low")
    desk.sandbox.faults.set("bags", "outage")
    sell = _settled(position_sell(trader=desk.trader, position_id=position.id, percent=50).id)
    desk.sandbox.faults.clear()
    assert sell.venue == "jupiter" and sell.reason == "manual"
    assert sell.compute_unit_price == _landed_price(desk, sell) == levels["medium"]

    # An automatic exit (the stop-loss) on "high" bids very high, capped: exits may pay twice the trader's 24,000
    # lamports, so the price is at most 48,000 lamports over the transaction's compute-unit limit.
    _policy(desk, priority_fee_policy="high")
    desk.sandbox.market.set_price(mint, desk.sandbox.market.token(mint).price * Decimal("0.3"))
    wait_for(lambda: tpsl_sweep() and Order.objects.filter(position=position, reason="sl").exists(),
             interval=0.3, message="the stop-loss to be claimed")
    exit_ = _settled(Order.objects.get(position=position, reason="sl").id)
    cap = 2 * 24_000 * 1_000_000 // BAGS_LIMIT
    assert exit_.venue == "bags" and levels["veryHigh"] > cap
    assert exit_.compute_unit_price == _landed_price(desk, exit_) == cap
    assert Position.objects.get(id=position.id).status == PositionStatus.CLOSED
