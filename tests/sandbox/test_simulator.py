"""The market simulator and the pool curve, without servers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.pools import NoRoute, quote_exact_in
from sandbox.simulator import Market, MarketError


def _path(seed: int, steps: int = 200) -> list[Decimal]:
    market = Market(seed=seed, running=False)
    market.seed_default_tokens()
    out = []
    for _ in range(steps):
        market.step()
        out.extend(t.price for t in market.tokens())
    return out


def test_a_seed_reproduces_every_path_and_another_seed_does_not():
    assert _path(11) == _path(11)
    assert _path(11) != _path(12)
    assert Market(seed=1).add_token(symbol="X", decimals=6, price=1).mint != Market(seed=2).add_token(
        symbol="X", decimals=6, price=1).mint


def test_jumps_rug_or_pump_and_prices_stay_positive():
    market = Market(seed=3, running=False)
    token = market.add_token(symbol="JMP", decimals=6, price=Decimal("1"), volatility=Decimal("0"),
                             jump_probability=Decimal("1"))
    moves = []
    for _ in range(60):
        before = token.price
        market.step()
        moves.append(token.price / before)
    assert all(m > 0 for m in moves)
    assert any(m < Decimal("0.61") for m in moves) and any(m > Decimal("1.19") for m in moves)


def test_forced_moves_are_exact_and_a_paused_market_stands_still():
    market = Market(seed=5, step_seconds=0.001, running=False)
    token = market.add_token(symbol="F", decimals=9, price=Decimal("0.0125"))
    assert market.move(token.mint, Decimal("-30")) == Decimal("0.00875")
    assert market.price(token.mint) == Decimal("0.00875")
    assert market.price(token.mint) == Decimal("0.00875")  # paused: no step however long we wait
    with pytest.raises(MarketError):
        market.move(token.mint, Decimal("-100"))
    with pytest.raises(MarketError):
        market.set_price("unknown", Decimal("1"))
    with pytest.raises(MarketError):
        market.add_token(symbol="F", decimals=9, price=Decimal("1"))


def test_a_forced_path_is_followed_step_by_step_then_the_walk_goes_on():
    market = Market(seed=5, running=False)
    token = market.add_token(symbol="P", decimals=6, price=Decimal("1"))
    market.force_path(token.mint, [Decimal("0.9"), Decimal("0.5"), Decimal("0.45")])
    seen = []
    for _ in range(3):
        market.step()
        seen.append(market.price(token.mint))
    assert seen == [Decimal("0.9"), Decimal("0.5"), Decimal("0.45")]
    market.step()
    assert market.price(token.mint) != Decimal("0.45")
    with pytest.raises(MarketError):
        market.force_path(token.mint, [Decimal("1"), Decimal("0")])


def test_a_running_market_walks_with_time():
    market = Market(seed=5, step_seconds=0.001)
    token = market.add_token(symbol="W", decimals=6, price=Decimal("1"))
    from tests.conftest import wait_for

    wait_for(lambda: market.token(token.mint).steps > 5, timeout=5, message="walk steps")
    assert market.price(token.mint) != Decimal("1")


TOKEN = Market(seed=9, running=False).add_token(symbol="Q", decimals=6, price=Decimal("0.001"))


@given(amount=st.integers(min_value=10_000, max_value=10**13), fee_bps=st.integers(min_value=0, max_value=300))
def test_a_round_trip_never_returns_more_than_went_in(amount, fee_bps):
    buy = quote_exact_in(side="buy", amount=amount, token=TOKEN, price=TOKEN.price, fee_bps=fee_bps)
    sell = quote_exact_in(side="sell", amount=buy.out_amount, token=TOKEN, price=TOKEN.price, fee_bps=fee_bps)
    assert sell.out_amount <= amount
    assert Decimal(0) < buy.price_impact < 1


@given(small=st.integers(min_value=10**6, max_value=10**11), extra=st.integers(min_value=1, max_value=10**11))
def test_bigger_trades_get_worse_prices(small, extra):
    a = quote_exact_in(side="buy", amount=small, token=TOKEN, price=TOKEN.price, fee_bps=30)
    b = quote_exact_in(side="buy", amount=small + extra, token=TOKEN, price=TOKEN.price, fee_bps=30)
    assert b.out_amount >= a.out_amount
    assert b.price_impact >= a.price_impact
    # tokens per lamport do not improve with size, up to rounding: one lamport of fee (worth `per_lamport` units)
    # and one base unit of output
    per_lamport = a.out_amount // a.in_amount + 1
    assert b.out_amount * a.in_amount <= (a.out_amount + per_lamport + 1) * b.in_amount


def test_dust_has_no_route():
    with pytest.raises(NoRoute):
        quote_exact_in(side="sell", amount=1, token=TOKEN, price=TOKEN.price, fee_bps=30)
    with pytest.raises(NoRoute):
        quote_exact_in(side="buy", amount=0, token=TOKEN, price=TOKEN.price, fee_bps=30)
