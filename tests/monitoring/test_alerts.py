import json
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from jarvis.celery import app
from monitoring.alerts import alert_raise, alert_rule_create, alerts_evaluate
from monitoring.models import AlertEvent, AlertRule
from tests.conftest import wait_for


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"metric": "cpu_temperature", "threshold": "5"}, "metric", "Unknown metric 'cpu_temperature'"),
        ({"metric": "error_rate", "threshold": "150"}, "threshold", "between 0.01 % and 100 %"),
        ({"metric": "queue_backlog", "threshold": "0"}, "threshold", "between 1 tasks and"),
        ({"metric": "component_down", "threshold": "0", "target": "mainframe"}, "target", "'mainframe' is not a target"),
    ],
)
def test_a_broken_rule_is_rejected_on_save_with_a_reason(fields, field, reason):
    with pytest.raises(ValidationError) as excinfo:
        alert_rule_create(name="broken", **fields)
    assert reason in " ".join(excinfo.value.message_dict[field])
    assert not AlertRule.objects.filter(name="broken").exists()


@pytest.mark.django_db
def test_the_admin_form_shows_the_reason_and_saves_nothing(admin_client):
    count = AlertRule.objects.count()
    response = admin_client.post(
        "/admin/monitoring/alertrule/add/",
        {"name": "typo", "metric": "eror_rate", "target": "", "threshold": "10", "window_minutes": "15",
         "cooldown_minutes": "30", "enabled": "on"},
    )
    assert response.status_code == 200
    assert "Unknown metric" in response.content.decode()
    assert AlertRule.objects.count() == count


def beat_heartbeat():
    from django.conf import settings

    from monitoring.heartbeats import heartbeat_read, redis_for

    return heartbeat_read(redis_for(settings.REDIS_URL), ["beat"])["beat"]


@pytest.fixture
def beat_rule(db, readiness_settings, clean_redis):
    AlertRule.objects.all().delete()
    return alert_rule_create(name="beat down", metric="component_down", target="beat", threshold=0,
                             cooldown_minutes=10)


def test_a_stopped_beat_raises_one_alert_and_one_resolution(beat_rule, recorded_alerts, celery_worker):
    """Beat's heartbeat task runs on the real worker; then beat 'stops' (no heartbeat) while time moves on."""
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        app.send_task("monitoring.heartbeat", kwargs={"component": "beat"})
        # Evaluated only once the worker wrote the heartbeat: an evaluation before it would see beat never seen.
        wait_for(lambda: beat_heartbeat() is not None, message="the beat heartbeat")
        assert alerts_evaluate() == {"fired": 0, "resolved": 0}
        assert recorded_alerts == []

        clock.shift(timedelta(seconds=45))  # three 10 s intervals without a heartbeat
        assert alerts_evaluate() == {"fired": 1, "resolved": 0}
        clock.shift(timedelta(seconds=30))
        assert alerts_evaluate() == {"fired": 0, "resolved": 0}  # still down: no duplicate
        event = AlertEvent.objects.get()
        assert event.state == "firing" and event.target == "beat"
        assert "beat is down: beat heartbeat is 75 s old" in event.message  # the open alert follows its cause
        assert event.count == 1 and recorded_alerts == [(event.pk, "firing")]  # a new age is no new alert

        app.send_task("monitoring.heartbeat", kwargs={"component": "beat"})  # beat is back
        wait_for(lambda: alerts_evaluate()["resolved"] == 1, message="the resolution")
        assert alerts_evaluate() == {"fired": 0, "resolved": 0}
    event.refresh_from_db()
    assert event.state == "resolved" and event.resolved_at is not None
    assert recorded_alerts == [(event.pk, "firing"), (event.pk, "resolved")]
    assert AlertEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_flapping_component_does_not_alert_again_within_the_cooldown(beat_rule, recorded_alerts):
    from monitoring.services import heartbeat_record

    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert alerts_evaluate()["fired"] == 1  # never seen
        heartbeat_record(component="beat")
        assert alerts_evaluate()["resolved"] == 1
        clock.shift(timedelta(minutes=2))
        assert alerts_evaluate()["fired"] == 0  # down again, within 10 minutes of the last event
        clock.shift(timedelta(minutes=9))
        assert alerts_evaluate()["fired"] == 1
    assert [state for _, state in recorded_alerts] == ["firing", "resolved", "firing"]


@pytest.mark.django_db
def test_queue_backlog_and_budget_rules_observe_their_sources(readiness_settings, second_redis):
    readiness_settings.REDIS_URL = second_redis.url
    AlertRule.objects.all().delete()
    alert_rule_create(name="backlog", metric="queue_backlog", target="backups", threshold=2)
    with app.connection_for_write(second_redis.url) as connection:
        app.send_task("backups.run", connection=connection)
    assert alerts_evaluate()["fired"] == 0
    with app.connection_for_write(second_redis.url) as connection:
        app.send_task("backups.run", connection=connection)
    assert alerts_evaluate()["fired"] == 1
    event = AlertEvent.objects.get()
    assert (event.target, event.value) == ("queue:backups", Decimal(2))
    assert event.message == "Queue backups has 2 waiting tasks (limit 2.00)."


@pytest.mark.django_db
def test_alerts_raised_by_code_are_deduplicated_and_resolve_after_the_window(recorded_alerts):
    assert alert_raise(key="venue_auth:bags", summary="bags.fm refused our API key.", severity="critical")
    assert not alert_raise(key="venue_auth:bags", summary="bags.fm refused our API key.", severity="critical")
    event = AlertEvent.objects.get()
    assert event.message == "[critical] bags.fm refused our API key."
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        alerts_evaluate()
    event.refresh_from_db()
    assert event.state == "resolved"


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server():
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()
    server.server_close()


def test_the_webhook_gets_the_alert_and_its_resolution_through_the_worker(
    beat_rule, readiness_settings, webhook_server, celery_worker
):
    url, received = webhook_server
    readiness_settings.MONITORING_ALERT_WEBHOOK_URL = url
    alerts_evaluate()  # beat never seen: fires
    wait_for(lambda: len(received) == 1, message="the webhook call")
    from monitoring.services import heartbeat_record

    heartbeat_record(component="beat")
    alerts_evaluate()
    wait_for(lambda: len(received) == 2, message="the resolution's webhook call")
    assert [(r["state"], r["target"], r["rule"]) for r in received] == [
        ("firing", "beat", "beat down"), ("resolved", "beat", "beat down")
    ]
    assert received[1]["text"].startswith("Resolved: beat is down")
