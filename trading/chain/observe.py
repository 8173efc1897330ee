"""Counting external calls for monitoring: Prometheus metrics (`jarvis_provider_calls_total`, duration) and the
provider's monthly budget (`monitoring.budgets`). Order execution is essential, so a spent budget never refuses it,
and counting never blocks or fails a trade: without monitoring, or with Redis down, the call just goes ahead.

Budget counting is a Redis round trip per call. Inside `provider_calls_batched()` (one order's landing) the calls
are only noted, and counted in one round trip by `provider_calls_flush()` (before the fill is recorded) or when the
block ends: an order's half-dozen calls cost one round trip, not six on its way to the chain."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

log = logging.getLogger(__name__)
_batch = threading.local()


@contextmanager
def provider_call(provider: str, operation: str) -> Iterator[None]:
    pending: Counter | None = getattr(_batch, "calls", None)
    if pending is not None:
        pending[provider] += 1
    else:
        try:
            from monitoring.budgets import budget_spend

            budget_spend(provider=provider, essential=True)
        except Exception:  # monitoring absent or failing: never a reason to stop an order
            log.debug("provider budget not counted for %s", provider, exc_info=True)
    try:
        from monitoring import metrics

        timer = metrics.provider_call(provider, operation)
    except Exception:
        timer = nullcontext()
    with timer:
        yield


@contextmanager
def provider_calls_batched() -> Iterator[None]:
    """Count this thread's provider calls in one go at the end of the block (or at each `provider_calls_flush`)."""
    if getattr(_batch, "calls", None) is not None:  # already batching (nested): the outer block counts
        yield
        return
    _batch.calls = Counter()
    try:
        yield
    finally:
        provider_calls_flush()
        _batch.calls = None


def provider_calls_flush() -> None:
    """Count the calls noted so far in this thread's batch (one Redis round trip); nothing outside a batch."""
    pending: Counter | None = getattr(_batch, "calls", None)
    if not pending:
        return
    calls = dict(pending)
    pending.clear()
    try:
        from monitoring.budgets import budget_spend_calls

        budget_spend_calls(calls=calls)
    except Exception:
        log.debug("provider budgets not counted for %s", calls, exc_info=True)
