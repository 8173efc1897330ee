"""Celery signal handlers: task metrics, task outcomes for the error-rate alert, worker heartbeats.

Connected from MonitoringConfig.ready(), so every process that loads Django (web, workers, beat) has them;
only workers fire them.
"""

from __future__ import annotations

import logging
import threading
import time

from celery import signals
from django.conf import settings

from jarvis.celery import queue_for
from monitoring import metrics
from monitoring.exporter import metrics_serve
from monitoring.heartbeats import WorkerHeartbeat
from monitoring.stuck import request_received
from monitoring.taskstats import task_outcome_record

logger = logging.getLogger(__name__)

_started: dict[str, float] = {}
_started_lock = threading.Lock()
_heartbeats: dict[int, WorkerHeartbeat] = {}


def _queue(task, request=None) -> str:
    info = getattr(request or getattr(task, "request", None), "delivery_info", None) or {}
    queue = info.get("routing_key") or info.get("queue")
    if queue:
        return queue

    return queue_for(task.name)


@signals.task_prerun.connect(weak=False)
def _task_started(task_id=None, task=None, **kwargs):
    with _started_lock:
        _started[task_id] = time.perf_counter()
    metrics.task_state(task=task.name, queue=_queue(task), state="started")


@signals.task_postrun.connect(weak=False)
def _task_finished(task_id=None, task=None, state=None, **kwargs):
    with _started_lock:
        began = _started.pop(task_id, None)
    queue = _queue(task)
    if began is not None:
        metrics.task_runtime(task=task.name, queue=queue, seconds=time.perf_counter() - began)
    if state in ("SUCCESS", "FAILURE"):
        task_outcome_record(failed=state == "FAILURE")


@signals.task_success.connect(weak=False)
def _task_succeeded(sender=None, **kwargs):
    metrics.task_state(task=sender.name, queue=_queue(sender), state="succeeded")


@signals.task_failure.connect(weak=False)
def _task_failed(sender=None, **kwargs):
    metrics.task_state(task=sender.name, queue=_queue(sender), state="failed")


@signals.task_retry.connect(weak=False)
def _task_retried(sender=None, request=None, **kwargs):
    metrics.task_state(task=sender.name, queue=_queue(sender, request), state="retried")


@signals.task_received.connect(weak=False)
def _task_received(request=None, **kwargs):
    """Main process: when the worker took the request (a request no pool process accepts is judged from here)."""
    if request is not None:
        request_received(request)


@signals.worker_init.connect(weak=False)
def _worker_heartbeat_start(sender=None, **kwargs):
    """One heartbeat thread per worker (main process), writing to the worker's own broker."""
    if sender is None or id(sender) in _heartbeats:
        return
    thread = WorkerHeartbeat(
        worker=sender, broker_url=sender.app.conf.broker_url, interval=settings.MONITORING_WORKER_HEARTBEAT_SECONDS
    )
    _heartbeats[id(sender)] = thread
    thread.start()


@signals.worker_init.connect(weak=False)
def _worker_metrics_serve(sender=None, **kwargs):
    """The worker's main process serves its pool's counters on METRICS_PORT (monitoring.exporter)."""
    if settings.METRICS_PORT:
        metrics_serve(port=settings.METRICS_PORT)


@signals.worker_shutdown.connect(weak=False)
def _worker_heartbeat_stop(sender=None, **kwargs):
    thread = _heartbeats.pop(id(sender), None)
    if thread is not None:
        thread.stop()
