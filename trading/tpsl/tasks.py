"""Celery tasks of the exit engine (queue `tpsl`, early acks: a lost tick is covered by the next one).

Time limits fit the job: a sweep takes well under a second; its price fetch gives up after 5 s (trading.prices), so a
run past 10 s is hung (soft limit, also what monitoring.stuck expects) and is killed at 15 s."""

from __future__ import annotations

from celery import shared_task

from trading.tpsl.runner import sweep_dispatch, sweep_locked
from trading.tpsl.publish import orders_publish
from trading.tpsl.stream import mint_evaluate


@shared_task(name="trading.tpsl_sweep", soft_time_limit=10, time_limit=15, ignore_result=True)
def tpsl_sweep() -> None:
    """Beat, every TPSL_INTERVAL_SECONDS: sweep the book (or fan out to shard tasks)."""
    sweep_dispatch()


@shared_task(name="trading.tpsl_sweep_shard", soft_time_limit=10, time_limit=15, ignore_result=True)
def tpsl_sweep_shard(shard: int, shards: int) -> None:
    sweep_locked(shard=int(shard), shards=int(shards))


@shared_task(name="trading.tpsl_exits_publish", soft_time_limit=10, time_limit=15, ignore_result=True)
def tpsl_exits_publish(order_ids: list[int]) -> None:
    """Queue `trading.execute_order` for a slice of the exit orders one sweep claimed."""
    orders_publish(order_ids=[int(i) for i in order_ids])


@shared_task(name="trading.tpsl_evaluate_mint", soft_time_limit=10, time_limit=15, ignore_result=True)
def tpsl_evaluate_mint(mint: str) -> None:
    """A price event from the stream (trading.pricestream): evaluate `mint`'s triggered exits and limit orders now."""
    mint_evaluate(mint=str(mint))
