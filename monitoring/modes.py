"""The trading mode each process of the desk runs, as the process itself reports it in its heartbeat.

Web answers for itself (the process reading); workers, beat and the bot say theirs in their heartbeats
(monitoring.heartbeats). Processes that disagree fail readiness (the `mode` component) and so raise the "component
is down" alert; the bot's /status and the admin front page show the same answer.
"""

from __future__ import annotations

import time
from collections import defaultdict

from django.conf import settings

from monitoring import heartbeats

THIS_PROCESS = "this process"


def process_modes(*, now: float | None = None) -> dict[str, str]:
    """``{process: mode}``: this process, then every worker, beat and bot whose heartbeat is fresh and names a mode.

    A heartbeat older than its readiness limit is left out: a process stopped since (perhaps in another mode) is
    not part of the desk any more."""
    from jarvis.celery import QUEUES

    now = time.time() if now is None else now
    client = heartbeats.redis_for(settings.REDIS_URL, timeout=settings.MONITORING_CHECK_TIMEOUT_SECONDS)
    modes = {THIS_PROCESS: settings.TRADING_MODE}
    worker_limit = 3 * settings.MONITORING_WORKER_HEARTBEAT_SECONDS
    for consumers in heartbeats.queue_consumers(client, list(QUEUES)).values():
        for worker, beat in consumers.items():
            if beat.get("mode") and now - beat["ts"] <= worker_limit:
                modes[worker] = beat["mode"]
    limits = {"beat": 3 * settings.MONITORING_BEAT_INTERVAL_SECONDS, "bot": settings.MONITORING_BOT_STALE_SECONDS}
    for component, beat in heartbeats.heartbeat_read(client, list(limits)).items():
        if beat and beat.get("mode") and now - beat["ts"] <= limits[component]:
            modes[component] = beat["mode"]
    return modes


def modes_disagreement(modes: dict[str, str]) -> str | None:
    """One sentence naming which process runs which mode, or None when they all run the same one."""
    by_mode: dict[str, list[str]] = defaultdict(list)
    for process, mode in modes.items():
        by_mode[mode].append(process)
    if len(by_mode) <= 1:
        return None
    parts = "; ".join(f"{mode}: {', '.join(sorted(by_mode[mode]))}" for mode in sorted(by_mode))
    return f"processes disagree on the trading mode ({parts})"
