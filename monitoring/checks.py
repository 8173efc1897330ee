"""Readiness: one check per component, run concurrently, each under its own timeout; the answer is cached.

Components: postgres, redis (memory and refused writes, monitoring.redisinfo), queue:<name> for every Celery queue (a live consumer's heartbeat, from a worker that is
not stuck), workers (no worker stuck in a task past its expected time, monitoring.stuck), beat (fresher than three beat
intervals), price_feed, price_stream (the prices role's heartbeat, connected, when SOLANA_WS_URL is set), bot, mode
(every process runs the same trading mode), and solana_rpc in live mode. MONITORING_READINESS_SKIP drops some
(e.g. "bot" on a desk that runs without Telegram).
"""

from __future__ import annotations

import copy
import hmac
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import httpx
from django.conf import settings
from django.db import connections

from monitoring import heartbeats
from monitoring.redisinfo import redis_memory, write_refused
from monitoring.stuck import stuck_workers
from monitoring.modes import modes_disagreement, process_modes

_executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="readiness")


def _new_executor_after_fork() -> None:
    """A forked child (Celery prefork, gunicorn) must not inherit a pool whose threads stayed in the parent."""
    global _executor, _cache_lock, _refreshing
    _executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="readiness")
    _cache_lock, _refreshing = threading.Lock(), threading.Lock()
    _http.clear()


os.register_at_fork(after_in_child=_new_executor_after_fork)
_cache: dict = {"at": -math.inf, "report": None}
_cache_lock = threading.Lock()


class CheckFailed(Exception):
    """A component is not ready; the message says why in one line."""


@dataclass(frozen=True)
class ComponentStatus:
    status: str  # "up" or "down"
    latency_ms: float
    detail: str


def _queues() -> list[str]:
    from jarvis.celery import QUEUES

    return list(QUEUES)


def readiness_components() -> list[str]:
    names = ["postgres", "redis", *(f"queue:{q}" for q in _queues()), "workers", "beat", "price_feed", "bot", "mode"]
    if settings.TRADING_MODE == "live":
        names.append("solana_rpc")
    if settings.SOLANA_WS_URL:
        names.append("price_stream")
    skip = set(settings.MONITORING_READINESS_SKIP)
    return [name for name in names if name not in skip]


def _redis():
    return heartbeats.redis_for(settings.REDIS_URL, timeout=settings.MONITORING_CHECK_TIMEOUT_SECONDS)


def check_postgres() -> str:
    """A fresh connection (never a request thread's), `SELECT 1`, closed again."""
    default = connections["default"]
    params = copy.deepcopy(default.settings_dict)
    if default.vendor == "postgresql":
        timeout = settings.MONITORING_CHECK_TIMEOUT_SECONDS
        params.setdefault("OPTIONS", {})["connect_timeout"] = max(1, math.ceil(timeout))
        params["OPTIONS"]["options"] = f"-c statement_timeout={int(timeout * 1000)}"
    connection = type(default)(params, alias="readiness")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()
    return f"{default.vendor} answers"


def check_redis() -> str:
    """PING, memory against maxmemory and refused writes; down with "Redis is full" when a small write is refused."""
    client = _redis()
    client.ping()
    memory = redis_memory(client)
    refused = write_refused(client)
    if refused is not None:
        raise CheckFailed(f"Redis is full: writes are refused (OOM: {refused[:80]}); {memory.sentence()}")
    return f"answers PING; {memory.sentence()}"


def heartbeat_age(ts: float | None, now: float | None = None) -> float | None:
    return None if ts is None else max(0.0, (time.time() if now is None else now) - ts)


def check_queue(queue: str) -> str:
    stale_after = 3 * settings.MONITORING_WORKER_HEARTBEAT_SECONDS
    consumers = heartbeats.queue_consumers(_redis(), [queue])[queue]
    live = {worker: heartbeat_age(beat["ts"]) for worker, beat in consumers.items()}
    live = {worker: age for worker, age in live.items() if age <= stale_after}
    if not live:
        raise CheckFailed(f"no live worker consumes queue {queue!r} (no heartbeat within {stale_after} s)")
    stuck = stuck_workers({queue: {worker: consumers[worker] for worker in live}})
    serving = {worker: age for worker, age in live.items() if worker not in {s.worker for s in stuck}}
    if not serving:
        raise CheckFailed(f"every worker consuming queue {queue!r} is stuck: {stuck[0].sentence()}")
    freshest = min(serving.values())
    held = f", {len(live) - len(serving)} stuck" if len(serving) < len(live) else ""
    return f"{len(serving)} worker(s){held}, freshest heartbeat {freshest:.1f} s ago"


