"""The price feed: Jupiter Price v3 (batches of up to 50 mints), DexScreener as a second source, Redis cache.

Prices are SOL per whole token (Decimal), converted from Jupiter's USD prices with SOL's own USD price
from the same answer. Every request takes a slot of its provider's shared rate limit (`trading.ratelimit`) at
price-polling priority, the lowest: polling may fill only its share of the window (PROVIDER_SHARE_POLL) and never
waits, so a refresh that finds no room keeps the cached points and leaves the rest to quotes, swaps and exits.
(Jupiter's Price and Swap APIs share one account limit.) A batch refused for room ends that source's fetch with what
the batches before it found. In paper and sandbox mode JUPITER_API_URL is the sandbox stand-in, so the feed is the
market simulator. Each cached price carries its timestamp; a mint with no price has no key at all:
"no data" is None, never zero.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

import httpx
from django.conf import settings

from jarvis.redis import redis_client
from monitoring import metrics
from trading.chain import shared_client
from trading.chain.observe import provider_call
from trading.models.choices import SOL_MINT
from trading.ratelimit import BudgetRefused, Priority, RateLimited, current_priority, limit_observe, provider_admit

logger = logging.getLogger(__name__)

JUPITER_BATCH = 50
DEXSCREENER_BATCH = 30
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
KEY_PREFIX = "jarvis:price:"
KEY_TTL_SECONDS = 24 * 3600
_rotation = itertools.count()


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
    usd: Decimal | None = None  # USD per whole token, where the source says (Jupiter's usdPrice)
    liquidity_usd: Decimal | None = None  # the source's liquidity figure in USD (Jupiter's liquidity), if any
    slot: int | None = None  # the chain slot of a streamed price (trading.pricestream); None for polled ones

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


def _get_json(client: httpx.Client, url: str, *, provider: str, priority: Priority, **kwargs):
    provider_admit(account=provider, priority=priority)
    with provider_call(provider, "price"):
        response = client.get(url, **kwargs)
    limit_observe(account=provider, status=response.status_code, headers=response.headers)
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


def sol_usd_price(*, priority: Priority = Priority.ENTRY) -> Decimal | None:
    """SOL's own USD price from Jupiter Price v3 (what `manage.py check_providers` asks); None when it has none.
    Raises httpx.HTTPError, ValueError or RateLimited like the feed's own fetches."""
    client = shared_client(("prices",), lambda: httpx.Client(timeout=HTTP_TIMEOUT))
    headers = {"x-api-key": settings.JUPITER_API_KEY} if settings.JUPITER_API_KEY else {}
    data = _get_json(client, settings.JUPITER_API_URL.rstrip("/") + "/price/v3", provider="jupiter", priority=priority,
                     params={"ids": SOL_MINT}, headers=headers)
    sol = data.get(SOL_MINT) if isinstance(data, dict) else None
    return _positive(sol.get("usdPrice")) if isinstance(sol, dict) else None


def fetch_jupiter(client: httpx.Client, mints: list[str], *, priority: Priority = Priority.POLL) -> dict[str, PricePoint]:
    """SOL prices from Jupiter Price v3; every batch carries SOL's mint so USD converts to SOL. An entry that is not the
    documented shape is logged and counts as no data (never a zero price); so does a batch without SOL's price."""
    headers = {"x-api-key": settings.JUPITER_API_KEY} if settings.JUPITER_API_KEY else {}
    url = settings.JUPITER_API_URL.rstrip("/") + "/price/v3"
    found: dict[str, PricePoint] = {}
    wanted = [m for m in mints if m != SOL_MINT]
    batches = [wanted[i : i + JUPITER_BATCH - 1] for i in range(0, max(len(wanted), 1), JUPITER_BATCH - 1)]
    first = next(_rotation) % len(batches)  # each refresh starts at another batch: none is always the one left out
    for batch in batches[first:] + batches[:first]:
        try:
            data = _get_json(client, url, provider="jupiter", priority=priority,
                             params={"ids": ",".join([SOL_MINT, *batch])}, headers=headers)
        except (RateLimited, BudgetRefused):
            if not found:
                raise
            break  # no room for the rest this time: keep what the earlier batches found
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
                found[mint] = PricePoint(usd / sol_usd, now, "jupiter", entry["decimals"], usd,
                                         _positive(entry["liquidity"]))
    if SOL_MINT in mints:
        found[SOL_MINT] = PricePoint(Decimal(1), time.time(), "fixed")
    return found


def fetch_dexscreener(client: httpx.Client, mints: list[str], *, priority: Priority = Priority.POLL) -> dict[str, PricePoint]:
    """SOL prices from DexScreener: each mint's most liquid pair quoted in SOL (`priceNative`)."""
    base = settings.DEXSCREENER_API_URL.rstrip("/") + "/latest/dex/tokens/"
    found: dict[str, PricePoint] = {}
    for start in range(0, len(mints), DEXSCREENER_BATCH):
        batch = mints[start : start + DEXSCREENER_BATCH]
        try:
            data = _get_json(client, base + ",".join(batch), provider="dexscreener", priority=priority)
        except (RateLimited, BudgetRefused):
            if not found:
                raise
            break
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


