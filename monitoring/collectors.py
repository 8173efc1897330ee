"""The /metrics body: every process's counters (multiprocess files) plus gauges computed at scrape time."""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from monitoring import metrics, selectors
from monitoring.budgets import budget_usage
from monitoring.checks import readiness_cached

logger = logging.getLogger(__name__)


class DeskCollector:
    """Queue depths, component health, worker memory, open positions, budget use: read when scraped, so
    they are right whichever process or container changed them. One failing source drops only its gauge."""

    def collect(self):
        yield from self._safe(self._queues)
        yield from self._safe(self._components)
        yield from self._safe(self._worker_memory)
        yield from self._safe(self._positions)
        yield from self._safe(self._budgets)

    def _safe(self, source):
        try:
            return list(source())
        except Exception as exc:
            logger.warning("metrics source %s failed: %s", source.__name__, exc)
            return []

    def _queues(self):
        gauge = GaugeMetricFamily("jarvis_queue_depth", "Tasks waiting per Celery queue.", labels=["queue"])
        for queue, depth in selectors.queue_depths().items():
            gauge.add_metric([queue], depth)
        yield gauge

    def _components(self):
        gauge = GaugeMetricFamily("jarvis_component_up", "1 when the readiness check of a component passes.",
                                  labels=["component"])
        for name, result in readiness_cached()["components"].items():
            gauge.add_metric([name], 1 if result["status"] == "up" else 0)
        yield gauge

    def _worker_memory(self):
        gauge = GaugeMetricFamily("jarvis_worker_memory_bytes", "Resident memory of Celery worker processes.",
                                  labels=["worker", "pid"])
        for worker, sizes in selectors.worker_memory().items():
            for pid, size in sizes.items():
                gauge.add_metric([worker, pid], size)
        yield gauge

    def _positions(self):
        gauge = GaugeMetricFamily("jarvis_open_positions", "Positions opening, open or closing.", labels=["mode"])
        for mode, count in selectors.open_positions_by_mode().items():
            gauge.add_metric([mode], count)
        yield gauge

    def _budgets(self):
        gauge = GaugeMetricFamily("jarvis_provider_budget_used_ratio", "Share of the monthly budget used.",
                                  labels=["provider"])
        calls = GaugeMetricFamily("jarvis_provider_calls_month", "Billable calls this month.", labels=["provider"])
        for row in budget_usage():
            calls.add_metric([row["provider"]], row["calls_month"])
            if row["used_percent"] is not None:
                gauge.add_metric([row["provider"]], row["used_percent"] / 100)
        yield gauge
        yield calls


def metrics_exposition() -> tuple[bytes, str]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=metrics.MULTIPROC_DIR)
    registry.register(DeskCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
