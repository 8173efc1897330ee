"""Redis memory, as readiness and the alerts tell it: used against maxmemory, the eviction policy, refused writes.

A broker Redis must never evict (a lost key is a lost task) and must say so when it is full: with
``maxmemory-policy noeviction`` Redis refuses writes past ``maxmemory`` with an OOM error, which every producer
then sees (a trader's order that cannot be queued, a heartbeat that cannot be written). Readiness probes one small
write, so "full" is what Redis itself answers, not a guess from the figures.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
from django.db import connection

from jarvis.events import event_emit

logger = logging.getLogger(__name__)

PROBE_KEY = "jarvis:readiness:probe"
ALERT_KEY = "redis.full"
ALERT_EVERY_SECONDS = 60.0
_last_alert = {"at": -ALERT_EVERY_SECONDS}
_alert_lock = threading.Lock()


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True)
class RedisMemory:
    used: int
    maxmemory: int  # 0: no limit
    policy: str
    refused: int  # writes refused for lack of memory since Redis started (INFO errorstats, errorstat_OOM)

    def sentence(self) -> str:
        if self.maxmemory:
            share = f"{_mb(self.used)} used of {_mb(self.maxmemory)} ({100 * self.used / self.maxmemory:.0f}%)"
        else:
            share = f"{_mb(self.used)} used (no maxmemory)"
        evicts = "" if self.policy == "noeviction" else " (evicts keys: queued tasks can be lost)"
        return f"{share}, policy {self.policy}{evicts}, {self.refused} writes refused since start"


def redis_memory(client: redis.Redis) -> RedisMemory:
    memory = client.info("memory")
    errors = client.info("errorstats")
    oom = errors.get("errorstat_OOM") or {}
    return RedisMemory(
        used=int(memory.get("used_memory", 0)),
        maxmemory=int(memory.get("maxmemory", 0)),
        policy=str(memory.get("maxmemory_policy", "")),
        refused=int(oom.get("count", 0)) if isinstance(oom, dict) else 0,
    )


def write_refused(client: redis.Redis) -> str | None:
    """None if Redis takes a small write now, else its OOM answer."""
    try:
        client.set(PROBE_KEY, b"1", px=10_000)
    except redis.exceptions.OutOfMemoryError as exc:
        return str(exc)
    return None


def redis_full_alert(*, source: str, error: Exception) -> None:
    """Raise the "Redis is full" alert from a process that found its write refused (at most once a minute per
    process). Needs no broker: the alert is a database row, delivered through "alert.changed" (the outbox keeps the
    Telegram copy until the queue takes it again; the webhook is called at once)."""
    with _alert_lock:
        now = time.monotonic()
        if now - _last_alert["at"] < ALERT_EVERY_SECONDS:
            return
        _last_alert["at"] = now
    try:
        # an "alert.raise" event (jarvis.events) rather than monitoring.alerts itself: the alerts import readiness,
        # which imports this module
        event_emit("alert.raise", {
            "key": ALERT_KEY, "severity": "critical",
            "summary": f"Redis is full: {source} could not write ({str(error)[:120]}). Nothing can be queued until "
                       "memory is freed or maxmemory raised.",
        })
    finally:
        connection.close()  # this thread's own connection
