"""Limit orders and DCA plans against the real Postgres, Redis and the sandbox's price stand-in: bad input refused with
nothing written, limit orders found by the sweep's one trigger lookup and placed once through the ordinary services
(checks, exit plan), expiry, the kill switch and the safety card cancelling with a message, DCA rounds and their stop
conditions. (The stream and the worker: tests/tpsl/test_limit_orders_stream.py.)"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from telegram_app.notify import event_text
from trading.errors import Conflict, InvalidInput, TradingError
from trading.models import DcaBuy, DcaPlan, DomainEvent, LimitOrder, Order, Position, Token
from trading.services import kill_switch_set
from trading.services.dca import dca_due_run, dca_round
from trading.services.standing import (
    dca_create,
    dca_set_state,
    limit_buy_create,
    limit_cancel,
    limit_sell_create,
)
from trading.tpsl.plans import spec_custom
from trading.tpsl.sweep import triggers_find, tpsl_sweep
from tests.conftest import wait_for

E = Decimal("0.0001")
SOL = 10**9
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _safety_from_the_sandbox(tpsl_market, settings):
    """The safety card a limit buy is checked against when it fires is read from the sandbox chain."""
    settings.SOLANA_RPC_URL = tpsl_market.rpc_url


def soon(**kwargs):
    return timezone.now() + timedelta(**(kwargs or {"hours": 1}))


def events(kind):
    return list(DomainEvent.objects.filter(kind=kind).order_by("id"))


@pytest.mark.parametrize("price, expires, code", [
    (Decimal(0), {"hours": 1}, "invalid_price"),
    ("0", {"hours": 1}, "invalid_price"),
    (Decimal("-0.0001"), {"hours": 1}, "invalid_price"),
    ("-0.0001", {"hours": 1}, "sign"),
    ("0.000000000000000000001", {"hours": 1}, "invalid_price"),  # rounds to zero at the column's 20 places
    (E * 5000, {"hours": 1}, "price_absurd"),
    (E / 5000, {"hours": 1}, "price_absurd"),
    ("1" * 30, {"hours": 1}, "price_absurd"),
    (E / 2, {"hours": -1}, "expiry_past"),
    (E / 2, {"days": 400}, "expiry_too_far"),
    (E, {"hours": 1}, "price_at_market"),
])
def test_bad_limit_orders_are_refused_with_a_sentence_and_write_nothing(trader, listed_token, make_position, price,
                                                                        expires, code):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    tokens = Token.objects.count()
    with pytest.raises(InvalidInput) as buy:
        limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, price=price,
                         expires_at=timezone.now() + timedelta(**expires))
    with pytest.raises(InvalidInput) as sell:
        limit_sell_create(trader=trader, position_id=position.id, percent=50, price=price,
                          expires_at=timezone.now() + timedelta(**expires))
    assert buy.value.code == sell.value.code == code and buy.value.message.endswith(".")
    assert LimitOrder.objects.count() == 0 and Token.objects.count() == tokens


@pytest.mark.parametrize("changes, code", [
    ({"buys": 0}, "invalid_buys"),
    ({"buys": -3}, "invalid_buys"),
    ({"interval_seconds": 59}, "interval_too_short"),
    ({"interval_seconds": 0}, "interval_too_short"),
    ({"amount_lamports": 0}, "invalid_amount"),
    ({"price_ceiling": "0"}, "invalid_price"),
    ({"spend_cap_lamports": SOL // 20}, "cap_below_buy"),
])
def test_bad_dca_plans_are_refused_with_a_sentence_and_write_nothing(trader, listed_token, settings, changes, code):
    settings.DCA_MIN_INTERVAL_SECONDS = 60
    token = listed_token(price=E)
    args = {"trader": trader, "mint": token.mint, "amount_lamports": SOL // 10, "buys": 3, "interval_seconds": 60,
            **changes}
    with pytest.raises(InvalidInput) as refused:
        dca_create(**args)
    assert refused.value.code == code and refused.value.message.endswith(".")
    assert DcaPlan.objects.count() == 0


def test_a_dip_buy_is_found_by_the_trigger_lookup_and_placed_once_with_its_exit_plan(trader, listed_token,
                                                                                      price_feed):
    token = listed_token(price=E)
    plan = spec_custom(stop_loss="30%", take_profits=[("3x", "100%")])
    limit = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, price=E * Decimal("0.8"),
                             expires_at=soon(), exit_plan=plan)
    breakout = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, price=E * 2,
                                expires_at=soon())
    assert (limit.direction, breakout.direction) == ("below", "above")
    assert tpsl_sweep().limits_placed == []  # the sweep prices the mint of a limit order with no position

    price_feed.market.set_price(token.mint, E * Decimal("0.8"))
    now = timezone.now()
    assert triggers_find(prices={token.id: E * Decimal("0.8")}, now=now).limits == [limit.id]
    assert triggers_find(prices={token.id: E * Decimal("0.81")}, now=now).limits == []
    assert triggers_find(prices={token.id: E * 2}, now=now).limits == [breakout.id]
    report = tpsl_sweep()
    (order,) = Order.objects.filter(trader=trader)
    assert report.limits_placed == [order.id]
    assert (order.side, order.reason, order.amount_in) == ("buy", "limit", SOL // 10)
    limit.refresh_from_db()
    assert (limit.status, limit.order_id, limit.position_id) == ("placed", order.id, order.position_id)
    assert order.position.exit_plan.spec["stop_loss_pct"] == "30"
    assert tpsl_sweep().limits_placed == [] and Order.objects.filter(trader=trader).count() == 1  # at most once
    assert LimitOrder.objects.get(id=breakout.id).status == "active"


def test_a_limit_sell_sells_its_share_at_the_level_and_waits_behind_a_sell_in_flight(trader, listed_token,
                                                                                    make_position, price_feed):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=2_000_000,
                             plan=spec_custom(stop_loss="90%", take_profits=[("5x", "100%")]))
    limit = limit_sell_create(trader=trader, position_id=position.id, percent="25", price=E * Decimal("1.5"),
                              expires_at=soon())
    assert limit.direction == "above"
    manual = limit_sell_create(trader=trader, position_id=position.id, percent=100, price=E / 2, expires_at=soon())
    price_feed.market.set_price(token.mint, E * Decimal("1.6"))
    (placed,) = tpsl_sweep().limits_placed
    order = Order.objects.get(id=placed)
    assert (order.side, order.reason, order.amount_in) == ("sell", "limit", 500_000)
    price_feed.market.set_price(token.mint, E / 2)  # the stop-like limit sell: the first sell is still in flight
    report = tpsl_sweep()
    assert report.limits_placed == [] and LimitOrder.objects.get(id=manual.id).status == "active"


def test_an_expired_limit_order_is_ended_by_the_sweep_with_a_message(trader, listed_token, price_feed):
    token = listed_token(price=E)
    limit = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, price=E / 2,
                             expires_at=soon(minutes=5))
    tpsl_sweep()
    assert LimitOrder.objects.get(id=limit.id).status == "active"
    price_feed.market.set_price(token.mint, E / 3)  # crossed, but only after its expiry
    tpsl_sweep(now=timezone.now() + timedelta(minutes=6))
    limit.refresh_from_db()
    assert limit.status == "expired" and "expired unfilled" in limit.note
    assert not Order.objects.exists()
    (event,) = events("limit.ended")
    assert event.payload["status"] == "expired" and event.trader_id == trader.id


def test_a_limit_buy_that_triggers_under_the_kill_switch_is_cancelled_with_a_message(trader, listed_token,
                                                                                   price_feed):
    token = listed_token(price=E)
    limit = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, price=E / 2, expires_at=soon())
    kill_switch_set(enabled=True, actor="ops", reason="test")
    price_feed.market.set_price(token.mint, E / 2)
    assert tpsl_sweep().limits_placed == []
    limit.refresh_from_db()
    assert limit.status == "cancelled" and "kill switch" in limit.note
    assert not Order.objects.exists() and not Position.objects.exists()
    (event,) = events("limit.ended")
    assert event.payload["status"] == "cancelled" and "kill switch" in event.payload["note"]
    text = event_text(event.kind, event.payload)  # what the trader reads in Telegram
    assert text.startswith(f"🚫 Your limit buy #{limit.id}") and "is cancelled" in text and "kill switch" in text
    kill_switch_set(enabled=False, actor="ops")
    assert tpsl_sweep().limits_placed == []  # cancelled, not queued: nothing fires later


def test_a_limit_buy_over_a_risk_limit_is_cancelled_with_the_limits_sentence(trader, listed_token, price_feed):
    from trading.models import RiskLimits

    token = listed_token(price=E)
    limit = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 2, price=E / 2, expires_at=soon())
    RiskLimits.objects.create(trader=trader, max_trade_lamports=SOL // 4)
    price_feed.market.set_price(token.mint, E / 2)
    tpsl_sweep()
    limit.refresh_from_db()
    assert limit.status == "cancelled" and "over your limit" in limit.note and not Order.objects.exists()


def test_a_limit_buy_of_a_token_its_safety_card_refuses_is_cancelled(trader, price_feed, make_token):
    sim = price_feed.market.add_token(symbol="LFRZ", decimals=6, price=E, freeze_authority=True)
    price_feed.pools.ensure()
    make_token(symbol="LFRZ", decimals=6, mint=sim.mint)
    limit = limit_buy_create(trader=trader, mint=sim.mint, amount_lamports=SOL // 10, price=E / 2, expires_at=soon())
    price_feed.market.set_price(sim.mint, E / 2)
    tpsl_sweep()
    limit.refresh_from_db()
    assert limit.status == "cancelled" and "freeze authority" in limit.note and not Order.objects.exists()


def test_a_trader_cancels_an_active_limit_order_once(trader, make_trader, listed_token, price_feed):
    token = listed_token(price=E)
    limit = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, price=E / 2, expires_at=soon())
    with pytest.raises(TradingError):
        limit_cancel(trader=make_trader("mallory"), limit_id=limit.id)
    assert limit_cancel(trader=trader, limit_id=limit.id).status == "cancelled"
    with pytest.raises(Conflict):
        limit_cancel(trader=trader, limit_id=limit.id)
    price_feed.market.set_price(token.mint, E / 3)
    assert tpsl_sweep().limits_placed == [] and not Order.objects.exists()


def test_dca_rounds_stop_at_the_spend_cap_and_pause_resume_cancel(trader, listed_token, price_feed, settings):
    settings.DCA_MIN_INTERVAL_SECONDS = 60
    token = listed_token(price=E)
    plan = dca_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, buys=5, interval_seconds=60,
                      spend_cap_lamports=SOL // 4)
    now = timezone.now()
    assert dca_due_run(now=now) == {plan.id: "bought"}
    assert dca_due_run(now=now) == {}  # not due again before its interval
    assert dca_round(plan_id=plan.id, now=now + timedelta(seconds=61)) == "stopped"  # 0.2 spent: a third passes 0.25
    plan.refresh_from_db()
    assert (plan.state, plan.buys_done, plan.spent_lamports) == ("done", 2, SOL // 5) and "another buy" in plan.note
    assert [b.run for b in DcaBuy.objects.filter(plan=plan)] == [1, 2]
    assert Order.objects.filter(reason="dca", side="buy").count() == 2
    assert events("dca.notice")[-1].payload["status"] == "stopped"

    other = dca_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, buys=2, interval_seconds=60)
    assert dca_set_state(trader=trader, plan_id=other.id, action="pause").state == "paused"
    assert dca_due_run(now=now + timedelta(hours=1)) == {}
    with pytest.raises(Conflict):
        dca_set_state(trader=trader, plan_id=other.id, action="pause")
    assert dca_set_state(trader=trader, plan_id=other.id, action="resume").state == "active"
    kill_switch_set(enabled=True, trader=trader, actor="ops")
    assert dca_due_run(now=now + timedelta(hours=1)) == {other.id: "paused"}  # the kill switch pauses, nothing queued
    kill_switch_set(enabled=False, trader=trader, actor="ops")
    assert dca_set_state(trader=trader, plan_id=other.id, action="cancel").state == "cancelled"
    assert dca_due_run(now=now + timedelta(hours=2)) == {} and DcaBuy.objects.filter(plan=other).count() == 0


@pytest.mark.django_db(transaction=True)
def test_two_fires_racing_for_one_limit_order_place_one_order(trader, listed_token, price_feed, celery_worker):
    import threading

    from django.db import connection

    from trading.tpsl.limits import limits_fire

    token = listed_token(price=E)
    limit = limit_buy_create(trader=trader, mint=token.mint, amount_lamports=SOL // 10, price=E / 2, expires_at=soon())
    price_feed.market.set_price(token.mint, E / 2)
    start, placed = threading.Barrier(4), []

    def fire():
        try:
            start.wait()
            placed.extend(limits_fire(limit_ids=[limit.id], prices={token.id: E / 2}, now=timezone.now()).placed)
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (order,) = Order.objects.all()
    assert placed == [order.id] and LimitOrder.objects.get(id=limit.id).order_id == order.id
    # The one order was queued on commit: let the worker finish it, so nothing of this test runs into the next one.
    wait_for(lambda: Order.objects.get(id=order.id).status in ("confirmed", "failed"), message="the order to finish")
