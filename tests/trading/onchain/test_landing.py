"""The landing loop end to end: a real Celery worker runs `trading.execute_order` against the sandbox over HTTP."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.conftest import wait_for
from trading.models import Order, OrderStatus, Position, PositionStatus
from trading.models.choices import TOKEN_2022_PROGRAM

pytestmark = pytest.mark.django_db(transaction=True)


def _run(order) -> Order:
    from trading.tasks import execute_order

    execute_order.delay(order.id)
    wait_for(
        lambda: Order.objects.filter(id=order.id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).exists(),
        timeout=30, message=f"order {order.id} to end",
    )
    return Order.objects.get(id=order.id)


def test_buy_lands_once_and_opens_the_position(desk, celery_worker):
    order = desk.buy(lamports=250_000_000)
    started = time.monotonic()
    done = _run(order)
    elapsed_ms = (time.monotonic() - started) * 1000
    assert done.status == OrderStatus.CONFIRMED, done.error
    position = Position.objects.get(id=order.position_id)
    mint = position.token.mint
    assert position.status == PositionStatus.OPEN
    assert position.size == done.amount_out_actual == desk.sandbox.chain.token_balance(desk.owner, mint) > 0
    assert done.amount_out_actual >= done.min_amount_out > 0
    assert (done.venue, done.attempts) == ("bags", 1)
    assert bytes(done.signed_tx) and done.last_valid_block_height > 0
    landed = desk.sandbox.ledger.landed_swaps(owner=desk.owner)
    assert [entry.signature for entry in landed] == [done.signature]
    assert landed[0].swap.in_amount == 250_000_000
    # Every external call was counted against its provider's budget (monitoring): bags quote + swap, and the RPC's
    # simulate, send, status and getTransaction; Jupiter was never asked.
    from monitoring.budgets import budget_usage

    calls = {row["provider"]: row["calls_today"] for row in budget_usage()}
    assert calls.get("bags") == 2 and calls.get("solana_rpc", 0) >= 4 and not calls.get("jupiter")
    print(f"sandbox buy, enqueue to confirmed: {elapsed_ms:.1f} ms")


def test_position_open_in_sandbox_mode_reaches_an_open_position(desk, celery_worker):
    """The whole pipeline: the core's position_open (risk, balance, rows, enqueue on commit) -> trades queue ->
    order_execute -> the landing loop -> position_apply_fill."""
    from trading.services import position_open

    mint = desk.sandbox.market.tokens()[1].mint
    started = time.monotonic()
    position = position_open(trader=desk.trader, mint=mint, amount_lamports=100_000_000)
    wait_for(lambda: Position.objects.filter(id=position.id).exclude(status=PositionStatus.OPENING).exists(),
             message="the position to leave opening")
    elapsed_ms = (time.monotonic() - started) * 1000
    position.refresh_from_db()
    order = position.orders.get()
    assert (position.status, order.status) == (PositionStatus.OPEN, OrderStatus.CONFIRMED), order.error
    assert position.size == desk.sandbox.chain.token_balance(desk.owner, mint) > 0
    assert position.wallet_id == desk.wallet.id and order.mode == "sandbox" and order.venue == "bags"
    print(f"sandbox position_open to open position: {elapsed_ms:.1f} ms")


def test_bags_down_so_jupiter_fills(desk, celery_worker):
    desk.sandbox.faults.set("bags", "outage")
    done = _run(desk.buy())
    assert done.status == OrderStatus.CONFIRMED, done.error
    assert done.venue == "jupiter"
    assert [e.swap.venue for e in desk.sandbox.ledger.landed_swaps(owner=desk.owner)] == ["jupiter"]


def test_sell_exit_lands_and_closes_the_position(desk, celery_worker, settings):
    bought = _run(desk.buy())
    position = Position.objects.get(id=bought.position_id)
    sold = _run(desk.sell(position=position, amount=position.size))
    assert sold.status == OrderStatus.CONFIRMED, sold.error
    position.refresh_from_db()
    assert position.status == PositionStatus.CLOSED and position.size == 0
    assert desk.sandbox.chain.token_balance(desk.owner, position.token.mint) == 0
    assert sold.amount_out_actual > 0 and position.proceeds_lamports == sold.amount_out_actual
    assert [e.swap.side for e in desk.sandbox.ledger.landed_swaps(owner=desk.owner)] == ["buy", "sell"]
    # Exits are quoted looser than entries: the trader's 300/500 bps, plus the exit bonus on the sell.
    bonus = settings.EXECUTION_EXIT_SLIPPAGE_BONUS_BPS
    for order, bps in ((bought, 300), (sold, 500 + bonus)):
        expected_min = order.amount_out_expected * (10_000 - bps) // 10_000
        assert abs(order.min_amount_out - expected_min) <= max(2, expected_min // 1000), (order.side, bps)


def test_an_exit_lands_in_the_rpc_window_entries_have_filled(desk, celery_worker, settings, redis_client):
    """The RPC provider's plan is shared like the venues': with entries at their share of the window, a sell's landing
    (its blockhash, simulation, send and status calls at exit priority) still finds the rest, and a buy's does not."""
    from trading.ratelimit import PREFIX, Priority, RateLimited, rate_stats, slot_acquire

    bought = _run(desk.buy())
    position = Position.objects.get(id=bought.position_id)
    settings.PROVIDER_RATE_LIMITS = {"solana_rpc": (200, 60.0)}
    try:
        with pytest.raises(RateLimited):
            for _ in range(200):  # entries fill their 85 % of the window
                slot_acquire(account="solana_rpc", priority=Priority.ENTRY, max_wait=0)
        sold = _run(desk.sell(position=position, amount=position.size))
        assert sold.status == OrderStatus.CONFIRMED, sold.error
        assert rate_stats(account="solana_rpc").get("exit:refused", 0) == 0
        blocked = _run(desk.buy())
        assert blocked.status == OrderStatus.FAILED and "rate limit" in blocked.error  # nothing sent, the trader told
        assert rate_stats(account="solana_rpc")["entry:refused"] >= 1
    finally:
        settings.PROVIDER_RATE_LIMITS = {}
        redis_client.delete(f"{PREFIX}solana_rpc:window", f"{PREFIX}solana_rpc:stats")


