"""Reads the dashboard, the metrics collector and the alert rules share. Trading data only if trading is there."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from jarvis.celery import QUEUES
from monitoring import heartbeats
from monitoring.models import AlertEvent, UptimeMinute
from trading.prices import prices_get_many

# kombu's Redis transport keeps a queue's priorities in separate lists: "<queue>", "<queue>\x06\x163", ...
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
OPEN_STATUSES = ("opening", "open", "closing")


def celery_queues() -> list[str]:
    return list(QUEUES)


def queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue (Redis LLEN over the priority lists)."""
    client = heartbeats.redis_for(settings.REDIS_URL, timeout=settings.MONITORING_CHECK_TIMEOUT_SECONDS)
    queues = celery_queues()
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
        for step in _PRIORITY_STEPS:
            pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
    lengths = pipe.execute()
    per = 1 + len(_PRIORITY_STEPS)
    return {queue: sum(lengths[i * per:(i + 1) * per]) for i, queue in enumerate(queues)}


def worker_memory() -> dict[str, dict[str, int]]:
    """``{worker: {pid: rss bytes}}`` from the live workers' heartbeats."""
    client = heartbeats.redis_for(settings.REDIS_URL, timeout=settings.MONITORING_CHECK_TIMEOUT_SECONDS)
    stale_after = 3 * settings.MONITORING_WORKER_HEARTBEAT_SECONDS
    found: dict[str, dict[str, int]] = {}
    now = timezone.now().timestamp()
    for consumers in heartbeats.queue_consumers(client, celery_queues()).values():
        for worker, beat in consumers.items():
            if now - beat["ts"] <= stale_after:
                found[worker] = {pid: int(size) for pid, size in beat.get("rss", {}).items()}
    return found


def trading_models():
    """(Position, Order) when the trading app has them, else None (monitoring works before trading lands)."""
    if not apps.is_installed("trading"):
        return None
    try:
        return apps.get_model("trading", "Position"), apps.get_model("trading", "Order")
    except LookupError:
        return None


def open_positions_by_mode() -> dict[str, int]:
    models = trading_models()
    if models is None:
        return {}
    position = models[0]
    rows = position.objects.filter(status__in=OPEN_STATUSES).values("mode").annotate(n=Count("id"))
    return {row["mode"]: row["n"] for row in rows}


def exit_failures_since(since: datetime) -> int:
    models = trading_models()
    if models is None:
        return 0
    order = models[1]
    return order.objects.filter(side="sell", status="failed", updated_at__gte=since).exclude(reason="manual").count()


def trades_today() -> dict:
    models = trading_models()
    if models is None:
        return {"available": False}
    order = models[1]
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = order.objects.filter(created_at__gte=start).values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows}
    position = models[0]
    pnl = position.objects.filter(closed_at__gte=start).aggregate(total=Sum("realised_pnl_lamports"))["total"] or 0
    return {"available": True, "orders_by_status": by_status, "realised_pnl_lamports_today": int(pnl)}


def uptime_percentages(*, components: list[str] | None = None, now: datetime | None = None) -> dict[str, dict]:
    """Share of minutes up over 24 h, 7 d and 30 d. A minute without a record counts as down, from the
    component's first record on (so a new desk is not shown as down for the weeks before it existed)."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    everything = UptimeMinute.objects.filter(minute__lte=now)
    if components:
        everything = everything.filter(component__in=components)
    first_seen = dict(everything.values("component").annotate(first=Min("minute")).values_list("component", "first"))
    result: dict[str, dict] = {name: {} for name in first_seen}
    for label, days in (("24h", 1), ("7d", 7), ("30d", 30)):
        start = now - timedelta(days=days)
        up = dict(
            everything.filter(minute__gt=start, up=True).values("component").annotate(n=Count("id"))
            .values_list("component", "n")
        )
        for name, first in first_seen.items():
            expected = int((now - max(first, start + timedelta(minutes=1))).total_seconds() // 60) + 1
            result[name][label] = round(100 * up.get(name, 0) / max(expected, 1), 2)
    return result


def uptime_history(*, hours: int = 24, now: datetime | None = None) -> list[dict]:
    """Per component and hour: minutes up and minutes recorded."""
    now = now or timezone.now()
    rows = (
        UptimeMinute.objects.filter(minute__gt=now - timedelta(hours=hours))
        .annotate(hour=TruncHour("minute"))
        .values("component", "hour")
        .annotate(up=Count("id", filter=Q(up=True)), recorded=Count("id"))
        .order_by("hour", "component")
    )
    return [
        {"component": r["component"], "hour": r["hour"].isoformat(), "up_minutes": r["up"], "recorded_minutes": r["recorded"]}
        for r in rows
    ]


def _plain(row: dict) -> dict:
    """JSON-safe values: Decimal prices as strings (never floats), datetimes as ISO 8601."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        elif value.__class__.__name__ == "Decimal":
            out[key] = str(value)
        else:
            out[key] = value
    return out


