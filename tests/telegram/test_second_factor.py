"""The second factor through the bot (the real python-telegram-bot client against the Bot API stand-in): turned on in
/2fa, then guarding the export of a wallet's key. Codes are computed the way an authenticator app does (pyotp)."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * steps_ahead)


def _wrong(secret: str) -> str:
    """A code no step of the accepted window (previous, current, next) has."""
    now = int(time.time())
    taken = {pyotp.TOTP(secret).at(now + 30 * k) for k in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 999999, 7919)) if c not in taken)


def _turn_on(user) -> tuple[str, list[str], str]:
    from trading.models import SecondFactor

    user.send("/start")
    assert "2FA): off" in user.send("/2fa")["text"]
    before = len(user.standin.log(user.chat_id))
    user.press("Turn on 2FA")
    shown = [e["text"] for e in user.standin.log(user.chat_id, "sendMessage") if "otpauth://" in (e.get("text") or "")]
    assert len(shown) == 1 and len(user.standin.log(user.chat_id)) > before
    secret = re.search(r"Secret: ([A-Z2-7]+)", shown[0]).group(1)
    uri = re.search(r"(otpauth://\S+)", shown[0]).group(1)
    assert pyotp.parse_uri(uri).secret == secret and "issuer=Jarvis" in uri
    assert secret.encode() not in bytes(SecondFactor.objects.get().encrypted_secret)  # encrypted at rest
    assert "wrong or expired" in user.send(_wrong(secret))["text"]  # a wrong code does not turn it on
    assert SecondFactor.objects.get().confirmed_at is None
    confirm_code = _code(secret)
    answer = user.send(confirm_code)
    codes = re.findall(r"\b[a-z2-7]{5}-[a-z2-7]{5}\b", answer["text"])
    assert len(codes) == 8 and "deleted in 60 s" in answer["text"], answer
    factor = SecondFactor.objects.get()
    assert factor.confirmed_at is not None and not any(c in str(factor.recovery_hashes) for c in codes)
    status = user.send("/2fa")["text"]
    assert "2FA): on" in status and "8 of 8 left" in status and secret not in status  # never shown again
    return secret, codes, confirm_code


def _keys_shown(user, key_text: str) -> int:
    return len([e for e in user.standin.log(user.chat_id, "sendMessage") if key_text in (e.get("text") or "")])


def _export_asks_for_a_code(user) -> None:
    user.send("/wallet")
    asked = user.press("Export key")["message"]["text"]
    assert "send the 6-digit code" in asked and "Yes, show the key" not in str(user.buttons())


def test_with_2fa_on_export_needs_a_current_unused_code_or_a_recovery_code_once(tg_user):
    from solders.keypair import Keypair

    from telegram_app.models import ConversationState

    alice = tg_user(2101)
    secret, codes, confirm_code = _turn_on(alice)
    alice.send("/wallet")
    alice.press("Import wallet")
    keypair = Keypair()
    key_text = str(keypair)
    alice.send(key_text)

    _export_asks_for_a_code(alice)  # without a code: nothing shown, a code asked for
    assert _keys_shown(alice, key_text) == 0
    assert "6 digits" in alice.send("hello")["text"]
    assert "wrong or expired" in alice.send(_wrong(secret))["text"]
    assert "already used" in alice.send(confirm_code)["text"]  # the code that turned 2FA on is spent
    assert _keys_shown(alice, key_text) == 0
    assert ConversationState.objects.get(telegram_user_id=2101).state == "export_code"  # still waiting, nothing changed

    good = _code(secret, steps_ahead=1)  # the next step: unused, inside the accepted window
    answer = alice.send(good)
    assert _keys_shown(alice, key_text) == 1 and "deleted in 60 s" in answer["text"]
    _export_asks_for_a_code(alice)
    assert "already used" in alice.send(good)["text"]  # the same code again
    assert _keys_shown(alice, key_text) == 1

    alice.send(codes[0].upper())  # a recovery code, in any case, works once
    assert _keys_shown(alice, key_text) == 2
    assert "7 of 8 left" in alice.send("/2fa")["text"]
    _export_asks_for_a_code(alice)
    assert "wrong or already used" in alice.send(codes[0])["text"]
    assert _keys_shown(alice, key_text) == 2


def test_codes_are_locked_for_a_while_after_five_failures(tg_user, redis_client):
    from solders.keypair import Keypair

    from trading.second_factor import LOCK_SECONDS, MAX_FAILURES

    bob = tg_user(2102)
    secret, codes, _ = _turn_on(bob)
    bob.send("/wallet")
    bob.press("Import wallet")
    key_text = str(Keypair())
    bob.send(key_text)
    _export_asks_for_a_code(bob)
    for _ in range(MAX_FAILURES):
        assert "wrong or expired" in bob.send(_wrong(secret))["text"]
    for right in (_code(secret, steps_ahead=1), codes[1]):  # now even a right code is not looked at
        refused = bob.send(right)["text"]
        assert "Too many wrong codes" in refused and "15 more minutes" in refused
    assert _keys_shown(bob, key_text) == 0
    trader_id = bob_trader_id(2102)
    assert 0 < redis_client.ttl(f"trading:2fa:failures:{trader_id}") <= LOCK_SECONDS
    redis_client.delete(f"trading:2fa:failures:{trader_id}")  # the lock's time passed
    bob.send(codes[1])
    assert _keys_shown(bob, key_text) == 1  # the recovery code refused while locked was not spent


def bob_trader_id(user_id: int) -> int:
    from telegram_app.models import TelegramAccount

    return TelegramAccount.objects.get(telegram_user_id=user_id).trader_id


def test_without_2fa_export_shows_the_key_as_before_and_the_check_says_off(tg_user):
    from trading.models import Trader
    from trading.second_factor import second_factor_check

    carol = tg_user(2103)
    carol.send("/start")
    carol.press("Create wallet")
    carol.send("/wallet")
    carol.press("Export key")
    carol.press("Yes, show the key")
    assert any("Private key (deleted in 60 s)" in (e.get("text") or "") for e in carol.standin.log(2103, "sendMessage"))
    assert second_factor_check(trader=Trader.objects.get(id=bob_trader_id(2103)), code=None) == "off"


def test_a_show_key_button_from_before_2fa_was_turned_on_asks_for_a_code(tg_user):
    from telegram_app.bot.core import callback_key
    from telegram_app.callbacks import cb_sign
    from trading.models import Wallet

    dave = tg_user(2104)
    dave.send("/start")
    dave.press("Create wallet")
    wallet = Wallet.objects.get(trader_id=bob_trader_id(2104))
    _turn_on(dave)
    old_button = cb_sign(key=callback_key(), user_id=2104, action="wx", args=(wallet.pk,), now=time.time())
    asked = dave.press("", data=old_button, message_id=dave.last_with_buttons()["message_id"])["message"]["text"]
    assert "send the 6-digit code" in asked
    assert _keys_shown(dave, str(wallet.keypair())) == 0


def test_new_recovery_codes_and_turning_off_need_a_current_code(tg_user):
    from trading.models import SecondFactor

    erin = tg_user(2105)
    secret, old_codes, confirm_code = _turn_on(erin)
    erin.send("/2fa")
    assert "send the 6-digit code" in erin.press("New recovery codes")["message"]["text"]
    assert "already used" in erin.send(confirm_code)["text"]  # a spent code: the old codes still stand
    hashes = SecondFactor.objects.get().recovery_hashes
    assert len(hashes) == 8
    erin.press("New recovery codes")
    answer = erin.send(_code(secret, steps_ahead=1))
    new_codes = re.findall(r"\b[a-z2-7]{5}-[a-z2-7]{5}\b", answer["text"])
    assert len(new_codes) == 8 and not set(new_codes) & set(old_codes) and "deleted in 60 s" in answer["text"]
    assert "old ones no longer work" in answer["text"] and not set(SecondFactor.objects.get().recovery_hashes) & set(hashes)

    erin.send("/2fa")
    erin.press("Turn off 2FA")
    assert "wrong or already used" in erin.send(old_codes[1])["text"]  # the replaced codes stopped working
    assert SecondFactor.objects.filter(confirmed_at__isnull=False).count() == 1  # still on
    assert "2FA is off" in erin.send(new_codes[0])["text"]
    assert not SecondFactor.objects.exists()