def test_expired_blockhash_is_resent_then_requoted_with_exactly_one_fill(desk, celery_worker):
    sandbox = desk.sandbox
    sandbox.faults.set("rpc", "drop", methods=["sendTransaction"])  # every send is accepted and lost
    order = desk.buy()
    from trading.tasks import execute_order

    execute_order.delay(order.id)
    first = wait_for(
        lambda: Order.objects.filter(id=order.id, status=OrderStatus.SUBMITTED).first(), message="first submission"
    )
    wait_for(lambda: (sandbox.ledger.get(first.signature) or 0) and sandbox.ledger.get(first.signature).sends >= 3,
             message="the same bytes re-sent")
    # Re-sent, never re-signed, while the blockhash is still valid.
    assert Order.objects.get(id=order.id).attempts == 1
    assert {e.signature for e in sandbox.ledger.all(owner=desk.owner)} <= {first.signature}
    sandbox.faults.clear()
    sandbox.chain.expire_blockhash()
    done = wait_for(
        lambda: Order.objects.filter(id=order.id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).first(),
        message="order to end",
    )
    assert done.status == OrderStatus.CONFIRMED, done.error
    assert done.attempts == 2 and done.signature != first.signature
    assert "expired unconfirmed" in done.error
    landed = sandbox.ledger.landed_swaps(owner=desk.owner)
    assert [e.signature for e in landed] == [done.signature]
    assert not sandbox.ledger.get(first.signature).landed


