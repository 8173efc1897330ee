"""Hung workers, named: what each worker's pool is running (or holding for it) and since when, and which runs are past
their expected time.

The report comes from the worker's main process (its heartbeat thread, monitoring.heartbeats.WorkerHeartbeat), never
from a pool process: a pool process that hangs, or is stopped, cannot tell anyone, while the main process keeps
beating. It reads Celery's own record of the requests the worker holds (`celery.worker.state.reserved_requests`):

- a request a pool process has accepted is *running* since its start (`Request.time_start`, `worker_pid`);
- a request handed out but not accepted is *waiting* since the worker received it (the `task_received` signal).

A task's expected time is its soft time limit (the task's own, else CELERY_SOFT_TIME_LIMIT). A worker is stuck when a
running task is past it, or when it holds a task waiting past it while fewer tasks run than it has pool processes:
its pool is not taking work (a pool process stopped or wedged before it could accept the task).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

from celery.worker import state

_received: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def request_received(request) -> None:
    """`task_received` handler (main process): remember when the worker took the request off the broker."""
    try:
        _received[request] = time.time()
    except TypeError:  # not weak-referenceable: reported without a waiting time
        pass


def expected_seconds(request, default: float) -> float:
    task = getattr(request, "task", None)
    limits = getattr(request, "time_limits", None) or (None, None)
    for value in (limits[0], getattr(task, "soft_time_limit", None), limits[1], getattr(task, "time_limit", None)):
        if value:
            return float(value)
    return float(default)


def _reserved() -> list:
    """A copy of the worker's reserved requests; the consumer thread may change the set while this thread copies it."""
    for _ in range(5):
        try:
            return list(state.reserved_requests)
        except RuntimeError:  # "set changed size during iteration": copy again
            continue
    return []


def worker_tasks(*, default_expected: float) -> list[dict]:
    """The requests this worker holds: ``{"id", "task", "state", "since", "pid", "expected"}`` each."""
    out = []
    for request in _reserved():
        started = getattr(request, "time_start", None)
        since = started if started else _received.get(request)
        out.append({
            "id": request.id,
            "task": request.name,
            "state": "running" if started else "waiting",
            "since": since,
            "pid": getattr(request, "worker_pid", None),
            "expected": expected_seconds(request, default_expected),
        })
    return out


@dataclass(frozen=True)
class Stuck:
    worker: str
    task: str
    seconds: float
    expected: float
    pid: int | None
    state: str

    def sentence(self) -> str:
        process = f" (pool process {self.pid})" if self.pid else ""
        waiting = ", never taken up by its pool" if self.state == "waiting" else ""
        return (f"worker {self.worker} stuck in task {self.task} for {self.seconds:.0f} s{process}{waiting}; "
                f"expected within {self.expected:g} s")


def worker_stuck(*, worker: str, beat: dict, now: float) -> list[Stuck]:
    """The tasks of one worker's heartbeat that are past their expected time (see the module's rule)."""
    tasks = [t for t in beat.get("tasks") or [] if t.get("since")]
    running = sum(1 for t in tasks if t["state"] == "running")
    pool_idle = running < int(beat.get("concurrency") or 1)
    out = []
    for item in tasks:
        seconds = now - float(item["since"])
        if seconds <= float(item["expected"]):
            continue
        if item["state"] == "waiting" and not pool_idle:
            continue  # waiting behind a running task: that one is judged on its own
        out.append(Stuck(worker, item["task"], seconds, float(item["expected"]), item.get("pid"), item["state"]))
    return out


def stuck_workers(consumers: dict[str, dict[str, dict]], *, now: float | None = None) -> list[Stuck]:
    """Every stuck task of every worker in ``{queue: {worker: heartbeat}}`` (heartbeats.queue_consumers), once each."""
    now = time.time() if now is None else now
    beats: dict[str, dict] = {}
    for workers in consumers.values():
        for worker, beat in workers.items():
            if worker not in beats or beat.get("ts", 0) > beats[worker].get("ts", 0):
                beats[worker] = beat
    found = []
    for worker in sorted(beats):
        found.extend(worker_stuck(worker=worker, beat=beats[worker], now=now))
    return sorted(found, key=lambda s: -s.seconds)
