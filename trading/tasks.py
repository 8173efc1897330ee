"""Celery tasks of the trading core: interfaces only (load ids, call one service)."""

from __future__ import annotations

from celery import shared_task

from trading.execution import tasks as _execution_tasks  # noqa: F401  (registers trading.reconcile_orders)


@shared_task(name="trading.execute_order", soft_time_limit=120, time_limit=150)
def execute_order(order_id: int) -> None:
    """Run an order (trades queue, late acks). Safe to deliver twice: the venue path claims the order by CAS."""
    from trading.services.orders import order_execute

    order_execute(order_id=order_id)
