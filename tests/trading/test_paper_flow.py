"""Paper trading end to end through a real Celery worker: buy, partial and full sell, ledger, isolation."""

from decimal import Decimal

import pytest

from tests.conftest import wait_for
from tests.fixtures.trading import mint_address
from trading.chain.token_accounts import SPL_ACCOUNT_RENT
from trading.models import DomainEvent, Order, Position
from trading.services import order_execute, position_open, position_sell
from trading.services.quotes import paper_balance
from trading.tasks import execute_order

SOL = 10**9


@pytest.fixture
def tripwired(price_standin, settings):
    """Every venue and chain URL points at the stand-in, which records any non-price request as forbidden."""
    settings.SOLANA_RPC_URL = price_standin.url
    settings.BAGS_API_URL = price_standin.url + "/api/v1"
    settings.DEXSCREENER_API_URL = None
    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)
    return price_standin, mint


def _status(model, pk):
    return model.objects.filter(pk=pk).values_list("status", flat=True).first()


def test_paper_buy_then_partial_and_full_sell_through_the_worker(celery_worker, make_trader, tripwired):
    feed, mint = tripwired
    trader = make_trader("paula", paper_balance_lamports=5 * SOL)
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 2)
    wait_for(lambda: _status(Position, position.pk) == "open", message="position open")
    position.refresh_from_db()
    buy = position.orders.get(side="buy")
    assert buy.status == "confirmed" and buy.venue == "paper" and buy.amount_out_actual == position.size > 0
    assert position.cost_lamports == SOL // 2 and position.entry_price > Decimal("0.0001")  # fee + slippage
    assert position.stop_price is not None and position.take_profit_price is not None
    # The paper token account of the mint is new: its rent is paid apart from the cost, held while the account is open.
    assert buy.rent_lamports == position.rent_lamports == SPL_ACCOUNT_RENT
    assert paper_balance(trader=trader) == 5 * SOL - SOL // 2 - SPL_ACCOUNT_RENT

    feed.set(mint, "0.0002", decimals=6)  # doubles
    from django.conf import settings

    settings.PRICE_MAX_AGE_SECONDS = 0  # force the fill to read the new price
    half = position_sell(trader=trader, position_id=position.pk, percent=Decimal(50))
    wait_for(lambda: _status(Order, half.pk) == "confirmed", message="partial sell confirmed")
    position.refresh_from_db()
    half.refresh_from_db()
    assert position.status == "open" and position.size == position.original_size - half.amount_in
    assert half.realised_pnl_lamports > 0 and position.realised_pnl_lamports == half.realised_pnl_lamports

    full = position_sell(trader=trader, position_id=position.pk, percent=Decimal(100))
    wait_for(lambda: _status(Position, position.pk) == "closed", message="position closed")
    position.refresh_from_db()
    full.refresh_from_db()
    assert position.size == 0 and position.cost_lamports == 0 and full.status == "confirmed"
    assert (half.rent_lamports, full.rent_lamports, position.rent_lamports) == (0, -SPL_ACCOUNT_RENT, 0)  # closed
    proceeds = half.amount_out_actual + full.amount_out_actual
    assert position.realised_pnl_lamports == proceeds - SOL // 2
    assert paper_balance(trader=trader) == 5 * SOL + position.realised_pnl_lamports
    kinds = list(DomainEvent.objects.filter(trader=trader).order_by("id").values_list("kind", flat=True))
    assert kinds == ["position.opened", "exit.filled", "exit.filled", "position.closed"]
    # The paper path never touched a venue or the chain: only price requests reached the stand-in.
    assert feed.forbidden == [] and all(p.startswith("/price/v3") for p in feed.requests)


def test_redelivered_execute_order_fills_once(celery_worker, trader, tripwired):
    _, mint = tripwired
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    order = position.orders.get()
    for _ in range(3):
        execute_order.delay(order.pk)
    wait_for(lambda: _status(Position, position.pk) == "open", message="position open")
    results = [execute_order.delay(order.pk) for _ in range(2)]
    for result in results:
        result.get(timeout=20)
    position.refresh_from_db()
    assert position.size == position.original_size == Order.objects.get(pk=order.pk).amount_out_actual
    assert DomainEvent.objects.filter(kind="position.opened").count() == 1


