"""/pnl shows the trading core's PnL (trading.selectors.pnl_summary, the one PnL computation)."""

import time
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from telegram_app.bot import screens_trade
from telegram_app.parsers import format_sol
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


def test_pnl_counts_periods_prices_and_traders_and_the_bot_shows_those_figures(make_trader, make_token, clean_redis):
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

    figures = core.pnl_summary(trader=alice)
    assert figures["all"]["realised_lamports"] == 1_043_000_000 and figures["today"]["realised_lamports"] == 50_000_000
    assert figures["week"]["realised_lamports"] in (43_000_000, 50_000_000)  # 50_000_000 on a Monday
    # 7,654.321 tokens at 0.000123 SOL = 941,481,483 lamports, less the cost; the unpriced WIF position left out
    assert figures["unpriced_positions"] == 1 and figures["all"]["unrealised_lamports"] == 541_481_483
    bob = core.pnl_summary(trader=bob)
    assert bob["all"]["realised_lamports"] == 123 and bob["all"]["unrealised_lamports"] == 122_000_000 - 1
    assert core.pnl_summary(trader=make_trader("carol"))["all"] == {"realised_lamports": 0, "unrealised_lamports": 0}

    text = screens_trade.pnl(SimpleNamespace(trader=alice), None).text
    assert f"All time: +{format_sol(1_043_000_000)} SOL" in text
    assert f"Unrealised (open positions): +{format_sol(541_481_483)} SOL" in text and "1 open positions have no" in text
