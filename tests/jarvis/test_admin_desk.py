"""The admin as the operator's control room: every model registered and rendering, the front page at a glance,
the kill switch toggle (who and when), pausing a trader, stuck exits highlighted and retried, explorer links."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from monitoring.alerts import alert_raise
from monitoring.checks import readiness_cache_clear
from tests.fixtures.trading import mint_address
from tests.trading.test_admin import admin_client, open_position  # noqa: F401 (shared fixtures)
from trading.admin.common import explorer_link
from trading.errors import KillSwitchOn
from trading.models import KillSwitch, Order, Position, Trader
from trading.services import order_fail, position_close, position_open

pytestmark = pytest.mark.django_db
SOL = 10**9
PROJECT_APPS = ("trading", "telegram_app", "monitoring", "backups")


@pytest.fixture
def root(admin_client):
    return admin_client


def _member(client, group_name):
    call_command("setup_operator_groups")
    user = get_user_model().objects.create_user(username=f"{group_name}-1", password="x" * 16, is_staff=True)
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return client


@pytest.fixture
def stuck_position(open_position):
    sell = position_close(position_id=open_position.id)
    order_fail(order_id=sell.id, error="venue answered 503 three times")
    Position.objects.filter(id=open_position.id).update(exit_stuck_at=timezone.now())
    return open_position, sell


def test_every_model_of_every_project_app_is_registered_and_its_list_renders(root, open_position):
    for app_label in PROJECT_APPS:
        for model in apps.get_app_config(app_label).get_models():
            assert model in admin.site._registry, f"{model._meta.label} is not in the admin"
            model_admin = admin.site._registry[model]
            assert len(model_admin.list_display) > 1, f"{model._meta.label} lists only __str__"
            url = reverse(f"admin:{app_label}_{model._meta.model_name}_changelist")
            assert root.get(url).status_code == 200, url
            if model_admin.search_fields:
                assert root.get(url, {"q": "1"}).status_code == 200, url


def test_front_page_shows_health_queues_positions_pnl_alerts_and_stuck_exits(root, stuck_position, settings):
    readiness_cache_clear()
    alert_raise(key="tpsl.exit_stuck.test", summary="Automatic exits of a position failed 3 times.", severity="critical")
    page = root.get(reverse("admin:index")).content.decode()
    assert 'id="desk-health"' in page and ("all " in page or "down: " in page)
    assert 'data-queue="trades"' in page and 'data-queue="tpsl"' in page
    assert "1 open" in page and "1 stuck exit(s)" in page and "1 failed sell(s) in 24 h" in page
    assert "realised 0.0000 SOL" in page and "unrealised" in page
    assert "1 firing" in page and "Automatic exits of a position failed 3 times." in page
    assert "Turn the kill switch ON" in page


def test_front_page_renders_with_redis_down(root, open_position, settings):
    readiness_cache_clear()
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: refused at once
    try:
        page = root.get(reverse("admin:index")).content.decode()
    finally:
        readiness_cache_clear()
    assert "unknown (Redis does not answer)" in page and "(prices unavailable)" in page
    assert "down: " in page and "redis" in page


def test_operator_toggles_the_kill_switch_and_the_front_page_says_who_and_when(client, trader, price_standin):
    _member(client, "operator")
    response = client.post(reverse("admin:desk_kill_switch"), {"enabled": "on", "reason": "RPC outage"}, follow=True)
    page = response.content.decode()
    assert "Kill switch ON: new buys are refused" in page and "last changed by operator-1" in page and "RPC outage" in page
    switch = KillSwitch.objects.get(trader=None)
    assert switch.enabled and switch.changed_by == "operator-1"
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    with pytest.raises(KillSwitchOn):
        position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    client.post(reverse("admin:desk_kill_switch"), {"enabled": "off"})
    assert not KillSwitch.objects.get(trader=None).enabled
    assert position_open(trader=trader, mint=mint, amount_lamports=SOL // 10).status == "opening"


def test_a_viewer_sees_the_front_page_but_cannot_toggle_the_kill_switch(client):
    _member(client, "viewer")
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="desk-operations"' in page and "kill-switch-toggle" not in page
    response = client.post(reverse("admin:desk_kill_switch"), {"enabled": "on"}, follow=True)
    assert b"You may not change the kill switch" in response.content
    assert not KillSwitch.objects.filter(enabled=True).exists()
    assert client.get(reverse("admin:desk_kill_switch")).status_code == 405


def test_pausing_a_trader_refuses_their_buys_and_records_who(root, trader, price_standin):
    response = root.post(reverse("admin:trading_trader_changelist"),
                         {"action": "pause_traders", "_selected_action": [trader.id]}, follow=True)
    assert b"1 trader(s) paused" in response.content
    assert Trader.objects.get(id=trader.id).is_paused
    assert LogEntry.objects.get(object_id=str(trader.id)).user.username == "root"
    mint = mint_address()
    price_standin.set(mint, "0.0001")
    with pytest.raises(KillSwitchOn) as refused:
        position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    assert refused.value.code == "trader_paused"
    root.post(reverse("admin:trading_trader_changelist"), {"action": "resume_traders", "_selected_action": [trader.id]})
    assert not Trader.objects.get(id=trader.id).is_paused


def test_stuck_exit_is_highlighted_and_retried_from_the_positions_list(root, stuck_position):
    position, failed = stuck_position
    listing = root.get(reverse("admin:trading_position_changelist"), {"exit_stuck_at__isempty": "0"}).content.decode()
    assert "exit-stuck" in listing and "STUCK since" in listing and "1 failed" in listing
    assert "venue answered 503" in root.get(
        reverse("admin:trading_order_changelist"), {"position__id__exact": position.id, "status__exact": "failed"}
    ).content.decode()
    response = root.post(reverse("admin:trading_position_changelist"),
                         {"action": "retry_failed_exits", "_selected_action": [position.id]}, follow=True)
    retry = position.orders.filter(side="sell", status="pending").get()
    assert f"failed order #{failed.id} retried as order #{retry.id}".encode() in response.content
    assert retry.amount_in == position.size


def test_explorer_links_follow_the_cluster(settings):
    settings.SOLANA_RPC_URL = "http://127.0.0.1:8899"
    assert explorer_link(Order(mode="paper", signature="")) is None
    assert explorer_link(Order(mode="live", signature="5sig")) == "https://explorer.solana.com/tx/5sig"
    sandbox = explorer_link(Order(mode="sandbox", signature="5sig"))
    assert sandbox == "https://explorer.solana.com/tx/5sig?cluster=custom&customUrl=http%3A%2F%2F127.0.0.1%3A8899"
    assert explorer_link(Order(mode="sandbox", signature="")) is None


def test_order_pages_link_the_signature_only_outside_paper_mode(root, open_position, settings):
    settings.SOLANA_RPC_URL = "http://127.0.0.1:8899"
    buy = open_position.orders.get()
    Order.objects.filter(id=buy.id).update(signature="5sigPaper")
    listing = reverse("admin:trading_order_changelist")
    assert "explorer.solana.com" not in root.get(listing).content.decode()
    Order.objects.filter(id=buy.id).update(mode="sandbox", signature="5sigSandbox")
    for url in (listing, reverse("admin:trading_order_change", args=[buy.id])):
        assert "https://explorer.solana.com/tx/5sigSandbox?cluster=custom" in root.get(url).content.decode(), url
