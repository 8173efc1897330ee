"""Fees that work: the trader's priority-fee policy is in the compute-unit price of every landed transaction the trader
causes (a buy, a manual sell, an automatic exit one level higher), read back from the sandbox chain."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.chain import unit_price_of
from tests.conftest import wait_for
from trading.chain.rpc import SolanaRpc
from trading.models import Order, OrderStatus, Position, PositionStatus, TradingSettings
from trading.services.positions import position_open, position_sell
from trading.tpsl.sweep import tpsl_sweep

pytestmark = pytest.mark.django_db(transaction=True)

BAGS_LIMIT, JUPITER_LIMIT = 120_000, 400_000  # the compute-unit limits of the two venues' transactions


def _settled(order_id: int) -> Order:
    wait_for(lambda: Order.objects.filter(id=order_id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).exists(),
             timeout=30, message=f"order {order_id} to end")
    order = Order.objects.get(id=order_id)
    assert order.status == OrderStatus.CONFIRMED, order.error
    return order


def _landed_price(desk, order: Order) -> int:
    record = desk.sandbox.chain.record(order.signature)
    assert record is not None and record.err is None
    return unit_price_of(record.tx)


def _policy(desk, **fields) -> None:
    TradingSettings.objects.filter(trader=desk.trader).update(**fields)


def test_the_fee_policy_is_the_landed_compute_unit_price_of_a_buy_a_manual_sell_and_an_automatic_exit(
    desk, celery_worker, settings
):
    levels = settings.EXECUTION_PRIORITY_LEVEL_PRICES
    chain = desk.sandbox.chain
    mint = desk.sandbox.market.tokens()[2].mint
    # A buy on "auto": the median of the recent prioritization fees the node reports for the wallet and the mint.
    chain.priority_fee_series = [fee * 100 for fee in range(1, 151)]  # one per slot of the last 150
    _policy(desk, priority_fee_policy="auto", priority_fee_max_lamports=24_000)
    position = position_open(trader=desk.trader, mint=mint, amount_lamports=200_000_000)
    buy = _settled(position.orders.get().id)
    assert (buy.venue, buy.priority_fee_policy) == ("bags", "auto")
    assert buy.compute_unit_price == _landed_price(desk, buy) == 7_500
    # The node now reports what landed: the buy's own price is among the recent fees of the wallet's accounts.
    chain.priority_fee_series = []
    assert 7_500 in SolanaRpc(desk.sandbox.rpc_url).recent_prioritization_fees([desk.owner])

    # A manual sell on "low" goes one level higher (medium); bags.fm is down, so Jupiter builds it.
    _policy(desk, priority_fee_policy="low")
    desk.sandbox.faults.set("bags", "outage")
    sell = _settled(position_sell(trader=desk.trader, position_id=position.id, percent=50).id)
    desk.sandbox.faults.clear()
    assert sell.venue == "jupiter" and sell.reason == "manual"
    assert sell.compute_unit_price == _landed_price(desk, sell) == levels["medium"]

    # An automatic exit (the stop-loss) on "high" bids very high, capped: exits may pay twice the trader's 24,000
    # lamports, so the price is at most 48,000 lamports over the transaction's compute-unit limit.
    _policy(desk, priority_fee_policy="high")
    desk.sandbox.market.set_price(mint, desk.sandbox.market.token(mint).price * Decimal("0.3"))
    wait_for(lambda: tpsl_sweep() and Order.objects.filter(position=position, reason="sl").exists(),
             interval=0.3, message="the stop-loss to be claimed")
    exit_ = _settled(Order.objects.get(position=position, reason="sl").id)
    cap = 2 * 24_000 * 1_000_000 // BAGS_LIMIT
    assert exit_.venue == "bags" and levels["veryHigh"] > cap
    assert exit_.compute_unit_price == _landed_price(desk, exit_) == cap
    assert Position.objects.get(id=position.id).status == PositionStatus.CLOSED


def test_a_protected_buy_goes_as_a_bundle_that_lands_whole_with_its_tip(desk, celery_worker):
    from solders.transaction import VersionedTransaction

    from trading.venues.bags import BagsVenue

    _policy(desk, mev_protection=True)
    mint = desk.sandbox.market.tokens()[1].mint
    position = position_open(trader=desk.trader, mint=mint, amount_lamports=100_000_000)
    buy = _settled(position.orders.get().id)
    assert buy.mev_protection and buy.bundle_id and buy.venue == "bags"
    assert buy.tip_lamports == 10_000  # the median landed tip bags.fm's jito-recent-fees reports (0.00001 SOL)
    tip_signature = str(VersionedTransaction.from_bytes(bytes(buy.tip_tx)).signatures[0])
    chain = desk.sandbox.chain
    swap, tip = chain.record(buy.signature), chain.record(tip_signature)
    assert chain.bundles[buy.bundle_id] == ([buy.signature, tip_signature], swap.slot) and tip.slot == swap.slot
    # The tip is a real transfer from the wallet to a tip account, read back from the landed transaction.
    keys = [str(k) for k in tip.tx.message.account_keys]
    moved = [post - pre for pre, post in zip(tip.pre_balances, tip.post_balances)]
    assert moved[keys.index(desk.owner)] == -(10_000 + tip.fee) and 10_000 in moved
    assert buy.fee_lamports == swap.fee + 10_000  # the tip is counted in the order's fees
    venue = BagsVenue(base_url=desk.sandbox.bags_url, api_key=desk.sandbox.bags_api_key)
    assert venue.bundle_statuses([buy.bundle_id]) == {buy.bundle_id: "confirmed"}
    assert Position.objects.get(id=position.id).size == chain.token_balance(desk.owner, mint) > 0


def test_a_protected_order_is_never_sent_unprotected(desk, celery_worker):
    """bags.fm down: Jupiter could build the swap, but no bundle can be sized or sent, so nothing is sent at all."""
    _policy(desk, mev_protection=True)
    desk.sandbox.faults.set("bags", "outage")
    position = position_open(trader=desk.trader, mint=desk.sandbox.market.tokens()[0].mint, amount_lamports=50_000_000)
    wait_for(lambda: Order.objects.filter(position=position, status=OrderStatus.FAILED).exists(), timeout=30,
             message="the protected buy to fail")
    order = Order.objects.get(position=position)
    assert "MEV-protected bundle could not be prepared" in order.error and "nothing was sent" in order.error
    assert order.signature == "" and desk.sandbox.ledger.landed_swaps(owner=desk.owner) == []
    assert not [e for e in desk.sandbox.ledger.entries.values() if desk.owner in e.signers]


def test_a_bundle_lands_whole_or_not_at_all(sandbox, sandbox_settings, sandbox_trader):
    from solders.hash import Hash
    from solders.keypair import Keypair
    from solders.message import MessageV0
    from solders.signature import Signature
    from solders.system_program import TransferParams, transfer
    from solders.transaction import VersionedTransaction

    from trading.chain.bundles import JITO_TIP_ACCOUNTS, bundle_id_of, tip_transaction
    from trading.chain.signing import transaction_sign
    from trading.venues.base import FeePolicy, VenuePermanentError
    from trading.venues.bags import BagsVenue

    owner = str(sandbox_trader.pubkey())
    mint = sandbox.market.tokens()[0].mint
    venue = BagsVenue(base_url=sandbox.bags_url, api_key=sandbox.bags_api_key)
    quote = venue.quote(input_mint="So11111111111111111111111111111111111111112", output_mint=mint,
                        amount=50_000_000, slippage_bps=300)
    swap, swap_sig = transaction_sign(raw=venue.swap(quote=quote, user_public_key=owner, fee=FeePolicy(
        priority_level="high", max_lamports=10**6)).transaction, keypair=sandbox_trader)
    tip, tip_sig = transaction_sign(raw=tip_transaction(swap=swap, payer=owner, tip_account=JITO_TIP_ACCOUNTS[0],
                                                        lamports=5_000), keypair=sandbox_trader)
    blockhash = VersionedTransaction.from_bytes(swap).message.recent_blockhash
    too_much = transfer(TransferParams(from_pubkey=sandbox_trader.pubkey(), to_pubkey=Keypair().pubkey(),
                                       lamports=10**15))
    message = MessageV0.try_compile(sandbox_trader.pubkey(), [too_much], [], Hash.from_string(str(blockhash)))
    failing, failing_sig = transaction_sign(raw=bytes(VersionedTransaction.populate(message, [Signature.default()])),
                                            keypair=sandbox_trader)
    before = (sandbox.chain.sol_balance(owner), sandbox.chain.token_balance(owner, mint))

    # A failing transaction in the bundle: nothing of it lands, not the swap, not the tip.
    bundle_id = venue.send_bundle([swap, tip, failing])
    assert bundle_id == bundle_id_of([swap_sig, tip_sig, failing_sig])
    assert (sandbox.chain.sol_balance(owner), sandbox.chain.token_balance(owner, mint)) == before
    assert all(sandbox.chain.record(s) is None for s in (swap_sig, tip_sig, failing_sig))
    assert "transaction 3 of the bundle failed" in sandbox.chain.bundle_failures[bundle_id]
    assert venue.bundle_statuses([bundle_id]) == {}
    # No tip, no bundle.
    with pytest.raises(VenuePermanentError, match="no tip"):
        venue.send_bundle([swap])

    # The same swap and tip without the failing transaction: both land, in one slot.
    landed_id = venue.send_bundle([swap, tip])
    swap_record, tip_record = sandbox.chain.record(swap_sig), sandbox.chain.record(tip_sig)
    assert swap_record is not None and tip_record is not None and swap_record.slot == tip_record.slot
    assert sandbox.chain.token_balance(owner, mint) > before[1]
    assert venue.bundle_statuses([landed_id]) == {landed_id: "confirmed"}
