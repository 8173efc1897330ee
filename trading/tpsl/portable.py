"""The sweep's set operations written with the ORM, for databases other than Postgres (the local SQLite desk).

Postgres (production, docker-compose, the tests) uses the single-statement SQL in sweep.py, claim.py and retry.py;
these do the same per mint and per row, which is fine for a local book of a few hundred positions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, Max, OuterRef, Q

from trading.models import Order, Position, Token
from trading.models.choices import ORDER_IN_FLIGHT
from trading.tpsl.decide import price_q

AUTO_REASONS = ("sl", "trailing", "tp", "time")


def open_mints(*, shard: int, shards: int) -> dict[int, str]:
    rows = Token.objects.filter(positions__status="open").distinct().values_list("id", "mint")
    return {tid: mint for tid, mint in rows if shards == 1 or tid % shards == shard}


def peaks_update(*, prices: dict[int, Decimal]) -> int:
    updated = 0
    for token_id, price in prices.items():
        armed = Position.objects.filter(
            token_id=token_id, status="open", trailing_factor__isnull=False,
            trailing_activation_price__lte=price, peak_price__lt=price,
        )
        for position in armed:
            position.peak_price = price
            position.trailing_stop_price = price_q(price * position.trailing_factor)
            position.save(update_fields=["peak_price", "trailing_stop_price"])
            updated += 1
    return updated


def candidates_find(*, prices: dict[int, Decimal], now: datetime, shard: int, shards: int) -> list[int]:
    in_flight = Order.objects.filter(position=OuterRef("pk"), side="sell", status__in=ORDER_IN_FLIGHT)
    open_free = Position.objects.filter(status="open").exclude(Exists(in_flight))
    found: set[int] = set()
    for token_id, price in prices.items():
        hit = Q(stop_price__gte=price) | Q(trailing_stop_price__gte=price) | Q(take_profit_price__lte=price)
        found.update(open_free.filter(hit, token_id=token_id).values_list("id", flat=True))
    timed = open_free.filter(time_stop_at__lte=now).values_list("id", "token_id")
    found.update(pid for pid, tid in timed if shards == 1 or tid % shards == shard)
    return sorted(found)


def claim_rows(*, candidate_ids: list[int]) -> list[tuple]:
    """The rows claim.CANDIDATES_SQL returns, without row locks (SQLite serialises writers anyway)."""
    import json

    rows = []
    positions = Position.objects.filter(id__in=candidate_ids, status="open").select_related("exit_plan", "trader__settings")
    for p in positions.order_by("id"):
        prefs = getattr(p.trader, "settings", None)
        rows.append((
            p.id, p.entry_price, p.size, p.original_size, p.peak_price, p.opened_at, p.token_id, p.mode,
            p.exit_stuck_at, json.dumps(p.exit_plan.spec), prefs and prefs.sell_slippage_bps,
            prefs and prefs.priority_fee_max_lamports,
        ))
    return rows


def failures_rows(*, position_ids: list[int]) -> list[tuple]:
    """(position id, failures since the last confirmed sell, last failure time, last error)."""
    confirmed = dict(
        Order.objects.filter(position_id__in=position_ids, side="sell", status="confirmed")
        .values("position_id").annotate(last=Max("id")).values_list("position_id", "last")
    )
    grouped: dict[int, list] = {}
    failed = Order.objects.filter(position_id__in=position_ids, side="sell", status="failed", reason__in=AUTO_REASONS)
    for pid, oid, updated_at, error in failed.order_by("id").values_list("position_id", "id", "updated_at", "error"):
        if oid > confirmed.get(pid, 0):
            entry = grouped.setdefault(pid, [0, updated_at, error])
            entry[0] += 1
            entry[1] = max(entry[1], updated_at)
            entry[2] = error
    return [(pid, count, last_at, error) for pid, (count, last_at, error) in grouped.items()]


def orders_insert(rows: list[dict]) -> dict[str, int]:
    Order.objects.bulk_create([Order(**row) for row in rows], ignore_conflicts=True)
    written = Order.objects.filter(client_id__in=[row["client_id"] for row in rows]).values_list("client_id", "id")
    return {str(client_id): order_id for client_id, order_id in written}
