"""/withdraw, /allowlist and /withdrawcap through the bot in paper mode (the real client against the Bot API
stand-in, a real Celery worker): a paper withdrawal lands and moves the paper balance, with a message; the allow-list
and the cap are changed, and with 2FA on only with a code (whose message is deleted)."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from tests.conftest import wait_for
from tests.telegram.test_second_factor import _code, _turn_on
from trading.models import Trader, TradingSettings, WithdrawAddress

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat


def _address() -> str:
    return str(Keypair().pubkey())


def test_a_paper_withdrawal_through_the_bot_moves_the_paper_balance(tg_user, celery_worker):
    from trading.services.quotes import paper_balance

    wendy = tg_user(2301)
    wendy.send("/start")
    trader = Trader.objects.get(telegram_account__telegram_user_id=2301)
    before = paper_balance(trader=trader)
    to = _address()
    screen = wendy.send(f"/withdraw SOL 1.5 {to}")["text"]
    assert f"Withdraw 1.5 SOL (paper) to\n{to}" in screen and "Fees: up to 0.000005 SOL" in screen
    assert "on its way" in wendy.press("Confirm withdrawal")["message"]["text"]
    wait_for(lambda: any("Withdrawal landed: 1.5 SOL sent to " + to in (e.get("text") or "")
                         for e in wendy.standin.log(2301, "sendMessage")), timeout=30, message="the landing message")
    assert paper_balance(trader=trader) == before - 1_500_000_000 - 5_000


def test_allow_list_and_cap_through_the_bot_and_with_2fa_only_with_a_code(tg_user, settings):
    settings.WITHDRAW_ALLOWLIST_COOLDOWN_SECONDS = 3600
    al = tg_user(2302)
    al.send("/start")
    assert "allow-list is empty" in al.send("/allowlist")["text"]
    assert "Daily withdrawal cap: 100 SOL" in al.send("/withdrawcap")["text"]
    assert "cap is now 2 SOL" in al.send("/withdrawcap 2")["text"]
    assert "'1e3' has an exponent" in al.send("/withdrawcap 1e3")["text"]
    listed = _address()
    assert "over your daily withdrawal cap" in al.send(f"/withdraw SOL 3 {listed}")["text"]
    assert "it can receive from" in al.send(f"/allowlist add {listed}")["text"]
    assert "recently" in al.send(f"/withdraw SOL 0.1 {listed}")["text"]  # cooling down
    assert "not on your withdrawal allow-list" in al.send(f"/withdraw SOL 0.1 {_address()}")["text"]

    secret, recovery, _ = _turn_on(al)
    other = _address()
    assert "send a current code" in al.send(f"/allowlist add {other}")["text"]
    assert "send a current code" in al.send(f"/allowlist remove {listed}")["text"]
    assert "send a current code" in al.send("/withdrawcap 5")["text"]
    assert WithdrawAddress.objects.count() == 1
    added = al.send(f"/allowlist add {other} {_code(secret, steps_ahead=1)}")
    assert "Added" in added["text"] and WithdrawAddress.objects.filter(address=other).exists()
    wait_for(lambda: len(al.standin.log(2302, "deleteMessage")) >= 1, message="the command with the code deleted")
    assert "cap is now 5 SOL" in al.send(f"/withdrawcap 5 {recovery[0]}")["text"]
    assert TradingSettings.objects.get(trader__telegram_account__telegram_user_id=2302).withdraw_daily_cap_lamports == 5 * 10**9
    assert "Removed" in al.send(f"/allowlist remove {listed} {recovery[1]}")["text"]
    assert list(WithdrawAddress.objects.values_list("address", flat=True)) == [other]
