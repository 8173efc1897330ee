"""One sweep of the exit engine: prices -> bulk peaks -> index lookup -> decide -> claim (CAS) -> enqueue.

Every step is a set operation over the mints of the sweep (one statement each, the same on Postgres and SQLite),
except the decision, which runs in Python only for the positions the index lookup found triggered (about 1% of the
book on a busy tick).

Claiming (trading/tpsl/claim.py) is a compare-and-swap twice over: the candidate rows are locked with FOR UPDATE
SKIP LOCKED (where the database has row locks), and all exit orders of the tick are inserted in one bulk insert with
ON CONFLICT DO NOTHING against the `one_inflight_exit_per_position` unique index, so a trader's /sell and an
automatic exit are never both in flight.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.db.models.functions import Mod
from django.utils import timezone

from trading.models import LimitOrder, Order, Position, PositionStatus, Token
from trading.models.choices import ORDER_IN_FLIGHT
from trading.prices import HTTP_TIMEOUT as PRICE_HTTP_TIMEOUT
from trading.prices import PricePoint, prices_get_many, prices_refresh
from trading.tpsl import retry
from trading.tpsl.claim import exits_claim
from trading.tpsl.decide import PRICE_OK, price_status
from trading.tpsl.limits import limits_fire

logger = logging.getLogger(__name__)

POSITION = Position._meta.db_table
ORDER = Order._meta.db_table
LIMIT = LimitOrder._meta.db_table
_IN_FLIGHT = tuple(str(s) for s in ORDER_IN_FLIGHT)
PRICE_CHUNK = 4 * 49  # four Jupiter requests per thread (49 mints + SOL each)


@dataclass
class SweepReport:
    shard: int = 0
    shards: int = 1
    mints: int = 0
    fresh: int = 0
    unpriced: list[str] = field(default_factory=list)
    peaks_updated: int = 0
    candidates: int = 0
    claimed: list[int] = field(default_factory=list)
    deferred: int = 0
    contested: int = 0
    limits: int = 0
    limits_placed: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = dict(self.__dict__)
        data["unpriced"] = len(self.unpriced)
        data["claimed"] = len(self.claimed)
        data["limits_placed"] = len(self.limits_placed)
        return data


def stale_after() -> timedelta:
    return timedelta(seconds=settings.TPSL_PRICE_MAX_AGE_SECONDS)


def _values(prices: dict[int, Decimal]) -> tuple[str, list]:
    """`WITH v(token_id, price) AS (VALUES ...)` for one statement over every mint of the sweep (Postgres and SQLite)."""
    params: list = []
    for token_id, price in prices.items():
        params += [token_id, price]
    return "WITH v(token_id, price) AS (VALUES " + ", ".join(["(%s, %s)"] * len(prices)) + ")", params


def open_mints(*, shard: int = 0, shards: int = 1) -> dict[int, str]:
    """token id -> mint for every token with an open position or an active limit order (in this shard)."""
    tokens = Token.objects.filter(
        Exists(Position.objects.filter(token=OuterRef("pk"), status=PositionStatus.OPEN))
        | Exists(LimitOrder.objects.filter(token=OuterRef("pk"), status=LimitOrder.Status.ACTIVE))
    )
    if shards > 1:
        tokens = tokens.annotate(shard=Mod("id", shards)).filter(shard=shard)
    return dict(tokens.values_list("id", "mint"))


_http: httpx.Client | None = None


def _http_client() -> httpx.Client:
    """One HTTP client per process for the price feed (thread-safe; keeps connections alive between ticks)."""
    global _http
    if _http is None:
        _http = httpx.Client(timeout=PRICE_HTTP_TIMEOUT, limits=httpx.Limits(max_connections=32))
    return _http


def prices_for(*, mints: list[str], refresh: bool = True) -> dict[str, PricePoint]:
    """Fresh prices where the sources answer, the cached point otherwise (it may be stale: decide() says so).

    The refresh runs in PRICE_CHUNK-mint slices on a few threads: each slice is a few batched requests, and a
    remote price API's round trips overlap instead of adding up.
    """
    points: dict[str, PricePoint] = {}
    if refresh and mints:
        chunks = [mints[i : i + PRICE_CHUNK] for i in range(0, len(mints), PRICE_CHUNK)]
        client = _http_client()
        if len(chunks) == 1:
            points.update(prices_refresh(mints=chunks[0], client=client))
        else:
            with ThreadPoolExecutor(max_workers=min(len(chunks), settings.TPSL_PRICE_FETCH_THREADS)) as pool:
                for found in pool.map(lambda chunk: prices_refresh(mints=chunk, client=client), chunks):
                    points.update(found)
    missing = [m for m in mints if m not in points]
    if missing:
        points.update(prices_get_many(mints=missing))
    return points


def peaks_update(*, prices: dict[int, Decimal]) -> int:
    """Raise the peaks (and so the trailing stops) of armed trailing positions under a new high: one statement.

    Below its activation price a peak is irrelevant (the stop is not trailing yet), so only positions whose
    activation price the mint has reached are written: a quiet tick writes almost nothing.
    """
    if not prices:
        return 0
    values, params = _values(prices)
    price = f"(SELECT v.price FROM v WHERE v.token_id = {POSITION}.token_id)"
    sql = f"""
        {values}
        UPDATE {POSITION}
        SET peak_price = {price}, trailing_stop_price = ROUND({price} * trailing_factor, 20)
        WHERE status = 'open' AND trailing_factor IS NOT NULL AND EXISTS (
            SELECT 1 FROM v WHERE v.token_id = {POSITION}.token_id
            AND {POSITION}.trailing_activation_price <= v.price AND {POSITION}.peak_price < v.price)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@dataclass
