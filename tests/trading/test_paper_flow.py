"""Paper trading end to end through a real Celery worker: buy, partial and full sell, ledger, isolation."""

from decimal import Decimal

import pytest

from tests.conftest import wait_for
from tests.fixtures.trading import mint_address
from trading.models import DomainEvent, Order, Position
from trading.services import order_execute, position_apply_fill, position_open, position_sell
from trading.services.quotes import paper_balance
from trading.tasks import PAPER_ORDER_HEADER, execute_order
from trading.venues.paper import paper_order_execute

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
    assert paper_balance(trader=trader) == 5 * SOL - SOL // 2

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

    import trading.venues.paper as paper
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

    real = paper.price_fresh
    monkeypatch.setattr(paper, "price_fresh", price_fresh)
    order_execute(order_id=order.pk, paper=True)
    position.refresh_from_db()
    order.refresh_from_db()
    assert fetched == [False]  # asked once, outside the fill's transaction
    assert order.status == "confirmed" and order.fill_price > Decimal("0.0002") and position.status == "open"


@pytest.mark.django_db
def test_the_paper_venue_refuses_an_order_of_another_mode(trader, token):
    position = Position.objects.create(trader=trader, token=token, mode="sandbox", cost_lamports=SOL)
    order = Order.objects.create(position=position, side="buy", mode="sandbox", venue="paper", amount_in=SOL)
    with pytest.raises(RuntimeError, match="not a paper order"):
        paper_order_execute(order_id=order.pk)
    with pytest.raises(RuntimeError, match="not a paper order"):  # queued as paper by mistake: refused all the same
        order_execute(order_id=order.pk, paper=True)
    result = execute_order.apply((order.pk,), headers={PAPER_ORDER_HEADER: True})  # the task honours the header
    assert isinstance(result.result, RuntimeError) and "not a paper order" in str(result.result)
    assert Order.objects.get(pk=order.pk).status == "pending"
    order_execute(order_id=10**12, paper=True)  # no such order: nothing to do


@pytest.mark.django_db
def test_paper_orders_are_queued_as_paper_orders(trader, tripwired, token, django_capture_on_commit_callbacks):
    """A paper entry's and a paper exit's messages carry the header that spares the worker its venue read; an order of
    another mode's message does not (the general path reads the order first)."""
    from celery.signals import before_task_publish

    from trading.services import order_enqueue

    _, mint = tripwired
    sent = {}

    def record(sender=None, body=None, headers=None, **kwargs):
        if sender == "trading.execute_order":
            sent[body[0][0]] = headers.get(PAPER_ORDER_HEADER)

    before_task_publish.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            buy = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10).orders.get()
        position_apply_fill(order_id=buy.pk, in_amount=SOL // 10, out_amount=10**6, price=Decimal(1), fee_lamports=0)
        with django_capture_on_commit_callbacks(execute=True):
            sell = position_sell(trader=trader, position_id=buy.position_id, percent=Decimal(100))
        sandbox = Position.objects.create(trader=trader, token=token, mode="sandbox", cost_lamports=SOL)
        other = Order.objects.create(position=sandbox, side="buy", mode="sandbox", amount_in=SOL)
        with django_capture_on_commit_callbacks(execute=True):
            order_enqueue(order_id=other.pk, mode="sandbox")
    finally:
        before_task_publish.disconnect(record)
    assert sent == {buy.pk: True, sell.pk: True, other.pk: None}
