import uuid

import pytest
from django.db import transaction
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from monitoring import metrics, notifiers


def _sample(name: str, labels: dict) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=metrics.MULTIPROC_DIR)
    value = registry.get_sample_value(name, labels)
    return value or 0.0


def test_provider_call_counts_success_and_error_with_latency():
    provider = f"p-{uuid.uuid4().hex[:8]}"
    with metrics.provider_call(provider, "quote"):
        pass
    with pytest.raises(RuntimeError):
        with metrics.provider_call(provider, "quote"):
            raise RuntimeError("venue down")
    assert _sample("jarvis_provider_calls_total", {"provider": provider, "operation": "quote", "outcome": "ok"}) == 1
    assert _sample("jarvis_provider_calls_total", {"provider": provider, "operation": "quote", "outcome": "error"}) == 1
    assert _sample("jarvis_provider_call_duration_seconds_count", {"provider": provider, "operation": "quote"}) == 2


def test_trade_exit_and_cache_helpers_land_in_the_shared_files():
    venue = f"v-{uuid.uuid4().hex[:8]}"
    metrics.trade_execution(venue=venue, outcome="confirmed")
    metrics.trade_execution(venue=venue, outcome="confirmed")
    metrics.cache_hit(venue)
    metrics.cache_miss(venue)
    metrics.cache_miss(venue)
    assert _sample("jarvis_trade_executions_total", {"venue": venue, "outcome": "confirmed"}) == 2
    assert _sample("jarvis_cache_requests_total", {"cache": venue, "result": "miss"}) == 2
    assert _sample("jarvis_cache_requests_total", {"cache": venue, "result": "hit"}) == 1


@pytest.mark.django_db(transaction=True)
def test_notifiers_run_after_commit_and_one_failure_does_not_stop_the_others():
    seen: list[int] = []

    def broken(event_id):
        raise RuntimeError("chat unreachable")

    def good(event_id):
        seen.append(event_id)

    notifiers.register(broken)
    notifiers.register(good)
    notifiers.register(good)  # idempotent
    try:
        with transaction.atomic():
            notifiers.notify_on_commit(41)
            assert seen == []
        assert seen == [41]
        with pytest.raises(ValueError):
            with transaction.atomic():
                notifiers.notify_on_commit(42)
                raise ValueError("rolled back")
        assert seen == [41]
    finally:
        notifiers.unregister(broken)
        notifiers.unregister(good)
    assert broken not in notifiers.registered()
