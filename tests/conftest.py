"""Shared fixtures: the real Postgres (pytest-django), the real Redis, and a real Celery worker."""

from __future__ import annotations

import pytest
import redis as redis_lib
from django.conf import settings

# Each part of the suite keeps its shared fixtures in its own module, so parallel work never edits one file.
pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.trading",
    "tests.fixtures.tpsl",
    "tests.fixtures.telegram",
    "tests.fixtures.monitoring",
    "tests.fixtures.backups",
    "tests.fixtures.browser",
    "tests.fixtures.security",
]


@pytest.fixture(scope="session")
def redis_client():
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.ping()
    yield client
    client.close()


def _broker_key(name: bytes) -> bool:
    """A key of the Celery broker, which shares the suite's Redis database: a queue the session's worker consumes
    (with its priority variants), the unacked bookkeeping, the exchange bindings and the control replies."""
    from jarvis.celery import QUEUES

    text = name.decode("utf-8", "replace")
    return (text.split("\x06\x16", 1)[0] in QUEUES or text.startswith(("_kombu.", "unacked"))
            or "celery.pidbox" in text)


def redis_clear(client) -> None:
    """Every key of the suite's Redis database but the broker's: a test starts from empty caches, limits and locks,
    while the session's worker keeps its queues, bindings and unacked tasks (flushing them lost tasks in flight)."""
    doomed = [key for key in client.scan_iter(count=1000) if not _broker_key(key)]
    for start in range(0, len(doomed), 500):
        client.delete(*doomed[start:start + 500])


@pytest.fixture
def clean_redis(redis_client):
    """The suite's Redis database (from REDIS_URL) empty but for the broker's keys, before and after the test."""
    redis_clear(redis_client)
    yield redis_client
    redis_clear(redis_client)


@pytest.fixture(scope="session")
def celery_app():
    from jarvis.celery import app

    return app


@pytest.fixture(scope="session")
def celery_worker_session(celery_app, django_db_setup, django_db_blocker):
    """A real Celery worker thread consuming every queue from Redis, for the whole session.

    Tests that use it must be `transaction=True` so the worker's own connection sees their rows.
    """
    from celery.contrib.testing.worker import start_worker
    from jarvis.celery import QUEUES

    redis_lib.Redis.from_url(settings.REDIS_URL).flushdb()
    with django_db_blocker.unblock():
        with start_worker(
            celery_app,
            pool="threads",
            concurrency=2,
            queues=list(QUEUES),
            perform_ping_check=False,
            shutdown_timeout=30,
            loglevel="WARNING",
            hostname="test-worker@jarvis",
            without_heartbeat=False,  # heartbeats let Flower (and readiness checks) see this worker
        ) as worker:
            yield worker
        _end_worker_thread_connections()


def _end_worker_thread_connections() -> None:
    """The worker's pool threads keep their database connections between tasks (DATABASE_CONN_MAX_AGE), and a
    stopped thread never closes its own: end those sessions, or the test database could not be dropped."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def celery_worker(celery_worker_session, transactional_db):
    return celery_worker_session


def process_stop(process) -> None:
    """Stop a process a test started: SIGTERM (a warm shutdown), SIGKILL after 20 s."""
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for(predicate, *, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