class Triggered:
    """What one lookup found: positions whose exits fire, and limit orders that fire or have expired."""

    positions: list[int] = field(default_factory=list)
    limits: list[int] = field(default_factory=list)


def triggers_find(
    *, prices: dict[int, Decimal], now: datetime, shard: int = 0, shards: int = 1, time_stops: bool = True
) -> Triggered:
    """The trigger index lookup, one statement: open positions with no exit in flight whose stored triggers fire at
    their mint's price (or whose time is up), and active limit orders whose level the price has crossed (or whose
    expiry has passed).

    Per mint, range scans on the partial (token, trigger) indexes, so only triggered rows are ever read: the positions'
    stop, trailing stop and take-profit, and the limit orders' levels (`below`: price <= level, `above`: price >=
    level); then the time stops and expiries of the shard (unless `time_stops` is False: a price event looks at the
    price triggers of its one mint only, and the beat sweep keeps the clock)."""
    params: list = []
    values = ""
    hits: list[str] = []  # one SELECT per trigger kind; their parameters follow the VALUES list's, in order
    # Each position branch excludes positions with an exit in flight itself: the planner makes that an anti-join
    # and costs the statement low. One filter over the union (`kind = 'l' OR NOT EXISTS ...`) was costed at every
    # row, over Postgres's JIT threshold at 100,000 positions: half a second of compiling for a 0.1 s lookup.
    no_exit = (f" AND NOT EXISTS (SELECT 1 FROM {ORDER} o WHERE o.position_id = p.id AND o.side = 'sell' "
               f"AND o.status IN ({', '.join(['%s'] * len(_IN_FLIGHT))}))")
    if prices:
        values, params = _values(prices)
        for condition in ("stop_price >= v.price", "trailing_stop_price >= v.price", "take_profit_price <= v.price"):
            hits.append(f"SELECT 'p' AS kind, p.id AS id FROM {POSITION} p JOIN v ON p.token_id = v.token_id "
                        f"WHERE p.status = 'open' AND p.{condition}{no_exit}")
            params += _IN_FLIGHT
        hits += [
            f"SELECT 'l' AS kind, l.id AS id FROM {LIMIT} l JOIN v ON l.token_id = v.token_id WHERE l.status = 'active' "
            f"AND l.direction = '{direction}' AND l.price {op} v.price"
            for direction, op in (("below", ">="), ("above", "<="))
        ]
    shard_filter = " AND {t}.token_id %% %s = %s" if shards > 1 else ""
    at = connection.ops.adapt_datetimefield_value(now)
    clock = (("p", POSITION, "p", "p.status = 'open' AND p.time_stop_at <= %s", no_exit),
             ("l", LIMIT, "l", "l.status = 'active' AND l.expires_at <= %s", "")) if time_stops else ()
    if not hits and not clock:
        return Triggered()
    for kind, table, alias, condition, exclude in clock:
        hits.append(f"SELECT '{kind}' AS kind, {alias}.id AS id FROM {table} {alias} WHERE {condition}"
                    + shard_filter.format(t=alias) + exclude)
        params.append(at)
        if shards > 1:
            params += [shards, shard]
        if exclude:
            params += _IN_FLIGHT
    sql = f"""
        {values}
        SELECT c.kind, c.id FROM ({" UNION ".join(hits)}) AS c
        ORDER BY c.kind, c.id
    """
    found = Triggered()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, row_id in cursor.fetchall():
            (found.positions if kind == "p" else found.limits).append(row_id)
    return found


