"""Celery tasks of the exit engine (queue `tpsl`, early acks: a lost tick is covered by the next one)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="trading.tpsl_sweep", soft_time_limit=20, time_limit=30, ignore_result=True)
def tpsl_sweep() -> None:
    """Beat, every TPSL_INTERVAL_SECONDS: sweep the book (or fan out to shard tasks)."""
    from trading.tpsl.runner import sweep_dispatch

    sweep_dispatch()


@shared_task(name="trading.tpsl_sweep_shard", soft_time_limit=20, time_limit=30, ignore_result=True)
def tpsl_sweep_shard(shard: int, shards: int) -> None:
    from trading.tpsl.runner import sweep_locked

    sweep_locked(shard=int(shard), shards=int(shards))


@shared_task(name="trading.tpsl_exits_publish", soft_time_limit=20, time_limit=30, ignore_result=True)
def tpsl_exits_publish(order_ids: list[int]) -> None:
    """Queue `trading.execute_order` for a slice of the exit orders one sweep claimed."""
    from trading.tpsl.publish import orders_publish

    orders_publish(order_ids=[int(i) for i in order_ids])
