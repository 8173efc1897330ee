"""What the admin's front page shows at a glance: a handful of queries and the cached readiness report.

Every part answers on its own: Redis down leaves queue depths and unrealised PnL unknown (shown as such), never
a broken page; the page is what an operator opens when something is wrong.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone as dt_timezone

from django.db.models import Case, Count, F, Q, Sum, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from monitoring.checks import readiness_cached
from monitoring.models import AlertEvent
from monitoring.selectors import queue_depths as depths
from trading.models import KillSwitch, Order, Position, Trader
from trading.models.choices import POSITION_LIVE
from trading.prices import prices_get_many
from trading.selectors import value_lamports

logger = logging.getLogger(__name__)

ALERTS_SHOWN = 5


def _guarded(name: str, read):
    """The value, or None when its store does not answer (logged once per page view)."""
    try:
        return read()
    except Exception as exc:  # Redis or a check down: the front page still renders
        logger.warning("front page: %s unavailable: %s", name, type(exc).__name__)
        return None


def health_overview() -> dict | None:
    def read() -> dict:
        report = readiness_cached()
        components = {name: {"status": c["status"], "detail": c["detail"]} for name, c in report["components"].items()}
        return {"status": report["status"], "checked_at": report["checked_at"], "components": components}

    return _guarded("readiness", read)


def queue_depths() -> dict[str, int] | None:
    return _guarded("queue depths", depths)


def mode_problem() -> str | None:
    """The sentence naming processes that run another trading mode than this one, or None (all agree, or unknown)."""
    from monitoring.modes import modes_disagreement, process_modes

    return _guarded("process modes", lambda: modes_disagreement(process_modes()))


def positions_overview() -> dict:
    """Open positions by status and mode, stuck exits, and failed sells of the last 24 hours."""
    live = Position.objects.filter(status__in=POSITION_LIVE)
    counts = live.aggregate(
        total=Count("id"),
        opening=Count("id", filter=Q(status="opening")),
        closing=Count("id", filter=Q(status="closing")),
        stuck=Count("id", filter=Q(exit_stuck_at__isnull=False)),
    )
    since = timezone.now() - timezone.timedelta(hours=24)
    counts["failed_sells_24h"] = Order.objects.filter(side="sell", status="failed", updated_at__gte=since).count()
    counts["by_mode"] = dict(live.values_list("mode").annotate(n=Count("id")).order_by())
    return counts


def pnl_today() -> dict:
    """Realised PnL of sells confirmed today (UTC) and unrealised PnL of what is held now at cached prices.

    Open positions are summed per token in SQL (value is linear in size), so this is one row per token held and
    one Redis MGET, however large the book. Tokens without a cached price are counted, not guessed.
    """
    start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    realised = Order.objects.filter(side="sell", status="confirmed", confirmed_at__gte=start).aggregate(
        v=Sum("realised_pnl_lamports"))["v"] or 0
    held = list(
        Position.objects.filter(status__in=POSITION_LIVE, size__gt=0)
        .values("token__mint", "token__decimals").annotate(size=Sum("size"), cost=Sum("cost_lamports")).order_by()
    )
    prices = _guarded("prices", lambda: prices_get_many(mints=[row["token__mint"] for row in held]))
    unrealised, unpriced = 0, 0
    for row in held:
        point = (prices or {}).get(row["token__mint"])
        if point is None:
            unpriced += 1
            continue
        unrealised += value_lamports(size=row["size"], decimals=row["token__decimals"], price=point.price) - row["cost"]
    return {"realised_lamports": int(realised), "unrealised_lamports": unrealised, "unpriced_tokens": unpriced,
            "prices_available": prices is not None}


def alerts_firing(*, limit: int = ALERTS_SHOWN) -> dict:
    firing = AlertEvent.objects.filter(state="firing").select_related("rule").order_by("-started_at")
    return {"count": firing.count(), "latest": list(firing[:limit])}


def kill_switch_global():
    """The global kill switch row, or None when it was never set (trading is on)."""
    return KillSwitch.objects.filter(trader__isnull=True).first()


def traders_paused() -> int:
    return Trader.objects.filter(is_paused=True).count()


CHART_DAYS = 7
AUTOMATIC_EXITS = ("tp", "sl", "trailing", "time", "kill")


def desk_week_series(*, days: int = CHART_DAYS, now: datetime | None = None) -> dict:
    """Per UTC day over the last `days` days (today last), for the front page's charts; a day with no data is 0.

    - pnl_lamports: realised PnL of the sells confirmed that day (Order.realised_pnl_lamports, as the fills set it);
    - volume_lamports: SOL moved by confirmed orders that day (a buy's lamports in, a sell's lamports out);
    - exit_latency_ms: the median, over the automatic exits (take-profit, stop, trailing, time, kill) triggered that
      day, of the time from the trigger (the exit order row the engine creates) to the order sent (`submitted_at`),
      or filled (`confirmed_at`) where no send time is recorded; exits_triggered counts them.
    """
    today = (now or timezone.now()).astimezone(dt_timezone.utc).date()
    day_list = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    start = datetime.combine(day_list[0], datetime.min.time(), tzinfo=dt_timezone.utc)
    end = start + timedelta(days=days)
    confirmed = Order.objects.filter(status="confirmed", confirmed_at__gte=start, confirmed_at__lt=end)
    per_day = (confirmed.annotate(day=TruncDate("confirmed_at", tzinfo=dt_timezone.utc)).values("day").order_by()
               .annotate(pnl=Sum("realised_pnl_lamports", filter=Q(side="sell")),
                         volume=Sum(Case(When(side="buy", then=F("amount_in")), default=F("amount_out_actual")))))
    pnl: dict[date, int] = {}
    volume: dict[date, int] = {}
    for row in per_day:
        pnl[row["day"]], volume[row["day"]] = int(row["pnl"] or 0), int(row["volume"] or 0)
    latencies: dict[date, list[float]] = defaultdict(list)
    exits = (Order.objects.filter(side="sell", reason__in=AUTOMATIC_EXITS, created_at__gte=start, created_at__lt=end)
             .annotate(sent=Coalesce("submitted_at", "confirmed_at")).filter(sent__isnull=False)
             .values_list("created_at", "sent"))
    for triggered, sent in exits.iterator():
        latencies[triggered.astimezone(dt_timezone.utc).date()].append((sent - triggered).total_seconds() * 1000)
    return {
        "days": day_list,
        "pnl_lamports": [pnl.get(d, 0) for d in day_list],
        "volume_lamports": [volume.get(d, 0) for d in day_list],
        "exit_latency_ms": [round(statistics.median(latencies[d])) if latencies.get(d) else 0 for d in day_list],
        "exits_triggered": [len(latencies.get(d, ())) for d in day_list],
    }


def desk_overview() -> dict:
    health = health_overview()
    by_status: dict[str, list[str]] = defaultdict(list)
    for name, component in (health or {}).get("components", {}).items():
        by_status[component["status"]].append(name)
    return {
        "health": health,
        "components_down": sorted(by_status.get("down", [])),
        "queues": queue_depths(),
        "mode_problem": mode_problem(),
        "positions": positions_overview(),
        "pnl": pnl_today(),
        "alerts": alerts_firing(),
        "kill_switch": kill_switch_global(),
        "traders_paused": traders_paused(),
    }
