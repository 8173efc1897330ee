"""Celery tasks of the trading core: interfaces only (load ids, call one service)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from trading.execution import tasks as _execution_tasks  # noqa: F401  (registers trading.reconcile_orders)

PAPER_ORDER_HEADER = "jarvis_paper_order"  # on an execute_order message queued for a paper order


@shared_task(
    name="trading.execute_order",
    soft_time_limit=120,
    time_limit=150,
    # the database or Redis blinked; the state machine makes a rerun safe
    autoretry_for=(OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=5,
    ignore_result=False,
    bind=True,
)
def execute_order(self, order_id: int, requeued: bool = False) -> None:
    """Run an order (trades queue, late acks). Safe to deliver twice: the venue path claims the order by CAS.
    `requeued`: queued by reconciliation, which queues the order again only once this message has been taken.
    A message with the PAPER_ORDER_HEADER was queued for a paper order (see order_enqueue); a header, not an argument,
    so a worker that predates it simply takes the general path."""
    from trading.services.orders import order_execute

    if requeued:
        from trading.execution.locks import order_requeue_taken

        order_requeue_taken(order_id)
    headers = self.request.headers if isinstance(self.request.headers, dict) else {}
    paper = bool(self.request.get(PAPER_ORDER_HEADER) or headers.get(PAPER_ORDER_HEADER))
    order_execute(order_id=order_id, paper=paper)


@shared_task(name="trading.order_probe", soft_time_limit=5, time_limit=10)
def order_probe() -> str:
    """A no-op on the trades queue: its round trip is the floor order execution stands on (bench, health probes)."""
    return "ok"
