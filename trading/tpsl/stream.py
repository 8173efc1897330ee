"""Exits and limit orders driven by price events: the stream (trading.pricestream) queues `trading.tpsl_evaluate_mint`
when a mint's price moves, and this evaluates that one mint at once, with the price the stream just cached: its
positions' peaks, then the sweep's index lookup (trading.tpsl.sweep.triggers_find) with a VALUES list of that one mint,
so only its triggered positions and limit orders are read (range scans on the partial (token, trigger) indexes), then
the sweep's claim and limit firing.

No sweep lock is taken: the claim is the guarantee. Exit orders are inserted against the `one_inflight_exit_per_position`
unique index with the candidate rows locked FOR UPDATE SKIP LOCKED, and a limit order is placed under its own row
lock while still `active`, so an event and the beat sweep racing on a position or a limit order place one order. The
beat sweep stays as the safety net (a lost event, a row skipped while the other held it, a mint without a stream) and
keeps the clock: time stops and expiries are the sweep's alone.
"""

from __future__ import annotations

from django.utils import timezone

from jarvis.redis import redis_client
from trading.models import Token
from trading.prices import price_get
from trading.pricestream import EVENT_MARKER
from trading.tpsl.sweep import SweepReport, mints_evaluate


def mint_evaluate(*, mint: str) -> SweepReport | None:
    """Evaluate the triggered positions and limit orders of `mint` on its cached price. None when the mint has no
    token."""
    redis_client().delete(EVENT_MARKER + mint)  # from here on, a newer price queues another evaluation
    token_id = Token.objects.filter(mint=mint).values_list("id", flat=True).first()
    if token_id is None:
        return None
    point = price_get(mint=mint)
    return mints_evaluate(report=SweepReport(), mints={token_id: mint}, points={} if point is None else {mint: point},
                          now=timezone.now(), time_stops=False)
