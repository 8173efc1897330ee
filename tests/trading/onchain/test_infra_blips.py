"""An order whose attempt is stopped by Redis or Postgres going away (before anything is signed and persisted) is
left as it was for the task's retry, not failed: the chaos run failed a dozen exits around its Redis and Postgres
restarts and told each trader "did not go through" for sells the desk then made anyway."""

from __future__ import annotations

import pytest
import redis

from trading.execution.locks import OrderLease
from trading.execution.onchain import Lander
from trading.models import Order, OrderStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_redis_going_away_mid_attempt_leaves_the_order_for_a_retry_and_sends_nothing(desk, settings):
    order = desk.buy()
    lease = OrderLease(order.id)
    assert lease.acquire()
    good = settings.REDIS_URL
    try:
        settings.REDIS_URL = "redis://127.0.0.1:9/0"  # Redis is down for the signature claim that follows the quote
        with pytest.raises(redis.exceptions.ConnectionError):
            Lander(order_id=order.id, lease=lease).run()
    finally:
        settings.REDIS_URL = good
        lease.release()
    order.refresh_from_db()
    assert (order.status, order.error, order.signature) == (OrderStatus.PENDING, "", "")
    assert desk.sandbox.ledger.all(owner=desk.owner) == []

    # The retry, with Redis back, lands it once.
    from trading.tasks import execute_order

    execute_order.apply(args=(order.id,)).get()
    assert Order.objects.get(id=order.id).status == OrderStatus.CONFIRMED
    assert len([e for e in desk.sandbox.ledger.all(owner=desk.owner) if e.landed]) == 1
