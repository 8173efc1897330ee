"""Reconciliation behind a backlog: an order whose re-queued message is still waiting is not queued again on every
pass (the chaos run saw 8 copies per order and a trades queue of 1,200 messages growing faster than it drained)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from trading.execution.locks import order_requeue_claim
from trading.execution.reconcile import orders_reconcile
from trading.models import Order, OrderStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _queued(redis_client, order_id: int) -> list[dict]:
    """The trades queue's execute_order messages for this order, as Celery wrote them."""
    found = []
    for raw in redis_client.lrange("trades", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "trading.execute_order" and message["headers"]["argsrepr"] == f"({order_id},)":
            found.append(message)
    return found


def test_a_waiting_order_is_queued_again_once_until_a_worker_takes_the_message(desk, settings, redis_client):
    settings.EXECUTION_STALE_SECONDS = 5
    order = desk.buy()  # written, its first message lost
    Order.objects.filter(id=order.id).update(updated_at=timezone.now() - timedelta(seconds=60))

    first = orders_reconcile()
    assert (first.get("stale"), first.get("requeued")) == (1, 1)
    second = orders_reconcile()  # no worker took the message yet: it waits in the queue
    assert (second.get("requeued"), second.get("already_queued")) == (0, 1)
    messages = _queued(redis_client, order.id)
    assert len(messages) == 1

    # A worker takes the message: the order lands once, and the next stale order may be queued again.
    from trading.tasks import execute_order

    redis_client.delete("trades")
    execute_order.apply(args=(order.id,), kwargs={"requeued": True}).get()
    assert Order.objects.get(id=order.id).status == OrderStatus.CONFIRMED
    assert len([e for e in desk.sandbox.ledger.all(owner=desk.owner) if e.landed]) == 1
    assert order_requeue_claim(order.id)  # the task cleared the mark when it started
    assert orders_reconcile().get("requeued", 0) == 0  # nothing left to queue
