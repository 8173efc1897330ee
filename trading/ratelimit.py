"""Provider rate limits, one per provider account, shared by every process through Redis.

Each account (``bags``, ``jupiter`` for Swap and Price alike, ``dexscreener``) has a plan from settings
(``PROVIDER_RATE_LIMITS``: requests per window) kept as a sliding window of grants in a Redis sorted set, on Redis's
own clock, by one Lua script. Calls come in priority classes: exits before entries before previews before price
polling. A class may fill only its share of the window (exits 100 %, entries, previews and polling less, from
settings), so whatever the lower classes do, the rest of the window is there for the ones above them. A class that
finds no room waits up to its own bound (exits 1 s, entries 2 s, previews 1 s, polling not at all) and is then
refused with `RateLimited`: the router tries the next venue, the price feed keeps its cached points.

The vendor has the last word: a 429 pauses the account for every process for as long as its ``Retry-After`` (or its
``X-RateLimit-Reset``) says, an answer announcing ``X-RateLimit-Remaining: 0`` pauses it until the reset, and an
``X-RateLimit-Limit`` below the configured plan becomes the plan every process counts against.

    from trading.ratelimit import Priority, call_priority, slot_acquire
    with call_priority(Priority.EXIT):       # what the venue calls made inside this block are for
        ...
    slot_acquire(account="jupiter", priority=Priority.POLL)   # raises RateLimited when there is no room

Non-essential calls (previews, trending lists) also ask the provider budget first: monitoring registers a gate with
`budget_gate_set` (trading imports no monitoring); at 100 % it refuses them with a sentence for the trader.
"""

from __future__ import annotations

import enum
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import redis
from django.conf import settings

from jarvis.redis import redis_client

from monitoring import metrics
from trading.errors import VenueError

logger = logging.getLogger(__name__)

PREFIX = "jarvis:rl:"
GUARD_MS = 100  # a grant stays in the window this much longer than the plan's window: the network's share
ANNOUNCED_TTL_MS = 600_000  # an announced limit is kept this long at least after the last answer that carried it


class Priority(enum.IntEnum):
    EXIT = 0
    ENTRY = 1
    PREVIEW = 2
    POLL = 3


MAX_WAIT_SECONDS = {Priority.EXIT: 1.0, Priority.ENTRY: 2.0, Priority.PREVIEW: 1.0, Priority.POLL: 0.0}
ESSENTIAL = frozenset({Priority.EXIT, Priority.ENTRY, Priority.POLL})  # previews are what a spent budget refuses


class RateLimited(VenueError):
    """No room in the provider's window for this class within its wait bound, or the provider is paused."""

    code = "provider_rate_limited"

    def __init__(self, message: str, *, account: str, wait_seconds: float):
        super().__init__(message, transient=True)
        self.account = account
        self.wait_seconds = wait_seconds


class BudgetRefused(VenueError):
    """The provider's monthly budget is spent and this call is not essential. ``message`` is the trader's sentence."""

    code = "budget_exhausted"

    def __init__(self, message: str, *, account: str):
        super().__init__(message, transient=False)
        self.account = account


_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return {0, pause - now, 1} end
local limit = tonumber(ARGV[2]); local window = tonumber(ARGV[1])
local announced = redis.call('HMGET', KEYS[3], 'limit', 'window')
if announced[1] then
  limit = tonumber(announced[1]); window = tonumber(announced[2]) + tonumber(ARGV[5])
