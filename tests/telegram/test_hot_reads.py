"""The bot's compiled reads give the same figures as the trading core's ORM selectors they replace."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from telegram_app import selectors
from trading import selectors as core
from trading.models import Order, Position
from trading.prices import PricePoint, prices_store

pytestmark = pytest.mark.django_db


def _position(trader, token, *, size, cost, status="open"):
    return Position.objects.create(trader=trader, token=token, mode="paper", status=status, size=size, original_size=size,
                                   cost_lamports=cost, entry_price=Decimal("0.0001"))


def _sell(position, pnl, *, confirmed_at, status="confirmed"):
    order = Order.objects.create(position=position, trader=position.trader, side="sell", mode="paper", status=status,
                                 amount_in=1, realised_pnl_lamports=pnl)
    Order.objects.filter(pk=order.pk).update(confirmed_at=confirmed_at)


def test_pnl_matches_the_trading_core_across_periods_prices_and_traders(make_trader, make_token, clean_redis):
    alice, bob = make_trader("alice"), make_trader("bob")
    priced, unpriced = make_token("BONK", decimals=6), make_token("WIF", decimals=9)
    prices_store({priced.mint: PricePoint(price=Decimal("0.000123"), at=time.time(), source="test", decimals=6)})
    held = _position(alice, priced, size=7_654_321_000, cost=400_000_000)
    _position(alice, unpriced, size=5 * 10**9, cost=100_000_000)
    _position(alice, priced, size=0, cost=0)  # sold out: no unrealised part
    closed = _position(alice, priced, size=1, cost=1, status="closed")
    now = timezone.now()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _sell(held, 50_000_000, confirmed_at=now)
    _sell(held, -7_000_000, confirmed_at=day - timedelta(seconds=1))  # before today (this week unless Monday)
    _sell(closed, 1_000_000_000, confirmed_at=day - timedelta(days=9))  # older than the week
    _sell(held, 999, confirmed_at=now, status="failed")  # not confirmed: not counted
    _position(bob, priced, size=10**9, cost=10**6)
    _sell(_position(bob, priced, size=1, cost=1), 123, confirmed_at=now)

    for trader in (alice, bob, make_trader("carol")):
        assert selectors.pnl_summary(trader=trader) == core.pnl_summary(trader=trader)
    figures = selectors.pnl_summary(trader=alice)
    assert figures["all"]["realised_lamports"] == 1_043_000_000 and figures["today"]["realised_lamports"] == 50_000_000
    assert figures["unpriced_positions"] == 1 and figures["all"]["unrealised_lamports"] != 0
