"""Withdrawals at the service level, on paper: the paper balance and a paper position move through the one order
path (order_build, the landing loop, the paper venue and chain); every bad input is refused with a sentence and
writes nothing; the daily cap, the allow-list's cool-down and the second factor gate them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from solders.keypair import Keypair

from tests.fixtures.trading import mint_address
from trading.errors import TradingError
from trading.models import DomainEvent, Order, PaperLedger, Position, TradingSettings, WithdrawAddress
from trading.services import order_execute, position_open
from trading.services.quotes import paper_balance
from trading.services.withdrawals import (
    SOL,
    withdraw_address_add,
    withdraw_cap_set,
    withdrawal_place,
    withdrawal_preview,
)
from trading.venues.transfer import PAPER_TRANSFER_FEE_LAMPORTS

LAMPORTS = 10**9
pytestmark = pytest.mark.django_db


def _address() -> str:
    return str(Keypair().pubkey())


@pytest.fixture
def listed(price_standin):
    mint = mint_address()
    price_standin.set(mint, "0.0001", decimals=6)
    return mint


def _refused(code: str, **kwargs) -> str:
    before = (Order.objects.count(), DomainEvent.objects.count())
    with pytest.raises(TradingError) as caught:
        withdrawal_preview(**kwargs)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    assert caught.value.message.endswith((".", ")")) and len(caught.value.message.split()) > 4  # a sentence
    assert (Order.objects.count(), DomainEvent.objects.count()) == before  # nothing written
    return caught.value.message


def test_a_paper_sol_withdrawal_moves_the_paper_balance_once(make_trader, price_standin):
    trader = make_trader("wendy", paper_balance_lamports=5 * LAMPORTS)
    to = _address()
    preview = withdrawal_preview(trader=trader, asset=SOL, amount_text="1.5", destination=to)
    assert preview.amount == 3 * LAMPORTS // 2 and preview.fee_lamports == PAPER_TRANSFER_FEE_LAMPORTS
    assert preview.remaining == 5 * LAMPORTS - preview.amount - preview.fee_lamports and not preview.needs_code
    order = withdrawal_place(trader=trader, asset=SOL, amount=preview.amount, destination=to)
    assert order.side == "withdraw" and order.position_id is None and order.destination == to
    order_execute(order_id=order.id)
    order_execute(order_id=order.id)  # a second delivery of the task changes nothing
    order.refresh_from_db()
    assert order.status == "confirmed" and order.amount_out_actual == preview.amount
    assert order.fee_lamports == PAPER_TRANSFER_FEE_LAMPORTS and order.signature.startswith("paper-")
    assert paper_balance(trader=trader) == 5 * LAMPORTS - preview.amount - PAPER_TRANSFER_FEE_LAMPORTS
    assert PaperLedger.objects.get(trader=trader).withdrawn_lamports == preview.amount + PAPER_TRANSFER_FEE_LAMPORTS
    landed = DomainEvent.objects.get(kind="withdrawal.landed")
    assert landed.payload["sent"] == preview.amount and landed.payload["destination"] == to

    percent = withdrawal_preview(trader=trader, asset=SOL, amount_text="50%", destination=to)
    assert percent.amount == (paper_balance(trader=trader) - PAPER_TRANSFER_FEE_LAMPORTS) // 2
    everything = withdrawal_preview(trader=trader, asset=SOL, amount_text="max", destination=to)
    assert everything.remaining == 0


def test_a_paper_token_withdrawal_takes_tokens_and_their_cost_from_the_position(make_trader, listed):
    trader = make_trader("tina", paper_balance_lamports=5 * LAMPORTS)
    position = position_open(trader=trader, mint=listed, amount_lamports=LAMPORTS)
    order_execute(order_id=position.orders.get().id)
    position.refresh_from_db()
    size, cost, balance = position.size, position.cost_lamports, paper_balance(trader=trader)
    preview = withdrawal_preview(trader=trader, asset=str(position.id), amount_text="25%", destination=_address())
    assert preview.amount == size // 4 and preview.symbol
    order = withdrawal_place(trader=trader, asset=str(position.id), amount=preview.amount,
                             destination=preview.destination)
    assert Position.objects.get(id=position.id).status == "closing"  # no exit claims it while the tokens leave
    order_execute(order_id=order.id)
    position.refresh_from_db()
    basis = cost * preview.amount // size
    assert position.status == "open" and position.size == size - preview.amount
    assert position.cost_lamports == cost - basis and position.realised_pnl_lamports == 0  # nothing was sold
    assert paper_balance(trader=trader) == balance - PAPER_TRANSFER_FEE_LAMPORTS  # the tokens' cost left with them

    rest = withdrawal_place(trader=trader, asset=str(position.id), amount=position.size, destination=_address())
    order_execute(order_id=rest.id)
    position.refresh_from_db()
    assert position.status == "closed" and position.size == 0 and position.cost_lamports == 0


@pytest.mark.parametrize("text,code", [
    ("1_000", "separator"), ("1,5", "separator"), ("nan", "not_a_number"), ("inf", "not_a_number"), ("1e400", "exponent"), ("-0", "sign"),
    ("١٢", "not_ascii"), ("１", "not_ascii"), ("0", "not_positive"), ("0%", "invalid_percent"), ("101%", "invalid_percent"),
    ("0.0000000001", "too_precise"), ("", "empty"),
])
def test_amounts_a_reader_could_take_two_ways_are_refused(make_trader, text, code):
    trader = make_trader("amos")
    _refused(code, trader=trader, asset=SOL, amount_text=text, destination=_address())


def test_addresses_balance_and_limits_are_refused_with_a_sentence(make_trader, settings):
    trader = make_trader("abe", paper_balance_lamports=2 * LAMPORTS)
    for bad in ("not-an-address", "1" * 45, "0OIl" * 10, "", _address()[:-6], str(Keypair())):
        _refused("bad_address", trader=trader, asset=SOL, amount_text="0.1", destination=bad)
    assert "at most 1.999995 SOL" in _refused("insufficient_balance", trader=trader, asset=SOL, amount_text="2",
                                              destination=_address())
    _refused("position_not_found", trader=trader, asset="999999", amount_text="1", destination=_address())
    other = make_trader("not-yours")
    theirs = Position.objects.create(trader=other, token=_token(), mode="paper", status="open", size=10,
                                     original_size=10)
    _refused("position_not_found", trader=trader, asset=str(theirs.id), amount_text="1", destination=_address())

    # an off-curve address (a program-derived address) is accepted with a warning
    from solders.pubkey import Pubkey

    pda, _ = Pubkey.find_program_address([b"vault"], Pubkey.from_string("11111111111111111111111111111111"))
    assert withdrawal_preview(trader=trader, asset=SOL, amount_text="0.1", destination=str(pda)).off_curve
    assert not withdrawal_preview(trader=trader, asset=SOL, amount_text="0.1", destination=_address()).off_curve

    # the daily cap
    withdraw_cap_set(trader=trader, text="1")
    assert TradingSettings.objects.get(trader=trader).withdraw_daily_cap_lamports == LAMPORTS
    first = withdrawal_place(trader=trader, asset=SOL, amount=LAMPORTS * 8 // 10, destination=_address())
    assert "0.2 SOL of 1 SOL is left today" in _refused("over_cap", trader=trader, asset=SOL, amount_text="0.3",
                                                         destination=_address())
    Order.objects.filter(id=first.id).update(status="failed")  # a failed withdrawal does not count
    withdrawal_preview(trader=trader, asset=SOL, amount_text="0.3", destination=_address())
    with pytest.raises(TradingError):
        withdraw_cap_set(trader=trader, text="-1")


def test_an_allow_list_address_receives_only_after_its_cool_down(make_trader, settings):
    settings.WITHDRAW_ALLOWLIST_COOLDOWN_SECONDS = 3600
    trader = make_trader("al", paper_balance_lamports=2 * LAMPORTS)
    listed, unlisted = _address(), _address()
    withdrawal_preview(trader=trader, asset=SOL, amount_text="0.1", destination=unlisted)  # no list: anywhere
    entry = withdraw_address_add(trader=trader, address=listed)
    assert entry.usable_at > timezone.now() + timedelta(minutes=59)
    assert "not on your withdrawal allow-list" in _refused("not_allowed", trader=trader, asset=SOL, amount_text="0.1",
                                                          destination=unlisted)
    _refused("cooling_down", trader=trader, asset=SOL, amount_text="0.1", destination=listed)
    WithdrawAddress.objects.filter(id=entry.id).update(usable_at=timezone.now() - timedelta(seconds=1))  # time passed
    assert withdrawal_preview(trader=trader, asset=SOL, amount_text="0.1", destination=listed).amount == LAMPORTS // 10


def test_with_2fa_on_withdrawals_and_allow_list_changes_need_a_code_that_works_once(make_trader, redis_client):
    import time

    import pyotp

    from trading.second_factor import second_factor_begin, second_factor_confirm

    trader = make_trader("tom", paper_balance_lamports=2 * LAMPORTS)
    secret, _ = second_factor_begin(trader=trader, account_label="tom")
    recovery = second_factor_confirm(trader=trader, code=pyotp.TOTP(secret).now())
    to = _address()
    assert withdrawal_preview(trader=trader, asset=SOL, amount_text="0.1", destination=to).needs_code
    for code in (None, "000000x", pyotp.TOTP(secret).now()):  # none, malformed, the code already spent on set-up
        with pytest.raises(TradingError):
            withdrawal_place(trader=trader, asset=SOL, amount=LAMPORTS // 10, destination=to, code=code)
    with pytest.raises(TradingError):
        withdraw_address_add(trader=trader, address=to)
    assert Order.objects.count() == 0 and WithdrawAddress.objects.count() == 0
    redis_client.delete(f"trading:2fa:failures:{trader.id}")
    good = pyotp.TOTP(secret).at(int(time.time()) + 30)
    withdrawal_place(trader=trader, asset=SOL, amount=LAMPORTS // 10, destination=to, code=good)
    with pytest.raises(TradingError) as replayed:
        withdrawal_place(trader=trader, asset=SOL, amount=LAMPORTS // 10, destination=to, code=good)
    assert "already used" in replayed.value.message and Order.objects.count() == 1
    withdraw_address_add(trader=trader, address=to, code=recovery[0])
    assert WithdrawAddress.objects.filter(trader=trader).count() == 1


def _token():
    from trading.models import Token

    return Token.objects.get_or_create(mint=mint_address(), defaults={"decimals": 6, "symbol": "TKN"})[0]


def test_the_fill_of_a_withdrawal_is_idempotent_and_a_failed_one_frees_its_position(make_trader, listed):
    from trading.execution.fills import withdrawal_apply_fill
    from trading.execution.state import order_fail

    trader = make_trader("ida", paper_balance_lamports=5 * LAMPORTS)
    position = position_open(trader=trader, mint=listed, amount_lamports=LAMPORTS)
    order_execute(order_id=position.orders.get().id)
    position.refresh_from_db()
    order = withdrawal_place(trader=trader, asset=str(position.id), amount=position.size, destination=_address())
    assert order_fail(order_id=order.id, error="test: the cluster refused it")
    assert Position.objects.get(id=position.id).status == "open"  # back to open, nothing taken
    assert DomainEvent.objects.filter(kind="order.failed").count() == 1
    sol = withdrawal_place(trader=trader, asset=SOL, amount=LAMPORTS // 10, destination=_address())
    withdrawal_apply_fill(order_id=sol.id, sent=LAMPORTS // 10, fee_lamports=5000)
    withdrawal_apply_fill(order_id=sol.id, sent=LAMPORTS // 10, fee_lamports=5000)
    assert PaperLedger.objects.get(trader=trader).withdrawn_lamports == LAMPORTS // 10 + 5000
    assert DomainEvent.objects.filter(kind="withdrawal.landed").count() == 1
    # the open position's token account rent stays held (trading.services.book.paper_balance)
    assert position.rent_lamports > 0
    assert Decimal(paper_balance(trader=trader)) == 4 * LAMPORTS - LAMPORTS // 10 - 5000 - position.rent_lamports
