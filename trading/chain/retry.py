"""Bounded retries with exponential backoff and full jitter for the external clients (RPC, venues)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TransientError(Exception):
    """An error worth retrying: a timeout, a refused connection, HTTP 429 or 5xx, a node behind."""


def backoff_delay(*, attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full-jitter delay before retry number ``attempt`` (1-based): uniform in [0, min(cap, base * 2**(attempt-1))]."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0, ceiling)


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 3,
    base: float = 0.05,
    cap: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; on a TransientError retry up to ``attempts`` calls in all, then re-raise the last error."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TransientError:
            if attempt >= attempts:
                raise
            sleep(backoff_delay(attempt=attempt, base=base, cap=cap))
    raise AssertionError("unreachable")