end
if limit < 0 then return {1, 0, 0} end
local allowed = math.max(1, math.floor(limit * tonumber(ARGV[3]) / 100))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < allowed then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  return {1, 0, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], n - allowed, n - allowed, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now), 0}
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilms = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilms > cur then redis.call('SET', KEYS[1], untilms, 'PX', tonumber(ARGV[1]) + 1000) end
return math.max(untilms, cur) - now
"""


@functools.lru_cache(maxsize=8)
def _script(url: str, source: str):
    return redis_client(url).register_script(source)


def _run(source: str, keys: list[str], args: list):
    return _script(settings.REDIS_URL, source)(keys=keys, args=args)


def _share(priority: Priority) -> int:
    return {
        Priority.EXIT: 100,
        Priority.ENTRY: settings.PROVIDER_SHARE_ENTRY,
        Priority.PREVIEW: settings.PROVIDER_SHARE_PREVIEW,
        Priority.POLL: settings.PROVIDER_SHARE_POLL,
    }[priority]


# --- priority of the calls made in a block ------------------------------------------------------------
_priority: ContextVar[Priority | None] = ContextVar("provider_priority", default=None)


@contextmanager
def call_priority(priority: Priority) -> Iterator[None]:
    token = _priority.set(priority)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority(*, default: Priority) -> Priority:
    value = _priority.get()
    return default if value is None else value


# --- the window ---------------------------------------------------------------------------------------
def slot_try(*, account: str, priority: Priority) -> tuple[bool, float, bool]:
    """One try: (granted, seconds until there may be room, paused by the vendor). The plan is the configured one, or
    the one the vendor announced (`limit_observe`) when that is tighter."""
    plan = settings.PROVIDER_RATE_LIMITS.get(account)
    window_ms, limit = (1000, -1) if plan is None else (int(plan[1] * 1000) + GUARD_MS, plan[0])
    granted, wait_ms, paused = _run(
        _ACQUIRE, [f"{PREFIX}{account}:window", f"{PREFIX}{account}:paused", f"{PREFIX}{account}:announced"],
        [window_ms, limit, _share(priority), uuid.uuid4().hex, GUARD_MS],
    )
    return bool(granted), int(wait_ms) / 1000, bool(paused)


def slot_acquire(*, account: str, priority: Priority, max_wait: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> float:
    """Take one request of ``account``'s window for a call of ``priority``, waiting up to ``max_wait`` seconds (the
    class's bound by default). Returns the seconds waited; raises RateLimited when the wait would be longer. With
    Redis unreachable the call goes ahead (a 429 from the vendor still stops it): limits never block trading."""
    bound = MAX_WAIT_SECONDS[priority] if max_wait is None else max_wait
    started = time.monotonic()
    slept = False
    while True:
        try:
            granted, wait, paused = slot_try(account=account, priority=priority)
        except redis.RedisError as exc:
            logger.warning("rate limit of %s not checked (Redis unreachable): %s", account, exc)
            return 0.0
        waited = time.monotonic() - started if slept else 0.0
        if granted:
            if slept:
                _note(account, priority, "waited")
            return waited
        if waited + wait > bound:
            _note(account, priority, "refused")
            why = "paused until the time it gave" if paused else "at its rate limit"
            raise RateLimited(f"{account} is {why}; try again in {max(1, round(wait))} s", account=account,
                              wait_seconds=wait)
        sleep(wait)
        slept = True


def _note(account: str, priority: Priority, outcome: str) -> None:
    """Count a wait or a refusal: Redis (what bench/provider_budget.py and check_providers read) and Prometheus."""
    try:
        redis_client().hincrby(f"{PREFIX}{account}:stats", f"{priority.name.lower()}:{outcome}", 1)
    except redis.RedisError:
        pass
    metrics.provider_observe(provider=account, operation=f"rate_limit:{priority.name.lower()}", outcome=outcome)


def rate_stats(*, account: str) -> dict[str, int]:
    raw = redis_client().hgetall(f"{PREFIX}{account}:stats")
    return {k.decode(): int(v) for k, v in raw.items()}


def provider_pause(*, account: str, seconds: float) -> float:
    """Pause ``account`` for every process (a longer pause already set stays). Returns the seconds left."""
    left = _run(_PAUSE, [f"{PREFIX}{account}:paused"], [max(1, int(seconds * 1000))])
    logger.warning("provider %s paused for %.1f s", account, int(left) / 1000)
    return int(left) / 1000


def provider_paused_for(*, account: str) -> float:
    """Seconds the account stays paused (0: not paused)."""
    until = redis_client().get(f"{PREFIX}{account}:paused")
    if until is None:
        return 0.0
    now_s, now_us = redis_client().time()
    return max(0.0, int(until) / 1000 - (now_s + now_us / 1_000_000))


# --- what the vendor said -------------------------------------------------------------------------------
def _header_number(headers, name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _seconds_until_reset(reset: float | None, now: float) -> float | None:
    """``X-RateLimit-Reset`` as either a Unix time or a number of seconds from now."""
    if reset is None:
        return None
    return max(0.0, reset - now) if reset > 1_000_000_000 else max(0.0, reset)


def retry_after_seconds(value, now: float) -> float | None:
    """``Retry-After`` as seconds or as an HTTP date (RFC 9110); None when absent or unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def pause_seconds(*, status: int, headers, now: float) -> float | None:
    """How long the vendor told us to stop (None: it did not). A 429 always pauses: for ``Retry-After``, else until
    ``X-RateLimit-Reset``, else PROVIDER_DEFAULT_PAUSE_SECONDS. A success announcing nothing remaining pauses until
    the reset."""
    reset = _seconds_until_reset(_header_number(headers, "x-ratelimit-reset"), now)
    if status == 429:
        after = retry_after_seconds(headers.get("retry-after"), now)
        for candidate in (after, reset):
            if candidate is not None and candidate > 0:
                return candidate
        return float(settings.PROVIDER_DEFAULT_PAUSE_SECONDS)
    remaining = _header_number(headers, "x-ratelimit-remaining")
    if remaining is not None and remaining <= 0 and reset:
        return reset
    return None


