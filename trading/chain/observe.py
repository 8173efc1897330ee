"""Counting external calls: Prometheus metrics (`jarvis_provider_calls_total`, duration, through monitoring.metrics)
and a "provider.calls" event (jarvis.events) that monitoring counts against the provider's monthly budget. Order
execution is essential, so a spent budget never refuses it, and counting never blocks or fails a trade.

Budget counting is a Redis round trip per event. Inside `provider_calls_batched()` (one order's landing) the calls
are only noted, and published as one event by `provider_calls_flush()` (before the fill is recorded) or when the
block ends: an order's half-dozen calls cost one round trip, not six on its way to the chain."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from jarvis.events import event_emit
from monitoring import metrics

_batch = threading.local()


@contextmanager
def provider_call(provider: str, operation: str) -> Iterator[None]:
    pending: Counter | None = getattr(_batch, "calls", None)
    if pending is not None:
        pending[provider] += 1
    else:
        event_emit("provider.calls", {provider: 1})
    with metrics.provider_call(provider, operation):
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
    event_emit("provider.calls", calls)