def prices_refresh(*, mints: list[str], client: httpx.Client | None = None,
                   priority: Priority = Priority.POLL) -> dict[str, PricePoint]:
    """Fetch current prices for `mints`, cache them in Redis, and return what was found (absent = no data).

    A source that times out, errors or has no room in its rate limit is logged and skipped: the next refresh tries
    again. A non-essential refresh (a preview) that every source refused for budget raises BudgetRefused. A caller
    that refreshes every second passes its own long-lived `client` (creating one costs far more than a request).
    `priority`: price polling unless a caller needs one price for something more urgent.
    """
    mints = list(dict.fromkeys(mints))
    if not mints:
        return {}
    found: dict[str, PricePoint] = {}
    refused: BudgetRefused | None = None
    if client is None:  # the process's long-lived client (never closed; safe across threads)
        client = shared_client(("prices",), lambda: httpx.Client(timeout=HTTP_TIMEOUT))
    try:
        found.update(fetch_jupiter(client, mints, priority=priority))
    except BudgetRefused as exc:
        refused = exc
    except RateLimited as exc:
        logger.info("jupiter price fetch skipped: %s", exc.message)
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("jupiter price fetch failed: %s", type(exc).__name__)
    missing = [m for m in mints if m not in found]
    if missing and settings.DEXSCREENER_API_URL:
        try:
            found.update(fetch_dexscreener(client, missing, priority=priority))
        except BudgetRefused as exc:
            refused = exc
        except RateLimited as exc:
            logger.info("dexscreener price fetch skipped: %s", exc.message)
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("dexscreener price fetch failed: %s", type(exc).__name__)
    if refused is not None and not found:  # a preview's only source refused it: the trader reads why
        raise refused
    prices_store(found)
    return found


def prices_store(points: dict[str, PricePoint]) -> None:
    if not points:
        return
    pipe = redis_client().pipeline(transaction=False)
    for mint, point in points.items():
        pipe.set(KEY_PREFIX + mint, _encode(point), ex=KEY_TTL_SECONDS)
    pipe.execute()


def _encode(point: PricePoint) -> str:
    value = {"p": str(point.price), "t": point.at, "s": point.source, "d": point.decimals}
    if point.usd is not None:
        value["u"] = str(point.usd)
    if point.liquidity_usd is not None:
        value["l"] = str(point.liquidity_usd)
    if point.slot is not None:
        value["sl"] = point.slot
    return json.dumps(value)


# A streamed price is written only if its slot is not older than the last slot written for the mint (KEYS[2]), in one
# step, so an update that arrives late, or from a replica that lags, never overwrites a newer one.
_STORE_IF_NEWER = """
local seen = redis.call('GET', KEYS[2])
if seen and tonumber(seen) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
SLOT_KEY_PREFIX = "jarvis:price-slot:"


def price_store_slotted(*, mint: str, point: PricePoint) -> bool:
    """Cache a streamed price unless a newer slot was already written for `mint`; True when written."""
    if point.slot is None or _positive(point.price) is None:
        return False
    client = redis_client()
    script = client.register_script(_STORE_IF_NEWER)
    written = script(keys=[KEY_PREFIX + mint, SLOT_KEY_PREFIX + mint], args=[point.slot, _encode(point), KEY_TTL_SECONDS])
    return bool(written)


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
    if price is None:
        return None
    return PricePoint(price, float(value["t"]), value.get("s", ""), value.get("d"), _positive(value.get("u")),
                      _positive(value.get("l")), value.get("sl"))


def price_get(*, mint: str) -> PricePoint | None:
    """The cached price of `mint` with its timestamp, or None when there is no data (never zero)."""
    return _decode(redis_client().get(KEY_PREFIX + mint))


def prices_get_many(*, mints: list[str]) -> dict[str, PricePoint]:
    if not mints:
        return {}
    raws = redis_client().mget([KEY_PREFIX + m for m in mints])
    return {m: p for m, p in ((m, _decode(r)) for m, r in zip(mints, raws)) if p is not None}


def price_fresh(*, mint: str, max_age: float | None = None) -> PricePoint | None:
    """A fresh price for `mint`: the cached one if young enough, else fetched now, at the priority of the block it runs
    in (an entry by default: a fill waits for it; a trader's preview sets its own). None = no data."""
    point = price_get(mint=mint)
    if point is not None and point.is_fresh(max_age):
        metrics.cache_hit("price")
        return point
    metrics.cache_miss("price")
    return prices_refresh(mints=[mint], priority=current_priority(default=Priority.ENTRY)).get(mint)