def test_on_a_node_without_history_an_order_confirms_and_an_unlanded_one_expires_by_block_height(desk, celery_worker):
    """The node answers -32011 to every history search (agave's TransactionHistoryNotAvailable): statuses come from
    its recent cache, and a transaction it never saw is settled by block height, re-quoted once, filled once."""
    sandbox = desk.sandbox
    sandbox.faults.set("rpc", "no_history")
    sandbox.faults.set("rpc", "drop", methods=["sendTransaction"])
    order = desk.buy()
    from trading.tasks import execute_order

    execute_order.delay(order.id)
    first = wait_for(
        lambda: Order.objects.filter(id=order.id, status=OrderStatus.SUBMITTED).first(), message="first submission"
    )
    wait_for(lambda: (sandbox.ledger.get(first.signature) or 0) and sandbox.ledger.get(first.signature).sends >= 2,
             message="the same bytes re-sent")
    sandbox.faults.clear("rpc", "drop")
    sandbox.chain.expire_blockhash()
    done = wait_for(
        lambda: Order.objects.filter(id=order.id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).first(),
        message="order to end",
    )
    assert done.status == OrderStatus.CONFIRMED, done.error
    assert done.attempts == 2 and "expired unconfirmed" in done.error
    assert [e.signature for e in sandbox.ledger.landed_swaps(owner=desk.owner)] == [done.signature]
    assert any(f["kind"] == "no_history" and f["fired"] > 0 for f in sandbox.faults.active())


@pytest.mark.parametrize(
    ("faults", "reason"),
    [
        ([("bags", "outage"), ("jupiter", "outage")], "No venue could build this swap"),
        ([("bags", "http_429"), ("jupiter", "http_429")], "rate limiting"),
        ([("bags", "timeout"), ("jupiter", "timeout")], "timed out"),
        ([("bags", "no_route"), ("jupiter", "no_route")], "no route"),
        ([("bags", "fail_simulation")], "failed simulation"),
    ],
    ids=["5xx", "429", "timeout", "no-route", "fails-simulation"],
)
def test_venue_failures_end_the_order_failed_with_a_reason(desk, celery_worker, settings, faults, reason):
    settings.EXECUTION_VENUE_ROUNDS = 2
    for service, fault in faults:
        desk.sandbox.faults.set(service, fault, seconds=2) if fault == "timeout" else desk.sandbox.faults.set(service, fault)
    done = _run(desk.buy())
    assert done.status == OrderStatus.FAILED
    assert reason in done.error
    assert not done.signature and done.attempts == 0  # nothing was ever signed and sent
    assert Position.objects.get(id=done.position_id).status == PositionStatus.FAILED
    assert desk.sandbox.ledger.landed_swaps(owner=desk.owner) == []


def test_refused_bags_key_fails_the_order_and_alerts_without_falling_through(desk, celery_worker, settings, caplog):
    settings.BAGS_API_KEY = "not-the-key"
    done = _run(desk.buy())
    assert done.status == OrderStatus.FAILED
    assert "refused our API key" in done.error
    assert desk.sandbox.ledger.all(owner=desk.owner) == []  # Jupiter was not asked to fill it
    assert any("venue authentication failed" in r.getMessage() for r in caplog.records)


def test_order_of_another_mode_is_never_sent(desk, celery_worker, settings):
    order = desk.buy()
    settings.TRADING_MODE = "live"
    done = _run(order)
    assert done.status == OrderStatus.FAILED and "now runs in live mode" in done.error
    assert desk.sandbox.ledger.all(owner=desk.owner) == []


@pytest.mark.parametrize("offset", ["offset", "claim only"])
def test_identical_buys_in_one_block_each_fill_once(desk, celery_worker, offset, monkeypatch):
    """Same wallet, token and amount within one blockhash build byte-identical transactions; each order must still
    get its own signature and fill, and neither may claim the other's. Up front a second such buy is made a lamport
    smaller; "claim only": that offset lost (Redis forgot it), the signature claim alone must keep them apart."""
    from trading.tasks import execute_order

    if offset == "claim only":
        monkeypatch.setattr("trading.execution.onchain.identical_buy_offset", lambda **kwargs: 0)

    orders = [desk.buy(lamports=123_000_000), desk.buy(lamports=123_000_000)]
    for order in orders:
        execute_order.delay(order.id)
    done = [
        wait_for(lambda o=o: Order.objects.filter(id=o.id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).first(),
                 message="both orders to end")
        for o in orders
    ]
    assert [d.status for d in done] == [OrderStatus.CONFIRMED] * 2, [d.error for d in done]
    assert done[0].signature != done[1].signature
    landed = desk.sandbox.ledger.landed_swaps(owner=desk.owner)
    assert sorted(e.signature for e in landed) == sorted(d.signature for d in done)
    # A buy that clashed spent a lamport less rather than wait a block; each order records what it swapped.
    assert sorted(e.swap.in_amount for e in landed) == sorted(d.amount_in for d in done)
    assert all(123_000_000 - 5 <= d.amount_in <= 123_000_000 for d in done)
    mint = done[0].position.token.mint
    total = sum(Position.objects.get(id=d.position_id).size for d in done)
    assert total == desk.sandbox.chain.token_balance(desk.owner, mint)


