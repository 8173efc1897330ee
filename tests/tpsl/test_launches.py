"""bags.fm launch watches against the sandbox's bonding curve (sandbox/launches.py), the real Postgres and Redis: a
watched launch graduating through the real worker (the trader told, the buy on graduation placed once), a buy above
the ceiling refused with a message, a buy on launch, and bad input refused with nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from telegram_app.notify import event_text
from tests.conftest import wait_for
from tests.fixtures.trading import mint_address
from trading.errors import Conflict, InvalidInput
from trading.models import DomainEvent, LaunchWatch, Order
from trading.services.launches import launch_watch_cancel, launch_watch_create, launches_follow
from trading.tasks import launches_follow as launches_follow_task

SOL = 10**9
START = Decimal("0.00001")


@pytest.fixture
def bags_launches(price_feed, settings):
    """The bags.fm client and the safety card pointed at the sandbox (its launch feed and its chain)."""
    settings.BAGS_API_URL = price_feed.bags_url
    settings.BAGS_API_KEY = price_feed.bags_api_key
    settings.SOLANA_RPC_URL = price_feed.rpc_url
    price_feed.bags.reset_rate_limit()
    return price_feed


def launch(sandbox, symbol, *, threshold=30 * SOL, launched=True):
    return sandbox.launches.create(symbol=symbol, price=START, threshold_lamports=threshold, launched=launched)


@pytest.mark.django_db
@pytest.mark.parametrize("args, code", [
    ({"mint": "not-a-mint"}, "invalid_mint"),
    ({"buy_on": "sometime"}, "invalid_buy_on"),
    ({"buy_on": "graduation"}, "invalid_amount"),
    ({"buy_on": "graduation", "amount_lamports": 0}, "invalid_amount"),
    ({"buy_on": "launch", "amount_lamports": SOL, "price_ceiling": "0"}, "invalid_price"),
    ({"buy_on": "launch", "amount_lamports": SOL, "price_ceiling": "-1"}, "sign"),
    ({"amount_lamports": SOL}, "amount_without_buy"),
])
def test_bad_watches_are_refused_with_a_sentence_and_write_nothing(trader, args, code):
    args = {"mint": mint_address(), **args}
    with pytest.raises(InvalidInput) as refused:
        launch_watch_create(trader=trader, **args)
    assert refused.value.message.endswith(".")
    assert refused.value.code == code
    assert not LaunchWatch.objects.exists()


@pytest.mark.django_db
def test_a_second_watch_of_one_launch_is_refused_and_cancel_acts_once(trader, bags_launches):
    mint = launch(bags_launches, "LWDUP").mint
    watch = launch_watch_create(trader=trader, mint=mint)
    with pytest.raises(Conflict):
        launch_watch_create(trader=trader, mint=mint, buy_on="launch", amount_lamports=SOL)
    assert launch_watch_cancel(trader=trader, watch_id=watch.id).state == "cancelled"
    with pytest.raises(Conflict):
        launch_watch_cancel(trader=trader, watch_id=watch.id)
    assert LaunchWatch.objects.count() == 1


@pytest.mark.django_db
def test_a_buy_above_the_ceiling_is_refused_with_a_message(trader, bags_launches):
    curve = launch(bags_launches, "LWCEIL", launched=False)
    watch = launch_watch_create(trader=trader, mint=curve.mint, buy_on="launch", amount_lamports=SOL // 10,
                                price_ceiling=START * 2)
    assert launches_follow() == {}  # PRE_LAUNCH: nothing to do yet
    bags_launches.launches.go_live(curve.mint)
    bags_launches.faults.set("bags", "outage", count=1)
    assert launches_follow() == {} and LaunchWatch.objects.get().launch_status == "PRE_LAUNCH"  # an outage: next tick
    bags_launches.launches.fill(curve.mint, 10 * SOL)  # the curve's price is now 4x its start, over the ceiling
    assert launches_follow() == {watch.id: "launched"}
    watch.refresh_from_db()
    assert watch.progress_pct == Decimal("33.33")  # 10 of 30 SOL, read from the curve's accounts on the chain
    assert (watch.state, watch.launch_status, watch.position_id) == ("launched", "PRE_GRAD", None)
    assert "above your ceiling" in watch.note and not Order.objects.exists()
    (notice,) = DomainEvent.objects.filter(kind="launch.notice")
    assert notice.payload["bought"] is False and "above your ceiling" in event_text("launch.notice", notice.payload)
    assert launches_follow() == {} and not Order.objects.exists()  # acted once


@pytest.mark.django_db(transaction=True)
def test_a_watched_launch_graduates_in_the_sandbox_and_the_worker_buys_once(trader, bags_launches, celery_worker):
    curve = launch(bags_launches, "LWGRAD")
    watch = launch_watch_create(trader=trader, mint=curve.mint, buy_on="graduation", amount_lamports=SOL // 5,
                                price_ceiling=START * 100)
    bags_launches.launches.fill(curve.mint, 6 * SOL)
    launches_follow_task.apply_async()  # what beat sends every LAUNCH_TICK_SECONDS
    wait_for(lambda: LaunchWatch.objects.get(id=watch.id).launch_status == "PRE_GRAD", message="the launch followed")
    followed = LaunchWatch.objects.get(id=watch.id)
    assert (followed.state, followed.progress_pct) == ("watching", Decimal("20.00")) and not Order.objects.exists()

    bags_launches.launches.fill(curve.mint, 24 * SOL)  # the curve fills: MIGRATING, then MIGRATED to its pool

    def graduated():
        launches_follow_task.apply_async()
        w = LaunchWatch.objects.get(id=watch.id)
        return w if w.state == "done" and w.note else None  # the notice's note is written once the buy was tried

    done = wait_for(graduated, interval=0.3, message="the watch saw the graduation")
    assert done.launch_status == "MIGRATED" and done.position_id is not None, done.note
    assert done.progress_pct == 100
    bought = wait_for(lambda: Order.objects.filter(reason="launch", side="buy", status="confirmed").first(),
                      message="the buy on graduation filled by the worker")
    assert bought.position_id == done.position_id and bought.amount_in == SOL // 5
    (notice,) = DomainEvent.objects.filter(kind="launch.notice", trader=trader)
    assert notice.payload["status"] == "graduated" and notice.payload["bought"] is True
    assert "graduated" in event_text("launch.notice", notice.payload)
    polls = bags_launches.bags.requests
    for _ in range(3):
        launches_follow_task.apply(throw=True)  # more ticks, run here: they see MIGRATED again and do nothing
    assert bags_launches.bags.requests == polls  # no live watch: the feed is not even polled
    assert Order.objects.filter(reason="launch").count() == 1  # acted once
    assert DomainEvent.objects.filter(kind="launch.notice").count() == 1


@pytest.mark.django_db
def test_curve_progress_is_read_only_from_the_dbc_programs_accounts_of_that_mint(bags_launches):
    """The curve's fill comes from its VirtualPool and PoolConfig accounts (Meteora DBC layout): another program's
    account, another mint's pool or a pool of another config is no data, never a figure."""
    from trading.launches import CurveKeys, curves_progress

    curve, other = launch(bags_launches, "LWPROG"), launch(bags_launches, "LWPROG2")
    bags_launches.launches.fill(curve.mint, 3 * SOL)
    keys = CurveKeys(mint=curve.mint, pool=curve.pool_key, config=curve.config_key)
    assert curves_progress([keys]) == {curve.mint: Decimal("10.00")}
    assert curves_progress([CurveKeys(mint=other.mint, pool=curve.pool_key, config=curve.config_key)]) == {}
    assert curves_progress([CurveKeys(mint=curve.mint, pool=curve.pool_key, config=other.config_key)]) == {}
    assert curves_progress([CurveKeys(mint=curve.mint, pool=curve.mint, config=curve.config_key)]) == {}


@pytest.mark.django_db(transaction=True)
def test_four_followers_racing_on_one_graduation_buy_and_tell_once(trader, bags_launches):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from trading.services.launches import launch_watch_step

    curve = launch(bags_launches, "LWRACE")
    watch = launch_watch_create(trader=trader, mint=curve.mint, buy_on="graduation", amount_lamports=SOL // 10)

    def follow(_):
        try:
            return launch_watch_step(watch_id=watch.id, launch_status="MIGRATED")
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(follow, range(4)))
    assert sorted(outcomes, key=str) == [None, None, None, "graduated"]
    assert Order.objects.filter(reason="launch").count() == 1
    assert DomainEvent.objects.filter(kind="launch.notice").count() == 1
