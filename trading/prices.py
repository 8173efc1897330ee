"""The price feed: Jupiter Price v3 (batches of up to 50 mints), DexScreener as a second source, Redis cache.

Prices are SOL per whole token (Decimal), converted from Jupiter's USD prices with SOL's own USD price
from the same answer. In paper and sandbox mode JUPITER_API_URL is the sandbox stand-in, so the feed is
the market simulator. Each cached price carries its timestamp; a mint with no price has no key at all:
"no data" is None, never zero.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import httpx
from django.conf import settings

from jarvis.redis import redis_client
from trading.chain import shared_client
from trading.models.choices import SOL_MINT

logger = logging.getLogger(__name__)

JUPITER_BATCH = 50
DEXSCREENER_BATCH = 30
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
KEY_PREFIX = "jarvis:price:"
KEY_TTL_SECONDS = 24 * 3600


PRICE_OK = "ok"
PRICE_MISSING = "missing"
PRICE_STALE = "stale"


def price_status(price: Decimal | None, price_time: datetime | None, now: datetime, stale_after: timedelta) -> str:
    """The one freshness test (trades, the TP/SL sweep and its exit decision): a missing, non-positive or
    non-finite price is "missing", one older than `stale_after` is "stale"; either is no data, never zero."""
    if price is None or price_time is None or not price.is_finite() or price <= 0:
        return PRICE_MISSING
    if now - price_time > stale_after:
        return PRICE_STALE
    return PRICE_OK


@dataclass(frozen=True)
class PricePoint:
    price: Decimal  # SOL per whole token
    at: float  # unix time the source answered
    source: str
    decimals: int | None = None

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.at)

    def is_fresh(self, max_age: float | None = None) -> bool:
        """A positive price at most `max_age` seconds old (PRICE_MAX_AGE_SECONDS by default): `price_status`."""
        max_age = settings.PRICE_MAX_AGE_SECONDS if max_age is None else max_age
        at = datetime.fromtimestamp(self.at, tz=UTC)
        return price_status(self.price, at, datetime.now(UTC), timedelta(seconds=max_age)) == PRICE_OK


def _positive(value) -> Decimal | None:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() and number > 0 else None


def _get_json(client: httpx.Client, url: str, **kwargs):
    response = client.get(url, **kwargs)
    response.raise_for_status()
    return json.loads(response.content, parse_float=Decimal)


# Price v3's entry (jup-ag/docs openapi-spec/price/v3/price.yaml): every field required; blockId and priceChange24h may be
# null. A token without a reliable price is absent from the answer.
_V3_NUMBERS = ("liquidity", "usdPrice")
_V3_NULLABLE_NUMBERS = ("priceChange24h",)


def jupiter_entry_problem(entry) -> str | None:
    """Why a Price v3 entry is not the documented shape (None when it is)."""
    if not isinstance(entry, dict):
        return "not an object"
    if not isinstance(entry.get("createdAt"), str):
        return "createdAt missing or not a string"
    for name in _V3_NUMBERS + _V3_NULLABLE_NUMBERS:
        value = entry.get(name, "missing")
        if value is None and name in _V3_NULLABLE_NUMBERS:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            return f"{name} missing or not a number"
    for name in ("decimals", "blockId"):
        value = entry.get(name, "missing")
        if value is None and name == "blockId":
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{name} missing or not an integer"
    return None


def fetch_jupiter(client: httpx.Client, mints: list[str]) -> dict[str, PricePoint]:
    """SOL prices from Jupiter Price v3; every batch carries SOL's mint so USD converts to SOL. An entry that is not the
    documented shape is logged and counts as no data (never a zero price); so does a batch without SOL's price."""
    headers = {"x-api-key": settings.JUPITER_API_KEY} if settings.JUPITER_API_KEY else {}
    url = settings.JUPITER_API_URL.rstrip("/") + "/price/v3"
    found: dict[str, PricePoint] = {}
    wanted = [m for m in mints if m != SOL_MINT]
    for start in range(0, max(len(wanted), 1), JUPITER_BATCH - 1):
        batch = wanted[start : start + JUPITER_BATCH - 1]
        data = _get_json(client, url, params={"ids": ",".join([SOL_MINT, *batch])}, headers=headers)
        now = time.time()
        if not isinstance(data, dict):
            logger.error("jupiter price answer is not an object; treating the batch as no data")
            continue
        sol = data.get(SOL_MINT)
        problem = jupiter_entry_problem(sol) if sol is not None else "absent"
        sol_usd = _positive(sol.get("usdPrice")) if problem is None else None
        if sol_usd is None:
            logger.error("jupiter price answer has no usable SOL price (%s); treating the batch as no data", problem)
            continue
        sol_usd_store(price=sol_usd, at=now)
        for mint in batch:
            entry = data.get(mint)
            if entry is None:
                continue  # absent: no reliable price, so no data
            problem = jupiter_entry_problem(entry)
            if problem is not None:
                logger.error("jupiter price entry for %s is not the documented shape (%s); no data", mint, problem)
                continue
            usd = _positive(entry["usdPrice"])
            if usd is not None:
                found[mint] = PricePoint(usd / sol_usd, now, "jupiter", entry["decimals"])
    if SOL_MINT in mints:
        found[SOL_MINT] = PricePoint(Decimal(1), time.time(), "fixed")
    return found


