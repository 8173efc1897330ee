"""Reconciliation behind a backlog: an order whose re-queued message is still waiting is not queued again on every
pass (the chaos run saw 8 copies per order and a trades queue of 1,200 messages growing faster than it drained)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from trading.execution.locks import order_requeue_claim
from trading.execution.reconcile import orders_reconcile
from trading.models import Order, OrderStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_waiting_order_is_queued_again_once_until_a_worker_takes_the_message(desk, settings, monkeypatch):
    from trading.tasks import execute_order

    # The trades queue stands still (its workers are busy or down): what reconciliation publishes waits here.
    waiting: list[tuple] = []
    monkeypatch.setattr(execute_order, "apply_async", lambda args=None, kwargs=None, **options: waiting.append((args, kwargs)))
    settings.EXECUTION_STALE_SECONDS = 5
    order = desk.buy()  # written, its first message lost
    Order.objects.filter(id=order.id).update(updated_at=timezone.now() - timedelta(seconds=60))

    first = orders_reconcile()
    assert (first.get("stale"), first.get("requeued")) == (1, 1)
    second = orders_reconcile()  # no worker took the message yet
    assert (second.get("requeued"), second.get("already_queued")) == (0, 1)
    assert waiting == [((order.id,), {"requeued": True})]

    # A worker takes the message: the mark is cleared and the order lands, once.
    execute_order.apply(args=waiting[0][0], kwargs=waiting[0][1]).get()
    assert Order.objects.get(id=order.id).status == OrderStatus.CONFIRMED
    assert len([e for e in desk.sandbox.ledger.all(owner=desk.owner) if e.landed]) == 1
    assert order_requeue_claim(order.id)  # the task cleared the mark when it started