def check_workers() -> str:
    """No live worker holds a task past its expected time; the message names each stuck one (monitoring.stuck)."""
    stale_after = 3 * settings.MONITORING_WORKER_HEARTBEAT_SECONDS
    now = time.time()
    consumers = heartbeats.queue_consumers(_redis(), _queues())
    live = {
        queue: {worker: beat for worker, beat in workers.items() if heartbeat_age(beat["ts"], now) <= stale_after}
        for queue, workers in consumers.items()
    }
    stuck = stuck_workers(live, now=now)
    if stuck:
        more = f"; and {len(stuck) - 3} more" if len(stuck) > 3 else ""
        raise CheckFailed("; ".join(item.sentence() for item in stuck[:3]) + more)
    count = len({worker for workers in live.values() for worker in workers})
    return f"{count} live worker(s), none stuck"


def check_heartbeat(component: str, stale_after: float) -> str:
    beat = heartbeats.heartbeat_read(_redis(), [component])[component]
    if beat is None:
        raise CheckFailed(f"{component} has never sent a heartbeat")
    age = heartbeat_age(beat["ts"])
    if age > stale_after:
        raise CheckFailed(f"{component} heartbeat is {age:.0f} s old (limit {stale_after:.0f} s)")
    return f"heartbeat {age:.1f} s ago"


def check_price_feed() -> str:
    """Every token held in a live position has a cached price younger than MONITORING_PRICE_STALE_SECONDS."""
    from monitoring.selectors import price_feed_status

    fresh, _, detail = price_feed_status(stale_after=settings.MONITORING_PRICE_STALE_SECONDS)
    if not fresh:
        raise CheckFailed(detail)
    return detail


def check_price_stream() -> str:
    """The prices role beats (about once a second, connected or not) and is connected to the RPC WebSocket."""
    detail = check_heartbeat("price_stream", settings.PRICE_STREAM_STALE_SECONDS)
    state = heartbeats.heartbeat_read(_redis(), ["price_stream"])["price_stream"].get("detail") or {}
    if not state.get("connected"):
        raise CheckFailed(f"price stream disconnected ({str(state.get('last_error') or 'connecting')[:120]})")
    return f"connected, {state.get('subscriptions', 0)} subscription(s), {detail}"


def check_mode() -> str:
    """Every process that reports a mode (monitoring.modes) runs the one this process runs."""
    modes = process_modes()
    problem = modes_disagreement(modes)
    if problem:
        raise CheckFailed(problem)
    return f"{len(modes)} process(es) run {settings.TRADING_MODE}"


# One keep-alive client per process, built at import: building one per check costs an SSL context each time,
# which a loaded machine can stretch past the check's timeout.
_http: dict[str, httpx.Client] = {"client": httpx.Client()}


def _http_client() -> httpx.Client:
    client = _http.get("client")
    if client is None:
        client = _http.setdefault("client", httpx.Client())
    return client


def check_solana_rpc() -> str:
    response = _http_client().post(
        settings.SOLANA_RPC_URL,
        json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
        timeout=settings.MONITORING_CHECK_TIMEOUT_SECONDS,
    )
    body = response.json() if response.status_code == 200 else {}
    if body.get("result") != "ok":
        raise CheckFailed(f"getHealth answered HTTP {response.status_code}: {str(body.get('error', ''))[:120]}")
    return "getHealth ok"


def _check_for(name: str):
    if name == "postgres":
        return check_postgres
    if name == "redis":
        return check_redis
    if name.startswith("queue:"):
        return lambda: check_queue(name.split(":", 1)[1])
    if name == "workers":
        return check_workers
    if name == "beat":
        return lambda: check_heartbeat("beat", 3 * settings.MONITORING_BEAT_INTERVAL_SECONDS)
    if name == "price_feed":
        return check_price_feed
    if name == "bot":
        return lambda: check_heartbeat("bot", settings.MONITORING_BOT_STALE_SECONDS)
    if name == "price_stream":
        return check_price_stream
    if name == "mode":
        return check_mode
    if name == "solana_rpc":
        return check_solana_rpc
    raise ValueError(f"unknown readiness component {name!r}")


