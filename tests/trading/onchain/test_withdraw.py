"""Withdrawals on the sandbox chain: through the bot (the real client against the Bot API stand-in, a real Celery
worker, the sandbox's LiteSVM chain), SOL and a token with 2FA off and on, balances read back from the chain; refusals
that write and send nothing; and a withdrawal whose lander is killed mid-flight landing once."""

from __future__ import annotations

import os
import signal
import tempfile
import time

import pytest
from solders.keypair import Keypair

from telegram_app import services
from telegram_app.bot.core import callback_key
from telegram_app.callbacks import cb_sign
from tests.conftest import wait_for
from tests.telegram.test_second_factor import _code, _turn_on, _wrong
from tests.trading.onchain.test_reconcile import _start_lander, _submitted_or_dead
from tests.trading.onchain.test_token_card import _landed, _mint, _preview, trader_bot  # noqa: F401 (a fixture)
from trading.execution.locks import order_lease_held
from trading.execution.reconcile import orders_reconcile
from trading.models import Order, OrderStatus, Position

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("quick_chats")]  # many screens, one chat

SOL = 10**9


def _address() -> str:
    return str(Keypair().pubkey())


def _notified(user, fragment: str) -> int:
    return len([e for e in user.standin.log(user.chat_id, "sendMessage") if fragment in (e.get("text") or "")])


def _buy_token(sandbox, user, symbol: str = "JRVS") -> Position:
    mint = _mint(sandbox, symbol)
    _preview(user, mint)
    user.press("Confirm buy")
    return _landed(sandbox, user, mint)


def _sent_nothing(sandbox, user, before: int) -> None:
    assert len(sandbox.ledger.all(owner=user.owner)) == before  # no transaction reached the chain


def _confirm(user, command: str) -> dict:
    screen = user.send(command)
    assert "Confirm withdrawal" in str(user.buttons()), screen["text"]
    return screen


def test_withdraw_sol_and_a_token_with_2fa_off(sandbox, trader_bot, celery_worker):
    alice = trader_bot(4701)
    position = _buy_token(sandbox, alice)
    mint = position.token.mint

    # SOL through the buttons: what, how much, where; the confirmation shows amount, fees and what remains
    to = _address()
    alice.send("/withdraw")
    assert "a percent like 25%, or max" in alice.press("SOL")["message"]["text"]
    assert "has an exponent" in alice.send("1e400")["text"]  # refused, still waiting for an amount
    assert "Send the address" in alice.send("0.5")["text"]
    screen = alice.send(to)["text"]
    assert f"Withdraw 0.5 SOL (sandbox) to\n{to}" in screen and "Fees: up to" in screen and "Remaining after it" in screen
    message_id = alice.last_with_buttons()["message_id"]
    confirm = [d for label, d in alice.buttons(message_id) if "Confirm" in label][0]
    assert "on its way" in alice.press("", data=confirm, message_id=message_id)["message"]["text"]
    again = alice.press("", data=confirm, message_id=message_id)  # a second tap
    assert again["answer"]["show_alert"] and "works once" in again["answer"]["text"]
    wait_for(lambda: _notified(alice, "Withdrawal landed: 0.5 SOL sent to " + to), timeout=40, message="the landing")
    assert sandbox.chain.sol_balance(to) == SOL // 2  # read back from the chain: once
    order = Order.objects.get(trader=alice.trader, side="withdraw")
    assert order.status == "confirmed" and order.amount_out_actual == SOL // 2 and order.fee_lamports >= 5000

    # a token, half of it, in one command; the recipient's token account is created and its rent shown
    to_token = _address()
    screen = _confirm(alice, f"/withdraw {position.id} 50% {to_token}")["text"]
    assert "Rent of the recipient's new token account: 0.00203928 SOL" in screen, screen
    alice.press("Confirm withdrawal")
    wait_for(lambda: _notified(alice, f"sent to {to_token}"), timeout=40, message="the token withdrawal to land")
    position.refresh_from_db()
    sent = sandbox.chain.token_balance(to_token, mint)
    assert sent > 0 and sent == Order.objects.get(destination=to_token).amount_out_actual
    assert position.size == sandbox.chain.token_balance(alice.owner, mint) == position.original_size - sent
    assert position.status == "open"

    # refusals: a sentence each, nothing written, nothing sent
    before, orders = len(sandbox.ledger.all(owner=alice.owner)), Order.objects.count()
    assert "the wallet the funds are in" in alice.send(f"/withdraw SOL 0.1 {alice.owner}")["text"]
    assert "You can withdraw at most" in alice.send(f"/withdraw SOL 1000 {_address()}")["text"]
    assert "not a Solana address" in alice.send(f"/withdraw SOL 0.1 {to[:-5]}")["text"]
    assert "needs at least 0.00089088 SOL" in alice.send(f"/withdraw SOL 0.0001 {_address()}")["text"]
    for amount in ("1_000", "nan", "inf", "-0", "١٢"):
        assert "Send an amount" in alice.send(f"/withdraw SOL {amount} {_address()}")["text"]
    assert "You hold" in alice.send(f"/withdraw {position.id} {position.size + 1} {_address()}")["text"]
    bob = trader_bot(4702)
    bob.send("/help")
    forged = bob.press("", data=confirm, message_id=bob.standin.bot_messages(4702)[-1]["message_id"])
    assert "not made for you" in forged["answer"]["text"]
    ref = services.mint_ref(mint=_address())
    own = cb_sign(key=callback_key(), user_id=4702, action="wd", args=(position.id, "1", ref), now=time.time())
    assert "You hold no such token" in bob.press("", data=own)["answer"]["text"]  # alice's position, bob's button
    _sent_nothing(sandbox, alice, before)
    assert Order.objects.count() == orders