@pytest.mark.django_db
def test_a_paper_buy_without_a_price_fails_with_a_reason_and_releases_the_balance(
    trader, tripwired, settings, django_capture_on_commit_callbacks
):
    feed, mint = tripwired
    with django_capture_on_commit_callbacks(execute=False):
        position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    assert paper_balance(trader=trader) == 10 * SOL - SOL // 10
    feed.jupiter.clear()  # the market lost the token, and the cached price is stale
    settings.PRICE_MAX_AGE_SECONDS = 0
    order_execute(order_id=position.orders.get().pk)
    order = position.orders.get()
    position.refresh_from_db()
    assert order.status == "failed" and "no price" in order.error and position.status == "failed"
    assert paper_balance(trader=trader) == 10 * SOL
    assert DomainEvent.objects.get(kind="order.failed").payload["error"] == order.error


@pytest.mark.django_db(transaction=True)  # autocommit outside the fill, as in a worker
def test_a_stale_price_is_fetched_with_no_lock_held_then_filled(trader, tripwired, settings, monkeypatch):
    from django.db import connection

    import trading.execution.onchain as landing
    from trading.models import Token
    from trading.prices import price_fresh as price_cache
    from trading.services.exits import exit_plan_create
    from trading.tpsl.plans import preset

    feed, mint = tripwired
    price_cache(mint=mint)
    token = Token.objects.create(mint=mint, decimals=6, symbol="STALE")
    position = Position.objects.create(trader=trader, token=token, mode="paper", cost_lamports=SOL // 10)
    exit_plan_create(position=position, spec=preset("balanced"))
    order = Order.objects.create(position=position, trader=trader, side="buy", mode="paper", venue="paper",
                                 amount_in=SOL // 10)  # written, not queued: only this test runs it
    feed.set(mint, "0.0002", decimals=6)
    settings.PRICE_MAX_AGE_SECONDS = 0  # the cached price is stale by the time the order runs
    fetched = []

    def price_fresh(**kwargs):
        fetched.append(connection.in_atomic_block)
        return real(**kwargs)

    real = landing.price_fresh
    monkeypatch.setattr(landing, "price_fresh", price_fresh)
    order_execute(order_id=order.pk)
    position.refresh_from_db()
    order.refresh_from_db()
    assert fetched == [False]  # asked once, outside the fill's transaction
    assert order.status == "confirmed" and order.fill_price > Decimal("0.0002") and position.status == "open"


@pytest.mark.django_db
def test_a_paper_order_runs_on_the_paper_venue_and_chain_only(trader, token, settings):
    """The order's mode alone picks its rails: a paper order gets the paper venue and the paper chain, whatever its
    venue field says; an order of a mode the desk does not run is failed, never sent."""
    from trading.chain.paper import paper_chain
    from trading.execution.clients import rails_for

    paper = Position.objects.create(trader=trader, token=token, mode="paper", cost_lamports=SOL)
    order = Order.objects.create(position=paper, side="buy", mode="paper", venue="bags", amount_in=SOL)
    rails = rails_for(Order.objects.select_related("position__token", "position__wallet").get(pk=order.pk))
    assert [venue.name for venue in rails.venues] == ["paper"] and rails.chain is paper_chain
    sandbox = Position.objects.create(trader=trader, token=token, mode="sandbox", cost_lamports=SOL)
    other = Order.objects.create(position=sandbox, side="buy", mode="sandbox", venue="paper", amount_in=SOL)
    assert settings.TRADING_MODE == "paper"
    order_execute(order_id=other.pk)
    other.refresh_from_db()
    assert other.status == "failed" and "now runs in paper mode" in other.error and other.signature == ""
    order_execute(order_id=10**12)  # no such order: nothing to do
