"""Several named wallets per trader, one active, listed with the balance of each (read from the sandbox chain) and
switched in /wallet, through the bot against the Bot API stand-in."""

from __future__ import annotations

import time

import pytest

from telegram_app.bot.core import callback_key
from telegram_app.callbacks import cb_sign

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat


def test_wallets_are_named_listed_with_balances_and_the_active_one_switches(tg_user, sandbox_settings, sandbox_trader):
    from telegram_app.models import TelegramAccount
    from trading.models import Wallet
    from trading.selectors import wallet_active_get

    alice = tg_user(2201)
    alice.send("/start")
    created = alice.send("/wallet new Main stack")
    assert "Name: Main stack. It is your active wallet" in created["text"]
    trader = TelegramAccount.objects.get(telegram_user_id=2201).trader
    main = Wallet.objects.get(trader=trader)
    assert wallet_active_get(trader=trader) == main

    alice.send("/wallet")
    alice.press("Import wallet")
    imported = alice.send(str(sandbox_trader))
    assert "as Wallet 2. Switch to it in /wallet" in imported["text"]
    alice.press("Rename")
    assert "1 to 32 letters" in alice.send("x" * 40)["text"]  # refused with the rule, still waiting
    assert "1 to 32 letters" in alice.send("<script>")["text"]
    assert "renamed to Trading" in alice.send("Trading")["text"]
    trading = Wallet.objects.get(public_key=str(sandbox_trader.pubkey()))
    assert trading.name == "Trading" and not trading.active

    listing = alice.send("/wallet")["text"]
    assert "Main stack (active: new buys use it)\n" + main.public_key + "\nBalance: 0 SOL" in listing, listing
    assert "Trading\n" + trading.public_key + "\nBalance: 100 SOL" in listing, listing
    switched = alice.press("Use Trading")["message"]["text"]
    assert switched.startswith("Trading is now your active wallet")
    assert "Trading (active: new buys use it)" in switched and "Main stack (active" not in switched
    assert wallet_active_get(trader=trader) == trading
    assert list(Wallet.objects.filter(trader=trader, active=True)) == [trading]  # one active, in the database
    assert "Export key" in str(alice.buttons()) and "Use Main stack" in str(alice.buttons())

    bob = tg_user(2202)
    bob.send("/start")
    bob.send("/wallet new Bobs")
    forged = cb_sign(key=callback_key(), user_id=2202, action="wa", args=(trading.pk,), now=time.time())
    refused = bob.press("", data=forged)
    assert "no wallet with that number" in refused["answer"]["text"]
    assert wallet_active_get(trader=trader) == trading and Wallet.objects.filter(active=True).count() == 2
