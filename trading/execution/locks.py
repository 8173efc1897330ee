"""One lander per order: a short Redis lease, renewed while the landing loop runs.

A worker killed mid-landing stops renewing, the lease lapses after EXECUTION_LOCK_SECONDS, and reconciliation (or
the redelivered task) takes over from the persisted signature. The lease never decides correctness on its own: every
status change is still a compare-and-swap on the order row.
"""

from __future__ import annotations

import functools
import time

import redis
from django.conf import settings

KEY = "jarvis:order:{order_id}:lander"


@functools.lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


class OrderLease:
    def __init__(self, order_id: int, *, seconds: int | None = None):
        self.seconds = seconds or settings.EXECUTION_LOCK_SECONDS
        self._renewed_at = float("-inf")
        self._lock = _client(settings.REDIS_URL).lock(
            KEY.format(order_id=order_id), timeout=self.seconds, blocking=False, thread_local=False
        )

    def acquire(self) -> bool:
        held = bool(self._lock.acquire(blocking=False))
        if held:
            self._renewed_at = time.monotonic()
        return held

    def renew(self) -> bool:
        """Push the lease's expiry out again (a Redis call only once a third of it has passed). If it lapsed while
        nobody else took it, take it back; False only when another lander holds it now (every status change is a
        compare-and-swap anyway, so a lapse is never unsafe)."""
        if time.monotonic() - self._renewed_at < self.seconds / 3:
            return True
        try:
            self._lock.reacquire()
            self._renewed_at = time.monotonic()
            return True
        except redis.exceptions.LockError:
            return self.acquire()

    def release(self) -> None:
        try:
            self._lock.release()
        except redis.exceptions.LockError:
            pass

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def order_lease_held(order_id: int) -> bool:
    return bool(_client(settings.REDIS_URL).exists(KEY.format(order_id=order_id)))


REQUEUED_KEY = "jarvis:order:{order_id}:requeued"
REQUEUED_GUARD_SECONDS = 60


def order_requeue_claim(order_id: int, *, seconds: int = REQUEUED_GUARD_SECONDS) -> bool:
    """True when reconciliation may queue this order again: no message it queued earlier is still waiting (the task
    clears the mark when it starts), or that one was queued more than `seconds` ago and may have been lost."""
    return bool(_client(settings.REDIS_URL).set(REQUEUED_KEY.format(order_id=order_id), 1, nx=True, ex=seconds))


def order_requeue_taken(order_id: int) -> None:
    """The message reconciliation queued has reached a worker: a later pass may queue the order again."""
    _client(settings.REDIS_URL).delete(REQUEUED_KEY.format(order_id=order_id))


SIGNATURE_KEY = "jarvis:signature:{signature}"


def signature_claim(*, signature: str, order_id: int, seconds: int = 600) -> bool:
    """Claim a transaction signature for one order. Two orders of the same wallet, amount and token quoted within one
    block get byte-identical transactions; the cluster lands one, and both orders would see it confirmed. The loser of
    this claim re-quotes on a later blockhash instead. (A blockhash lives ~90 s; the claim outlives it.)"""
    key = SIGNATURE_KEY.format(signature=signature)
    client = _client(settings.REDIS_URL)
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
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, IDENTICAL_BUY_SECONDS)
        seen = pipe.execute()[0]
    except redis.RedisError:
        return 0
    return min(int(seen) - 1, 1000, amount - 1)
