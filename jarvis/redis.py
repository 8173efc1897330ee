"""The desk's Redis clients: one shared client (and connection pool) per URL and timeout, for every app.

    from jarvis.redis import redis_client
    redis_client().get(key)                        # REDIS_URL, 2 s socket timeouts, redis-py's retries
    redis_client(url, timeout=1.0, retry=False)    # a health check: one try, an error within `timeout`

Socket timeouts are always set, so a dead or hung Redis answers an error, never a hang.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_client(url: str | None = None, *, timeout: float = 2.0, retry: bool = True) -> redis.Redis:
    """The shared client of `url` (REDIS_URL when not given). `retry=False`: a failed call is not tried again
    (readiness checks and heartbeats, which must answer within their own timeout)."""
    return _client(url or settings.REDIS_URL, float(timeout), retry)


@functools.lru_cache(maxsize=32)
def _client(url: str, timeout: float, retry: bool) -> redis.Redis:
    extra = {} if retry else {"retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, **extra)
