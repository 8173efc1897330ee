"""The desk's Redis clients: one shared client (and connection pool) per URL and timeout, for every app.

    from jarvis.redis import redis_client
    redis_client().get(key)                        # REDIS_URL, 2 s socket timeouts
    redis_client(url, timeout=1.0, retry=False)    # a health check: one try, an error within `timeout`

Socket timeouts are always set, so a dead or hung Redis answers an error, never a hang.

A Redis Sentinel URL, as Celery writes it (`sentinel://[:password@]host:26379[/db];sentinel://host2:26379;...`),
gives a client of the master named REDIS_SENTINEL_MASTER: redis-py asks the sentinels where the master is on every
new connection, and drops a connection to a former master (now a replica), so a failover costs a reconnect; a call
made while there is no master tries again for a few seconds (FAILOVER_RETRY). Django's cache uses the same pool
class (`SentinelPool`, settings.CACHES).
"""

from __future__ import annotations

import functools
from urllib.parse import unquote, urlsplit

import redis
from django.conf import settings
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool


def redis_client(url: str | None = None, *, timeout: float = 2.0, retry: bool = True) -> redis.Redis:
    """The shared client of `url` (REDIS_URL when not given). `retry=False`: a failed call is not tried again
    (readiness checks and heartbeats, which must answer within their own timeout)."""
    return _client(url or settings.REDIS_URL, float(timeout), retry)


def is_sentinel(url: str) -> bool:
    return url.startswith("sentinel://")


def sentinel_parse(url: str) -> dict:
    """`sentinels` [(host, port)], and the master's `db`, `username` and `password` (the first address giving them)."""
    parts = [urlsplit(part) for part in url.split(";")]
    dbs = [part.path.lstrip("/") for part in parts if part.path.lstrip("/")]
    return {
        "sentinels": [(part.hostname, part.port) for part in parts],
        "db": int(dbs[0]) if dbs else 0,
        "username": next((unquote(part.username) for part in parts if part.username), None),
        "password": next((unquote(part.password) for part in parts if part.password), None),
    }


class SentinelPool(SentinelConnectionPool):
    """redis-py's pool of the Sentinel-managed master, built from a sentinel:// URL like any pool (`from_url`)."""

    @classmethod
    def from_url(cls, url: str, **options) -> SentinelPool:
        parsed = sentinel_parse(url)
        timeouts = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options}
        manager = Sentinel(parsed.pop("sentinels"), sentinel_kwargs=timeouts)
        return cls(settings.REDIS_SENTINEL_MASTER, manager, **parsed, **options)


# Through Sentinel, a call that finds no master (the old one gone, the new one not yet promoted: Sentinel's
# down-after-milliseconds plus an election) tries again for about 6 s (0.2 s, 0.4 s, 0.8 s, then every second).
FAILOVER_RETRY = Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=8)


@functools.lru_cache(maxsize=32)
def _client(url: str, timeout: float, retry: bool) -> redis.Redis:
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if not retry:
        options.update(retry=Retry(NoBackoff(), 0), health_check_interval=0)
    elif is_sentinel(url):
        options.update(retry=FAILOVER_RETRY)
    pool_class = SentinelPool if is_sentinel(url) else redis.ConnectionPool
    return redis.Redis(connection_pool=pool_class.from_url(url, **options))
