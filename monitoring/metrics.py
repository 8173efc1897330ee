"""Prometheus metrics any part of the desk may increment. Imports no app: safe to import from anywhere.

Counters and histograms (written by the process that observes them):

| name | labels | who records it |
| --- | --- | --- |
| jarvis_http_requests_total | method, route, status | monitoring.middleware (every request) |
| jarvis_http_request_duration_seconds | method, route | monitoring.middleware |
| jarvis_celery_tasks_total | task, queue, state (started, succeeded, failed, retried) | monitoring.signals (Celery signals) |
| jarvis_celery_task_duration_seconds | task, queue | monitoring.signals |
| jarvis_provider_calls_total | provider, operation, outcome (ok, error, refused; waited for rate_limit:<class>) | clients: `provider_call(...)`, trading.ratelimit |
| jarvis_provider_call_duration_seconds | provider, operation | clients: `provider_call(...)` |
| jarvis_trade_executions_total | venue, outcome (confirmed, failed, expired) | trading: `trade_execution(...)` (on-chain landing, paper venue) |
| jarvis_exits_total | reason (tp, sl, trailing, time, kill, manual) | trading: `exit_recorded(...)` |
| jarvis_cache_requests_total | cache (price, top_tokens), result (hit, miss) | anyone: `cache_hit(...)` / `cache_miss(...)` |

Providers: ``bags``, ``jupiter``, ``dexscreener``, ``solana_rpc``, ``telegram`` (use these names).

Gauges are computed when /metrics is scraped (monitoring/collectors.py), so they are right across processes:
jarvis_queue_depth{queue}, jarvis_open_positions{mode}, jarvis_component_up{component},
jarvis_worker_memory_bytes{worker,pid}, jarvis_provider_budget_used_ratio{provider}.

Multiprocess: gunicorn workers and Celery prefork children each write their own memory-mapped file under
``PROMETHEUS_MULTIPROC_DIR`` (default ``$JARVIS_VAR_DIR/prometheus``); web's /metrics and a worker's or the bot's
METRICS_PORT (monitoring.exporter) merge every file of their own container (prometheus_client's multiprocess mode).
Files are named by host and pid. See docs/monitoring.md for why this and not Redis.

Usage::

    from monitoring import metrics
    with metrics.provider_call("jupiter", "quote"):
        response = client.get(...)          # an exception counts as outcome="error" and is re-raised
    metrics.trade_execution(venue="paper", outcome="confirmed")
    metrics.exit_recorded(reason="sl")
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _multiprocess_dir() -> str:
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        return configured
    var_dir = os.environ.get("JARVIS_VAR_DIR") or str(Path(__file__).resolve().parent.parent / "var")
    return str(Path(var_dir) / "prometheus")


MULTIPROC_DIR = _multiprocess_dir()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = MULTIPROC_DIR
Path(MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

from prometheus_client import Counter, Histogram, values  # noqa: E402

_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40] or "host"


def process_identifier() -> str:
    """Host and pid: unique across containers sharing the directory; changes after fork (prefork, gunicorn)."""
    return f"{_HOST}-{os.getpid()}"


# Every metric created below writes to this process's files, whatever imported prometheus_client first.
values.ValueClass = values.MultiProcessValue(process_identifier)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

HTTP_REQUESTS = Counter(
    "jarvis_http_requests", "HTTP requests answered by Django.", ["method", "route", "status"], registry=None
)
HTTP_LATENCY = Histogram(
    "jarvis_http_request_duration_seconds", "Time Django took to answer.", ["method", "route"],
    buckets=_LATENCY_BUCKETS, registry=None,
)
CELERY_TASKS = Counter("jarvis_celery_tasks", "Celery task state changes.", ["task", "queue", "state"], registry=None)
CELERY_TASK_RUNTIME = Histogram(
    "jarvis_celery_task_duration_seconds", "Celery task run time.", ["task", "queue"], buckets=_TASK_BUCKETS, registry=None
)
PROVIDER_CALLS = Counter(
    "jarvis_provider_calls", "Calls to external providers.", ["provider", "operation", "outcome"], registry=None
)
PROVIDER_LATENCY = Histogram(
    "jarvis_provider_call_duration_seconds", "External provider call time.", ["provider", "operation"],
    buckets=_LATENCY_BUCKETS, registry=None,
)
TRADE_EXECUTIONS = Counter("jarvis_trade_executions", "Orders that reached a final state.", ["venue", "outcome"], registry=None)
EXITS = Counter("jarvis_exits", "Exit orders filled, by reason.", ["reason"], registry=None)
CACHE_REQUESTS = Counter("jarvis_cache_requests", "Cache look-ups.", ["cache", "result"], registry=None)


@contextmanager
def provider_call(provider: str, operation: str) -> Iterator[None]:
    """Time one external call; an exception inside counts as ``outcome="error"`` and propagates."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        provider_observe(provider=provider, operation=operation, outcome=outcome, seconds=time.perf_counter() - started)


def provider_observe(*, provider: str, operation: str, outcome: str, seconds: float | None = None) -> None:
    """Record a provider call measured elsewhere (``outcome``: ok, error or refused)."""
    PROVIDER_CALLS.labels(provider, operation, outcome).inc()
    if seconds is not None:
        PROVIDER_LATENCY.labels(provider, operation).observe(seconds)


def trade_execution(*, venue: str, outcome: str) -> None:
    TRADE_EXECUTIONS.labels(venue, outcome).inc()


def exit_recorded(*, reason: str) -> None:
    EXITS.labels(reason).inc()


def cache_hit(cache: str) -> None:
    CACHE_REQUESTS.labels(cache, "hit").inc()


def cache_miss(cache: str) -> None:
    CACHE_REQUESTS.labels(cache, "miss").inc()


def http_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


def task_state(*, task: str, queue: str, state: str) -> None:
    CELERY_TASKS.labels(task, queue, state).inc()


def task_runtime(*, task: str, queue: str, seconds: float) -> None:
    CELERY_TASK_RUNTIME.labels(task, queue).observe(seconds)
