import re

import pytest

from jarvis.celery import app
from monitoring.heartbeats import redis_for, worker_beat
from tests.conftest import wait_for

TOKEN = "scrape-token-0123456789"


def _scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def _value(text: str, name: str, **labels) -> float:
    """The sample ``name{labels}`` from an exposition (labels in any order); 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def metrics_settings(readiness_settings):
    readiness_settings.METRICS_TOKEN = TOKEN
    return readiness_settings


def test_a_scrape_without_or_with_a_wrong_token_is_refused(client, metrics_settings):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 401
    metrics_settings.METRICS_TOKEN = None
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_http_requests_are_counted_by_route_and_status(client, metrics_settings, clean_redis):
    before = _value(_scrape(client), "jarvis_http_requests_total", method="GET", route="api/v1/health/", status="200")
    client.get("/api/v1/health/")
    client.get("/api/v1/health/")
    text = _scrape(client)
    assert _value(text, "jarvis_http_requests_total", method="GET", route="api/v1/health/", status="200") == before + 2
    assert _value(text, "jarvis_http_request_duration_seconds_count", method="GET", route="api/v1/health/") >= 2


@pytest.mark.django_db
def test_queue_depth_worker_memory_and_component_health_are_gauges(client, metrics_settings, second_redis):
    metrics_settings.REDIS_URL = second_redis.url
    with app.connection_for_write(second_redis.url) as connection:
        app.send_task("backups.run", connection=connection)
        app.send_task("backups.run", connection=connection)
    worker_beat(redis_for(second_redis.url), worker="w9@test", queues=["trades"], rss={4242: 150 * 1024 * 1024})
    text = _scrape(client)
    assert _value(text, "jarvis_queue_depth", queue="backups") == 2
    assert _value(text, "jarvis_queue_depth", queue="trades") == 0
    assert _value(text, "jarvis_worker_memory_bytes", worker="w9@test", pid="4242") == 150 * 1024 * 1024
    assert _value(text, "jarvis_component_up", component="redis") == 1
    assert _value(text, "jarvis_component_up", component="queue:trades") == 1
    assert _value(text, "jarvis_component_up", component="queue:backups") == 0


def test_celery_tasks_are_counted_by_name_queue_and_state(client, metrics_settings, celery_worker):
    def succeeded(text):
        return _value(text, "jarvis_celery_tasks_total", task="monitoring.heartbeat", queue="default", state="succeeded")

    before = succeeded(_scrape(client))
    app.send_task("monitoring.heartbeat", kwargs={"component": "metrics-test"})
    text = wait_for(lambda: (t := _scrape(client)) and succeeded(t) == before + 1 and t, message="the task's metrics")
    started = _value(text, "jarvis_celery_tasks_total", task="monitoring.heartbeat", queue="default", state="started")
    assert started >= before + 1
    assert _value(text, "jarvis_celery_task_duration_seconds_count", task="monitoring.heartbeat", queue="default") >= 1
    # The session worker's own heartbeat thread vouches for every queue it consumes.
    wait_for(lambda: _value(_scrape(client), "jarvis_component_up", component="queue:default") == 1,
             message="the worker's heartbeat")
    memory = [float(line.rsplit(" ", 1)[1]) for line in _scrape(client).splitlines()
              if line.startswith("jarvis_worker_memory_bytes{")]
    assert memory and max(memory) > 10 * 1024 * 1024  # this test process's resident size, read from /proc
