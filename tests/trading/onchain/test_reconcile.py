"""Reconciliation: a lander killed mid-flight, stale orders, and wallets' on-chain balances against positions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import pytest
from django.conf import settings

from tests.conftest import wait_for
from trading.execution.locks import OrderLease, order_lease_held
from trading.execution.reconcile import orders_reconcile, wallets_reconcile
from trading.models import Order, OrderStatus, Position, PositionStatus

pytestmark = pytest.mark.django_db(transaction=True)

LANDER = (
    "import sys, django; django.setup(); "
    "from trading.execution.onchain import order_land; order_land(order_id=int(sys.argv[1]))"
)


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_lander(desk, order_id: int, log) -> subprocess.Popen:
    """The landing loop in its own process (the way a worker child runs it), pointed at the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jarvis.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "TRADING_MODE": "sandbox",
        "SOLANA_RPC_URL": desk.sandbox.rpc_url,
        "BAGS_API_URL": desk.sandbox.bags_url,
        "BAGS_API_KEY": desk.sandbox.bags_api_key,
        "JUPITER_API_URL": desk.sandbox.jupiter_url,
        "JUPITER_API_KEY": desk.sandbox.jupiter_api_key,
        "WALLET_ENCRYPTION_KEYS": settings.WALLET_ENCRYPTION_KEYS,
        "EXECUTION_LOCK_SECONDS": "1",
        "EXECUTION_RESEND_SECONDS": "0.3",
        "JARVIS_IGNORE_DOTENV": "true",
        "SECRET_KEY": settings.SECRET_KEY,
    }
    return subprocess.Popen([sys.executable, "-c", LANDER, str(order_id)], env=env, stdout=log, stderr=log)


def _submitted_or_dead(order_id: int, lander: subprocess.Popen, log):
    if lander.poll() is not None:
        log.seek(0)
        order = Order.objects.get(id=order_id)
        pytest.fail(f"the lander exited ({lander.returncode}, order {order.status} {order.error!r}): {log.read()[-3000:]!r}")
    return Order.objects.filter(id=order_id, status=OrderStatus.SUBMITTED).first()


@pytest.mark.parametrize("case", ["landed-while-down", "still-pending", "dropped-then-expired"])
def test_lander_killed_between_send_and_confirm_is_finished_by_reconciliation(desk, celery_worker, case):
    sandbox = desk.sandbox
    if case == "dropped-then-expired":
        sandbox.faults.set("rpc", "drop", methods=["sendTransaction"])
    else:
        sandbox.faults.set("rpc", "confirm_delay", seconds=1.5 if case == "landed-while-down" else 4)
    order = desk.buy()
    with tempfile.TemporaryFile() as log:
        lander = _start_lander(desk, order.id, log)
        try:
            first = wait_for(lambda: _submitted_or_dead(order.id, lander, log), timeout=60, message="the lander to submit")
        finally:
            if lander.poll() is None:
                os.kill(lander.pid, signal.SIGKILL)
            lander.wait()
    assert lander.returncode == -signal.SIGKILL
    assert Order.objects.get(id=order.id).status == OrderStatus.SUBMITTED  # killed before it could confirm
    if case == "landed-while-down":
        wait_for(lambda: sandbox.ledger.get(first.signature).landed, message="the transaction to land")
    if case == "dropped-then-expired":
        sandbox.faults.clear()
        sandbox.chain.expire_blockhash()
    wait_for(lambda: not order_lease_held(order.id), message="the dead lander's lease to lapse")

    counts = orders_reconcile()

    done = wait_for(
        lambda: Order.objects.filter(id=order.id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).first(),
        timeout=30, message="the order to end",
    )
    assert done.status == OrderStatus.CONFIRMED, done.error
    position = Position.objects.get(id=order.position_id)
    assert position.status == PositionStatus.OPEN
    assert position.size == sandbox.chain.token_balance(desk.owner, position.token.mint)
    landed = sandbox.ledger.landed_swaps(owner=desk.owner)
    assert len(landed) == 1 and landed[0].signature == done.signature
    if case == "dropped-then-expired":
        assert counts.get("expired") == 1 and done.attempts == 2 and done.signature != first.signature
    else:
        # Resolved by the first signature: nothing was signed a second time.
        assert done.signature == first.signature and done.attempts == 1
        assert {e.signature for e in sandbox.ledger.all(owner=desk.owner)} == {first.signature}
        assert counts.get("confirmed" if case == "landed-while-down" else "in_flight") == 1


