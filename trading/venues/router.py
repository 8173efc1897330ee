"""Venue routing: bags.fm first; on a transient failure (timeout, 429, 5xx, no route, no room in its rate limit)
Jupiter. An authentication failure is permanent: it raises an alert and the error, never a silent fall-through.
Whole rounds are retried with backoff and jitter up to a bound while every venue fails transiently.

Every venue call made here carries a priority (`trading.ratelimit`): a sell is an exit, a buy an entry, a quote
alone a preview. A venue paused after a 429 (for every process, in Redis) is skipped at the cost of one look-up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from trading.chain.retry import backoff_delay
from trading.models.choices import SOL_MINT
from trading.ratelimit import Priority, call_priority
from trading.venues.base import (
    FeePolicy,
    Quote,
    SwapTransaction,
    Venue,
    VenueAuthError,
    VenueTransientError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutedSwap:
    quote: Quote
    swap: SwapTransaction
    skipped: tuple[str, ...]  # venues that failed transiently (or were paused) before this one answered


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
    priority: Priority | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RoutedSwap:
    """Quote and build the swap on the first venue that can; raise the last transient error after ``rounds`` rounds.
    ``priority``: of its venue calls; by default an exit for a sell (into SOL), an entry for a buy."""
    if amount <= 0:
        raise ValueError("amount must be a positive number of base units")
    if priority is None:
        priority = Priority.EXIT if output_mint == SOL_MINT else Priority.ENTRY
    with call_priority(priority):
        return _route_swap(venues=venues, input_mint=input_mint, output_mint=output_mint, amount=amount,
                           slippage_bps=slippage_bps, user_public_key=user_public_key, fee=fee,
                           on_auth_failure=on_auth_failure, rounds=rounds, backoff=backoff, sleep=sleep)


def _route_swap(*, venues, input_mint, output_mint, amount, slippage_bps, user_public_key, fee, on_auth_failure, rounds,
                backoff, sleep) -> RoutedSwap:
    last: VenueTransientError | None = None
    for round_number in range(1, rounds + 1):
        skipped: list[str] = []
        for venue in venues:
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
) -> Quote:
    """A quote only (what a trader previews): the first venue that answers, one round, no swap built, at preview
    priority. The same order and the same rules as route_swap: a refused key alerts and raises; a venue without room
    in its rate limit (or whose budget is spent) is skipped."""
    if amount <= 0:
        raise ValueError("amount must be a positive number of base units")
    last: VenueTransientError | None = None
    with call_priority(Priority.PREVIEW):
        for venue in venues:
            try:
                return venue.quote(input_mint=input_mint, output_mint=output_mint, amount=amount,
                                   slippage_bps=slippage_bps)
            except VenueAuthError as exc:
                on_auth_failure(exc)
                raise
            except VenueTransientError as exc:
                last = exc
    assert last is not None
    raise last
