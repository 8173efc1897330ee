"""Trading conversations end to end: stand-in -> real client -> router -> trading services -> a real Celery
worker filling paper orders -> domain events -> outbox -> dispatcher -> stand-in."""

import time
from decimal import Decimal

import pytest

from telegram_app.bot.core import callback_key
from telegram_app.callbacks import cb_sign
from tests.conftest import wait_for
from tests.fixtures.trading import mint_address
from trading.models import ExitPlan, Order, Position, Token, Wallet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat


@pytest.fixture
def listed(price_standin):
    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)
    return mint


def _notified(user, fragment):
    return lambda: any(fragment in (e.get("text") or "") for e in user.standin.log(user.chat_id, "sendMessage"))


def _buy(user, mint, preset="0.5 SOL"):
    card = user.send(mint)
    assert "Choose how much SOL" in card["text"]
    preview = user.press(preset)["message"]
    assert "Expected:" in preview["text"] and "Exit plan:" in preview["text"]
    placed = user.press("Confirm buy")["message"]
    assert "Buy order placed" in placed["text"]
    return Position.objects.get(trader__telegram_account__telegram_user_id=user.user_id)


def test_buy_positions_edit_exit_plan_and_sell(tg_user, listed, celery_worker):
    alice = tg_user(201)
    alice.send("/start")
    position = _buy(alice, listed)
    wait_for(_notified(alice, "✅ Bought"), timeout=30, message="fill notification")
    position.refresh_from_db()
    assert position.status == "open" and position.cost_lamports == 500_000_000

    listing = alice.send("/positions")
    assert f"#{position.pk}" in listing["text"] and "PnL" in listing["text"]
    card = alice.press(f"#{position.pk}")["message"]
    assert "Exit plan:" in card["text"]
    alice.press("Edit stop-loss")
    assert "Stop-loss updated" in alice.send("35")["text"]
    assert ExitPlan.objects.get(position=position).spec["stop_loss_pct"] == "35"
    alice.press("Position")
    toggled = alice.press("Trailing stop on")
    assert "Trailing stop updated" in toggled["message"]["text"], toggled
    spec = ExitPlan.objects.get(position=position).spec
    assert Decimal(spec["trailing"]["distance_pct"]) == Decimal("15")
    assert Decimal(spec["stop_loss_pct"]) == Decimal("35")  # edits keep each other

    alice.send("/sell")
    alice.press(f"#{position.pk}")
    alice.press("50%")
    done = alice.press("Confirm sell")["message"]
    assert "Sell order" in done["text"]
    wait_for(_notified(alice, "filled on"), timeout=30, message="exit notification")
    position.refresh_from_db()
    assert position.status == "open" and 0 < position.size < position.original_size
    assert "All time" in alice.send("/pnl")["text"]


def test_money_buttons_work_once(tg_user, listed, celery_worker):
    alice = tg_user(202)
    alice.send("/start")
    alice.send(listed)
    alice.press("0.1 SOL")
    message_id = alice.last_with_buttons()["message_id"]
    confirm = [d for label, d in alice.buttons(message_id) if "Confirm" in label][0]
    alice.press("", data=confirm, message_id=message_id)
    again = alice.press("", data=confirm, message_id=message_id)
    assert again["answer"]["show_alert"] and "works once" in again["answer"]["text"]
    assert Position.objects.filter(trader__telegram_account__telegram_user_id=202).count() == 1


def test_another_trader_cannot_touch_a_position_even_with_forged_buttons(tg_user, listed, celery_worker):
    alice, bob = tg_user(203), tg_user(204)
    alice.send("/start")
    bob.send("/start")
    position = _buy(alice, listed, preset="0.1 SOL")
    wait_for(lambda: Position.objects.get(pk=position.pk).status == "open", timeout=30, message="position open")
    alice.send("/positions")
    alice.press(f"#{position.pk}")
    alices_sell = [d for label, d in alice.buttons() if label == "Sell 25%"][0]

    bob.send("/help")  # a bot message in bob's chat to tap under
    bob_msg = bob.standin.bot_messages(204)[-1]["message_id"]
    replayed = bob.press("", data=alices_sell, message_id=bob_msg)
    assert "not made for you" in replayed["answer"]["text"]
    tampered = alices_sell.replace(f"sp:{position.pk}:", f"sp:{position.pk}:1")
    assert bob.press("", data=tampered, message_id=bob_msg)["answer"]["show_alert"]
    # Even a correctly signed button (as if the key leaked) only reaches bob's own things.
    forged = cb_sign(key=callback_key(), user_id=204, action="sc", args=(position.pk, 100), now=time.time())
    refused = bob.press("", data=forged, message_id=bob_msg)
    assert "no position with that number" in refused["answer"]["text"]
    forged_edit = cb_sign(key=callback_key(), user_id=204, action="lp", args=(position.pk, "moon"), now=time.time())
    assert "no position" in bob.press("", data=forged_edit, message_id=bob_msg)["answer"]["text"]
    assert not Order.objects.filter(position=position, side="sell").exists()
    assert "You have no open positions" in bob.send("/positions")["text"]
    alice.send("/wallet")
    wallet = alice.press("Create wallet")["message"]["text"].split()[3]
    wallet_id = Wallet.objects.get(public_key=wallet).pk
    forged_export = cb_sign(key=callback_key(), user_id=204, action="wx", args=(wallet_id,), now=time.time())
    refused = bob.press("", data=forged_export, message_id=bob_msg)
    assert "no wallet with that number" in refused["answer"]["text"]
    assert all(wallet not in (e.get("text") or "") for e in bob.standin.log(204))


