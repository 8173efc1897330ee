"""A worker serves its own metrics on METRICS_PORT, its pool's counters included, from a directory of its own.

Real processes: a `celery worker` (prefork, one pool process) on a Redis of the test's own, with METRICS_PORT and a
PROMETHEUS_MULTIPROC_DIR nobody else writes (as a pod's emptyDir). A task runs in the pool process; the worker's main
process serves its count over HTTP, so Prometheus can scrape a worker on any host.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_for
from tests.fixtures.monitoring import free_port

ROOT = Path(__file__).resolve().parents[2]


def scrape(port: int) -> dict[tuple, float] | None:
    """The samples served on the port (empty before anything was counted), None while nothing listens."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.TransportError:
        return None
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body) for sample in family.samples
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_serves_its_pools_counters_on_its_metrics_port(second_redis, tmp_path):
    db = connection.settings_dict
    port = free_port()
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": second_redis.url,
        "METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "LOG_LEVEL": "warning",
    }
    worker = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "jarvis", "worker", "-Q", "default", "-P", "prefork",
         "--concurrency", "1", "-l", "warning", "-n", "metrics@%h", "--without-gossip", "--without-mingle"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: scrape(port) is not None or worker.poll() is not None, timeout=60, message="the worker's metrics port")
        assert worker.poll() is None, "the worker exited"
        from jarvis.celery import app as celery_app

        with celery_app.connection_for_write(second_redis.url) as sender:
            celery_app.send_task("monitoring.heartbeat", args=["metrics-test"], connection=sender)
        key = ("jarvis_celery_tasks_total", (("queue", "default"), ("state", "succeeded"), ("task", "monitoring.heartbeat")))
        assert wait_for(lambda: (scrape(port) or {}).get(key), timeout=60, message="the task's count on the worker's port") == 1.0
        pool_files = [path for path in directory.iterdir() if str(worker.pid) not in path.name]
        assert pool_files, "the counter was written by the pool process, not the main one"
    finally:
        worker.terminate()
        worker.wait(60)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_bot_serves_metrics_on_its_port_and_its_probe_passes_while_it_runs(second_redis, standin, settings, tmp_path):
    """A real `manage.py runbot` against the Bot API stand-in: its metrics port answers, and the probe deploy/k8s and
    compose give it (`heartbeat_check bot`) fails before it starts and passes on the heartbeat it writes."""
    from django.core.management import CommandError, call_command

    db = connection.settings_dict
    port = free_port()
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": second_redis.url,
        "TELEGRAM_API_URL": standin.url,
        "METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "LOG_LEVEL": "warning",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    settings.REDIS_URL = second_redis.url
    settings.MONITORING_BOT_STALE_SECONDS = 60
    with pytest.raises(CommandError, match="never sent a heartbeat"):
        call_command("heartbeat_check", "bot")
    bot = subprocess.Popen([str(ROOT / ".venv" / "bin" / "python"), "manage.py", "runbot"], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: scrape(port) is not None or bot.poll() is not None, timeout=60, message="the bot's metrics port")
        assert bot.poll() is None, "the bot exited"

        def probe_passes() -> bool:
            try:
                call_command("heartbeat_check", "bot")
            except CommandError:
                return False
            return True

        wait_for(probe_passes, timeout=60, message="the bot's heartbeat")
    finally:
        bot.terminate()
        bot.wait(60)
    assert scrape(port) is None  # the port went with the process