def fetch_dexscreener(client: httpx.Client, mints: list[str]) -> dict[str, PricePoint]:
    """SOL prices from DexScreener: each mint's most liquid pair quoted in SOL (`priceNative`)."""
    base = settings.DEXSCREENER_API_URL.rstrip("/") + "/latest/dex/tokens/"
    found: dict[str, PricePoint] = {}
    for start in range(0, len(mints), DEXSCREENER_BATCH):
        batch = mints[start : start + DEXSCREENER_BATCH]
        data = _get_json(client, base + ",".join(batch))
        now = time.time()
        best: dict[str, tuple[Decimal, Decimal]] = {}
        for pair in (data or {}).get("pairs") or []:
            mint = (pair.get("baseToken") or {}).get("address")
            if mint not in batch or (pair.get("quoteToken") or {}).get("address") != SOL_MINT:
                continue
            price = _positive(pair.get("priceNative"))
            liquidity = _positive((pair.get("liquidity") or {}).get("usd")) or Decimal(0)
            if price is not None and (mint not in best or liquidity > best[mint][1]):
                best[mint] = (price, liquidity)
        for mint, (price, _) in best.items():
            found[mint] = PricePoint(price, now, "dexscreener")
    return found


def prices_refresh(*, mints: list[str], client: httpx.Client | None = None) -> dict[str, PricePoint]:
    """Fetch current prices for `mints`, cache them in Redis, and return what was found (absent = no data).

    A source that times out or errors is logged and skipped: the next refresh tries again. A caller that
    refreshes every second passes its own long-lived `client` (creating one costs far more than a request).
    """
    mints = list(dict.fromkeys(mints))
    if not mints:
        return {}
    found: dict[str, PricePoint] = {}
    if client is None:  # the process's long-lived client (never closed; safe across threads)
        client = shared_client(("prices",), lambda: httpx.Client(timeout=HTTP_TIMEOUT))
    try:
        found.update(fetch_jupiter(client, mints))
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("jupiter price fetch failed: %s", type(exc).__name__)
    missing = [m for m in mints if m not in found]
    if missing and settings.DEXSCREENER_API_URL:
        try:
            found.update(fetch_dexscreener(client, missing))
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("dexscreener price fetch failed: %s", type(exc).__name__)
    prices_store(found)
    return found


def prices_store(points: dict[str, PricePoint]) -> None:
    if not points:
        return
    pipe = redis_client().pipeline(transaction=False)
    for mint, point in points.items():
        value = {"p": str(point.price), "t": point.at, "s": point.source, "d": point.decimals}
        pipe.set(KEY_PREFIX + mint, json.dumps(value), ex=KEY_TTL_SECONDS)
    pipe.execute()


SOL_USD_KEY = KEY_PREFIX + "sol-usd"


def sol_usd_store(*, price: Decimal, at: float) -> None:
    """SOL's own USD price as the last Jupiter answer gave it (every Jupiter batch carries SOL's mint)."""
    value = {"p": str(price), "t": at, "s": "jupiter"}
    redis_client().set(SOL_USD_KEY, json.dumps(value), ex=KEY_TTL_SECONDS)


def sol_usd_get() -> PricePoint | None:
    """USD per SOL with its time, or None when the feed has not given one lately (no data, never zero)."""
    return _decode(redis_client().get(SOL_USD_KEY))


def _decode(raw: bytes | None) -> PricePoint | None:
    if raw is None:
        return None
    value = json.loads(raw)
    price = _positive(value.get("p"))
    return None if price is None else PricePoint(price, float(value["t"]), value.get("s", ""), value.get("d"))


def price_get(*, mint: str) -> PricePoint | None:
    """The cached price of `mint` with its timestamp, or None when there is no data (never zero)."""
    return _decode(redis_client().get(KEY_PREFIX + mint))


def prices_get_many(*, mints: list[str]) -> dict[str, PricePoint]:
    if not mints:
        return {}
    raws = redis_client().mget([KEY_PREFIX + m for m in mints])
    return {m: p for m, p in ((m, _decode(r)) for m, r in zip(mints, raws)) if p is not None}


def price_fresh(*, mint: str, max_age: float | None = None) -> PricePoint | None:
    """A fresh price for `mint`: the cached one if young enough, else fetched now. None = no data."""
    point = price_get(mint=mint)
    if point is not None and point.is_fresh(max_age):
        return point
    return prices_refresh(mints=[mint]).get(mint)