def test_conversation_state_survives_a_bot_restart(bot_runner, tg_user, listed):
    alice = tg_user(205)
    alice.send("/start")
    alice.send(listed)
    assert "How much SOL" in alice.press("Custom amount")["message"]["text"]
    bot_runner.stop()
    bot_runner.start()
    assert "not a number" in alice.send("lots")["text"]  # still waiting for the amount
    assert "a dot for decimals" in alice.send("0,25")["text"]  # a comma is refused, and it still waits
    preview = alice.send("0.25")
    assert "for 0.25 SOL" in preview["text"] and "Confirm" in str(preview["reply_markup"])


def test_wallet_create_import_and_export(tg_user):
    from solders.keypair import Keypair

    alice = tg_user(206)
    alice.send("/start")
    created = alice.press("Create wallet")["message"]
    assert "Your new wallet:" in created["text"]
    bob = tg_user(207)
    bob.send("/start")
    bob.press("Import wallet")
    keypair = Keypair()
    key_text = str(keypair)
    answer = bob.send(key_text)
    assert f"Wallet imported: {keypair.pubkey()}" in answer["text"]
    key_message = [m for m in bob.standin.world.messages.values() if m.get("text") == key_text]
    assert key_message == []  # deleted at once
    wallet = bob.send("/wallet")
    assert str(keypair.pubkey()) in wallet["text"]
    bob.press("Export key")
    bob.press("Yes, show the key")
    shown = [e for e in bob.standin.log(207, "sendMessage") if key_text in e["text"]]
    assert len(shown) == 1 and "deleted in 60 s" in shown[0]["text"]


def test_buy_with_an_amount_goes_straight_to_the_preview(tg_user, listed):
    alice = tg_user(208)
    alice.send("/start")
    preview = alice.send(f"/buy {listed} 0.3")
    assert "for 0.3 SOL" in preview["text"] and "Confirm buy" in str(preview["reply_markup"])
    from telegram_app.bot.screens_trade import percent_from_fraction
    from trading.venues.paper import paper_slippage_bps

    impact = paper_slippage_bps(sol_traded=Decimal("0.3")) / 10_000  # the paper model's impact, as a fraction
    assert f"impact ~{percent_from_fraction(impact)}%" in preview["text"], preview["text"]
    assert "more than zero" in alice.send(f"/buy {listed} 0")["text"]
    for amount, why in (("-1", "has a sign"), ("1e3", "has an exponent"), ("١", "other than the digits 0-9"),
                        ("1,000", "comma")):
        refused = alice.send(f"/buy {listed} {amount}")["text"]
        assert why in refused and "with the digits 0-9 and at most one dot, like 0.5" in refused, refused
    assert "at most 100000 SOL" in alice.send(f"/buy {listed} 999999999")["text"]


def test_trending_lists_bags_top_tokens_in_bags_order_with_buy_buttons(sandbox, sandbox_settings, tg_user):
    import httpx
    from django.core.cache import cache

    cache.delete("trading:bags:top-tokens")
    answer = httpx.get(f"{sandbox.bags_url}/token-launch/top-tokens/lifetime-fees",
                       headers={"x-api-key": sandbox.bags_api_key}).json()["response"]
    ranked = [row["tokenInfo"]["symbol"] for row in answer][:8]
    assert len(ranked) >= 2
    carol = tg_user(209)
    carol.send("/start")
    trending = carol.send("/trending")
    lines = trending["text"].splitlines()[1:]
    assert [line.split(". ", 1)[1].split(":")[0] for line in lines] == ranked  # bags.fm's order, not ours
    buttons = [b["text"] for row in trending["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [f"Buy {symbol}" for symbol in ranked]
    card = carol.press(f"Buy {ranked[1]}")["message"]
    assert answer[1]["token"] in card["text"] and "Custom amount" in str(card["reply_markup"])

    cache.delete("trading:bags:top-tokens")
    sandbox.faults.set("bags", "outage")
    assert "unavailable right now" in carol.send("/trending")["text"]
