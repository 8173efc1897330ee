"""Heartbeats in Redis: components (beat, bot, price feed) and Celery workers per queue.

Keys (all under ``jarvis:hb:``):
- ``jarvis:hb:<component>``: JSON ``{"ts": epoch seconds, "detail": {...}, "mode": ...}``, written by `heartbeat_write`.
- ``jarvis:hb:queue:<queue>``: a hash, one field per worker consuming the queue, value JSON
  ``{"ts": ..., "pid": ..., "rss": {"<pid>": bytes, ...}, "tasks": [...], "concurrency": n, "mode": ...}`` (the worker's main
  process and its pool children; the tasks its pool runs or holds, see monitoring.stuck).

``mode`` is the TRADING_MODE the reporting process runs (monitoring.modes compares them).

Timestamps, not key TTLs, decide freshness (the TTL only cleans up), so a reader can tell "3 minutes old" from
"never seen".
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import redis
from django.conf import settings

from jarvis.redis import redis_client
from monitoring.redisinfo import redis_full_alert

logger = logging.getLogger(__name__)

PREFIX = "jarvis:hb:"
KEEP_SECONDS = 7 * 24 * 3600


def redis_for(url: str, *, timeout: float = 2.0) -> redis.Redis:
    """A shared client with short socket timeouts and no retries (a dead Redis answers an error, never a hang)."""
    return redis_client(url, timeout=timeout, retry=False)


def component_key(component: str) -> str:
    return f"{PREFIX}{component}"


def queue_key(queue: str) -> str:
    return f"{PREFIX}queue:{queue}"


def heartbeat_write(client: redis.Redis, *, component: str, detail: dict | None = None, now: float | None = None,
                    mode: str | None = None) -> float:
    """``mode``: the trading mode the component runs (default: this process's)."""
    ts = time.time() if now is None else now
    payload = {"ts": ts, "detail": detail or {}, "mode": mode or settings.TRADING_MODE}
    client.set(component_key(component), json.dumps(payload), ex=KEEP_SECONDS)
    return ts


def heartbeat_read(client: redis.Redis, components: list[str]) -> dict[str, dict | None]:
    """``{component: {"ts": ..., "detail": ...} or None}`` in one round trip."""
    if not components:
        return {}
    raw = client.mget([component_key(c) for c in components])
    return {c: (json.loads(value) if value else None) for c, value in zip(components, raw, strict=True)}


def queue_consumers(client: redis.Redis, queues: list[str]) -> dict[str, dict[str, dict]]:
    """``{queue: {worker: {"ts", "pid", "rss"}}}`` for every queue, one round trip."""
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.hgetall(queue_key(queue))
    found = {}
    for queue, fields in zip(queues, pipe.execute(), strict=True):
        found[queue] = {k.decode(): json.loads(v) for k, v in fields.items()}
    return found


def worker_beat(
    client: redis.Redis, *, worker: str, queues: list[str], rss: dict[int, int], now: float | None = None,
    extra: dict | None = None,
) -> None:
    """`extra`: more fields of the value (the worker's tasks and pool size, monitoring.stuck)."""
    ts = time.time() if now is None else now
    value = json.dumps(
        {**(extra or {}), "ts": ts, "pid": os.getpid(), "rss": {str(pid): size for pid, size in rss.items()},
         "mode": settings.TRADING_MODE}
    )
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.hset(queue_key(queue), worker, value)
        pipe.expire(queue_key(queue), KEEP_SECONDS)
    pipe.execute()


def worker_gone(client: redis.Redis, *, worker: str, queues: list[str]) -> None:
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.hdel(queue_key(queue), worker)
    pipe.execute()


def process_tree_rss() -> dict[int, int]:
    """Resident memory in bytes of this process and its direct children (Linux /proc; {} elsewhere)."""
    me = os.getpid()
    pids = [me]
    try:
        for task in Path(f"/proc/{me}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(pid) for pid in children)
    except OSError:
        pass
    sizes = {}
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    for pid in dict.fromkeys(pids):
        try:
            sizes[pid] = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return sizes


class WorkerHeartbeat(threading.Thread):
    """Runs in a Celery worker's main process: every ``interval`` seconds, one heartbeat per consumed queue.

    The queues come from the running consumer, so a worker started with ``-Q trades,tpsl`` vouches for exactly
    those. The heartbeat goes to the worker's own broker (Redis), where readiness reads it.
    """

    def __init__(self, *, worker, broker_url: str, interval: float):
        super().__init__(name=f"monitoring-heartbeat-{worker.hostname}", daemon=True)
        self.worker = worker
        self.client = redis_for(broker_url)
        self.interval = interval
        self.queues: list[str] = []
        self._stopped = threading.Event()

    def consumed_queues(self) -> list[str]:
        consumer = getattr(self.worker, "consumer", None)
        task_consumer = getattr(consumer, "task_consumer", None)
        if task_consumer is None:
            return []
        return sorted(queue.name for queue in task_consumer.queues)

    def beat(self) -> None:
        queues = self.consumed_queues()
        if not queues:
            return
        self.queues = queues
        worker_beat(self.client, worker=self.worker.hostname, queues=queues, rss=process_tree_rss(), extra=self.tasks())

    def tasks(self) -> dict:
        """What the pool is running and holding, and its size: how readiness tells a hung worker (monitoring.stuck)."""
        from django.conf import settings

        from monitoring.stuck import worker_tasks

        return {
            "tasks": worker_tasks(default_expected=settings.CELERY_DEFAULT_SOFT_TIME_LIMIT),
            "concurrency": getattr(self.worker, "concurrency", None) or 1,
        }

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.beat()
            except redis.exceptions.OutOfMemoryError as exc:  # Redis full: said here, where no broker is needed
                logger.error("worker heartbeat refused, Redis is full: %s", exc)
                redis_full_alert(source=f"worker {self.worker.hostname}", error=exc)
            except Exception as exc:  # Redis away, consumer restarting: the next tick tries again
                logger.warning("worker heartbeat failed: %s", exc)
            self._stopped.wait(self.interval if self.queues else min(self.interval, 0.1))  # fast until consuming

    def stop(self) -> None:
        self._stopped.set()
        if self.queues:
            try:
                worker_gone(self.client, worker=self.worker.hostname, queues=self.queues)
            except redis.RedisError as exc:
                logger.warning("could not withdraw worker heartbeat: %s", exc)