def positions_open_list(*, limit: int = 200) -> list[dict] | None:
    models = trading_models()
    if models is None:
        return None
    rows = (
        models[0].objects.filter(status__in=OPEN_STATUSES)
        .order_by("-opened_at", "-id")
        .values("id", "trader__name", "token__mint", "token__symbol", "mode", "status", "size", "original_size",
                "cost_lamports", "entry_price", "peak_price", "realised_pnl_lamports", "opened_at")[:limit]
    )
    return [_plain(row) for row in rows]


def trades_recent_list(*, limit: int = 100) -> list[dict] | None:
    models = trading_models()
    if models is None:
        return None
    rows = (
        models[1].objects.order_by("-created_at", "-id")
        .values("id", "position_id", "side", "reason", "mode", "venue", "status", "amount_in", "amount_out_actual",
                "fill_price", "fee_lamports", "signature", "error", "created_at", "confirmed_at")[:limit]
    )
    return [_plain(row) for row in rows]


def alert_events_list(*, state: str | None = None, limit: int = 100) -> list[dict]:
    events = AlertEvent.objects.select_related("rule").order_by("-started_at")
    if state:
        events = events.filter(state=state)
    return [
        _plain({"id": e.pk, "rule": e.rule.name, "metric": e.rule.metric, "target": e.target, "state": e.state,
                "value": e.value, "message": e.message, "started_at": e.started_at, "resolved_at": e.resolved_at})
        for e in events[:limit]
    ]


def held_price_ages(*, now: float | None = None) -> dict[str, float | None] | None:
    """Age in seconds of the cached price of every token held in a live position (None: no price at all).

    Returns None when trading's price feed is not there (monitoring then falls back to the heartbeat).
    """
    models = trading_models()
    if models is None:
        return None
    mints = list(
        models[0].objects.filter(status__in=OPEN_STATUSES).values_list("token__mint", flat=True).distinct()[:1000]
    )
    points = prices_get_many(mints=mints) if mints else {}
    now = timezone.now().timestamp() if now is None else now
    return {mint: (max(0.0, now - points[mint].at) if mint in points else None) for mint in mints}


def price_feed_status(*, stale_after: float) -> tuple[bool, float | None, str]:
    """(fresh, oldest age or None, one-line detail) of the prices exits depend on."""
    ages = held_price_ages()
    if ages is None:
        beat = heartbeats.heartbeat_read(heartbeats.redis_for(settings.REDIS_URL), ["price_feed"])["price_feed"]
        if beat is None:
            return False, None, "the price feed has never sent a heartbeat"
        age = max(0.0, timezone.now().timestamp() - beat["ts"])
        return age <= stale_after, age, f"price feed heartbeat {age:.0f} s ago (limit {stale_after:.0f} s)"
    if not ages:
        return True, 0.0, "no open positions need a price"
    missing = sum(1 for age in ages.values() if age is None)
    known = [age for age in ages.values() if age is not None]
    oldest = max(known) if known else None
    stale = sum(1 for age in known if age > stale_after)
    if missing or stale:
        return False, oldest, (f"{missing + stale} of {len(ages)} held tokens have no price fresher than "
                               f"{stale_after:.0f} s; exits cannot trigger for them")
    return True, oldest, f"{len(ages)} held tokens priced, oldest {oldest:.0f} s ago"
