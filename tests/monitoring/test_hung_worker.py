"""A hung worker is named, and exits do not wait behind it.

Real processes on a Redis of the test's own: two `celery worker -Q trades,tpsl` processes (prefork, one pool process
each, as the local desk's two trades workers and compose's worker-trades and worker-tpsl). The first one's pool process
is stopped with SIGSTOP; the worker's main process keeps beating and names the task its pool holds. A stop-loss then
comes due: the other worker sweeps and sells within 30 s, while readiness, the admin front page and an alert name the
stopped worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis as redis_lib
from django.db import connection

from monitoring.alerts import alerts_evaluate
from monitoring.checks import readiness_run
from monitoring.heartbeats import queue_consumers
from monitoring.models import AlertEvent, AlertRule
from tests.conftest import wait_for
from trading.models import Order, Position

ROOT = Path(__file__).resolve().parents[2]
E = Decimal("0.0001")


def start_worker(name: str, env: dict) -> subprocess.Popen:
    command = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "jarvis", "worker", "-Q", "trades,tpsl", "-P", "prefork",
               "--concurrency", "1", "-l", "warning", "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
               "--without-heartbeat"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pool_children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children.extend(int(child) for child in (task / "children").read_text().split())
    return children


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_stopped_pool_process_is_named_and_the_stop_loss_is_sold_by_the_other_worker(
    settings, readiness_settings, second_redis, trader, listed_token, make_position, price_feed, admin_client
):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": second_redis.url,
        "JUPITER_API_URL": price_feed.jupiter_url,
        "JUPITER_API_KEY": price_feed.jupiter_api_key,
        "TRADING_MODE": "paper",
        "MONITORING_WORKER_HEARTBEAT_SECONDS": "1",
        "LOG_LEVEL": "warning",
    }
    env.pop("DEXSCREENER_API_URL", None)
    settings.REDIS_URL = settings.CELERY_BROKER_URL = second_redis.url  # readiness reads the workers' Redis
    settings.MONITORING_WORKER_HEARTBEAT_SECONDS = 1
    broker = redis_lib.Redis.from_url(second_redis.url)
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=424_242)
    from jarvis.celery import app as celery_app

    sender = celery_app.connection_for_write(second_redis.url)

    def sweep() -> None:
        broker.delete("jarvis:tpsl:sweep-start:0/1")  # one run per interval: this test is the beat
        celery_app.send_task("trading.tpsl_sweep", connection=sender)

    def workers_component() -> dict:
        return readiness_run(components=["workers", "queue:tpsl", "queue:trades"])["components"]

    workers = {"hung": start_worker("hung", env), "healthy": start_worker("healthy", env)}
    stopped: list[int] = []
    try:
        wait_for(lambda: {w.split("@")[0] for w in queue_consumers(broker, ["tpsl"])["tpsl"]} == {"hung", "healthy"},
                 timeout=60, message="both workers consuming")
        child = wait_for(lambda: pool_children(workers["hung"].pid), timeout=30, message="the pool process")[0]
        os.kill(child, signal.SIGSTOP)
        stopped.append(child)
        wait_for(lambda: process_state(child) == "T", message="the pool process stopped")

        def named() -> str | None:
            found = workers_component()["workers"]
            if found["status"] == "down":
                return found["detail"]
            sweep()
            time.sleep(0.5)
            return None

        detail = wait_for(named, timeout=90, interval=0.5, message="readiness naming the hung worker")
        assert "worker hung@" in detail and "stuck in task trading.tpsl_sweep for" in detail
        assert "healthy@" not in detail
        components = workers_component()
        assert components["queue:tpsl"]["status"] == "up" and "1 stuck" in components["queue:tpsl"]["detail"]

        # The stop-loss comes due while the pool process is stopped: the other worker sweeps and sells.
        price_feed.market.set_price(token.mint, E / 2)

        def sold() -> bool:
            if Order.objects.filter(position=position, side="sell", status="confirmed").exists():
                return True
            sweep()
            return False

        wait_for(sold, timeout=30, interval=1.0, message="the stop-loss sold by the other worker")
        assert process_state(child) == "T"  # still stopped: the sale was not its doing
        order = Order.objects.get(position=position, side="sell")
        assert (order.reason, order.amount_in) == ("sl", 424_242)
        wait_for(lambda: Position.objects.get(pk=position.pk).status == "closed", message="the position closed")

        # The alert and the admin front page name it too.
        AlertRule.objects.get_or_create(name="A component is down", defaults={"metric": "component_down"})
        alerts_evaluate()
        event = AlertEvent.objects.get(target="workers", state="firing")
        assert "worker hung@" in event.message and "trading.tpsl_sweep" in event.message
        page = admin_client.get("/admin/").content.decode()
        assert "worker hung@" in page and "stuck in task trading.tpsl_sweep" in page
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        sender.release()
        for proc in workers.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_task_is_stuck_past_its_expected_time_and_a_waiting_one_only_when_the_pool_takes_nothing():
    from monitoring.stuck import worker_stuck

    now = 1_000.0
    running = {"task": "backups.run", "state": "running", "since": now - 50, "pid": 7, "expected": 600}
    waiting = {"task": "trading.tpsl_sweep", "state": "waiting", "since": now - 40, "pid": None, "expected": 10}
    assert worker_stuck(worker="w", beat={"tasks": [running, waiting], "concurrency": 1}, now=now) == []
    [stuck] = worker_stuck(worker="w", beat={"tasks": [waiting], "concurrency": 1}, now=now)
    assert stuck.sentence() == ("worker w stuck in task trading.tpsl_sweep for 40 s, never taken up by its pool; "
                                "expected within 10 s")
    late = {**running, "since": now - 601}
    [stuck] = worker_stuck(worker="w", beat={"tasks": [late, waiting], "concurrency": 1}, now=now)
    assert stuck.sentence() == "worker w stuck in task backups.run for 601 s (pool process 7); expected within 600 s"
    assert worker_stuck(worker="w", beat={"tasks": [{**late, "since": now - 599}]}, now=now) == []
