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
    metrics_settings.ROOT_URLCONF = "tests.monitoring.correlation_urls"  # a route no other test suite calls
    route = "test/probe/<int:code>/"
    before = _scrape(client)
    client.get("/test/probe/200/")
    client.get("/test/probe/200/")
    client.get("/test/probe/418/")
    text = _scrape(client)
    for status, calls in (("200", 2), ("418", 1)):
        counted = _value(text, "jarvis_http_requests_total", method="GET", route=route, status=status)
        assert counted == _value(before, "jarvis_http_requests_total", method="GET", route=route, status=status) + calls
    duration = _value(text, "jarvis_http_request_duration_seconds_count", method="GET", route=route)
    assert duration == _value(before, "jarvis_http_request_duration_seconds_count", method="GET", route=route) + 3


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
    task = "monitoring.prune_uptime"  # a task no other test suite sends, so the counts are this test's own

    def count(text, state):
        return _value(text, "jarvis_celery_tasks_total", task=task, queue="default", state=state)

    def runs(text):
        return _value(text, "jarvis_celery_task_duration_seconds_count", task=task, queue="default")

    before = _scrape(client)
    app.send_task(task)
    # Celery sends task_success before task_postrun (which records the duration): wait for both.
    text = wait_for(lambda: (t := _scrape(client)) and count(t, "succeeded") == count(before, "succeeded") + 1
                    and runs(t) == runs(before) + 1 and t, message="the task's metrics")
    assert count(text, "started") == count(before, "started") + 1
    assert count(text, "failed") == count(before, "failed")
    # The session worker's own heartbeat thread vouches for every queue it consumes.
    wait_for(lambda: _value(_scrape(client), "jarvis_component_up", component="queue:default") == 1,
             message="the worker's heartbeat")
    memory = [float(line.rsplit(" ", 1)[1]) for line in _scrape(client).splitlines()
              if line.startswith("jarvis_worker_memory_bytes{")]
    assert memory and max(memory) > 10 * 1024 * 1024  # this test process's resident size, read from /proc


def test_a_retried_task_is_counted(client, metrics_settings, celery_worker):
    """The webhook task retries a transport error (nothing listens on the port): the retry shows in /metrics."""
    from tests.fixtures.monitoring import free_port

    from monitoring.alerts import alert_raise

    def retried(text):
        return _value(text, "jarvis_celery_tasks_total", task="monitoring.alert_webhook", queue="default", state="retried")

    before = retried(_scrape(client))
    metrics_settings.MONITORING_ALERT_WEBHOOK_URL = f"http://127.0.0.1:{free_port()}/hook"
    assert alert_raise(key="retry-test", summary="Webhook receiver is down.")
    wait_for(lambda: retried(_scrape(client)) >= before + 1, message="the retry in /metrics")
