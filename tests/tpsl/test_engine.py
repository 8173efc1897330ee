"""The exit engine end to end: the beat task and the exit orders cross Redis to a real Celery worker, paper fills
at the sandbox feed's prices, Postgres holds the truth."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from jarvis.locks import Lease
from tests.conftest import wait_for
from trading.errors import Conflict
from trading.models import DomainEvent, Order
from trading.prices import prices_refresh
from trading.services.positions import position_sell
from trading.tpsl import runner
from trading.tpsl.sweep import tpsl_sweep

E = Decimal("0.0001")
pytestmark = pytest.mark.django_db(transaction=True)


def confirmed_sells(position):
    return list(Order.objects.filter(position=position, side="sell", status="confirmed").order_by("id"))


def settle(position, count):
    return wait_for(lambda: len(confirmed_sells(position)) >= count and confirmed_sells(position), message="exit fill")


def sweep_through_worker(celery_app, position, count):
    """Send the beat task to the tpsl queue until the worker has claimed `count` exits of `position`."""

    def claimed():
        if Order.objects.filter(position=position, side="sell").count() >= count:
            return True
        runner.redis_client().delete(runner.START_KEY.format(shard=0, shards=1))
        celery_app.send_task("trading.tpsl_sweep")
        return False

    wait_for(claimed, interval=0.5, message="exit claimed by the tpsl worker")


def test_ladder_fires_leg_by_leg_through_the_worker(celery_app, celery_worker, trader, listed_token, make_position, price_feed):
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=10_000_000)
    sold = []
    for step, multiple in enumerate(("2.2", "5.5", "11"), start=1):
        price_feed.market.set_price(token.mint, E * Decimal(multiple))
        sweep_through_worker(celery_app, position, step)
        sold = [o.amount_in for o in settle(position, step)]
    assert sold == [5_000_000, 3_000_000, 2_000_000]
    position.refresh_from_db()
    assert position.status == "closed" and position.size == 0 and position.realised_pnl_lamports > 0
    events = DomainEvent.objects.filter(kind="exit.filled", payload__position_id=position.id).order_by("id")
    assert [(e.payload["reason"], e.payload["sold"], e.payload["remaining_size"]) for e in events] == [
        ("tp", 5_000_000, 5_000_000),
        ("tp", 3_000_000, 2_000_000),
        ("tp", 2_000_000, 0),
    ]
    assert all(e.payload["realised_pnl_lamports"] > 0 for e in events)


def test_gap_through_the_stop_sells_everything_once(celery_worker, trader, listed_token, make_position, price_feed, settings):
    settings.TPSL_INLINE_PUBLISH_MAX = 2  # five exits in one tick: published by trading.tpsl_exits_publish slices
    token = listed_token(price=E)
    others = [make_position(trader=trader, token=token, entry_price=E, size=1000 + i) for i in range(4)]
    position = make_position(trader=trader, token=token, entry_price=E, size=777_777)
    price_feed.market.set_price(token.mint, E / 3)
    for _ in range(3):
        tpsl_sweep()
    (sale,) = settle(position, 1)
    for _ in range(3):
        tpsl_sweep()
    assert (sale.reason, sale.amount_in) == ("sl", 777_777)
    assert Order.objects.filter(position=position, side="sell").count() == 1
    position.refresh_from_db()
    assert position.status == "closed" and position.realised_pnl_lamports < 0
    for other in others:
        (sale,) = settle(other, 1)
        assert sale.amount_in == other.size and Order.objects.filter(position=other, side="sell").count() == 1


def test_manual_sell_racing_the_automatic_exit_ends_with_one_sale(celery_worker, trader, listed_token, make_position, price_feed):
    tokens = [listed_token(price=E) for _ in range(6)]
    positions = [make_position(trader=trader, token=token, entry_price=E) for token in tokens]
    outcomes = []

    def manual(position, barrier, delay):
        barrier.wait()
        time.sleep(delay)  # staggered starts: across rounds either side gets to the claim first
        try:
            outcomes.append(position_sell(trader=trader, position_id=position.id, percent=Decimal(100)).reason)
        except Conflict:
            outcomes.append("refused")
        finally:
            connection.close()

    def automatic(barrier):
        barrier.wait()
        try:
            tpsl_sweep(refresh=False)  # the cached price, so both sides reach the claim together
        finally:
            connection.close()

    for token, position, delay in zip(tokens, positions, (0, 0.005, 0.01, 0.02, 0.04, 0.08)):
        price_feed.market.set_price(token.mint, E / 2)  # only this position's stop is crossed, right now
        prices_refresh(mints=[token.mint])
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=manual, args=(position, barrier, delay)), threading.Thread(target=automatic, args=(barrier,))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    winners = []
    for position in positions:
        (sale,) = settle(position, 1)
        winners.append(sale.reason)
        position.refresh_from_db()
        assert position.status == "closed" and sale.amount_in == 1_000_000
        assert Order.objects.filter(position=position, side="sell").count() == 1
    assert len(outcomes) == len(positions)
    assert [w == "manual" for w in winners] == [o == "manual" for o in outcomes]


def test_overlapping_sweeps_are_refused(trader, clean_redis):
    assert runner.sweep_locked() is not None
    assert runner.sweep_locked() is None  # started less than an interval ago
    clean_redis.delete(runner.START_KEY.format(shard=0, shards=1))
    lock = clean_redis.lock(runner.LOCK_KEY.format(shard=0, shards=1), timeout=5)
    assert lock.acquire(blocking=False)
    assert runner.sweep_locked() is None  # another run holds the lock
    lock.release()
    clean_redis.delete(runner.START_KEY.format(shard=0, shards=1))
    assert runner.sweep_locked() is not None


def test_big_books_are_swept_in_shards_by_mint(celery_worker, trader, listed_token, make_position, price_feed, settings):
    from trading.tpsl.sweep import open_mints

    settings.TPSL_SHARD_BUDGET = 2
    tokens = [listed_token(price=E) for _ in range(3)]
    positions = [make_position(trader=trader, token=tokens[i % 3], entry_price=E) for i in range(5)]
    shards = [open_mints(shard=i, shards=3) for i in range(3)]
    assert sorted(t for shard in shards for t in shard) == sorted(t.id for t in tokens)  # a partition of the mints
    for token in tokens:
        price_feed.market.set_price(token.mint, E / 2)
    assert runner.sweep_dispatch() == 3  # ceil(5 open positions / budget 2) shard tasks on the tpsl queue
    for position in positions:
        (sale,) = settle(position, 1)
        assert sale.reason == "sl"


def test_run_lock_outlives_its_ttl_while_the_run_is_alive_and_notices_a_thief(clean_redis):
    with Lease("jarvis:tpsl:test-lock", seconds=0.3, client=clean_redis) as lock:
        deadline = time.monotonic() + 1.2  # four lifetimes: only the watchdog keeps it
        wait_for(lambda: time.monotonic() > deadline, timeout=5)
        assert lock.owned() and clean_redis.get("jarvis:tpsl:test-lock") is not None
        assert Lease("jarvis:tpsl:test-lock", seconds=0.3, client=clean_redis).__enter__() is None  # no second run
        clean_redis.set("jarvis:tpsl:test-lock", "someone-else")
        wait_for(lambda: not lock.owned(), timeout=5, message="the lost lock noticed")
    assert clean_redis.get("jarvis:tpsl:test-lock") == b"someone-else"  # never released someone else's lock


def test_automatic_exit_losses_count_toward_the_daily_loss_limit(
    celery_app, celery_worker, trader, listed_token, price_feed
):
    """A stop-loss's loss is the trader's loss of the day: the next buy past the daily loss limit is refused."""
    from trading.errors import TradingError
    from trading.models import Position, RiskLimits
    from trading.services import position_open

    RiskLimits.objects.create(daily_loss_limit_lamports=10**7)  # 0.01 SOL
    token = listed_token(price=E)
    position = position_open(trader=trader, mint=token.mint, amount_lamports=10**8, exit_plan="balanced")
    wait_for(lambda: Position.objects.get(id=position.id).status == "open", message="the buy filled")
    price_feed.market.set_price(token.mint, E / 3)
    sweep_through_worker(celery_app, position, 1)
    (sale,) = settle(position, 1)
    assert sale.reason == "sl" and sale.trader_id == trader.id and sale.realised_pnl_lamports < -10**7
    with pytest.raises(TradingError) as refused:
        position_open(trader=trader, mint=token.mint, amount_lamports=10**7)
    assert refused.value.code == "daily_loss_limit"
    assert str(refused.value).startswith("You have lost 0.0") and "daily loss limit" in str(refused.value)
