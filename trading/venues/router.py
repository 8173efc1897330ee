"""Venue routing: bags.fm first; on a transient failure (timeout, 429, 5xx, no route) Jupiter. An authentication
failure is permanent: it raises an alert and the error, never a silent fall-through. Whole rounds are retried with
backoff and jitter up to a bound while every venue fails transiently."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from trading.chain.retry import backoff_delay
from trading.venues.base import (
    FeePolicy,
    Quote,
    RateLimit,
    SwapTransaction,
    Venue,
    VenueAuthError,
    VenueRateLimited,
    VenueTransientError,
)

log = logging.getLogger(__name__)

PAUSE_KEY = "venues:{name}:paused_until"


@dataclass(frozen=True)
class RoutedSwap:
    quote: Quote
    swap: SwapTransaction
    skipped: tuple[str, ...]  # venues that failed transiently (or were paused) before this one answered


def pause_until(*, rate_limit: RateLimit | None, now: float) -> float | None:
    """When a venue that reported no remaining requests may be called again (None: no pause needed)."""
    if rate_limit is None or rate_limit.remaining is None or rate_limit.remaining > 0:
        return None
    reset = rate_limit.reset
    if reset is None:
        return now + 60
    # Reset is documented as a time; accept both an epoch timestamp and a number of seconds from now.
    return float(reset) if reset > 1_000_000_000 else now + reset


def route_swap(
    *,
    venues: list[Venue],
    input_mint: str,
    output_mint: str,
    amount: int,
    slippage_bps: int,
    user_public_key: str,
    fee: FeePolicy,
    on_auth_failure: Callable[[VenueAuthError], None],
    rounds: int = 3,
    backoff: float = 0.2,
    cache=None,
    sleep: Callable[[float], None] = time.sleep,
) -> RoutedSwap:
    """Quote and build the swap on the first venue that can; raise the last transient error after ``rounds`` rounds."""
    if amount <= 0:
        raise ValueError("amount must be a positive number of base units")
    last: VenueTransientError | None = None
    for round_number in range(1, rounds + 1):
        skipped: list[str] = []
        for venue in venues:
            if _paused(venue, cache):
                skipped.append(venue.name)
                last = VenueRateLimited(f"{venue.name} is paused until its rate limit resets", venue=venue.name)
                continue
            try:
                quote = venue.quote(input_mint=input_mint, output_mint=output_mint, amount=amount, slippage_bps=slippage_bps)
                swap = venue.swap(quote=quote, user_public_key=user_public_key, fee=fee)
            except VenueAuthError as exc:
                log.error("venue authentication failed", extra={"venue": venue.name, "status": exc.status})
                on_auth_failure(exc)
                raise
            except VenueTransientError as exc:
                log.warning("venue failed transiently; trying the next", extra={"venue": venue.name, "error": exc.message})
                skipped.append(venue.name)
                last = exc
                continue
            finally:
                _remember_rate_limit(venue, cache)
            return RoutedSwap(quote=quote, swap=swap, skipped=tuple(skipped))
        if round_number < rounds:
            sleep(backoff_delay(attempt=round_number, base=backoff, cap=2.0))
    assert last is not None
    raise last


def route_quote(
    *,
    venues: list[Venue],
    input_mint: str,
    output_mint: str,
    amount: int,
    slippage_bps: int,
    on_auth_failure: Callable[[VenueAuthError], None],
    cache=None,
) -> Quote:
    """A quote only (what a trader previews): the first venue that answers, one round, no swap built. The same order
    and the same rules as route_swap: a refused key alerts and raises; a paused venue is skipped."""
    if amount <= 0:
        raise ValueError("amount must be a positive number of base units")
    last: VenueTransientError | None = None
    for venue in venues:
        if _paused(venue, cache):
            last = VenueRateLimited(f"{venue.name} is paused until its rate limit resets", venue=venue.name)
            continue
        try:
            return venue.quote(input_mint=input_mint, output_mint=output_mint, amount=amount, slippage_bps=slippage_bps)
        except VenueAuthError as exc:
            on_auth_failure(exc)
            raise
        except VenueTransientError as exc:
            last = exc
        finally:
            _remember_rate_limit(venue, cache)
    assert last is not None
    raise last


def _paused(venue: Venue, cache) -> bool:
    if cache is None:
        return False
    until = cache.get(PAUSE_KEY.format(name=venue.name))
    return until is not None and float(until) > time.time()


def _remember_rate_limit(venue: Venue, cache) -> None:
    if cache is None:
        return
    now = time.time()
    until = pause_until(rate_limit=getattr(venue, "last_rate_limit", None), now=now)
    if until is not None and until > now:
        cache.set(PAUSE_KEY.format(name=venue.name), until, timeout=int(until - now) + 1)
