import uuid

import pytest
from django.db import transaction
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from jarvis.events import event_emit_on_commit, event_subscribe, event_subscribed, event_unsubscribe
from monitoring import metrics


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
def test_event_handlers_run_after_commit_and_one_failure_does_not_stop_the_others():
    seen: list[int] = []

    def broken(event_id):
        raise RuntimeError("chat unreachable")

    def good(event_id):
        seen.append(event_id)

    event_subscribe(broken, kinds=["alert.changed"])
    event_subscribe(good, kinds=["alert.changed"])
    event_subscribe(good, kinds=["alert.changed"])  # idempotent
    try:
        with transaction.atomic():
            event_emit_on_commit("alert.changed", 41)
            assert seen == []
        assert seen == [41]
        with pytest.raises(ValueError):
            with transaction.atomic():
                event_emit_on_commit("alert.changed", 42)
                raise ValueError("rolled back")
        assert seen == [41]
        event_emit_on_commit("provider.calls", {})
        assert seen == [41]  # a handler is called for its kinds only
    finally:
        event_unsubscribe(broken)
        event_unsubscribe(good)
    with pytest.raises(ValueError):
        event_subscribe(good, kinds=["no.such.kind"])
    assert event_subscribed("alert.changed")  # monitoring's own webhook handler stays
