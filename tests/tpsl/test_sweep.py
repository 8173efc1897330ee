"""The sweep against the real Postgres, Redis and the sandbox's Jupiter price stand-in (no worker: orders are
checked as rows; tests/tpsl/test_engine.py runs them through a real Celery worker)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.models import AlertEvent
from trading.models import DomainEvent, ExitLeg, Order, OrderStatus, Position, PositionStatus
from trading.execution.fills import position_apply_fill
from trading.tpsl.plans import preset, spec_custom
from trading.tpsl.sweep import tpsl_sweep

E = Decimal("0.0001")
pytestmark = pytest.mark.django_db


def sells(position):
    return list(Order.objects.filter(position=position, side="sell").order_by("id"))


def fill(order, price):
    lamports = int(price * order.amount_in / Decimal(10**6) * 10**9)
    position_apply_fill(order_id=order.id, in_amount=order.amount_in, out_amount=lamports, price=price, fee_lamports=0)


def test_ladder_fires_leg_by_leg_with_sizes_of_the_original(trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=1_000_001)
    tpsl_sweep()
    assert sells(position) == []

    price_feed.market.set_price(token.mint, E * Decimal("2.1"))
    report = tpsl_sweep()
    (first,) = sells(position)
    assert (first.reason, first.amount_in, first.leg.index, first.status) == ("tp", 500_000, 0, "pending")
    assert report.claimed == [first.id]
    assert tpsl_sweep().claimed == [] and len(sells(position)) == 1  # in flight: never a second exit

    fill(first, E * Decimal("2.1"))
    position.refresh_from_db()
    assert position.size == 500_001 and position.status == "open" and position.take_profit_price == E * 5
    assert tpsl_sweep().claimed == []  # price still 2.1x: leg 0 never fires twice

    price_feed.market.set_price(token.mint, E * Decimal("5.5"))
    tpsl_sweep()
    second = sells(position)[-1]
    assert (second.amount_in, second.leg.index) == (300_000, 1)
    fill(second, E * Decimal("5.5"))

    price_feed.market.set_price(token.mint, E * 11)
    tpsl_sweep()
    third = sells(position)[-1]
    assert (third.amount_in, third.leg.index) == (200_001, 2)  # the last leg of a 100% ladder sells the rest
    position.refresh_from_db()
    assert position.status == PositionStatus.CLOSING  # closed only once the sell is confirmed
    fill(third, E * 11)
    position.refresh_from_db()
    assert position.status == PositionStatus.CLOSED and position.size == 0
    assert list(position.exit_plan.legs.values_list("status", flat=True)) == ["filled"] * 3
    assert DomainEvent.objects.filter(kind="exit.filled", payload__position_id=position.id).count() == 3


def test_gap_through_two_legs_sells_both_in_one_order(trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    price_feed.market.set_price(token.mint, E * 6)
    tpsl_sweep()
    (order,) = sells(position)
    assert (order.amount_in, order.leg.index) == (800_000, 1)
    fill(order, E * 6)
    assert list(position.exit_plan.legs.order_by("index").values_list("status", flat=True)) == ["filled", "filled", "pending"]
    position.refresh_from_db()
    assert position.take_profit_price == E * 10


def test_gap_through_the_stop_sells_everything_once(trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    positions = [make_position(trader=trader, token=token, entry_price=E, size=s) for s in (10, 999, 123_456)]
    price_feed.market.set_price(token.mint, E / 2)
    tpsl_sweep()
    tpsl_sweep()
    for position in positions:
        (order,) = sells(position)
        position.refresh_from_db()
        assert (order.reason, order.amount_in, position.status) == ("sl", position.size, "closing")


def test_stop_beats_take_profit_in_one_tick(trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    plan = spec_custom(stop_loss="20%", take_profits=[("5x", "50%")], trailing_activation="0%", trailing_distance="10%")
    position = make_position(trader=trader, token=token, entry_price=E, plan=plan)
    price_feed.market.set_price(token.mint, E * 10)
    tpsl_sweep()  # peak 10x, trailing stop 9x ... and the 5x leg fires
    (leg,) = sells(position)
    fill(leg, E * 10)
    position.refresh_from_db()
    assert position.peak_price == E * 10 and position.trailing_stop_price == E * 9
    price_feed.market.set_price(token.mint, E * 7)
    tpsl_sweep()
    last = sells(position)[-1]
    assert (last.reason, last.amount_in) == ("trailing", 500_000)


def test_trailing_stop_follows_peaks_in_bulk_and_never_moves_down(trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    plan = spec_custom(stop_loss="50%", take_profits=[("50x", "90%")], trailing_activation="50%", trailing_distance="20%")
    a = make_position(trader=trader, token=token, entry_price=E, plan=plan)
    b = make_position(trader=trader, token=token, entry_price=E, plan=replace(plan, trailing_distance_pct=Decimal(10)))
    plain = make_position(trader=trader, token=token, entry_price=E)
    path = [("1.4", None), ("3", "2.4"), ("2.5", "2.4"), ("4", "3.2")]
    for multiple, trail in path:
        price_feed.market.set_price(token.mint, E * Decimal(multiple))
        tpsl_sweep()
        a.refresh_from_db()
        assert a.trailing_stop_price == (None if trail is None else E * Decimal(trail))
    b.refresh_from_db()
    plain.refresh_from_db()
    assert b.trailing_stop_price == E * Decimal("2.7") and b.status == "closing"  # its 10% trail went at 2.5x
    assert [(o.reason, o.amount_in) for o in sells(b)] == [("trailing", 1_000_000)]
    assert plain.peak_price == E  # peaks are kept only where a trailing stop needs them
    assert sells(a) == []
    price_feed.market.set_price(token.mint, E * Decimal("3.2"))
    tpsl_sweep()
    assert [o.reason for o in sells(a)] == ["trailing"]


def test_manual_sell_in_flight_blocks_the_automatic_exit(trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    Order.objects.create(position=position, side="sell", reason="manual", mode="paper", amount_in=1000)
    price_feed.market.set_price(token.mint, E / 2)
    assert tpsl_sweep().claimed == []
    assert [o.reason for o in sells(position)] == ["manual"]


def test_automatic_exit_in_flight_blocks_a_manual_sell(trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    price_feed.market.set_price(token.mint, E / 2)
    tpsl_sweep()
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(position=position, side="sell", reason="manual", mode="paper", amount_in=1000)
    assert [o.reason for o in sells(position)] == ["sl"]


def test_stale_price_triggers_nothing_and_alerts(trader, listed_token, make_position, price_feed, settings):
    from trading.prices import prices_refresh

    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    price_feed.market.set_price(token.mint, E / 2)
    prices_refresh(mints=[token.mint])  # cached now; then the feed goes down and the clock moves on
    settings.JUPITER_API_URL = "http://127.0.0.1:9"
    later = timezone.now() + timedelta(seconds=settings.TPSL_PRICE_MAX_AGE_SECONDS + 1)
    report = tpsl_sweep(now=later)
    assert report.claimed == [] and report.unpriced == [token.mint] and sells(position) == []
    alert = DomainEvent.objects.get(kind="prices.stale")
    assert alert.trader is None and alert.payload["mints"] == [token.mint]
    assert AlertEvent.objects.filter(target="tpsl.prices_stale", state="firing").exists()  # admins are told
    tpsl_sweep(now=later)
    assert DomainEvent.objects.filter(kind="prices.stale").count() == 1  # throttled, not one per tick
    settings.JUPITER_API_URL = price_feed.jupiter_url
    assert tpsl_sweep().claimed  # fresh again: the stop fires


def test_the_lookup_skips_a_position_with_an_exit_in_flight_on_every_trigger(trader, make_token, make_position, feed_down):
    """Each branch of the lookup (price triggers, time stop) leaves out a position whose sell is in flight."""
    from trading.tpsl.sweep import triggers_find

    token = make_token()
    plan = replace(preset(), max_hold_seconds=3600)
    hour_ago = timezone.now() - timedelta(hours=1, seconds=1)
    busy = make_position(trader=trader, token=token, entry_price=E, plan=plan, opened_at=hour_ago)
    free = make_position(trader=trader, token=token, entry_price=E, plan=plan, opened_at=hour_ago)
    Order.objects.create(position=busy, side="sell", reason="manual", mode="paper", amount_in=1000)
    now = timezone.now()
    assert triggers_find(prices={token.id: E / 2}, now=now).positions == [free.id]  # stop-loss and time stop
    assert triggers_find(prices={token.id: E / 2}, now=now, time_stops=False).positions == [free.id]  # the stop alone
    assert triggers_find(prices={}, now=now).positions == [free.id]  # the time stop alone


def test_time_stop_fires_with_the_price_feed_down(trader, make_token, make_position, feed_down):
    token = make_token()
    plan = replace(preset(), max_hold_seconds=3600)
    hour_ago = timezone.now() - timedelta(hours=1, seconds=1)
    old = make_position(trader=trader, token=token, entry_price=E, plan=plan, opened_at=hour_ago)
    young = make_position(trader=trader, token=token, entry_price=E, plan=plan)
    report = tpsl_sweep()
    assert report.unpriced == [token.mint]
    (order,) = sells(old)
    assert (order.reason, order.amount_in) == ("time", 1_000_000) and sells(young) == []


def test_failed_exits_back_off_then_flag_the_position(
    trader, listed_token, make_position, price_feed, settings, django_capture_on_commit_callbacks
):
    from trading.services.orders import order_fail

    settings.TPSL_EXIT_MAX_FAILURES = 2
    settings.TPSL_PRICE_MAX_AGE_SECONDS = 3600  # the test's clock jumps ahead of the feed's timestamps
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    price_feed.market.set_price(token.mint, E / 2)
    now = timezone.now()
    (first,) = tpsl_sweep(now=now).claimed
    order_fail(order_id=first, error="venue refused")
    assert tpsl_sweep(now=now + timedelta(seconds=1)).claimed == []  # backing off (2 s)
    (second,) = tpsl_sweep(now=now + timedelta(seconds=3)).claimed
    order_fail(order_id=second, error="venue refused again")
    with django_capture_on_commit_callbacks(execute=True):
        report = tpsl_sweep(now=now + timedelta(seconds=4))
    assert report.claimed == [] and report.deferred == 1
    position.refresh_from_db()
    assert position.exit_stuck_at is not None
    stuck = DomainEvent.objects.get(kind="exit.stuck")
    assert stuck.payload["failures"] == 2 and stuck.payload["last_error"] == "venue refused again"
    assert AlertEvent.objects.filter(target=f"tpsl.exit_stuck.{position.id}").exists()
    assert tpsl_sweep(now=now + timedelta(seconds=100)).claimed == []  # slow pace now (300 s)
    (third,) = tpsl_sweep(now=now + timedelta(seconds=400)).claimed
    assert Order.objects.get(id=third).status == OrderStatus.PENDING
    assert DomainEvent.objects.filter(kind="exit.stuck").count() == 1
    assert ExitLeg.objects.filter(plan__position=position, status="filled").count() == 0
    assert Position.objects.get(id=position.id).status == "closing"


def test_a_plan_change_counts_from_the_next_sweep(trader, listed_token, make_position, price_feed):
    from trading.services.exits import exit_plan_update

    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E)
    price_feed.market.set_price(token.mint, E * Decimal("1.6"))
    assert tpsl_sweep().claimed == []  # balanced: first leg at 2x
    exit_plan_update(trader=trader, position_id=position.id, spec="single")  # +50% / -20%
    position.refresh_from_db()
    assert position.take_profit_price == E * Decimal("1.5")
    tpsl_sweep()
    (order,) = sells(position)
    assert (order.reason, order.amount_in) == ("tp", 1_000_000)


def test_the_sweep_steps_raise_peaks_and_find_the_triggered_positions(trader, listed_token, make_position, price_feed):
    from trading.tpsl.retry import failures_for
    from trading.tpsl.sweep import candidates_find, open_mints, peaks_update

    plan = spec_custom(stop_loss="20%", take_profits=[("2x", "50%")], trailing_activation="0%", trailing_distance="10%")
    tokens = [listed_token(price=E) for _ in range(2)]
    made = [make_position(trader=trader, token=t, entry_price=E * Decimal(m), plan=plan) for t in tokens for m in ("1", "2")]
    assert open_mints() == {t.id: t.mint for t in tokens}
    assert open_mints(shard=tokens[0].id % 2, shards=2)[tokens[0].id] == tokens[0].mint
    prices = {tokens[0].id: E * Decimal("1.7"), tokens[1].id: E * Decimal("2.1")}
    now = timezone.now()
    assert peaks_update(prices=prices) == 3  # armed trailing stops below a new high (not the 2x entry on 1.7)
    assert peaks_update(prices=prices) == 0  # the same high again writes nothing
    # the 2x entry on the mint at 1.7x: its trailing stop armed at entry (activation 0%) sits at 1.8x
    assert candidates_find(prices=prices, now=now) == [made[1].id, made[2].id]
    assert failures_for(position_ids=[p.id for p in made]) == {}


def test_an_exit_by_the_sweep_and_a_sell_by_the_trader_are_built_alike(make_trader, listed_token, make_position, price_feed):
    """Both go through the one order builder: the same trader, mode, venue, slippage and priority fee cap (the
    trader's own), status and amounts; only the reason, the leg, the amount and the ids differ."""
    from django.forms.models import model_to_dict

    from trading.services import order_fail, position_sell

    trader = make_trader("fields", sell_slippage_bps=777, priority_fee_max_lamports=4242, priority_fee_policy="low")
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=1_000_000)
    price_feed.market.set_price(token.mint, E / 2)
    tpsl_sweep()
    (automatic,) = sells(position)
    ignore = {"id", "client_id", "created_at", "updated_at", "reason", "leg", "amount_in"}
    by_sweep = {k: v for k, v in model_to_dict(automatic).items() if k not in ignore}
    assert automatic.reason == "sl" and automatic.trader_id == trader.id
    assert (automatic.slippage_bps, automatic.priority_fee_lamports, automatic.venue) == (777, 4242, "paper")
    assert automatic.priority_fee_policy == "low"

    order_fail(order_id=automatic.id, error="the venue was down")  # the slot is free again
    manual = position_sell(trader=trader, position_id=position.id, percent=Decimal(50))
    by_trader = {k: v for k, v in model_to_dict(Order.objects.get(id=manual.id)).items() if k not in ignore}
    assert manual.reason == "manual" and manual.amount_in == 500_000
    assert by_trader == by_sweep