def _timed(check) -> ComponentStatus:
    started = time.perf_counter()
    try:
        detail, status = check(), "up"
    except CheckFailed as exc:
        detail, status = str(exc), "down"
    except Exception as exc:  # the component's own error (refused, timed out, auth): reported, never raised
        detail, status = f"{type(exc).__name__}: {str(exc)[:200]}", "down"
    finally:
        connections.close_all()  # this pool thread's own ORM connections: never left idle
    return ComponentStatus(status, round((time.perf_counter() - started) * 1000, 2), detail)


def readiness_run(*, components: list[str] | None = None) -> dict:
    """Run every check concurrently; a check without an answer by the timeout is reported down."""
    names = components or readiness_components()
    timeout = settings.MONITORING_CHECK_TIMEOUT_SECONDS
    started = time.perf_counter()
    futures = {name: _executor.submit(_timed, _check_for(name)) for name in names}
    wait(futures.values(), timeout=timeout)
    results = {}
    for name, future in futures.items():
        if future.done():
            results[name] = future.result()
        else:
            elapsed = round((time.perf_counter() - started) * 1000, 2)
            results[name] = ComponentStatus("down", elapsed, f"no answer within {timeout:g} s")
    ready = all(result.status == "up" for result in results.values())
    return {
        "status": "ready" if ready else "not_ready",
        "checked_at": datetime.now(UTC).isoformat(),
        "components": {name: asdict(result) for name, result in results.items()},
    }


def _components_pattern() -> str:
    names = ["postgres", "redis", *(f"queue:{q}" for q in _queues()), "workers", "beat", "price_feed", "bot", "mode",
             "solana_rpc"]
    one = "|".join(re.escape(name) for name in names)
    return rf"^({one})(,({one}))*$"


# `?components=` of the readiness view: comma-separated names of readiness components (postgres, redis, queue:trades).
COMPONENTS_PATTERN = _components_pattern()


def readiness_components_parse(raw: str) -> list[str] | None:
    """``"postgres,redis"`` -> the names asked for; None unless every name is a readiness component's."""
    return raw.split(",") if re.fullmatch(COMPONENTS_PATTERN, raw) else None


def readiness_select(report: dict, names: list[str]) -> dict:
    """The report judged on ``names`` only (a web pod's readiness: its database and Redis, not the whole desk).
    A component this desk does not check (MONITORING_READINESS_SKIP, solana_rpc outside live mode) is left out."""
    components = {name: report["components"][name] for name in names if name in report["components"]}
    up = all(result["status"] == "up" for result in components.values())
    return {**report, "status": "ready" if up else "not_ready", "components": components}


def token_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an unset expected token matches nothing."""
    return bool(given and expected and hmac.compare_digest(given.encode(), expected.encode()))


def readiness_cached() -> dict:
    """The last report if younger than MONITORING_READINESS_CACHE_SECONDS, else a new one (one at a time).

    A report that has just expired (younger than two cache periods plus a check timeout) is still served while
    one background thread refreshes it, so a poller never waits on the checks; an older one, or none, is
    computed in the request.
    """
    ttl = settings.MONITORING_READINESS_CACHE_SECONDS
    report = _cache["report"]
    age = time.monotonic() - _cache["at"]
    if report is not None and age < ttl:
        return report
    if report is not None and ttl > 0 and age < 2 * ttl + settings.MONITORING_CHECK_TIMEOUT_SECONDS:
        _refresh_in_background()
        return report
    with _cache_lock:
        report = _cache["report"]
        if report is not None and time.monotonic() - _cache["at"] < ttl:
            return report
        report = readiness_run()
        _cache.update(at=time.monotonic(), report=report)
        return report


_refreshing = threading.Lock()


def _refresh_in_background() -> None:
    if not _refreshing.acquire(blocking=False):
        return  # a refresh is already running

    def refresh() -> None:
        try:
            report = readiness_run()
            with _cache_lock:
                _cache.update(at=time.monotonic(), report=report)
        finally:
            _refreshing.release()

    threading.Thread(target=refresh, name="readiness-refresh", daemon=True).start()


def readiness_cache_clear() -> None:
    with _cache_lock:
        _cache.update(at=-math.inf, report=None)