def candidates_find(*, prices: dict[int, Decimal], now: datetime, shard: int = 0, shards: int = 1) -> list[int]:
    """The positions of the lookup (triggers_find) whose exits fire."""
    return triggers_find(prices=prices, now=now, shard=shard, shards=shards).positions


def tpsl_sweep(
    *, shard: int = 0, shards: int = 1, now: datetime | None = None, refresh: bool = True, still_owner=None
) -> SweepReport:
    """Run one sweep over the mints of `shard` (of `shards`). `still_owner()` is checked before claiming."""
    report = SweepReport(shard=shard, shards=shards)
    clock = time.perf_counter()
    mints = open_mints(shard=shard, shards=shards)
    points = prices_for(mints=list(mints.values()), refresh=refresh) if mints else {}
    report.timings_ms["prices"] = round((time.perf_counter() - clock) * 1000, 2)
    now = now or timezone.now()
    mints_evaluate(report=report, mints=mints, points=points, now=now, still_owner=still_owner)
    if report.unpriced:
        retry.prices_stale_alert(mints=report.unpriced, max_age_seconds=settings.TPSL_PRICE_MAX_AGE_SECONDS)
    retry.stalled_exits_requeue(now=now)
    return report


def mints_evaluate(
    *, report: SweepReport, mints: dict[int, str], points: dict[str, PricePoint], now: datetime,
    time_stops: bool = True, still_owner=None,
) -> SweepReport:
    """The steps after the prices, for the sweep (every mint of its shard, and the clock) and for a price event (one
    mint, `time_stops` False): freshness, bulk peaks, the index lookup, the claim, the limit orders."""
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        tick = time.perf_counter()
        report.timings_ms[name] = round((tick - clock) * 1000, 2)
        clock = tick

    report.mints = len(mints)
    by_token = {tid: points[m] for tid, m in mints.items() if m in points}
    fresh: dict[int, Decimal] = {}
    for token_id, mint in mints.items():
        point = by_token.get(token_id)
        at = None if point is None else datetime.fromtimestamp(point.at, tz=UTC)
        if price_status(None if point is None else point.price, at, now, stale_after()) == PRICE_OK:
            fresh[token_id] = point.price
        else:
            report.unpriced.append(mint)
    report.fresh = len(fresh)
    report.peaks_updated = peaks_update(prices=fresh)
    lap("peaks")
    found = triggers_find(prices=fresh, now=now, shard=report.shard, shards=report.shards, time_stops=time_stops)
    candidates = found.positions
    report.candidates = len(candidates)
    report.limits = len(found.limits)
    lap("lookup")
    if candidates and (still_owner is None or still_owner()):
        claim = exits_claim(candidate_ids=candidates, prices=by_token, now=now, stale_after=stale_after())
        report.claimed, report.deferred, report.contested = claim.order_ids, claim.deferred, claim.contested
    lap("claim")
    if found.limits and (still_owner is None or still_owner()):
        report.limits_placed = limits_fire(limit_ids=found.limits, prices=fresh, now=now).placed
    lap("limits")
    return report
