"""Reconciliation (beat, `trading.reconcile_orders`): after a restart, and every few seconds, resolve every signed or
submitted order by its signature status BEFORE anything is re-sent; re-queue orders nobody is working on; and compare
each wallet's on-chain token balances with its open positions.

Only on-chain orders of the desk's current mode are resolved: the configured RPC is the only chain that can answer for
them. Stale orders that need an attempt are re-queued in that mode and in paper (an accepted order whose message the
broker refused is queued again here).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from trading.execution.clients import execution_alert, rails_for, rpc_for_execution
from trading.execution.locks import OrderLease, order_lease_held, order_requeue_claim
from trading.execution.onchain import IN_CHAIN, NEEDS_ATTEMPT, order_resolve
from trading.models import Order, OrderStatus, Position, PositionStatus
from trading.models.choices import Mode

log = logging.getLogger(__name__)

ONCHAIN_MODES = (Mode.SANDBOX, Mode.LIVE)


def _mode() -> str | None:
    return settings.TRADING_MODE if settings.TRADING_MODE in ONCHAIN_MODES else None


def orders_reconcile() -> dict[str, int]:
    """Resolve signed/submitted orders by signature status; re-queue the unresolved and the stale. Returns counts."""
    mode = _mode()
    counts: Counter[str] = Counter()
    signed = [] if mode is None else list(
        Order.objects.filter(status__in=IN_CHAIN, mode=mode)
        .exclude(signature="")
        .select_related("position__wallet", "position__token")
        .order_by("id")
    )
    requeue: list[int] = []
    if signed:
        rpc = rpc_for_execution()
        height = rpc.block_height()  # read before the statuses: see order_resolve
        statuses = rpc.signature_statuses([order.signature for order in signed])
        for order, status in zip(signed, statuses, strict=True):
            lease = OrderLease(order.id)
            if not lease.acquire():
                counts["busy"] += 1  # a live lander owns it
                continue
            try:
                if not Order.objects.filter(id=order.id, status=order.status, signature=order.signature).exists():
                    counts["moved"] += 1
                    continue
                outcome = order_resolve(order=order, rails=rails_for(order), known=(height, status))
            finally:
                lease.release()
            counts[str(outcome or "in_flight")] += 1
            if outcome in (None, OrderStatus.EXPIRED):
                # Still landable (the landing loop re-sends the same bytes) or expired (a fresh attempt).
                requeue.append(order.id)
    cutoff = timezone.now() - timedelta(seconds=settings.EXECUTION_STALE_SECONDS)
    # Paper orders too: one that was accepted but never queued (the broker refused it) waits here for its next message.
    modes = [Mode.PAPER] if mode is None else [mode, Mode.PAPER]
    stale = Order.objects.filter(status__in=NEEDS_ATTEMPT, mode__in=modes, updated_at__lt=cutoff).values_list(
        "id", flat=True)
    for order_id in stale:
        if order_id not in requeue and not order_lease_held(order_id):
            requeue.append(order_id)
            counts["stale"] += 1
    if requeue or mode is not None:  # a paper desk with nothing stale reports nothing
        counts["requeued"] = _enqueue(requeue)
    if len(requeue) > counts["requeued"]:
        counts["already_queued"] = len(requeue) - counts["requeued"]
    if any(counts.values()):
        log.info("orders reconciled: %s", dict(counts))
    return dict(counts)


def _enqueue(order_ids: list[int]) -> int:
    """Queue the orders again, except those whose earlier re-queued message no worker has taken yet: behind a backlog
    every pass (15 s) added one more message per waiting order, and the queue grew faster than it drained."""
    from trading.tasks import execute_order

    sent = 0
    for order_id in order_ids:
        if order_requeue_claim(order_id):
            execute_order.apply_async((order_id,), {"requeued": True}, ignore_result=True)  # the order row is the outcome
            sent += 1
    return sent


def wallets_reconcile() -> list[dict]:
    """Each wallet's on-chain balance per mint against the sum of its open positions, where no order of that wallet
    and mint is in flight; returns the mismatches."""
    mode = _mode()
    if mode is None:
        return []
    expected: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        Position.objects.filter(
            mode=mode, status__in=[PositionStatus.OPEN, PositionStatus.CLOSING], wallet__isnull=False
        )
        .values("wallet__public_key", "token__mint")
        .annotate(size=Sum("size"))
    )
    for row in rows:
        expected[row["wallet__public_key"]][row["token__mint"]] = int(row["size"] or 0)
    # A wallet and mint with an order in flight is left for the next pass: the chain may already show a swap whose
    # fill is not applied yet (a worker killed after the send), and that is no shortfall to page anyone about.
    in_flight = set(
        Order.objects.filter(mode=mode, position__wallet__isnull=False)
        .exclude(status__in=[OrderStatus.CONFIRMED, OrderStatus.FAILED])
        .values_list("position__wallet__public_key", "position__token__mint")
    )
    mismatches = []
    rpc = rpc_for_execution()
    for wallet, mints in expected.items():
        held = rpc.token_balances(wallet)
        for mint, size in mints.items():
            if (wallet, mint) in in_flight:
                continue
            on_chain = held.get(mint, 0)
            if on_chain != size:
                mismatches.append(
                    {"wallet": wallet, "mint": mint, "positions": size, "on_chain": on_chain, "difference": on_chain - size}
                )
    for item in mismatches:
        kind = "shortfall" if item["difference"] < 0 else "surplus"
        execution_alert(
            key=f"wallet_{kind}:{item['wallet'][:20]}:{item['mint'][:20]}",
            summary=(
                f"Wallet {item['wallet']} holds {item['on_chain']} base units of {item['mint']} on chain but its open "
                f"positions say {item['positions']} ({kind})."
            ),
            severity="critical" if kind == "shortfall" else "warning",
        )
    return mismatches
