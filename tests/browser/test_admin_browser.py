"""The admin in a real browser: log in, find the operations box, and the brute-force lockout."""

import pytest
from django.contrib.auth import get_user_model

PASSWORD = "correct-horse-battery-staple-9"


@pytest.fixture
def operator(transactional_db):
    return get_user_model().objects.create_superuser(username="night-operator", email="", password=PASSWORD)


def _login(page, base, username, password):
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_operator_logs_in_and_finds_flower_from_the_admin(live_server, page_factory, operator, settings):
    settings.FLOWER_URL = "http://127.0.0.1:5555"
    page = page_factory()
    _login(page, live_server.url, "night-operator", PASSWORD)
    page.wait_for_selector("#desk-operations")
    assert page.inner_text("#desk-mode") == settings.TRADING_MODE
    assert page.get_attribute("#flower-link", "href") == "http://127.0.0.1:5555"


def test_repeated_failed_logins_lock_the_account_out(live_server, page_factory, operator, settings):
    page = page_factory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(page, live_server.url, "night-operator", "wrong-password")
    _login(page, live_server.url, "night-operator", PASSWORD)
    body = page.inner_text("body")
    assert "locked" in body.lower()
    assert "/admin/login" in page.url or "Site administration" not in body
