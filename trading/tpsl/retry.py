"""Failed exits: backoff, the "stuck" flag, re-queueing claimed exits nobody picked up, and the stale-price alert.

Everything here is derived from the order rows themselves (failed automatic sells since the position's last
confirmed sell), so there is no counter to drift and no hook in the order state machine.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce

from jarvis.events import event_emit
from jarvis.redis import redis_client
from trading.events import event_publish
from trading.models import Order, OrderSide, OrderStatus, Position
from trading.models.choices import Mode
from trading.tpsl.publish import orders_enqueue

logger = logging.getLogger(__name__)

AUTO_REASONS = ("sl", "trailing", "tp", "time")
STALE_ALERT_KEY = "jarvis:tpsl:prices-stale-alert"


@dataclass(frozen=True)
class Failures:
    count: int
    last_at: datetime
    last_error: str


def failures_for(*, position_ids: list[int]) -> dict[int, Failures]:
    """Failed automatic exits of each position since its last confirmed sell (one query)."""
    if not position_ids:
        return {}
    sells = Order.objects.filter(position_id=OuterRef("position_id"), side=OrderSide.SELL)
    last_confirmed = sells.filter(status=OrderStatus.CONFIRMED).order_by("-id").values("id")[:1]
    failed = sells.filter(status=OrderStatus.FAILED, reason__in=AUTO_REASONS)
    rows = (
        Order.objects.filter(
            position_id__in=position_ids, side=OrderSide.SELL, status=OrderStatus.FAILED, reason__in=AUTO_REASONS,
            id__gt=Coalesce(Subquery(last_confirmed), 0),
        )
        .values("position_id")
        .annotate(count=Count("id"), last_at=Max("updated_at"), last_error=Subquery(failed.order_by("-id").values("error")[:1]))
        .values_list("position_id", "count", "last_at", "last_error")
    )
    return {pid: Failures(count, last_at, error or "") for pid, count, last_at, error in rows}


def backoff_seconds(*, position_id: int, failures: int) -> float:
    """Exponential backoff with a deterministic jitter of up to +20%; after the stuck threshold, the slow pace."""
    if failures <= 0:
        return 0.0
    if failures >= settings.TPSL_EXIT_MAX_FAILURES:
        base = float(settings.TPSL_STUCK_RETRY_SECONDS)
    else:
        base = min(float(settings.TPSL_RETRY_MAX_SECONDS), settings.TPSL_RETRY_BASE_SECONDS * 2 ** (failures - 1))
    digest = hashlib.blake2b(f"{position_id}:{failures}".encode(), digest_size=2).digest()
    return base * (1 + 0.2 * int.from_bytes(digest, "big") / 65535)


def attempt_due(*, position_id: int, failure: Failures | None, now: datetime) -> bool:
    if failure is None:
        return True
    wait = backoff_seconds(position_id=position_id, failures=failure.count)
    return now >= failure.last_at + timedelta(seconds=wait)


def stuck_update(*, stuck_at: dict[int, datetime | None], failures: dict[int, Failures], now: datetime) -> None:
    """Flag positions whose exits keep failing (once, with an "exit.stuck" event and an admin alert); clear the flag
    once they work. `stuck_at` maps the candidate positions to their current flag."""
    to_flag = [
        pid for pid, flagged in stuck_at.items()
        if flagged is None and pid in failures and failures[pid].count >= settings.TPSL_EXIT_MAX_FAILURES
    ]
    to_clear = [pid for pid, flagged in stuck_at.items() if flagged is not None and pid not in failures]
    if to_clear:
        Position.objects.filter(id__in=to_clear).update(exit_stuck_at=None)
    for position in Position.objects.filter(id__in=to_flag).select_related("trader", "token"):
        failure = failures[position.id]
        Position.objects.filter(id=position.id).update(exit_stuck_at=now)
        event_publish(
            kind="exit.stuck",
            trader=position.trader,
            payload={
                "position_id": position.id,
                "mint": position.token.mint,
                "symbol": position.token.symbol,
                "failures": failure.count,
                "last_error": failure.last_error[:300],
                "retry_every_seconds": settings.TPSL_STUCK_RETRY_SECONDS,
                "notify_admins": True,
            },
        )
        logger.error("position %s: %s automatic exits failed; flagged as stuck", position.id, failure.count)
        summary = (
            f"Automatic exits of position #{position.id} ({position.token.symbol or position.token.mint}) failed "
            f"{failure.count} times; still retrying every {settings.TPSL_STUCK_RETRY_SECONDS}s."
        )
        transaction.on_commit(lambda key=f"tpsl.exit_stuck.{position.id}", text=summary: admin_alert(key=key, summary=text))


def stalled_exits_requeue(*, now: datetime) -> list[int]:
    """Paper exits claimed but never picked up (a worker died between commit and publish): queue them again.

    On-chain modes are covered by execution's reconcile_orders. Execution claims an order by CAS, so a
    duplicate message is harmless.
    """
    cutoff = now - timedelta(seconds=settings.TPSL_EXIT_REQUEUE_SECONDS)
    stalled = Order.objects.filter(
        side=OrderSide.SELL, reason__in=AUTO_REASONS, status=OrderStatus.PENDING, mode=Mode.PAPER, updated_at__lt=cutoff
    )
    ids = list(stalled.values_list("id", flat=True)[:500])
    if ids:
        Order.objects.filter(id__in=ids, status=OrderStatus.PENDING).update(updated_at=now)
        orders_enqueue(order_ids=ids)
        logger.warning("re-queued %s stalled exit orders", len(ids))
    return ids


def prices_stale_alert(*, mints: list[str], max_age_seconds: int) -> bool:
    """At most once a minute: a "prices.stale" domain event naming the mints with open positions and no fresh price."""
    if not redis_client().set(STALE_ALERT_KEY, "1", nx=True, ex=settings.TPSL_STALE_ALERT_EVERY_SECONDS):
        return False
    logger.warning("no fresh price for %s mints with open positions (first: %s)", len(mints), mints[:3])
    admin_alert(
        key="tpsl.prices_stale",
        summary=f"No fresh price (older than {max_age_seconds}s) for {len(mints)} mints with open positions; "
        "their exits cannot trigger (time stops still do).",
    )
    event_publish(
        kind="prices.stale",
        trader=None,
        payload={"mints": sorted(mints)[:100], "count": len(mints), "max_age_seconds": max_age_seconds},
    )
    return True


def admin_alert(*, key: str, summary: str) -> None:
    """Tell the admins: a critical "alert.raise" event (monitoring raises it); a subscriber's failure never reaches
    the sweep (jarvis.events)."""
    event_emit("alert.raise", {"key": key, "summary": summary, "severity": "critical"})
