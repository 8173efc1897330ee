"""Selectors: open positions, ownership, PnL summary with unpriced positions, balances."""

from decimal import Decimal

import pytest

from trading.errors import NotFound
from trading.prices import PricePoint, prices_store
from trading.selectors import pnl_summary, position_get, position_list_open, price_get, wallet_balances
from trading.services import position_apply_fill, position_open, position_sell

pytestmark = pytest.mark.django_db
SOL = 10**9


@pytest.fixture
def two_positions(trader, price_standin):
    from tests.fixtures.trading import mint_address

    priced, unpriced = mint_address(), mint_address()
    price_standin.set(priced, "0.0001")
    price_standin.set(unpriced, "0.0001")
    made = []
    for mint in (priced, unpriced):
        position = position_open(trader=trader, mint=mint, amount_lamports=SOL // 10)
        buy = position.orders.get()
        position_apply_fill(order_id=buy.id, in_amount=SOL // 10, out_amount=1000 * 10**6, price=Decimal("0.0001"), fee_lamports=0)
        made.append(position)
    return made


def test_pnl_summary_counts_realised_per_period_and_skips_unpriced(trader, two_positions, redis_client):
    priced, unpriced = two_positions
    sell = position_sell(trader=trader, position_id=priced.id, percent=Decimal(50))
    position_apply_fill(order_id=sell.id, in_amount=500 * 10**6, out_amount=SOL // 10, price=Decimal("0.0002"), fee_lamports=0)
    redis_client.delete(f"jarvis:price:{unpriced.token.mint}")
    prices_store({priced.token.mint: PricePoint(Decimal("0.0003"), 0.0, "test")})
    summary = pnl_summary(trader=trader)
    assert summary["today"]["realised_lamports"] == summary["all"]["realised_lamports"] == SOL // 20
    # 500 tokens left at 0.0003 = 0.15 SOL against 0.05 SOL cost
    assert summary["all"]["unrealised_lamports"] == 15 * SOL // 100 - SOL // 20
    assert summary["unpriced_positions"] == 1
    assert price_get(mint=unpriced.token.mint) is None


def test_open_list_and_ownership(make_trader, trader, two_positions):
    assert [p.id for p in position_list_open(trader=trader)] == sorted((p.id for p in two_positions), reverse=True)
    with pytest.raises(NotFound):
        position_get(trader=make_trader("eve"), position_id=two_positions[0].id)
    assert position_get(trader=trader, position_id=two_positions[0].id).token_id == two_positions[0].token_id


def test_wallet_balances_report_paper_and_unreachable_chain_as_none(trader, settings):
    from trading.wallets import wallet_create

    settings.SOLANA_RPC_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    wallet = wallet_create(trader=trader)
    balances = wallet_balances(trader=trader)
    assert balances["paper_lamports"] == 10 * SOL
    assert balances["wallets"] == [{"id": wallet.id, "public_key": wallet.public_key, "lamports": None,
                                    "name": "Wallet 1", "active": True}]
