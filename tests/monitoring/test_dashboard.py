import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring.alerts import alert_raise

BASE = "/api/v1/dashboard/"


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["summary", "positions", "trades", "alerts", "uptime", "budgets"])
def test_every_dashboard_page_needs_staff(client, django_user_model, fast_passwords, page):
    assert client.get(f"{BASE}{page}/").status_code in (401, 403)
    client.force_login(django_user_model.objects.create_user("trader", password="a-long-test-password"))
    response = client.get(f"{BASE}{page}/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.django_db
def test_basic_auth_works_for_scripts(client, django_user_model, fast_passwords, readiness_settings, clean_redis):
    import base64

    django_user_model.objects.create_user("ops", password="a-long-test-password", is_staff=True)
    token = base64.b64encode(b"ops:a-long-test-password").decode()
    assert client.get(f"{BASE}budgets/", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 200


@pytest.mark.django_db
def test_summary_positions_and_trades_read_the_trading_tables(
    admin_client, readiness_settings, clean_redis, make_trader, make_token
):
    from trading.models import Order, Position

    trader, token = make_trader("dash"), make_token("WIF")
    position = Position.objects.create(
        trader=trader, token=token, mode="paper", status="open", size=5_000_000, original_size=5_000_000,
        cost_lamports=1_000_000_000, entry_price=Decimal("0.000200000000"), opened_at=timezone.now(),
    )
    Order.objects.create(position=position, side="buy", mode="paper", venue="paper", status="confirmed",
                         amount_in=1_000_000_000, client_id=uuid.uuid4())
    alert_raise(key="test", summary="Something needs a look.")

    summary = admin_client.get(f"{BASE}summary/").json()
    assert summary["open_positions"] == {"paper": 1}
    assert summary["trades_today"]["orders_by_status"] == {"confirmed": 1}
    assert set(summary["queue_depths"]) == {"trades", "tpsl", "telegram", "backups", "default", "vibe"}
    assert summary["health"]["components"]["postgres"] == "up"
    assert summary["alerts_firing"] == 1

    [row] = admin_client.get(f"{BASE}positions/").json()["results"]
    assert row["token__symbol"] == "WIF" and row["size"] == 5_000_000
    assert Decimal(row["entry_price"]) == Decimal("0.0002")  # a Decimal as a string, never a float
    assert isinstance(row["entry_price"], str)
    [trade] = admin_client.get(f"{BASE}trades/").json()["results"]
    assert (trade["side"], trade["venue"], trade["status"]) == ("buy", "paper", "confirmed")
    [alert] = admin_client.get(f"{BASE}alerts/", {"state": "firing"}).json()["results"]
    assert alert["message"] == "Something needs a look."


@pytest.mark.django_db
def test_bad_parameters_get_a_json_error_with_a_stable_code(admin_client):
    response = admin_client.get(f"{BASE}trades/", {"limit": "lots"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "limit" in response.json()["error"]["message"]
    assert admin_client.get(f"{BASE}alerts/", {"state": "sleeping"}).status_code == 400


@pytest.mark.django_db
def test_uptime_and_budgets_pages(admin_client, clean_redis):
    from monitoring.budgets import budget_cache_clear, budget_spend

    budget_cache_clear()
    budget_spend(provider="jupiter", essential=True)
    assert admin_client.get(f"{BASE}budgets/").json()["results"][0]["calls_today"] == 1
    body = admin_client.get(f"{BASE}uptime/", {"hours": 48}).json()
    assert body == {"percent": {}, "history": []}


@pytest.mark.django_db
def test_the_openapi_schema_lists_the_monitoring_endpoints(admin_client):
    paths = admin_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    for path in ("/api/v1/health/ready/", "/api/v1/dashboard/summary/", "/api/v1/dashboard/budgets/"):
        assert path in paths
