"""The price feed: Jupiter Price v3 in batches, DexScreener second, Redis cache with timestamps, None = no data."""

import time
from datetime import UTC, datetime
from decimal import Decimal

import time_machine

from tests.fixtures.trading import SOL, mint_address
from trading.prices import PricePoint, price_fresh, price_get, prices_get_many, prices_refresh


def test_prices_come_in_batches_of_at_most_fifty_and_convert_usd_to_sol(price_standin):
    mints = [mint_address() for _ in range(120)]
    for i, mint in enumerate(mints):
        price_standin.set(mint, Decimal("0.000012") * (i + 1), decimals=6)
    before = time.time()
    found = prices_refresh(mints=mints)
    batches = price_standin.price_requests()
    assert len(batches) == 3 and all(len(ids) <= 50 and SOL in ids for ids in batches)
    assert {m for ids in batches for m in ids} == set(mints) | {SOL}
    assert found[mints[0]].price == Decimal("0.000012") and found[mints[0]].decimals == 6
    cached = price_get(mint=mints[119])
    assert cached.price == Decimal("0.000012") * 120 and cached.source == "jupiter"
    assert before <= cached.at <= time.time()


def test_a_token_without_a_price_is_no_data_never_zero(price_standin):
    known, unknown = mint_address(), mint_address()
    price_standin.set(known, "0.5")
    found = prices_refresh(mints=[known, unknown])
    assert unknown not in found and price_get(mint=unknown) is None
    assert set(prices_get_many(mints=[known, unknown])) == {known}


def test_zero_or_negative_prices_from_a_source_are_no_data(price_standin):
    zero = mint_address()
    price_standin.set(zero, "0")
    assert prices_refresh(mints=[zero]) == {} and price_get(mint=zero) is None


def test_dexscreener_fills_in_what_jupiter_lacks(price_standin, settings):
    settings.DEXSCREENER_API_URL = price_standin.url
    on_jupiter, on_dex = mint_address(), mint_address()
    price_standin.set(on_jupiter, "2")
    price_standin.dexscreener[on_dex] = Decimal("0.03")
    found = prices_refresh(mints=[on_jupiter, on_dex])
    assert (found[on_jupiter].source, found[on_dex].source) == ("jupiter", "dexscreener")
    assert price_get(mint=on_dex).price == Decimal("0.03")


def test_jupiter_failing_leaves_no_data_or_the_second_source(price_standin, settings):
    mint = mint_address()
    price_standin.set(mint, "1")
    price_standin.jupiter_status = 503
    assert prices_refresh(mints=[mint]) == {}
    settings.DEXSCREENER_API_URL = price_standin.url
    price_standin.dexscreener[mint] = Decimal("0.9")
    assert prices_refresh(mints=[mint])[mint].price == Decimal("0.9")


def test_price_fresh_uses_the_cache_until_it_is_stale(price_standin, settings):
    mint = mint_address()
    price_standin.set(mint, "1")
    assert price_fresh(mint=mint).price == Decimal(1)
    price_standin.set(mint, "2")
    assert price_fresh(mint=mint).price == Decimal(1)  # cached and young
    assert len(price_standin.price_requests()) == 1
    settings.PRICE_MAX_AGE_SECONDS = 0
    time.sleep(0.01)
    assert price_fresh(mint=mint).price == Decimal(2)


def test_sol_itself_is_one_sol_and_an_empty_request_fetches_nothing(price_standin):
    assert prices_refresh(mints=[]) == {} and price_standin.requests == []
    assert prices_refresh(mints=[SOL])[SOL].price == Decimal(1)


def test_one_freshness_test_for_trades_and_the_sweep_a_price_is_fresh_up_to_its_age_and_never_when_not_positive():
    with time_machine.travel(datetime(2026, 3, 2, 12, tzinfo=UTC), tick=False):
        now = time.time()
        assert PricePoint(price=Decimal("0.5"), at=now - 10, source="t").is_fresh(10)
        assert not PricePoint(price=Decimal("0.5"), at=now - 10.5, source="t").is_fresh(10)
        assert not PricePoint(price=Decimal(0), at=now, source="t").is_fresh(10)
        assert not PricePoint(price=Decimal("NaN"), at=now, source="t").is_fresh(10)
