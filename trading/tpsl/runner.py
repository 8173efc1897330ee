"""Running sweeps from beat: a lock so runs never overlap, a start throttle so a backlog never piles up, shards.

- The run lock (jarvis.locks.Lease) lives for less than one interval (TPSL_INTERVAL_SECONDS x 0.9) and a watchdog
  thread renews it while the run is alive: a slow run keeps it (the next ticks skip), a dead run loses it before the
  next tick, and a run whose renewal failed (someone else holds the lock) stops before claiming anything.
- The start marker (also shorter than the interval, never released) lets at most one run start per interval: beat
  messages that queued up behind a slow worker find it taken and return at once.
- Above TPSL_SHARD_BUDGET open positions the beat task splits the book by token id into shards and queues one
  `trading.tpsl_sweep_shard` task per shard, so more `tpsl` workers sweep more positions per second.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings

from jarvis.locks import Lease
from jarvis.redis import redis_client
from trading.models import Position, PositionStatus
from trading.tpsl.sweep import SweepReport, tpsl_sweep

logger = logging.getLogger(__name__)

LOCK_KEY = "jarvis:tpsl:sweep-lock:{shard}/{shards}"
START_KEY = "jarvis:tpsl:sweep-start:{shard}/{shards}"


def lock_seconds() -> float:
    return settings.TPSL_INTERVAL_SECONDS * 0.9


def shard_count() -> int:
    open_positions = Position.objects.filter(status=PositionStatus.OPEN).count()
    return max(1, math.ceil(open_positions / settings.TPSL_SHARD_BUDGET))


def sweep_locked(*, shard: int = 0, shards: int = 1) -> SweepReport | None:
    """Run one sweep of a shard unless one is running or one started less than an interval ago."""
    client = redis_client()
    ttl = lock_seconds()
    names = {"shard": shard, "shards": shards}
    if not client.set(START_KEY.format(**names), "1", nx=True, px=int(ttl * 1000)):
        return None
    with Lease(LOCK_KEY.format(**names), seconds=ttl, client=client) as lock:
        if lock is None:
            return None
        report = tpsl_sweep(shard=shard, shards=shards, still_owner=lock.owned)
    if report.claimed or report.unpriced:
        logger.info("tpsl sweep %s", report.as_dict())
    return report


def sweep_dispatch() -> SweepReport | int | None:
    """The beat task's body: sweep inline, or fan out to shard tasks when the book is too big for one."""
    shards = shard_count()
    if shards == 1:
        return sweep_locked()
    from trading.tpsl.tasks import tpsl_sweep_shard

    for shard in range(shards):
        tpsl_sweep_shard.apply_async((shard, shards), expires=settings.TPSL_INTERVAL_SECONDS * 2)
    return shards