def announced_plan(headers) -> tuple[int, float | None] | None:
    """The limit the vendor announces in ``X-RateLimit-Limit``: (requests, window in seconds, or None when the header
    names none). Read: ``1000``, and the IETF draft's ``100, 100;w=60`` / ``10;w=1, 600;w=60`` (the quota with the
    lowest rate wins). None when absent or unreadable."""
    value = headers.get("x-ratelimit-limit")
    if value is None:
        return None
    best: tuple[int, float | None] | None = None
    for item in str(value).split(","):
        parts = [p.strip() for p in item.split(";")]
        try:
            limit = int(float(parts[0]))
            window = next((float(p[2:]) for p in parts[1:] if p.startswith("w=")), None)
        except ValueError:
            continue
        if limit < 1 or (window is not None and window <= 0):
            continue
        if best is None or (window is not None and (best[1] is None or limit / window < best[0] / best[1])):
            best = (limit, window)
    return best


def _plan_follow(*, account: str, headers) -> None:
    """Follow an announced limit tighter than the configured plan (another desk on the same key, a plan downgraded,
    a smaller plan than the settings say): every process's window then counts against it. A limit with no window is
    over the plan's window; with no plan configured only one that names its window is taken. An announcement at or
    above the plan clears an earlier one (the configured plan is the ceiling: several desks may split one key)."""
    announced = announced_plan(headers)
    if announced is None:
        return
    plan = settings.PROVIDER_RATE_LIMITS.get(account)
    limit, window = announced
    if window is None:
        if plan is None:
            return
        window = plan[1]
    key = f"{PREFIX}{account}:announced"
    client = redis_client()
    if plan is not None and limit * plan[1] >= plan[0] * window:
        client.delete(key)
        return
    window_ms = int(window * 1000)
    if client.hmget(key, ["limit", "window"]) != [str(limit).encode(), str(window_ms).encode()]:
        logger.warning("provider %s announces %d requests per %.0f s, below the configured plan: following it",
                       account, limit, window)
    pipe = client.pipeline()
    pipe.hset(key, mapping={"limit": limit, "window": window_ms})
    pipe.pexpire(key, max(2 * window_ms, ANNOUNCED_TTL_MS))
    pipe.execute()


def limit_observe(*, account: str, status: int, headers) -> float | None:
    """Read an answer's rate-limit headers: follow an announced limit tighter than the plan, and pause the account
    for everyone when the vendor said so. Never raises."""
    try:
        _plan_follow(account=account, headers=headers)
    except redis.RedisError as exc:
        logger.warning("could not record the limit %s announced (Redis unreachable): %s", account, exc)
    seconds = pause_seconds(status=status, headers=headers, now=datetime.now(UTC).timestamp())
    if seconds is None:
        return None
    try:
        return provider_pause(account=account, seconds=seconds)
    except redis.RedisError as exc:
        logger.warning("could not pause %s (Redis unreachable): %s", account, exc)
        return None


# --- the provider budget's say on non-essential calls ----------------------------------------------------
_budget_gate: Callable[[str], str | None] | None = None


def budget_gate_set(gate: Callable[[str], str | None] | None) -> None:
    """``gate(provider)`` returns a sentence for the trader when a non-essential call must be refused, else None.
    Registered by monitoring (which owns the budgets); without it nothing is refused."""
    global _budget_gate
    _budget_gate = gate


def budget_check(*, account: str, priority: Priority) -> None:
    """Raise BudgetRefused for a non-essential call to a provider whose budget is spent; essential calls pass."""
    if priority in ESSENTIAL or _budget_gate is None:
        return
    try:
        refusal = _budget_gate(account)
    except Exception:  # a failing budget check never stops a call
        logger.warning("provider budget of %s not checked", account, exc_info=True)
        return
    if refusal:
        raise BudgetRefused(refusal, account=account)


def provider_admit(*, account: str, priority: Priority) -> float:
    """Everything a call to ``account`` must pass first: the budget (non-essential calls), then the window."""
    budget_check(account=account, priority=priority)
    return slot_acquire(account=account, priority=priority)
