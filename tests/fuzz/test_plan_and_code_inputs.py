"""Hypothesis through the router (real Postgres and Redis): whatever a trader types while the bot waits for trailing
figures, a time stop, a wallet name, a 2FA code at set-up, for an export, to turn 2FA off or for new recovery codes, the answer is a sentence, never the
"something went wrong" of an unexpected exception, and a refusal changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telegram_app.bot.router import OOPS
from tests.fixtures.security import ALICE_ID, texts
from tests.fuzz.sentences import assert_sentence, tricky_text

DB_FUZZ = settings(max_examples=40, deadline=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
pytestmark = pytest.mark.django_db
figures = st.from_regex(r"\A[0-9]{1,6}([.,][0-9]{0,6})?[%mhdsx]?( [0-9]{1,4}([.,][0-9]{0,6})?%?)?\Z")
typed = tricky_text | figures | st.sampled_from(["off", "30 15", "24h", "0m", "abcde-fghij", "123456", "Main"])
ACCEPTED = ("updated for #", "renamed to", "recovery codes", "Private key", "2FA is off")


def _snapshot(desk):
    from trading.models import ExitPlan, SecondFactor, Wallet

    return (ExitPlan.objects.get(position=desk.position).spec, list(Wallet.objects.values_list("name", "active")),
            list(SecondFactor.objects.values_list("confirmed_at", "last_step", "recovery_hashes")))


@DB_FUZZ
@given(st.sampled_from(["plan_trailing", "plan_time", "wallet_name", "totp_confirm", "export_code", "totp_off",
                        "totp_recovery"]), typed)
def test_what_a_trader_types_when_asked_for_plan_figures_a_name_or_a_code_gets_a_sentence(two_traders, state, text):
    from telegram_app import services
    from trading.second_factor import second_factor_begin

    desk = two_traders
    if state in ("totp_confirm", "export_code", "totp_off", "totp_recovery"):
        second_factor_begin(trader=desk.alice.trader, account_label="alice")
    data = {"position": desk.position.pk, "wallet": desk.wallet.pk}
    services.conversation_set(telegram_user_id=ALICE_ID, state=state, data=data)
    before = _snapshot(desk)
    answers = [t for t in texts(desk.say(ALICE_ID, text)) if t]
    assert answers and OOPS not in answers, (state, text, answers)
    if not any(a in " ".join(answers) for a in ACCEPTED) and not text.strip().startswith("/"):
        assert _snapshot(desk) == before, (state, text, answers)
        assert_sentence(answers[-1])
    services.conversation_clear(telegram_user_id=ALICE_ID)


addresses = st.sampled_from(["11111111111111111111111111111111", "So11111111111111111111111111111111111111112",
                             "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T", "0OIl", "x" * 44])


@DB_FUZZ
@given(st.sampled_from(["withdraw_amount", "withdraw_address"]), typed | addresses)
def test_what_a_trader_types_when_asked_for_a_withdrawal_amount_or_address_gets_a_sentence(two_traders, state, text):
    from telegram_app import services
    from trading.models import Order

    desk = two_traders
    services.conversation_set(telegram_user_id=ALICE_ID, state=state, data={"asset": "sol", "amount": "0.1"})
    answers = [t for t in texts(desk.say(ALICE_ID, text)) if t]
    assert answers and OOPS not in answers, (state, text, answers)
    assert not Order.objects.filter(side="withdraw").exists()  # a confirmation at most: nothing is sent by typing
    if not any(a in " ".join(answers) for a in ("Send the address", "Withdraw ")) and not text.strip().startswith("/"):
        assert_sentence(answers[-1])
    services.conversation_clear(telegram_user_id=ALICE_ID)
