"""A trader shapes a position's exit plan in the bot (trailing activation and distance, break-even after the first
take-profit, time stop), each figure checked with a sentence; the position screen shows PnL in percent, SOL and USD
and its Refresh button reads the price feed again. Through the bot against the Bot API stand-in, a real Celery worker
filling the paper buy."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import wait_for
from tests.fixtures.trading import mint_address
from trading.models import ExitPlan, Position

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat


@pytest.fixture
def listed(price_standin):
    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)
    return mint


def _open_position(user, mint) -> Position:
    user.send("/start")
    user.send(mint)
    user.press("0.5 SOL")
    user.press("Confirm buy")
    position = Position.objects.get(trader__telegram_account__telegram_user_id=user.user_id)
    wait_for(lambda: Position.objects.get(pk=position.pk).status == "open", timeout=30, message="the buy filled")
    return Position.objects.get(pk=position.pk)


def _card(user, position):
    user.send("/positions")
    return user.press(f"#{position.pk}")["message"]["text"]


def test_trailing_break_even_and_time_stop_are_shaped_and_bad_figures_refused(tg_user, listed, celery_worker):
    alice = tg_user(2301)
    position = _open_position(alice, listed)
    spec_before = ExitPlan.objects.get(position=position).spec

    _card(alice, position)
    alice.press("Trailing figures")
    refusals = {
        "30": "Send two percents",
        "30 0.5": "The trailing distance must be between 1% and 90% below the peak.",
        "30 95": "The trailing distance must be between 1% and 90% below the peak.",
        "20000 10": "The trailing stop must activate at a gain between 0% and 10000%.",
        "thirty 10": "trailing activation",
        "30 1e1": "trailing distance",
    }
    for text, sentence in refusals.items():
        assert sentence in alice.send(text)["text"], text
    assert ExitPlan.objects.get(position=position).spec == spec_before  # nothing changed
    assert "Trailing stop updated" in alice.send("40 12.5")["text"]
    trailing = ExitPlan.objects.get(position=position).spec["trailing"]
    assert Decimal(trailing["activation_pct"]) == 40 and Decimal(trailing["distance_pct"]) == Decimal("12.5")

    card = _card(alice, position)
    assert "trail 12.5% after +40%" in card
    assert "stop to break-even" in alice.press("Break-even after TP1 on")["message"]["text"]
    assert ExitPlan.objects.get(position=position).spec["breakeven_after_first_tp"] is True

    _card(alice, position)
    alice.press("Time stop")
    for text, sentence in {"forever": "is not a hold time", "30s": "is not a hold time", "٣h": "is not a hold time",
                           "0m": "between one minute and one year", "400d": "between one minute and one year"}.items():
        assert sentence in alice.send(text)["text"], text
    assert ExitPlan.objects.get(position=position).spec["max_hold_seconds"] is None
    assert "max hold 24h" in alice.send("24h")["text"]
    spec = ExitPlan.objects.get(position=position).spec
    assert spec["max_hold_seconds"] == 86400 and spec["breakeven_after_first_tp"] is True  # edits keep each other
    assert Decimal(spec["trailing"]["distance_pct"]) == Decimal("12.5")

    _card(alice, position)
    alice.press("Trailing figures")
    assert "Trailing stop updated" in alice.send("off")["text"]
    assert ExitPlan.objects.get(position=position).spec["trailing"] is None


def test_the_position_screen_shows_pnl_in_percent_sol_and_usd_and_refresh_reads_the_feed(tg_user, listed,
                                                                                        price_standin, celery_worker):
    alice = tg_user(2302)
    position = _open_position(alice, listed)
    card = _card(alice, position)
    assert "PnL: " in card and " SOL, " in card and "$" in card, card

    price_standin.set(listed, "0.0002", decimals=6)  # the price doubles at the feed
    before = card
    refreshed = alice.press("Refresh")["message"]["text"]
    assert refreshed != before
    value = position.size * Decimal("0.0002") / 10**6  # SOL the holding is worth now
    pnl_sol = value - Decimal(position.cost_lamports) / 10**9
    pct = (pnl_sol * 10**9 / position.cost_lamports * 100).quantize(Decimal("0.01"))
    usd = (pnl_sol * price_standin.sol_usd).quantize(Decimal("0.01"))
    assert f"PnL: +{pct}%, +" in refreshed and f", +${usd}" in refreshed, (refreshed, pct, usd)
    assert "now 0.0002 SOL" in refreshed


def test_plan_shapes_the_default_exit_plan_new_positions_get(tg_user, listed, celery_worker):
    from trading.models import TradingSettings

    bob = tg_user(2303)
    bob.send("/start")
    screen = bob.send("/plan")
    assert "Default exit plan for new positions: TP 2x 50%, 5x 30%, 10x 20% · SL -20%" in screen["text"]
    bob.press("Trailing figures")
    assert "The trailing distance must be between 1% and 90% below the peak." in bob.send("25 0")["text"]
    assert TradingSettings.objects.get(trader__telegram_account__telegram_user_id=2303).default_exit_plan == {}
    assert "updated for new positions" in bob.send("25 10")["text"]
    bob.press("« Plan")
    bob.press("Break-even after TP1 on")
    bob.send("/plan")
    bob.press("Time stop")
    assert "between one minute and one year" in bob.send("9999d")["text"]
    done = bob.send("3d")["text"]
    assert "trail 10% after +25%" in done and "stop to break-even" in done and "max hold 72h" in done, done

    position = _open_position(bob, listed)
    spec = ExitPlan.objects.get(position=position).spec
    assert spec["trailing"] == {"activation_pct": "25", "distance_pct": "10"}
    assert spec["breakeven_after_first_tp"] is True and spec["max_hold_seconds"] == 3 * 86400
