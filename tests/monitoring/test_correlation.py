import io
import json
import logging

import pytest
from django.conf import settings as django_settings

from jarvis.logging import CorrelationIdFilter
from monitoring.alerts import alert_rule_create
from monitoring.models import AlertRule
from tests.conftest import wait_for


@pytest.fixture
def json_log_lines():
    """The monitoring.alerts logger through the project's own JSON formatter and correlation filter."""
    from logging.config import dictConfig  # noqa: F401 - LOGGING is already applied; reuse its formatter spec

    spec = django_settings.LOGGING["formatters"]["json"]
    from pythonjsonlogger.json import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(spec["fmt"], rename_fields=spec["rename_fields"]))
    handler.addFilter(CorrelationIdFilter())
    logger = logging.getLogger("monitoring.alerts")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    logger.removeHandler(handler)


def test_a_requests_id_reaches_the_log_lines_of_the_task_it_causes(
    client, settings, readiness_settings, clean_redis, celery_worker, json_log_lines
):
    settings.ROOT_URLCONF = "tests.monitoring.correlation_urls"
    AlertRule.objects.all().delete()
    alert_rule_create(name="beat down", metric="component_down", target="beat", threshold=0)

    response = client.get("/test/enqueue-evaluation/", HTTP_X_REQUEST_ID="req-7f3a-correlation")
    assert response["X-Request-ID"] == "req-7f3a-correlation"
    lines = wait_for(lambda: [l for l in json_log_lines() if l["message"].startswith("alert firing")],
                     message="the task's log line")
    assert [line["correlation_id"] for line in lines] == ["req-7f3a-correlation"]
    assert lines[0]["level"] == "WARNING" and lines[0]["logger"] == "monitoring.alerts"