def test_reconciliation_leaves_an_order_a_live_lander_holds(desk):
    order = desk.buy()
    Order.objects.filter(id=order.id).update(status=OrderStatus.SUBMITTED, signature="1" * 64, last_valid_block_height=1)
    lease = OrderLease(order.id)
    assert lease.acquire()
    try:
        assert orders_reconcile().get("busy") == 1
        assert Order.objects.get(id=order.id).status == OrderStatus.SUBMITTED
    finally:
        lease.release()
    # Without the lease the same order is resolved: status unknown and its block height long past -> expired.
    assert orders_reconcile().get("expired") == 1


def test_stale_pending_order_is_requeued_and_lands(desk, celery_worker, settings):
    settings.EXECUTION_STALE_SECONDS = 5
    order = desk.buy()  # written but never queued: as if the enqueue had been lost
    from django.utils import timezone

    Order.objects.filter(id=order.id).update(updated_at=timezone.now() - timezone.timedelta(seconds=60))
    assert orders_reconcile().get("stale") == 1
    done = wait_for(
        lambda: Order.objects.filter(id=order.id, status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED]).first(),
        message="the requeued order to end",
    )
    assert done.status == OrderStatus.CONFIRMED, done.error


def test_wallet_balances_are_compared_with_open_positions(desk, celery_worker):
    from trading.tasks import execute_order

    order = desk.buy()
    execute_order.delay(order.id)
    wait_for(lambda: Order.objects.filter(id=order.id, status=OrderStatus.CONFIRMED).exists(), message="the buy")
    assert wallets_reconcile() == []
    position = Position.objects.get(id=order.position_id)
    # The books claim more than the chain holds (a shortfall: e.g. a transfer fee or tokens moved out of the wallet).
    Position.objects.filter(id=position.id).update(size=position.size + 1_000, original_size=position.size + 1_000)
    [mismatch] = wallets_reconcile()
    assert mismatch == {
        "wallet": desk.owner, "mint": position.token.mint, "positions": position.size + 1_000,
        "on_chain": position.size, "difference": -1_000,
    }


def test_a_wallet_and_mint_with_an_order_in_flight_raise_no_balance_alert(desk, celery_worker):
    """The chaos run paged 'shortfall' for wallets whose sell had landed on chain while its fill was still being
    applied (the lander killed in between); an order in flight is reconciled by orders_reconcile first."""
    from trading.tasks import execute_order

    order = desk.buy()
    execute_order.delay(order.id)
    wait_for(lambda: Order.objects.filter(id=order.id, status=OrderStatus.CONFIRMED).exists(), message="the buy")
    position = Position.objects.get(id=order.position_id)
    sell = desk.sell(position=position, amount=position.size)  # written, not queued: in flight for the books
    Position.objects.filter(id=position.id).update(size=position.size + 1_000, original_size=position.size + 1_000)
    assert wallets_reconcile() == []
    Order.objects.filter(id=sell.id).update(status=OrderStatus.FAILED)  # nothing in flight any more: now it counts
    [mismatch] = wallets_reconcile()
    assert mismatch["difference"] == -1_000


def test_paper_desk_reconciles_nothing(desk, settings):
    settings.TRADING_MODE = "paper"
    order = desk.buy()
    Order.objects.filter(id=order.id).update(status=OrderStatus.SUBMITTED, signature="1" * 64, last_valid_block_height=1)
    assert orders_reconcile() == {} and wallets_reconcile() == []
    assert Order.objects.get(id=order.id).status == OrderStatus.SUBMITTED
