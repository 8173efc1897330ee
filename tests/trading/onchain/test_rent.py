"""Token account rent on the record: a first buy pays it, the sell that empties the account closes it and gets it
back, and the books match the wallet's SOL on chain to the lamport. A real Celery worker against the sandbox chain."""

from __future__ import annotations

import pytest

from tests.trading.onchain.test_landing import _run, fee_token  # noqa: F401 (a fixture)
from trading.chain.token_accounts import SPL_ACCOUNT_RENT
from trading.models import OrderStatus, Position, PositionStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("venue", ["bags", "jupiter"])
def test_buy_and_full_sell_match_the_wallet_to_the_lamport_and_leave_no_empty_account(desk, celery_worker, venue):
    chain = desk.sandbox.chain
    if venue == "jupiter":
        desk.sandbox.faults.set("bags", "outage")
    start = chain.sol_balance(desk.owner)
    bought = _run(desk.buy(lamports=100_000_000))
    assert (bought.status, bought.venue) == (OrderStatus.CONFIRMED, venue), bought.error
    position = Position.objects.get(id=bought.position_id)
    mint = position.token.mint
    cost = position.cost_lamports
    # The first buy created the token account: its rent is recorded apart from the cost (amount + network fee).
    assert bought.rent_lamports == SPL_ACCOUNT_RENT == chain.account(chain.token_accounts_by_owner(desk.owner, mint=mint)[0][0]).lamports
    assert cost == bought.amount_in + bought.fee_lamports and bought.fee_lamports > 0
    assert chain.sol_balance(desk.owner) == start - cost - bought.rent_lamports
    assert position.rent_lamports == SPL_ACCOUNT_RENT

    sold = _run(desk.sell(position=position, amount=position.size))
    assert (sold.status, sold.venue) == (OrderStatus.CONFIRMED, venue), sold.error
    position.refresh_from_db()
    end = chain.sol_balance(desk.owner)
    # The sell that emptied the account closed it in the same transaction: the rent came back, recorded on the order.
    assert chain.token_accounts_by_owner(desk.owner, mint=mint) == []
    assert sold.rent_lamports == -bought.rent_lamports
    assert end == start - cost + sold.amount_out_actual
    assert end == start - bought.amount_in - bought.fee_lamports - bought.rent_lamports + sold.amount_out_actual - sold.rent_lamports
    assert position.status == PositionStatus.CLOSED and position.rent_lamports == 0
    # Realised PnL is what the wallet really gained or lost.
    assert position.realised_pnl_lamports == sold.realised_pnl_lamports == end - start
    assert position.proceeds_lamports == sold.amount_out_actual


def test_partial_sell_keeps_the_account_and_its_rent(desk, celery_worker):
    chain = desk.sandbox.chain
    bought = _run(desk.buy(lamports=100_000_000))
    position = Position.objects.get(id=bought.position_id)
    sold = _run(desk.sell(position=position, amount=position.size // 2))
    assert sold.status == OrderStatus.CONFIRMED, sold.error
    assert sold.rent_lamports == 0
    assert len(chain.token_accounts_by_owner(desk.owner, mint=position.token.mint)) == 1
    position.refresh_from_db()
    assert position.rent_lamports == SPL_ACCOUNT_RENT and position.status == PositionStatus.OPEN


def test_preview_and_fill_messages_show_fees_and_rent_apart_from_the_amount(desk, celery_worker):
    from telegram_app.bot.screens_trade import buy_costs
    from telegram_app.notify import event_text
    from trading.models import DomainEvent
    from trading.prices import prices_refresh
    from trading.services import quote_preview

    token = desk.token()
    prices_refresh(mints=[token.mint])
    first = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=100_000_000)
    assert (first.rent_lamports, first.network_fee_lamports) == (SPL_ACCOUNT_RENT, 5000)
    assert first.total_max_lamports == 100_000_000 + 5000 + first.priority_fee_max_lamports + SPL_ACCOUNT_RENT
    text = buy_costs(first)
    assert "Rent: 0.00203928 SOL for the new token account" in text and "network 0.000005 SOL" in text
    assert "Total: at most" in text

    bought = _run(desk.buy(lamports=100_000_000))
    again = quote_preview(trader=desk.trader, mint=token.mint, amount_lamports=100_000_000)
    assert again.rent_lamports == 0 and "Rent" not in buy_costs(again)  # the wallet holds the account now

    position = Position.objects.get(id=bought.position_id)
    sold = _run(desk.sell(position=position, amount=position.size))
    events = {e.kind: e.payload for e in DomainEvent.objects.filter(trader=desk.trader)}
    opened, filled = event_text("position.opened", events["position.opened"]), event_text("exit.filled", events["exit.filled"])
    assert "Bought" in opened and "0.1 SOL at" in opened
    assert f"Fees {bought.fee_lamports / 10**9:.9f}".rstrip("0") in opened and "rent 0.00203928 SOL" in opened
    assert f"Fees {sold.fee_lamports / 10**9:.9f}".rstrip("0") in filled
    assert "rent back 0.00203928 SOL (the emptied token account was closed)" in filled


def test_a_close_that_fails_simulation_never_costs_the_exit(desk, celery_worker, fee_token, monkeypatch):
    """Without its harvest the close of a Token-2022 account holding a withheld fee fails: the sell goes without it,
    the account stays open, and the rent it holds counts as a loss, so PnL still matches the wallet."""
    from trading.chain import token_accounts
    from trading.execution import onchain

    def close_without_harvest(raw, **kwargs):
        return token_accounts.close_appended(raw, **{**kwargs, "harvest_mint": None})

    monkeypatch.setattr(onchain, "close_appended", close_without_harvest)
    chain, mint = desk.sandbox.chain, desk.token(fee_token).mint
    start = chain.sol_balance(desk.owner)
    bought = _run(desk.buy(token_index=fee_token))
    position = Position.objects.get(id=bought.position_id)
    sold = _run(desk.sell(position=position, amount=position.size))
    assert sold.status == OrderStatus.CONFIRMED, sold.error
    position.refresh_from_db()
    assert len(chain.token_accounts_by_owner(desk.owner, mint=mint)) == 1 and sold.rent_lamports == 0
    assert position.rent_lamports == bought.rent_lamports > 0
    # The wallet lost the rent into the open account: realised PnL counts it.
    assert position.realised_pnl_lamports == chain.sol_balance(desk.owner) - start
