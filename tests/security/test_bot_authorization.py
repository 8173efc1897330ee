"""Across traders, on every bot command and every button: Bob cannot see or act on Alice's wallet, positions or orders,
not by replaying her buttons, not by editing their data, and not even with buttons validly signed for him that carry
her ids (as if the signing key had leaked). Admin commands answer numeric ids only. Driven through the router with
real Postgres and Redis; the end-to-end version through the Bot API stand-in is
tests/telegram/test_bot_trading.py::test_another_trader_cannot_touch_a_position_even_with_forged_buttons."""

from __future__ import annotations

import re

import pytest

from telegram_app.bot.router import CALLBACKS, COMMANDS, OOPS
from tests.fixtures.security import ADMIN_ID, ALICE_ID, BOB_ID, texts

pytestmark = pytest.mark.django_db


def _alice_state(desk):
    from trading.models import ExitPlan, Order, Position, TradingSettings, Wallet

    position = Position.objects.get(pk=desk.position.pk)
    settings_row = TradingSettings.objects.get(trader=desk.alice.trader)
    return (position.status, position.size, Order.objects.filter(position=position).count(),
            ExitPlan.objects.get(position=position).spec, Wallet.objects.filter(trader=desk.alice.trader).count(),
            settings_row.mode, settings_row.buy_presets_lamports, settings_row.default_exit_plan)


def _assert_nothing_of_alices(desk, answers: list[str]) -> None:
    joined = "\n".join(answers)
    assert desk.wallet.public_key not in joined and desk.secret_b58 not in joined
    assert not re.search(rf"#{desk.position.pk}\b", joined), joined
    assert OOPS not in answers


def _args_for(desk, action: str) -> tuple:
    """Alice's ids where a button carries an id; what the bot itself would put in the others."""
    pid, wid, ref = desk.position.pk, desk.wallet.pk, desk.mint_ref
    return {"we": (wid,), "wx": (wid,), "st": ("ep", "moon"), "tc": (ref,), "bp": (ref, 100_000_000), "bx": (ref,),
            "bc": (ref, 100_000_000), "ba": (ref, 100_000_000, "0"), "pv": (pid,), "sv": (pid,), "sp": (pid, 50), "sx": (pid,), "sc": (pid, 100),
            "se": (pid,), "te": (pid,), "lp": (pid, "moon"), "tr": (pid, 1), "wa": (wid,), "wn": (wid,),
            "tf": (pid,), "be": (pid, 1), "ts": (pid,), "wp": (pid,), "wd": (pid, "1", ref), "cc": (pid,), "pc": ("week",),
            "lb": (ref,), "dc": (ref,), "lx": (pid,), "dp": (pid,), "dr": (pid,), "dx": (pid,), "lw": (pid,)}.get(action, ())


def test_a_button_signed_for_bob_carrying_alices_ids_reaches_only_bobs_things(two_traders):
    desk = two_traders
    before = _alice_state(desk)
    for action in sorted(CALLBACKS):
        answers = texts(desk.tap(BOB_ID, action, *_args_for(desk, action)))
        # Where the button opened a prompt, Bob's next message goes to his own conversation, never to Alice's position.
        answers += texts(desk.say(BOB_ID, "50"))
        _assert_nothing_of_alices(desk, answers)
        assert _alice_state(desk) == before, action


def test_alices_buttons_replayed_or_edited_by_bob_are_refused_before_any_handler(two_traders):
    import time

    from telegram_app.bot.core import callback_key
    from telegram_app.callbacks import cb_sign

    desk = two_traders
    before = _alice_state(desk)
    for action in sorted(CALLBACKS):
        alices = cb_sign(key=callback_key(), user_id=ALICE_ID, action=action, args=_args_for(desk, action),
                         now=time.time())
        replayed = desk.tap(BOB_ID, action, data=alices)
        assert "not made for you" in replayed[0].text and replayed[0].alert, action
        body, _, sig = alices.rpartition(":")
        edited = desk.tap(ALICE_ID, action, data=f"{body.replace(':', ':9', 1)}:{sig}")  # even Alice's own, edited
        assert edited[0].alert and "not" in edited[0].text, action
    assert _alice_state(desk) == before


def test_every_trader_command_shows_bob_only_his_own(two_traders):
    desk = two_traders
    before = _alice_state(desk)
    for command in sorted(name for name, spec in COMMANDS.items() if not spec[3]):
        answers = texts(desk.say(BOB_ID, f"/{command}"))
        assert answers, command
        _assert_nothing_of_alices(desk, answers)
    assert "ALICECOIN" in "\n".join(texts(desk.say(ALICE_ID, "/positions")))  # the same commands do show Alice hers
    assert _alice_state(desk) == before


def test_admin_commands_go_by_numeric_id_never_by_username(two_traders, settings):
    from telegram_app.models import OutboxMessage
    from trading.models import KillSwitch

    settings.TELEGRAM_ADMIN_USERNAMES = ["deskadmin"]  # not a setting the desk reads: naming it must change nothing
    desk = two_traders
    before = (KillSwitch.objects.filter(enabled=True).count(), OutboxMessage.objects.count())
    for command in ("/killswitch on", "/broadcast hello", "/status", "/health", "/killswitch@jarvis_bot on"):
        for username in ("deskadmin", str(ADMIN_ID), "@deskadmin", ""):
            answers = texts(desk.say(BOB_ID, command, username=username))
            assert answers == ["That command is for the desk's operators only."], (command, username)
    assert (KillSwitch.objects.filter(enabled=True).count(), OutboxMessage.objects.count()) == before


def test_the_admins_numeric_id_works_whatever_its_username(two_traders):
    from trading.models import KillSwitch

    answers = texts(two_traders.say(ADMIN_ID, "/killswitch on drill", username="not-an-admin-name"))
    assert "kill switch is ON" in answers[0]
    switch = KillSwitch.objects.filter(enabled=True).get()
    assert switch.trader is None and f"telegram:{ADMIN_ID}" in str(vars(switch))


def test_bobs_conversation_pointing_at_alices_position_changes_nothing(two_traders):
    """A conversation row is the bot's own, but if one ever held another trader's id, the answer checks the owner."""
    from telegram_app import services

    desk = two_traders
    before = _alice_state(desk)
    for state in ("sell_percent", "stop_loss", "take_profit"):
        services.conversation_set(telegram_user_id=BOB_ID, state=state, data={"position": desk.position.pk})
        answers = texts(desk.say(BOB_ID, "50"))
        assert answers == ["You have no position with that number."], (state, answers)
    assert _alice_state(desk) == before
