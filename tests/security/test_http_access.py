"""Who may call what over HTTP: every API endpoint refuses the anonymous and non-staff users it must, the webhook
refuses a wrong or missing secret, the metrics scrape needs its token, and repeated wrong passwords lock the
account out even for the right one (django-axes). The API's list of operations comes from its own schema, so a new
endpoint without an entry here fails the test."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db
PASSWORD = "access-test-password-1"

# path -> what an anonymous caller and a logged-in non-staff user get
STAFF_ONLY = ["/api/v1/dashboard/summary/", "/api/v1/dashboard/positions/", "/api/v1/dashboard/trades/",
              "/api/v1/dashboard/alerts/", "/api/v1/dashboard/uptime/", "/api/v1/dashboard/budgets/",
              "/api/schema/", "/api/docs/"]
PUBLIC = ["/api/v1/health/", "/api/v1/health/ready/"]


@pytest.fixture
def users(django_user_model, settings, readiness_settings, clean_redis):
    from django.contrib.auth.hashers import make_password

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MONITORING_READINESS_CACHE_SECONDS = 60
    hashed = make_password(PASSWORD)
    django_user_model.objects.create(username="staff", password=hashed, is_staff=True)
    django_user_model.objects.create(username="trader", password=hashed, is_staff=False)


def _basic(user: str, password: str = PASSWORD) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_the_list_here_covers_every_operation_of_the_schema(users, client):
    schema = client.get("/api/schema/?format=json", **_basic("staff")).json()
    assert set(schema["paths"]) <= set(STAFF_ONLY) | set(PUBLIC)


@pytest.mark.parametrize("path", STAFF_ONLY)
def test_staff_endpoints_refuse_anonymous_and_non_staff_with_a_json_error(users, client, path):
    for credentials in ({}, _basic("trader"), _basic("staff", "wrong-password")):
        response = client.get(path, **credentials)
        assert response.status_code in (401, 403), (path, credentials, response.status_code)
        if path.startswith("/api/v1/"):
            assert response.json()["error"]["code"] in ("not_authenticated", "permission_denied", "authentication_failed")
    assert client.get(path, **_basic("staff")).status_code == 200
    client.force_login(get_user_model().objects.get(username="trader"))
    assert client.get(path).status_code in (401, 403)  # a non-staff session too


def test_public_health_checks_tell_details_only_to_staff_or_the_token(users, client, settings):
    settings.MONITORING_READINESS_TOKEN = "readiness-token-0123456789"
    assert client.get("/api/v1/health/").status_code == 200
    bare = client.get("/api/v1/health/ready/").json()
    assert set(bare) == {"status"}
    assert set(client.get("/api/v1/health/ready/", **_basic("trader")).json()) == {"status"}
    assert set(client.get("/api/v1/health/ready/?token=wrong").json()) == {"status"}
    assert "components" in client.get("/api/v1/health/ready/?token=readiness-token-0123456789").json()
    assert "components" in client.get("/api/v1/health/ready/", **_basic("staff")).json()


def test_a_unicode_digit_in_a_limit_is_a_400_not_a_500(users, client):
    for value in ("²", "١٠", "1e3", "-1", "0", "1001", ""):
        response = client.get(f"/api/v1/dashboard/trades/?limit={value}", **_basic("staff"))
        assert response.status_code == 400, value
        assert response.json()["error"]["code"] == "invalid"


def test_metrics_need_the_bearer_token(users, client, settings):
    settings.METRICS_TOKEN = "metrics-token-0123456789"
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": "metrics-token-0123456789"},
                   _basic("staff")):
        assert client.get("/metrics", **header).status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-0123456789").status_code == 200


def test_the_admin_refuses_non_staff(users, client):
    assert client.get("/admin/").status_code == 302  # to the login page
    client.force_login(get_user_model().objects.get(username="trader"))
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/trading/wallet/").status_code == 302


def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(users, client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        assert client.get("/api/v1/dashboard/summary/", **_basic("staff", "guess")).status_code in (401, 403)
    assert client.get("/api/v1/dashboard/summary/", **_basic("staff")).status_code in (401, 403)


# --- the webhook ---------------------------------------------------------------------------------------------
UPDATE = {"update_id": 777001, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                           "from": {"id": 5, "is_bot": False, "first_name": "x"}, "text": "/start"}}


@pytest.mark.parametrize("configured,path,header", [
    ("webhook-secret-0123456789", "wrong-0123456789", "webhook-secret-0123456789"),
    ("webhook-secret-0123456789", "webhook-secret-0123456789", "wrong"),
    ("webhook-secret-0123456789", "webhook-secret-0123456789", None),
    ("webhook-secret-0123456789", "webhook-secret-012345678", "webhook-secret-012345678"),  # a prefix
    (None, "None", "None"),  # no secret configured: the webhook is closed
    ("", "x", ""),
])
def test_the_webhook_refuses_a_wrong_or_missing_secret_and_stores_nothing(client, clean_redis, settings, configured,
                                                                         path, header):
    from telegram_app.models import InboundUpdate

    settings.TELEGRAM_WEBHOOK_SECRET = configured
    extra = {} if header is None else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": header}
    response = client.post(f"/telegram/{path}/", json.dumps(UPDATE), content_type="application/json", **extra)
    assert response.status_code == 403
    assert not InboundUpdate.objects.exists()


def test_the_webhook_takes_only_posts(client, clean_redis, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = "webhook-secret-0123456789"
    response = client.get("/telegram/webhook-secret-0123456789/",
                          HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="webhook-secret-0123456789")
    assert response.status_code == 405


# --- per-user command rate ---------------------------------------------------------------------------------------
def test_a_burst_from_one_user_gets_exactly_the_burst_even_from_many_threads(two_traders, settings):
    """The token bucket is one Redis script: 40 commands at once from 8 threads, exactly TELEGRAM_COMMAND_BURST pass."""
    from django.db import connection

    from tests.fixtures.security import BOB_ID

    settings.TELEGRAM_COMMAND_BURST = 5
    settings.TELEGRAM_COMMANDS_PER_MINUTE = 1  # no refill to speak of during the burst
    replies: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def user():
        start.wait()
        for _ in range(5):
            answer = two_traders.say(BOB_ID, "/help")[0].text
            with lock:
                replies.append(answer)
        connection.close()

    threads = [threading.Thread(target=user) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(replies) == 40
    assert sum("/positions" in r for r in replies) == 5
    assert sum(r.startswith("You are sending commands too fast. Try again in ") for r in replies) == 35
    assert "/positions" in two_traders.say(71_003, "/help")[0].text  # another user is not slowed down
