"""/limit, /dca and /orders through the bot (stand-in -> real client -> router -> services): orders placed, listed with
signed buttons that cancel, pause and resume them, bad input answered with a sentence and nothing written."""

from __future__ import annotations

import pytest

from tests.fixtures.trading import mint_address
from trading.models import DcaPlan, LaunchWatch, LimitOrder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat


@pytest.fixture
def listed(price_standin, settings):
    settings.DCA_MIN_INTERVAL_SECONDS = 60
    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)
    return mint


def test_limit_and_dca_are_placed_listed_and_cancelled_paused_resumed_from_orders(tg_user, listed):
    alice = tg_user(301)
    alice.send("/start")
    assert "/limit buy <mint>" in alice.send("/limit")["text"]
    placed = alice.send(f"/limit buy {listed} 0.2 0.00008 12h")["text"]
    assert "Limit order #" in placed and "falls to 0.00008 SOL" in placed
    limit = LimitOrder.objects.get()
    assert (limit.side, limit.direction, limit.amount_lamports, limit.status) == ("buy", "below", 200_000_000, "active")

    started = alice.send(f"/dca {listed} 0.1 3 1h max 0.0002 cap 0.25")["text"]
    assert "DCA #" in started and "3 buys of 0.1 SOL" in started and "every 1h" in started
    plan = DcaPlan.objects.get()
    assert (plan.buys_total, plan.interval_seconds, plan.spend_cap_lamports) == (3, 3600, 250_000_000)

    listing = alice.send("/orders")
    assert f"Limit #{limit.pk}" in listing["text"] and f"DCA #{plan.pk} (active)" in listing["text"]
    paused = alice.press(f"Pause DCA #{plan.pk}")["message"]
    assert f"DCA #{plan.pk} paused." in paused["text"] and f"DCA #{plan.pk} (paused)" in paused["text"]
    assert DcaPlan.objects.get().state == "paused"
    resumed = alice.press(f"Resume DCA #{plan.pk}")["message"]
    assert "resumed" in resumed["text"] and DcaPlan.objects.get().state == "active"
    cancelled = alice.press(f"Cancel limit #{limit.pk}")["message"]
    assert f"Limit order #{limit.pk} cancelled." in cancelled["text"]
    assert LimitOrder.objects.get().status == "cancelled"
    alice.press(f"Cancel DCA #{plan.pk}")
    assert DcaPlan.objects.get().state == "cancelled"
    assert "no limit orders, DCA plans or launch watches" in alice.send("/orders")["text"]


def test_the_token_card_places_a_limit_buy_and_a_dca_plan(tg_user, listed):
    carol = tg_user(303)
    carol.send("/start")
    carol.send(listed)
    assert "limit price" in carol.press("Limit buy")["message"]["text"]
    placed = carol.send("0.00009 0.3 2d")["text"]
    assert "Limit order #" in placed and "falls to 0.00009 SOL" in placed
    limit = LimitOrder.objects.get()
    assert (limit.amount_lamports, limit.token.mint) == (300_000_000, listed)
    assert 47 * 3600 < (limit.expires_at - limit.created_at).total_seconds() <= 48 * 3600
    carol.send(listed)
    assert "number of buys" in carol.press("DCA")["message"]["text"]
    started = carol.send("0.1 4 2h max 0.0003")["text"]
    assert "4 buys of 0.1 SOL" in started and "every 2h" in started and "above 0.0003 SOL" in started
    assert DcaPlan.objects.get().token.mint == listed


@pytest.mark.parametrize("command, sentence", [
    ("/limit buy {mint} 0.2 0", "A limit price must be more than zero."),
    ("/limit buy {mint} 0.2 -1", "has a sign"),
    ("/limit buy {mint} 0.2 5", "more than 1000x away from the current price"),
    ("/limit buy {mint} 0.2 0.00008 0h", "whole number above zero"),
    ("/dca {mint} 0.1 0 1h", "The number of buys must be at least 1."),
    ("/dca {mint} 0.1 3 30s", "The interval between buys must be at least 60 seconds."),
])
def test_bad_orders_are_answered_with_a_sentence_and_write_nothing(tg_user, listed, command, sentence):
    bob = tg_user(302)
    bob.send("/start")
    answer = bob.send(command.format(mint=listed))["text"]
    assert sentence in answer, answer
    assert not LimitOrder.objects.exists() and not DcaPlan.objects.exists()


def test_a_launch_watch_is_placed_listed_and_cancelled_from_orders(tg_user, listed):
    dave = tg_user(304)
    dave.send("/start")
    assert "/watch <mint>" in dave.send("/watch")["text"]
    placed = dave.send(f"/watch {listed} buy 0.2 on graduation ceiling 0.0003")["text"]
    assert "Watching" in placed and "buys 0.2 SOL of it on graduation" in placed and "0.0003 SOL" in placed
    watch = LaunchWatch.objects.get()
    assert (watch.buy_on, watch.amount_lamports, watch.state) == ("graduation", 200_000_000, "watching")
    assert f"Watch #{watch.pk}" in dave.send("/orders")["text"]
    cancelled = dave.press(f"Cancel watch #{watch.pk}")["message"]
    assert f"Launch watch #{watch.pk} cancelled." in cancelled["text"]
    assert LaunchWatch.objects.get().state == "cancelled"


@pytest.mark.parametrize("command, sentence", [
    ("/watch nonsense", "mint"),
    ("/watch {mint} buy 0.2", "Say when to buy"),
    ("/watch {mint} buy 0.2 on tuesday", "Say when to buy"),
    ("/watch {mint} ceiling 0.1", "go with a buy"),
    ("/watch {mint} buy 0.2 on launch ceiling 0", "more than zero"),
    ("/watch {mint} sell 3", "not part of a watch"),
])
def test_bad_watches_are_answered_with_a_sentence_and_write_nothing(tg_user, listed, command, sentence):
    erin = tg_user(305)
    erin.send("/start")
    answer = erin.send(command.format(mint=listed))["text"]
    assert sentence in answer, answer
    assert not LaunchWatch.objects.exists()
