"""Counting external calls for monitoring: Prometheus metrics (`jarvis_provider_calls_total`, duration) and the
provider's monthly budget (`monitoring.budgets`). Order execution is essential, so a spent budget never refuses it,
and counting never blocks or fails a trade: without monitoring, or with Redis down, the call just goes ahead."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

log = logging.getLogger(__name__)


@contextmanager
def provider_call(provider: str, operation: str) -> Iterator[None]:
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
