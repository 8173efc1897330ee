"""The buy path's cost does not grow with a trader's history; exit plans can be replaced on live positions."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.fixtures.trading import mint_address
from trading.errors import TradingError
from trading.models import RiskLimits
from trading.services import exit_plan_update, order_execute, position_apply_fill, position_open, position_sell
from trading.services.book import trader_book

pytestmark = pytest.mark.django_db
SOL = 10**9


def _buy_queries(trader, mint) -> int:
    with CaptureQueriesContext(connection) as queries:
        position_open(trader=trader, mint=mint, amount_lamports=SOL // 100)
    return len(queries)


def test_a_buy_costs_the_same_queries_with_a_long_history(trader, price_standin):
    RiskLimits.objects.create(max_open_positions=1000, daily_volume_cap_lamports=1000 * SOL)
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    _buy_queries(trader, mint)  # creates the token
    first = _buy_queries(trader, mint)
    for position in trader.positions.filter(status="opening"):
        position_apply_fill(order_id=position.orders.get().id, in_amount=SOL // 100, out_amount=10**6,
                            price=Decimal(1), fee_lamports=0)
        sell = position_sell(trader=trader, position_id=position.id, percent=Decimal(100))
        position_apply_fill(order_id=sell.id, in_amount=10**6, out_amount=SOL // 200, price=Decimal(1), fee_lamports=0)
    for _ in range(20):
        position_open(trader=trader, mint=mint, amount_lamports=SOL // 100)
    assert _buy_queries(trader, mint) == first <= 7  # BEGIN, the book, position, plan, legs, order, COMMIT


def test_book_figures_follow_the_trades(trader, price_standin):
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    ledger, book = trader_book(trader=trader)
    assert (book["live_count"], book["paper_open_cost"], book["volume_today"]) == (1, SOL // 10, SOL // 10)
    position_apply_fill(order_id=position.orders.get().id, in_amount=SOL // 10, out_amount=10**6, price=Decimal(1),
                        fee_lamports=0)
    sell = position_sell(trader=trader, position_id=position.id, percent=Decimal(100))
    position_apply_fill(order_id=sell.id, in_amount=10**6, out_amount=SOL // 20, price=Decimal(1), fee_lamports=0)
    ledger, book = trader_book(trader=trader)
    assert (book["live_count"], book["paper_open_cost"], book["realised_today"]) == (0, 0, -SOL // 20)
    assert ledger.realised_pnl_lamports == -SOL // 20


def test_exit_plan_update_replaces_the_plan_and_its_triggers(trader, price_standin):
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    position_apply_fill(order_id=position.orders.get().id, in_amount=SOL // 10, out_amount=10**9, price=Decimal(1),
                        fee_lamports=0)
    plan = exit_plan_update(trader=trader, position_id=position.id, spec="single")
    position.refresh_from_db()
    assert plan.preset == "single" and position.exit_plan.legs.count() == 1
    assert position.take_profit_price == position.entry_price * Decimal("1.5")
    with pytest.raises(TradingError) as info:
        exit_plan_update(trader=trader, position_id=position.id, spec="no-such-preset")
    assert info.value.code == "unknown_preset"
    assert position.exit_plan.preset == "single"


def test_a_paper_order_lands_reading_its_order_once_under_its_row_lock(trader, price_standin):
    """On a chain that lands at once the landing is one transaction from the locked read to the fill: the fill reads
    nothing again, and the paper venue quotes at the price the landing read."""
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 100)
    order = position.orders.get()
    with CaptureQueriesContext(connection) as queries:
        order_execute(order_id=order.id)
    order.refresh_from_db()
    position.refresh_from_db()
    assert order.status == "confirmed" and position.status == "open" and position.size == order.amount_out_actual > 0
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and 'FROM "trading_order"' in q["sql"]]
    assert len(reads) == 1 and 'FOR UPDATE OF "trading_order", "trading_position"' in reads[0]
