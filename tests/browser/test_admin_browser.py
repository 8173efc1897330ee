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


def test_the_front_page_draws_pnl_volume_and_exit_latency_of_the_last_7_days(live_server, page_factory, operator,
                                                                             make_trader, make_token):
    from django.utils import timezone

    from tests.jarvis.test_desk_charts import seed_week

    expected = seed_week(make_trader("alice"), make_token("BONK"), now=timezone.now())
    page = page_factory()
    _login(page, live_server.url, "night-operator", PASSWORD)
    page.wait_for_selector("#desk-charts svg")
    assert page.locator("#desk-charts svg.desk-chart").count() == 3
    for chart, shape, values in (("chart-pnl", "rect.bar", expected["pnl_lamports"]),
                                 ("chart-volume", "rect.bar", expected["volume_lamports"]),
                                 ("chart-exit-latency", "circle.point", expected["exit_latency_ms"])):
        marks = page.locator(f"#{chart} {shape}")
        assert marks.count() == 7, chart
        assert [int(marks.nth(i).get_attribute("data-value")) for i in range(7)] == values, chart
        assert page.locator(f"#{chart} text.x-label").count() == 7 and page.locator(f"#{chart} .axis").count() == 2
        assert page.locator(f"#{chart}").bounding_box()["height"] > 100  # drawn, not an empty box
    red = page.locator("#chart-pnl rect.bar").nth(3)
    assert red.get_attribute("fill") == "#ba2121" and "−0.0200" in page.inner_text("#chart-pnl-figure")