def test_withdraw_sol_and_a_token_with_2fa_on_and_a_replayed_code_refused(sandbox, trader_bot, celery_worker):
    carol = trader_bot(4703)
    secret, recovery, confirm_code = _turn_on(carol)
    position = _buy_token(sandbox, carol)
    to = _address()
    _confirm(carol, f"/withdraw SOL 0.25 {to}")
    assert "send the 6-digit code" in carol.press("Confirm withdrawal")["message"]["text"]
    before = len(sandbox.ledger.all(owner=carol.owner))
    assert "wrong or expired" in carol.send(_wrong(secret))["text"]
    assert "already used" in carol.send(confirm_code)["text"]  # the code that turned 2FA on is spent
    _sent_nothing(sandbox, carol, before)
    good = _code(secret, steps_ahead=1)
    assert "on its way" in carol.send(good)["text"]
    wait_for(lambda: sandbox.chain.sol_balance(to) == SOL // 4, timeout=40, message="the SOL withdrawal to land")

    to_again = _address()
    _confirm(carol, f"/withdraw SOL 0.25 {to_again}")
    carol.press("Confirm withdrawal")
    before = len(sandbox.ledger.all(owner=carol.owner))
    assert "already used" in carol.send(good)["text"]  # a replayed code
    _sent_nothing(sandbox, carol, before)
    assert sandbox.chain.sol_balance(to_again) == 0 and not Order.objects.filter(destination=to_again).exists()

    to_token = _address()
    _confirm(carol, f"/withdraw {position.id} max {to_token}")
    carol.press("Confirm withdrawal")
    assert "on its way" in carol.send(recovery[0])["text"]  # a recovery code in place of a code
    wait_for(lambda: Position.objects.get(id=position.id).status == "closed", timeout=40, message="the token to leave")
    assert sandbox.chain.token_balance(to_token, position.token.mint) == position.size
    assert sandbox.chain.token_balance(carol.owner, position.token.mint) == 0
    wait_for(lambda: _notified(carol, f"sent to {to_token}"), timeout=20, message="the landing message")


def test_a_withdrawal_whose_lander_is_killed_mid_flight_lands_once(desk, celery_worker):
    from trading.models import OrderSide
    from trading.services.orders import order_build

    sandbox = desk.sandbox
    sandbox.faults.set("rpc", "confirm_delay", seconds=1.5)
    to = _address()
    order = order_build(position=None, side=OrderSide.WITHDRAW, reason="manual", amount=SOL // 3, prefs=None,
                        withdrawal={"trader": desk.trader, "mode": "sandbox", "wallet": desk.wallet,
                                    "destination": to, "value_lamports": SOL // 3})
    order.save(force_insert=True)  # written, not queued: the lander below is the only one
    with tempfile.TemporaryFile() as log:
        lander = _start_lander(desk, order.id, log)
        try:
            first = wait_for(lambda: _submitted_or_dead(order.id, lander, log), timeout=60, message="the send")
        finally:
            if lander.poll() is None:
                os.kill(lander.pid, signal.SIGKILL)
            lander.wait()
    assert lander.returncode == -signal.SIGKILL and Order.objects.get(id=order.id).status == OrderStatus.SUBMITTED
    wait_for(lambda: sandbox.ledger.get(first.signature).landed, message="the transfer to land while nobody watches")
    wait_for(lambda: not order_lease_held(order.id), message="the dead lander's lease to lapse")
    orders_reconcile()
    done = wait_for(lambda: Order.objects.filter(id=order.id, status__in=["confirmed", "failed"]).first(), timeout=30,
                    message="the withdrawal to end")
    assert done.status == "confirmed" and done.signature == first.signature and done.attempts == 1
    assert sandbox.chain.sol_balance(to) == SOL // 3  # once
    assert {e.signature for e in sandbox.ledger.all(owner=desk.owner)} == {first.signature}
