"""Every metric and label docs/monitoring.md names is recorded by the code that does the work."""

from __future__ import annotations

from decimal import Decimal

import pytest

from telegram_app import botapi
from tests.fixtures.trading import mint_address
from tests.monitoring.test_metrics_endpoint import TOKEN, _scrape, _value
from trading.prices import price_fresh, prices_refresh
from trading.ratelimit import Priority, RateLimited, slot_acquire
from trading.selectors import bags_top_tokens


def test_price_cache_look_ups_and_dexscreener_calls_are_recorded(client, readiness_settings, price_standin):
    readiness_settings.METRICS_TOKEN = TOKEN
    readiness_settings.DEXSCREENER_API_URL = price_standin.url
    on_jupiter, on_dex = mint_address(), mint_address()
    price_standin.set(on_jupiter, "2")
    price_standin.dexscreener[on_dex] = Decimal("0.03")
    before = _scrape(client)
    prices_refresh(mints=[on_jupiter, on_dex])
    assert price_fresh(mint=on_jupiter) is not None  # cached a moment ago: a hit
    assert price_fresh(mint=mint_address()) is None  # never priced: a miss
    after = _scrape(client)

    def grew(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("jarvis_cache_requests_total", cache="price", result="hit") >= 1
    assert grew("jarvis_cache_requests_total", cache="price", result="miss") >= 1
    assert grew("jarvis_provider_calls_total", provider="dexscreener", operation="price", outcome="ok") >= 1
    assert grew("jarvis_provider_calls_total", provider="jupiter", operation="price", outcome="ok") >= 2


def test_telegram_calls_are_recorded_under_the_telegram_provider(client, readiness_settings, telegram_settings):
    readiness_settings.METRICS_TOKEN = TOKEN
    before = _scrape(client)
    assert botapi.call("getMe", {})["is_bot"] is True
    after = _scrape(client)
    grew = _value(after, "jarvis_provider_calls_total", provider="telegram", operation="getMe", outcome="ok") - _value(
        before, "jarvis_provider_calls_total", provider="telegram", operation="getMe", outcome="ok")
    assert grew >= 1


def test_rate_limit_waits_and_refusals_and_the_trending_cache_are_recorded(client, readiness_settings, sandbox,
                                                                           sandbox_settings, clean_redis):
    """integrations.md: waits and refusals per class in `jarvis_provider_calls_total{operation="rate_limit:<class>"}`;
    monitoring.md: `jarvis_cache_requests_total{cache="top_tokens"}`."""
    readiness_settings.METRICS_TOKEN = TOKEN
    readiness_settings.PROVIDER_RATE_LIMITS = {"jupiter": (1, 0.3)}
    before = _scrape(client)
    slot_acquire(account="jupiter", priority=Priority.EXIT)
    slot_acquire(account="jupiter", priority=Priority.EXIT)  # waits for the window's one request
    with pytest.raises(RateLimited):
        slot_acquire(account="jupiter", priority=Priority.POLL)  # polling never waits
    bags_top_tokens()
    bags_top_tokens()  # cached a minute
    after = _scrape(client)

    def grew(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("jarvis_provider_calls_total", provider="jupiter", operation="rate_limit:exit", outcome="waited") == 1
    assert grew("jarvis_provider_calls_total", provider="jupiter", operation="rate_limit:poll", outcome="refused") == 1
    assert grew("jarvis_cache_requests_total", cache="top_tokens", result="miss") == 1
    assert grew("jarvis_cache_requests_total", cache="top_tokens", result="hit") == 1
