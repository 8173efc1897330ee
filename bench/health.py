"""Health endpoint benchmark against a real gunicorn (jarvis.gunicorn_conf, DEBUG off, a free port).

1. Liveness, then readiness, at a steady 100 requests/s (open loop: requests leave on schedule whether or not
   earlier ones have answered; latency counts from the scheduled time) for BENCH_SECONDS (20) each.
2. The most liveness requests/s that 50 concurrent keep-alive clients get (closed loop, 10 s).
Baseline, same run, same gunicorn settings: a bare WSGI app that returns a fixed JSON body (the floor any
Django endpoint stands on). The load generator is a small asyncio HTTP/1.1 keep-alive client.

Readiness needs fresh heartbeats: the bench writes them for beat, bot, price feed and a worker per queue (as
those processes would), so the endpoint answers 200 and its real checks (Postgres, Redis, heartbeats) run.

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/jarvis_bench_health, created and migrated
if missing), REDIS_URL (default redis://127.0.0.1:6379/13), BENCH_SECONDS (default 20).
Last line: {"bench": "health", "live_p50_ms", "live_p99_ms", "ready_p50_ms", "ready_p99_ms", "live_rps", ...}
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.trade_latency import stop  # noqa: E402  (SIGTERM, SIGKILL after 20 s)

RATE = 100
CLIENTS = 50
MAX_SECONDS = 10


def baseline_app(environ, start_response):
    """The baseline: what gunicorn alone costs for a small JSON answer."""
    body = b'{"status": "ok"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def open_loop(port: int, path: str, *, rate: int, seconds: float) -> dict:
    idle: list[Connection] = []
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(scheduled: float) -> None:
        nonlocal errors
        conn = idle.pop() if idle else await Connection.open(port)
        try:
            status = await conn.get(path)
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
            conn.close()
            return
        latencies.append(loop.time() - scheduled)
        statuses[status] = statuses.get(status, 0) + 1
        idle.append(conn)

    start = loop.time() + 0.05
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return _summary(latencies, statuses, errors, seconds)


async def closed_loop(port: int, path: str, *, clients: int, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    deadline = loop.time() + seconds

    async def client() -> None:
        nonlocal errors
        conn = await Connection.open(port)
        while loop.time() < deadline:
            began = loop.time()
            try:
                status = await conn.get(path)
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                conn.close()
                conn = await Connection.open(port)
                continue
            latencies.append(loop.time() - began)
            statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return _summary(latencies, statuses, errors, seconds)


def _summary(latencies: list[float], statuses: dict[int, int], errors: int, seconds: float) -> dict:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else float("nan")

    return {
        "requests": len(ordered),
        "rps": round(len(ordered) / seconds, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else float("nan"),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else float("nan"),
        "statuses": statuses,
        "errors": errors,
    }


def start_gunicorn(app: str, port: int, env: dict) -> subprocess.Popen:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    return subprocess.Popen(
        [str(gunicorn), app, "-c", "python:jarvis.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--pythonpath", f"{ROOT},{ROOT / 'bench'}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def wait_until_up(port: int, path: str, process: subprocess.Popen) -> None:
    async def probe() -> int:
        conn = await Connection.open(port)
        try:
            return await conn.get(path)
        finally:
            conn.close()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")
        try:
            asyncio.run(probe())
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 60 s")


class Heartbeats(threading.Thread):
    """Stands in for beat, the bot, the price feed and one worker per queue (readiness reads their heartbeats)."""

    def __init__(self, redis_url: str, queues: list[str]):
        super().__init__(daemon=True)
        from monitoring.heartbeats import redis_for

        self.client, self.queues, self.done = redis_for(redis_url), queues, threading.Event()

    def run(self) -> None:
        from monitoring.heartbeats import heartbeat_write, worker_beat

        while not self.done.is_set():
            for component in ("beat", "bot", "price_feed"):
                heartbeat_write(self.client, component=component)
            worker_beat(self.client, worker="bench@host", queues=self.queues, rss={os.getpid(): 0})
            self.done.wait(2)


def prepare_database(url: str, env: dict) -> None:
    """Create the bench database if missing and migrate it (readiness reads trading tables)."""
    from urllib.parse import urlsplit

    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                             password=parts.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


def main() -> None:
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13")
    var_dir = tempfile.mkdtemp(prefix="jarvis-bench-health-")
    env = dict(
        os.environ,
        DEBUG="false",
        SECRET_KEY=secrets.token_hex(32),
        JARVIS_IGNORE_DOTENV="true",
        JARVIS_VAR_DIR=var_dir,
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jarvis_bench_health"),
        REDIS_URL=redis_url,
        TRADING_MODE="paper",
        PYTHONPATH=str(ROOT),
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.update({k: env[k] for k in ("DEBUG", "SECRET_KEY", "JARVIS_IGNORE_DOTENV", "JARVIS_VAR_DIR", "DATABASE_URL",
                                           "REDIS_URL")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jarvis.settings")
    prepare_database(env["DATABASE_URL"], env)
    load_before = os.getloadavg()[0]
    import django

    django.setup()
    from jarvis.celery import QUEUES

    beats = Heartbeats(redis_url, list(QUEUES))
    beats.start()
    results: dict[str, dict] = {}

    port = free_port()
    base = start_gunicorn("health:baseline_app", port, env)
    try:
        wait_until_up(port, "/", base)
        asyncio.run(closed_loop(port, "/", clients=CLIENTS, seconds=1))  # warm-up
        results["baseline_100rps"] = asyncio.run(open_loop(port, "/", rate=RATE, seconds=min(seconds, 10)))
        results["baseline_max"] = asyncio.run(closed_loop(port, "/", clients=CLIENTS, seconds=MAX_SECONDS))
    finally:
        stop(base)

    port = free_port()
    web = start_gunicorn("jarvis.wsgi:application", port, env)
    try:
        wait_until_up(port, "/api/v1/health/", web)
        asyncio.run(closed_loop(port, "/api/v1/health/", clients=CLIENTS, seconds=2))  # warm-up: imports, connections
        asyncio.run(closed_loop(port, "/api/v1/health/ready/", clients=4, seconds=2))
        results["live_100rps"] = asyncio.run(open_loop(port, "/api/v1/health/", rate=RATE, seconds=seconds))
        results["ready_100rps"] = asyncio.run(open_loop(port, "/api/v1/health/ready/", rate=RATE, seconds=seconds))
        results["live_max"] = asyncio.run(closed_loop(port, "/api/v1/health/", clients=CLIENTS, seconds=MAX_SECONDS))
    finally:
        stop(web)
        beats.done.set()

    load_after = os.getloadavg()[0]
    print(f"health bench: gunicorn jarvis.gunicorn_conf on 127.0.0.1, DEBUG off, {os.cpu_count()} cores, "
          f"load average {load_before:.1f} before / {load_after:.1f} after (other work on the machine skews all figures)")
    for name, r in results.items():
        print(f"  {name:16} {r['requests']:6} req  {r['rps']:8.1f} rps  p50 {r['p50_ms']:7.2f} ms  "
              f"p99 {r['p99_ms']:7.2f} ms  max {r['max_ms']:8.2f} ms  statuses {r['statuses']}  errors {r['errors']}")
    live, ready, top, floor = results["live_100rps"], results["ready_100rps"], results["live_max"], results["baseline_max"]
    goals = {
        "live_p99_under_10ms": live["p99_ms"] < 10,
        "ready_p99_under_50ms": ready["p99_ms"] < 50,
        "live_rps_at_least_1000": top["rps"] >= 1000,
        "ready_answered_200": set(ready["statuses"]) == {200},
    }
    for goal, met in goals.items():
        print(f"  goal {goal}: {'met' if met else 'MISSED'}")
    print(f"  liveness reaches {top['rps'] / floor['rps']:.0%} of the bare-gunicorn baseline's {floor['rps']} rps")
    print(json.dumps({
        "bench": "health",
        "live_p50_ms": live["p50_ms"],
        "live_p99_ms": live["p99_ms"],
        "ready_p50_ms": ready["p50_ms"],
        "ready_p99_ms": ready["p99_ms"],
        "live_rps": top["rps"],
        "baseline_p50_ms": results["baseline_100rps"]["p50_ms"],
        "baseline_p99_ms": results["baseline_100rps"]["p99_ms"],
        "baseline_rps": floor["rps"],
        "live_rps_vs_baseline": round(top["rps"] / floor["rps"], 3),
        "seconds_per_phase": seconds,
        "load_average": [round(load_before, 1), round(load_after, 1)],
        "goals": goals,
    }))


if __name__ == "__main__":
    main()
