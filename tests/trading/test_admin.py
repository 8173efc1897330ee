"""The trading admin: every page renders, secrets never appear, money history is read-only, actions call services."""

import base58
import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from solders.keypair import Keypair

from trading.models import KillSwitch, Order, Position, TradingSettings
from trading.services import order_fail, position_apply_fill, position_open
from trading.wallets import wallet_import

pytestmark = pytest.mark.django_db
SOL = 10**9
MODELS = ["trader", "wallet", "token", "position", "order", "exitplan", "domainevent", "paperledger",
          "tradingsettings", "risklimits", "killswitch"]


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("root", "root@example.com", "a-long-admin-password")
    client.force_login(user)
    return client


@pytest.fixture
def open_position(trader, price_standin):
    from tests.fixtures.trading import mint_address

    mint = mint_address()
    price_standin.set(mint, "0.0001")
    position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
    position_apply_fill(order_id=position.orders.get().id, in_amount=SOL // 10, out_amount=10**9, price=1, fee_lamports=0)
    position.refresh_from_db()
    return position


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_and_search_renders(admin_client, open_position, model):
    url = reverse(f"admin:trading_{model}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "x"}).status_code == 200


def test_wallet_pages_show_the_public_key_and_never_the_secret(admin_client, trader):
    keypair = Keypair()
    wallet = wallet_import(trader=trader, secret=base58.b58encode(bytes(keypair)).decode())
    secret = base58.b58encode(bytes(keypair)).decode()
    for url in (reverse("admin:trading_wallet_changelist"), reverse("admin:trading_wallet_change", args=[wallet.id])):
        page = admin_client.get(url).content.decode()
        assert wallet.public_key in page and secret not in page and "encrypted_secret" not in page


def test_money_history_is_read_only(admin_client, open_position):
    order = open_position.orders.get()
    change = reverse("admin:trading_order_change", args=[order.id])
    assert admin_client.post(change, {"status": "failed"}).status_code == 403
    assert admin_client.get(reverse("admin:trading_position_add")).status_code == 403
    assert admin_client.post(reverse("admin:trading_position_delete", args=[open_position.id]), {"post": "yes"}).status_code == 403
    assert Order.objects.get(id=order.id).status == "confirmed"


def test_close_position_action_queues_a_full_sell(admin_client, open_position):
    response = admin_client.post(
        reverse("admin:trading_position_changelist"),
        {"action": "close_positions", "_selected_action": [open_position.id]},
        follow=True,
    )
    assert b"1 closing sell(s) queued" in response.content
    sell = open_position.orders.get(side="sell")
    assert (sell.amount_in, sell.reason, sell.status) == (open_position.size, "kill", "pending")
    assert Position.objects.get(id=open_position.id).status == "closing"


def test_retry_failed_order_action(admin_client, open_position):
    admin_client.post(reverse("admin:trading_position_changelist"),
                      {"action": "close_positions", "_selected_action": [open_position.id]})
    failed = open_position.orders.get(side="sell")
    order_fail(order_id=failed.id, error="venue down")
    response = admin_client.post(
        reverse("admin:trading_order_changelist"), {"action": "retry_orders", "_selected_action": [failed.id]}, follow=True
    )
    retry = open_position.orders.filter(side="sell").exclude(id=failed.id).get()
    assert f"retried as order #{retry.id}".encode() in response.content and retry.amount_in == failed.amount_in


def test_kill_switch_saved_in_admin_records_the_operator(admin_client):
    response = admin_client.post(reverse("admin:trading_killswitch_add"), {"enabled": "on", "reason": "incident"})
    assert response.status_code == 302
    switch = KillSwitch.objects.get(trader=None)
    assert switch.enabled and switch.changed_by == "root" and switch.reason == "incident"


def test_settings_form_refuses_invalid_values_through_the_service(admin_client, trader):
    row = TradingSettings.objects.get(trader=trader)
    url = reverse("admin:trading_tradingsettings_change", args=[row.id])
    data = {
        "trader": trader.id, "mode": "paper", "buy_slippage_bps": 9000, "sell_slippage_bps": 500,
        "priority_fee_policy": "auto", "priority_fee_max_lamports": 1000, "default_exit_plan": "{}",
        "buy_presets_lamports": "[]", "notifications": "{}", "risky_tokens": "freeze",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200 and b"Slippage must be between" in response.content
    assert TradingSettings.objects.get(id=row.id).buy_slippage_bps == 300
    data["buy_slippage_bps"] = 150
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert TradingSettings.objects.get(id=row.id).buy_slippage_bps == 150


def test_a_failed_buy_is_placed_again_once_and_only_within_the_limits(admin_client, trader, price_standin):
    from tests.fixtures.trading import mint_address
    from trading.models import ExitPlan
    from trading.services import kill_switch_set

    mint = mint_address()
    price_standin.set(mint, "0.0001")
    failed_position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10, exit_plan="single")
    failed = failed_position.orders.get()
    order_fail(order_id=failed.id, error="venue down")
    kill_switch_set(enabled=True, trader=trader, actor="ops")
    url = reverse("admin:trading_order_changelist")
    response = admin_client.post(url, {"action": "retry_orders", "_selected_action": [failed.id]}, follow=True)
    assert b"kill switch" in response.content
    assert Position.objects.filter(trader=trader).count() == 1 and Order.objects.get(id=failed.id).error == "venue down"
    kill_switch_set(enabled=False, trader=trader, actor="ops")
    response = admin_client.post(url, {"action": "retry_orders", "_selected_action": [failed.id]}, follow=True)
    retry = Order.objects.filter(trader=trader).exclude(id=failed.id).get()
    assert f"retried as order #{retry.id}".encode() in response.content
    assert (retry.side, retry.status, retry.amount_in, retry.slippage_bps) == ("buy", "pending", SOL // 10, failed.slippage_bps)
    assert retry.position_id != failed.position_id and retry.position.token.mint == mint
    assert ExitPlan.objects.get(position=retry.position).preset == "single"  # the failed buy's plan
    again = admin_client.post(url, {"action": "retry_orders", "_selected_action": [failed.id]}, follow=True)
    assert b"already placed again" in again.content and Order.objects.filter(trader=trader).count() == 2
