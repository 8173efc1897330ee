"""Celery interface of execution: reconciliation on beat (default queue). Imported by trading/tasks.py."""

from __future__ import annotations

from celery import shared_task

from trading.execution.reconcile import orders_reconcile, wallets_reconcile


@shared_task(name="trading.reconcile_orders", soft_time_limit=50, time_limit=60)
def reconcile_orders(wallets: bool = False) -> dict:
    """Resolve in-flight orders by signature status (and, with ``wallets``, compare on-chain balances with positions)."""
    result: dict = {"orders": orders_reconcile()}
    if wallets:
        result["wallet_mismatches"] = wallets_reconcile()
    return result
