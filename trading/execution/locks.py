"""One lander per order: a short Redis lease, renewed while the landing loop runs.

A worker killed mid-landing stops renewing, the lease lapses after EXECUTION_LOCK_SECONDS, and reconciliation (or
the redelivered task) takes over from the persisted signature. The lease never decides correctness on its own: every
status change is still a compare-and-swap on the order row.
"""

from __future__ import annotations

import redis
from django.conf import settings

from jarvis.locks import Lease
from jarvis.redis import redis_client

KEY = "jarvis:order:{order_id}:lander"


class OrderLease(Lease):
    """The order's lander lease; `renew()` costs a Redis call only once a third of it has passed."""

    def __init__(self, order_id: int, *, seconds: int | None = None):
        seconds = seconds or settings.EXECUTION_LOCK_SECONDS
        super().__init__(KEY.format(order_id=order_id), seconds=seconds, renew_every=seconds / 3)


def order_lease_held(order_id: int) -> bool:
    return bool(redis_client().exists(KEY.format(order_id=order_id)))


REQUEUED_KEY = "jarvis:order:{order_id}:requeued"
REQUEUED_GUARD_SECONDS = 60


def order_requeue_claim(order_id: int, *, seconds: int = REQUEUED_GUARD_SECONDS) -> bool:
    """True when reconciliation may queue this order again: no message it queued earlier is still waiting (the task
    clears the mark when it starts), or that one was queued more than `seconds` ago and may have been lost."""
    return bool(redis_client().set(REQUEUED_KEY.format(order_id=order_id), 1, nx=True, ex=seconds))


def order_requeue_taken(order_id: int) -> None:
    """The message reconciliation queued has reached a worker: a later pass may queue the order again."""
    redis_client().delete(REQUEUED_KEY.format(order_id=order_id))


SIGNATURE_KEY = "jarvis:signature:{signature}"


def signature_claim(*, signature: str, order_id: int, seconds: int = 600) -> bool:
    """Claim a transaction signature for one order. Two orders of the same wallet, amount and token quoted within one
    block get byte-identical transactions; the cluster lands one, and both orders would see it confirmed. The loser of
    this claim re-quotes on a later blockhash instead. (A blockhash lives ~90 s; the claim outlives it.)"""
    key = SIGNATURE_KEY.format(signature=signature)
    client = redis_client()
    if client.set(key, order_id, nx=True, ex=seconds):
        return True
    return client.get(key) == str(order_id).encode()


IDENTICAL_BUY_KEY = "jarvis:buy:{wallet}:{mint}:{amount}"
IDENTICAL_BUY_SECONDS = 2  # a few blocks: the window in which two such buys would get the same blockhash


def identical_buy_offset(*, wallet: str, mint: str, amount: int) -> int:
    """Lamports to take off a buy so it differs from the same wallet's other buys of the same amount and token in the
    last seconds: 0 for the first, 1 for the second, ... (one Redis round trip). Such buys quoted in one block would
    otherwise be byte-identical transactions (see signature_claim) and all but one re-quoted. Redis down: 0 (the
    signature claim still catches a clash)."""
    if amount <= 1:
        return 0
    key = IDENTICAL_BUY_KEY.format(wallet=wallet, mint=mint, amount=amount)
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, IDENTICAL_BUY_SECONDS)
        seen = pipe.execute()[0]
    except redis.RedisError:
        return 0
    return min(int(seen) - 1, 1000, amount - 1)
