"""Celery tasks of the trading core: interfaces only (load ids, call one service)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from trading.execution import tasks as _execution_tasks  # noqa: F401  (registers trading.reconcile_orders)


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
)
def execute_order(order_id: int, requeued: bool = False) -> None:
    """Run an order of any mode (trades queue, late acks). Safe to deliver twice: every step is a CAS on the order.
    `requeued`: queued by reconciliation, which queues the order again only once this message has been taken."""
    from trading.execution.locks import order_requeue_taken
    from trading.services.orders import order_execute

    if requeued:
        order_requeue_taken(order_id)
    order_execute(order_id=order_id)


@shared_task(name="trading.order_probe", soft_time_limit=5, time_limit=10)
def order_probe() -> str:
    """A no-op on the trades queue: its round trip is the floor order execution stands on (bench, health probes)."""
    return "ok"


@shared_task(name="trading.dca_run", soft_time_limit=30, time_limit=45, ignore_result=True)
def dca_run() -> None:
    """Beat, every DCA_TICK_SECONDS (tpsl queue, early acks: the next tick covers a lost one): place the due DCA buys."""
    from trading.services.dca import dca_due_run

    dca_due_run()


@shared_task(name="trading.launches_follow", soft_time_limit=30, time_limit=45, ignore_result=True)
def launches_follow() -> None:
    """Beat, every LAUNCH_TICK_SECONDS (tpsl queue, early acks: the next tick covers a lost one): poll bags.fm's launch
    feed and move the watched launches (notices, buys on launch or graduation)."""
    from trading.services.launches import launches_follow as follow

    follow()
