"""Queueing the exit orders a sweep claimed (or found stalled) for execution on the trades queue."""

from __future__ import annotations

from django.conf import settings


def orders_enqueue(*, order_ids: list[int]) -> None:
    """Queue execution of new exit orders. A few are published here; a burst (a crash across many positions) is
    handed to `trading.tpsl_exits_publish` tasks in slices, so publishing hundreds of messages runs on the tpsl
    workers in parallel instead of inside the sweep. Nothing is lost if a slice task is: the orders are rows, and a
    pending exit nobody picks up is queued again (stalled_exits_requeue, execution's reconciliation)."""
    if not order_ids:
        return
    if len(order_ids) <= settings.TPSL_INLINE_PUBLISH_MAX:
        orders_publish(order_ids=order_ids)
        return
    from trading.tpsl.tasks import tpsl_exits_publish

    size = max(settings.TPSL_INLINE_PUBLISH_MAX, -(-len(order_ids) // settings.TPSL_PUBLISH_SLICES))
    with tpsl_exits_publish.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        for start in range(0, len(order_ids), size):
            tpsl_exits_publish.apply_async((order_ids[start : start + size],), producer=producer)


def orders_publish(*, order_ids: list[int]) -> None:
    """Publish `trading.execute_order` for each id (trades queue) over one pooled broker connection, batched."""
    from trading.tasks import execute_order

    with execute_order.app.producer_or_acquire() as producer, producer.batch(max_size=1000):
        for order_id in order_ids:  # one Redis pipeline for the whole slice
            execute_order.apply_async((order_id,), producer=producer)
