"""Exits driven by price events: the stream (trading.pricestream) queues `trading.tpsl_evaluate_mint` when a mint's
price moves, and this evaluates at once, with the price the stream just cached, under the same lock and through the same
index lookup and claim as the beat sweep (trading.tpsl.sweep), so an event and the sweep never both sell a position.

The sweep takes no mint filter, so an event sweeps the shard that holds the mint (all of the book below
TPSL_SHARD_BUDGET open positions) without refreshing prices: every other mint is judged on its cached price, which the
same freshness rule guards. The stream's per-mint marker keeps it to one waiting evaluation per mint.
"""

from __future__ import annotations

from jarvis.locks import Lease
from jarvis.redis import redis_client
from trading.models import Token
from trading.pricestream import EVENT_MARKER
from trading.tpsl.runner import LOCK_KEY, lock_seconds, shard_count
from trading.tpsl.sweep import SweepReport, tpsl_sweep


def mint_evaluate(*, mint: str) -> SweepReport | bool | None:
    """Evaluate the shard of `mint` on cached prices. None when the mint has no token; False when a sweep of that shard
    holds the lock (the caller tries again: that sweep may have read the price before this event)."""
    client = redis_client()
    client.delete(EVENT_MARKER + mint)  # from here on, a newer price queues another evaluation
    token_id = Token.objects.filter(mint=mint).values_list("id", flat=True).first()
    if token_id is None:
        return None
    shards = shard_count()
    shard = token_id % shards if shards > 1 else 0
    with Lease(LOCK_KEY.format(shard=shard, shards=shards), seconds=lock_seconds(), client=client) as lock:
        if lock is None:
            return False
        return tpsl_sweep(shard=shard, shards=shards, refresh=False, still_owner=lock.owned)
