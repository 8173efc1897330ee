"""The control room in a real browser, as a member of the `operator` group: close a position from the positions
list and watch the exit fill through a real Celery worker; switch the desk off and on from the front page."""

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from tests.browser.test_admin_browser import PASSWORD, _login
from tests.browser.test_flower_browser import FLOWER_AUTH, flower  # noqa: F401 (fixture)
from tests.conftest import wait_for
from tests.fixtures.trading import mint_address
from trading.errors import KillSwitchOn
from trading.models import KillSwitch, Order, Position
from trading.services import exit_order_create, position_open
from trading.services.risk import risk_check_entry
from trading.tpsl.retry import failures_for, stuck_update

SOL = 10**9
# The session's worker has two threads shared with the whole suite: a backup another test queued may hold them for a
# while on a loaded machine. A bound, not a speed assertion.
WORKER_WAIT = 90


@pytest.fixture
def desk_operator(transactional_db):
    call_command("setup_operator_groups")
    user = get_user_model().objects.create_user(username="desk-operator", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    return user


@pytest.fixture
def logged_in(live_server, page_factory, desk_operator):
    page = page_factory()
    _login(page, live_server.url, "desk-operator", PASSWORD)
    page.wait_for_selector("#desk-operations")
    return page


def test_close_a_position_from_the_list_and_see_the_exit_order_fill(live_server, logged_in, celery_worker, trader,
                                                                   price_standin):
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    wait_for(lambda: Position.objects.get(pk=position.pk).status == "open", timeout=WORKER_WAIT, message="the paper buy to fill")

    page = logged_in
    page.click("#desk-positions a")  # "1 open" on the front page
    page.wait_for_selector(f'input.action-select[value="{position.pk}"]')
    assert "ok" in page.inner_text("#result_list")  # exits column: nothing failing
    page.check(f'input.action-select[value="{position.pk}"]')
    page.select_option("select[name=action]", "close_positions")
    page.click("button[name=index]")
    page.wait_for_selector("text=1 closing sell(s) queued")

    sell = wait_for(lambda: Order.objects.filter(position=position, side="sell", status="confirmed").first(),
                    timeout=WORKER_WAIT, message="the exit order to fill through the worker")
    page.goto(f"{live_server.url}/admin/trading/order/?position__id__exact={position.pk}&side__exact=sell")
    row = page.inner_text(f'tr:has(a[href*="/admin/trading/order/{sell.pk}/change/"])')
    assert "Confirmed" in row and "paper" in row
    assert Position.objects.get(pk=position.pk).status == "closed"


def test_kill_switch_toggled_in_the_browser_refuses_a_buy_then_allows_it(logged_in, trader, price_standin):
    page = logged_in
    assert "OFF" in page.inner_text("#kill-switch-state")
    page.fill("#desk-kill-switch input[name=reason]", "bags.fm outage")
    page.click("#kill-switch-toggle")
    page.wait_for_selector("text=Kill switch ON: new buys are refused")
    assert "ON" in page.inner_text("#kill-switch-state")
    assert "desk-operator" in page.inner_text("#kill-switch-who") and "bags.fm outage" in page.inner_text("#kill-switch-who")

    mint = mint_address()
    price_standin.set(mint, "0.0001")
    with pytest.raises(KillSwitchOn) as refused:
        position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    assert refused.value.code == "kill_switch_on" and not Position.objects.filter(trader=trader).exists()

    page.click("#kill-switch-toggle")
    page.wait_for_selector("text=Kill switch OFF: buying is allowed again")
    assert not KillSwitch.objects.get(trader=None).enabled
    risk_check_entry(trader=trader, amount_lamports=SOL // 10)  # the same check position_open runs: passes now


def test_newcomer_finds_a_stuck_exit_retries_it_and_sees_it_finish_in_flower(
    live_server, logged_in, celery_worker, flower, trader, price_standin, settings
):
    """The issue's 'done when', end to end: front page -> stuck exit -> retry -> filled -> Flower says SUCCESS."""
    url, _, _ = flower
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    wait_for(lambda: Position.objects.get(pk=position.pk).status == "open", timeout=WORKER_WAIT, message="the paper buy to fill")

    # A stop-loss exit fails (no price), and the TP/SL engine flags the position as stuck.
    settings.PRICE_MAX_AGE_SECONDS = 0
    settings.TPSL_EXIT_MAX_FAILURES = 1
    del price_standin.jupiter[mint]
    failed = exit_order_create(position_id=position.pk, amount=Position.objects.get(pk=position.pk).size, reason="sl")
    wait_for(lambda: Order.objects.get(pk=failed.pk).status == "failed", timeout=WORKER_WAIT, message="the exit to fail")
    with transaction.atomic():
        stuck_update(stuck_at={position.pk: None}, failures=failures_for(position_ids=[position.pk]), now=timezone.now())
    price_standin.set(mint, "0.0001")  # the venue is back

    page = logged_in
    page.reload()
    page.click("#desk-stuck")
    page.wait_for_selector("a.exit-stuck")
    assert "STUCK since" in page.inner_text("a.exit-stuck")
    wait_for(lambda: "test-worker@jarvis" in httpx.get(f"{url}/api/workers?refresh=1", auth=FLOWER_AUTH, timeout=10).text,
             timeout=30, message="Flower to see the worker (it records tasks from then on)")
    page.check(f'input.action-select[value="{position.pk}"]')
    page.select_option("select[name=action]", "retry_failed_exits")
    page.click("button[name=index]")
    page.wait_for_selector(f"text=failed order #{failed.pk} retried as order")
    retry = Order.objects.filter(position=position, side="sell").exclude(pk=failed.pk).get()
    wait_for(lambda: Order.objects.get(pk=retry.pk).status == "confirmed", timeout=WORKER_WAIT, message="the retried exit to fill")

    def flower_task():
        tasks = httpx.get(f"{url}/api/tasks", params={"taskname": "trading.execute_order"}, auth=FLOWER_AUTH,
                          timeout=5).json()
        return next((uuid for uuid, t in tasks.items() if t.get("state") == "SUCCESS"
                     and str(retry.pk) in str(t.get("args"))), None)

    task_id = wait_for(flower_task, timeout=30, message="Flower to record the retried exit")
    flower_page = page.context.browser.new_context(
        http_credentials={"username": FLOWER_AUTH[0], "password": FLOWER_AUTH[1]}).new_page()
    try:
        flower_page.goto(f"{url}/task/{task_id}")
        flower_page.wait_for_selector("text=trading.execute_order")
        assert "SUCCESS" in flower_page.inner_text("body")
    finally:
        flower_page.context.close()
    assert Position.objects.get(pk=position.pk).status == "closed"
