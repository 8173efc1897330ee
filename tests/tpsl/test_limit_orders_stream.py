"""Limit orders and DCA through a real Celery worker: a limit buy and a limit sell fired by the sandbox's RPC WebSocket
stream (no sweep running) and filled by the worker, and a DCA plan through three buys and its price ceiling."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import wait_for
from tests.trading.test_price_stream import running, subscribed
from trading.models import DcaBuy, DcaPlan, DomainEvent, LimitOrder, Order
from trading.pricestream import PriceStream
from trading.services.standing import dca_create, limit_buy_create, limit_sell_create
from trading.tasks import dca_run
from trading.tpsl.plans import spec_custom
from trading.tpsl.sweep import prices_for

E = Decimal("0.0001")
SOL = 10**9
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def streaming(price_feed, settings):
    settings.SOLANA_WS_URL = price_feed.ws_url
    settings.SOLANA_RPC_URL = price_feed.rpc_url  # the safety card of a limit buy is read from the sandbox chain
    price_feed.ws.restore()
    yield price_feed
    price_feed.ws.restore()


def test_a_limit_buy_and_a_limit_sell_fire_from_stream_events_and_fill_through_the_worker(
        streaming, celery_worker, listed_token, make_position, trader):
    token = listed_token(price=E)
    plan = spec_custom(stop_loss="40%", take_profits=[("5x", "100%")])
    buy = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 5, price=E * Decimal("0.7"),
                           expires_at=timezone.now() + timedelta(hours=1), exit_plan=plan)
    stream = PriceStream(url=streaming.ws_url)  # watches the mints of open positions and active limit orders
    with running(stream):
        wait_for(lambda: subscribed(stream), message="the limit order's mint subscribed")
        streaming.market.set_price(token.mint, E * Decimal("0.65"))
        bought = wait_for(lambda: Order.objects.filter(side="buy", reason="limit", status="confirmed").first(),
                          message="the limit buy filled by the worker")
        buy.refresh_from_db()
        position = bought.position
        assert (buy.status, buy.order_id, buy.position_id) == ("placed", bought.id, position.id)
        position.refresh_from_db()
        assert position.status == "open" and position.exit_plan.spec["stop_loss_pct"] == "40"
        sell = limit_sell_create(trader=trader, position_id=position.id, percent=50, price=E * Decimal("0.9"),
                                 expires_at=timezone.now() + timedelta(hours=1))
        streaming.market.set_price(token.mint, E * Decimal("0.95"))
        sold = wait_for(lambda: Order.objects.filter(side="sell", reason="limit", status="confirmed").first(),
                        message="the limit sell filled by the worker")
    assert sold.position_id == position.id and sold.amount_in == position.original_size // 2
    sell.refresh_from_db()
    assert (sell.status, sell.order_id) == ("placed", sold.id)
    assert Order.objects.count() == 2  # each limit order placed one order
    assert DomainEvent.objects.filter(kind="position.opened", trader=trader).exists()


def test_a_dca_plan_buys_three_times_through_the_worker_then_stops_at_its_ceiling(
        price_feed, celery_worker, listed_token, trader, settings):
    settings.DCA_MIN_INTERVAL_SECONDS = 1
    token = listed_token(price=E)
    plan = dca_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, buys=5, interval_seconds=1,
                      price_ceiling=E * Decimal("1.5"))

    def confirmed_buys(count):
        def check():
            dca_run.apply_async()  # what beat sends every DCA_TICK_SECONDS
            done = Order.objects.filter(reason="dca", side="buy", status="confirmed").count()
            return done if done >= count else None
        return check

    wait_for(confirmed_buys(3), interval=0.5, message="three DCA buys filled")
    price_feed.market.set_price(token.mint, E * 2)  # above the ceiling: the next round stops the plan
    prices_for(mints=[token.mint])  # the beat sweep's poll of the open positions' mints

    def stopped():
        dca_run.apply_async()
        plan.refresh_from_db()
        return plan if plan.state != "active" else None

    wait_for(stopped, interval=0.5, message="the plan stopped")
    assert plan.state == "done" and "above your ceiling" in plan.note
    buys = plan.buys_done
    assert buys >= 3 and DcaBuy.objects.filter(plan=plan, position__isnull=False).count() == buys
    assert plan.spent_lamports == buys * SOL // 10
    wait_for(lambda: Order.objects.filter(reason="dca", status="confirmed").count() == buys, message="all filled")
    assert DomainEvent.objects.filter(kind="dca.notice", payload__status="stopped").count() == 1
    assert DcaPlan.objects.get(id=plan.id).runs == buys and not LimitOrder.objects.exists()
