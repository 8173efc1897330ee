"""Flower behind basic auth, in a real browser: the workers and a finished task are there."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from jarvis.celery import app
from monitoring.models import Heartbeat
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
FLOWER_AUTH = ("flower-op", "flower-pass-123")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_flower(port: int, db: Path) -> subprocess.Popen:
    env = {**os.environ, "FLOWER_BASIC_AUTH": ":".join(FLOWER_AUTH)}
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "jarvis", "flower",
            f"--port={port}", "--address=127.0.0.1", "--persistent=True", f"--db={db}", "--state_save_interval=1000",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def answers():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 401
        except httpx.HTTPError:
            return process.poll() is not None and pytest.fail("Flower exited at start")

    wait_for(answers, timeout=30, message="Flower to answer")
    return process


@pytest.fixture
def flower(tmp_path):
    port = _free_port()
    process = _start_flower(port, tmp_path / "flower.db")
    yield f"http://127.0.0.1:{port}", process, tmp_path / "flower.db"
    process.terminate()
    process.wait(timeout=20)


def test_flower_refuses_requests_without_credentials(flower):
    url, _, _ = flower
    assert httpx.get(f"{url}/workers", timeout=5).status_code == 401


def test_flower_shows_the_workers_and_a_finished_task(flower, celery_worker, page_factory):
    url, _, _ = flower
    page = page_factory(http_credentials={"username": FLOWER_AUTH[0], "password": FLOWER_AUTH[1]})
    page.goto(f"{url}/workers")
    page.wait_for_selector("text=test-worker@jarvis", timeout=30_000)

    # Flower has the worker's events now, so it also sees the task's.
    app.send_task("monitoring.heartbeat", kwargs={"component": "flower-visible"})
    wait_for(lambda: Heartbeat.objects.filter(component="flower-visible").exists(), message="the task to run")

    deadline = time.monotonic() + 30
    while True:
        page.goto(f"{url}/tasks")
        try:
            page.wait_for_selector("text=monitoring.heartbeat", timeout=3_000)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
    assert "SUCCESS" in page.inner_text("body")


def test_flower_keeps_task_history_across_a_restart(flower, celery_worker):
    url, process, db = flower
    wait_for(
        lambda: "test-worker@jarvis" in httpx.get(f"{url}/api/workers?refresh=1", auth=FLOWER_AUTH, timeout=10).text,
        timeout=30,
        message="Flower to see the worker",
    )
    app.send_task("monitoring.heartbeat", kwargs={"component": "flower-persisted"})
    wait_for(lambda: Heartbeat.objects.filter(component="flower-persisted").exists(), message="the task to run")

    def seen(base):
        tasks = httpx.get(f"{base}/api/tasks", auth=FLOWER_AUTH, timeout=5).json()
        return any(t.get("kwargs", "").find("flower-persisted") >= 0 and t.get("state") == "SUCCESS" for t in tasks.values())

    wait_for(lambda: seen(url), timeout=30, message="Flower to record the task")
    process.terminate()
    process.wait(timeout=20)

    port = _free_port()
    restarted = _start_flower(port, db)
    try:
        assert seen(f"http://127.0.0.1:{port}")
    finally:
        restarted.terminate()
        restarted.wait(timeout=20)