def test_wallet_that_cannot_be_decrypted_fails_the_order_instead_of_sticking(desk, celery_worker, settings):
    import base64

    order = desk.buy()
    settings.WALLET_ENCRYPTION_KEYS = "other:" + base64.b64encode(b"\x22" * 32).decode()  # not the key it was sealed with
    done = _run(order)
    assert done.status == OrderStatus.FAILED and "could not be prepared" in done.error
    assert not done.signature and desk.sandbox.ledger.all(owner=desk.owner) == []


@pytest.fixture
def fee_token(sandbox):
    """A Token-2022 mint with a 2.5 % transfer fee: what a holder gets is less than what the pool sends."""
    from sandbox.simulator import MarketError

    try:
        sandbox.market.add_token(symbol="TAXD", decimals=6, price=Decimal("0.0002"),
                                 token_program=TOKEN_2022_PROGRAM, transfer_fee_bps=250)
    except MarketError:
        pass  # added by an earlier test of this session
    sandbox.pools.ensure()
    return next(i for i, t in enumerate(sandbox.market.tokens()) if t.symbol == "TAXD")


def test_transfer_fee_token_position_holds_what_the_wallet_holds(desk, celery_worker, fee_token):
    from trading.chain.token_accounts import SPL_ACCOUNT_RENT
    from trading.execution.reconcile import wallets_reconcile
    from trading.prices import prices_refresh
    from trading.services import quote_preview

    chain, mint = desk.sandbox.chain, desk.token(fee_token).mint
    prices_refresh(mints=[mint])
    preview = quote_preview(trader=desk.trader, mint=mint, amount_lamports=250_000_000)
    start = chain.sol_balance(desk.owner)
    bought = _run(desk.buy(token_index=fee_token))
    assert bought.status == OrderStatus.CONFIRMED, bought.error
    position = Position.objects.get(id=bought.position_id)
    held = chain.token_balance(desk.owner, mint)
    assert position.size == held == bought.amount_out_actual
    assert wallets_reconcile() == []
    # A Token-2022 account with the transfer-fee extension is larger: more rent, which the preview foresaw.
    assert bought.rent_lamports == preview.rent_lamports > SPL_ACCOUNT_RENT
    sold = _run(desk.sell(position=position, amount=position.size))
    assert sold.status == OrderStatus.CONFIRMED, sold.error
    position.refresh_from_db()
    assert position.status == PositionStatus.CLOSED
    assert chain.token_balance(desk.owner, mint) == 0
    # The buy left a withheld fee in the account: the sell harvested it to the mint, then closed the account.
    assert chain.token_accounts_by_owner(desk.owner, mint=mint) == []
    assert sold.rent_lamports == -bought.rent_lamports
    assert position.realised_pnl_lamports == chain.sol_balance(desk.owner) - start


def test_identical_buy_offset_counts_the_same_buys_of_a_wallet_within_seconds(clean_redis):
    from trading.execution.locks import identical_buy_offset

    same = {"wallet": "W1", "mint": "M1", "amount": 123_000_000}
    assert [identical_buy_offset(**same) for _ in range(3)] == [0, 1, 2]
    assert identical_buy_offset(**{**same, "amount": 124_000_000}) == 0
    assert identical_buy_offset(**{**same, "wallet": "W2"}) == 0
    assert identical_buy_offset(wallet="W1", mint="M1", amount=1) == 0  # never down to nothing
    assert 0 < clean_redis.ttl("jarvis:buy:W1:M1:123000000") <= 2  # forgotten after a few blocks
