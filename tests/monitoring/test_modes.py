"""Each process reports the trading mode it runs in its own heartbeat; processes that disagree fail readiness, raise
the "component is down" alert, and show on the bot's /status and the admin's front page.

The desk started with the environment and `.env` disagreeing is tests/jarvis/test_desk_config.py."""

import time

import pytest
from django.urls import reverse

from jarvis.celery import MODE_HEADER, QUEUES, app
from monitoring.alerts import alert_rule_create, alerts_evaluate
from monitoring.checks import readiness_run
from monitoring.heartbeats import component_key, heartbeat_read, queue_consumers, redis_for, worker_beat
from monitoring.models import AlertEvent, AlertRule
from monitoring.services import heartbeat_record
from tests.conftest import wait_for
from tests.trading.test_admin import admin_client  # noqa: F401 (shared fixture)

DISAGREE = "processes disagree on the trading mode (paper: beat, bot, w-paper@test; sandbox: this process)"


@pytest.fixture
def own_redis(readiness_settings, second_redis):
    """Heartbeats in a Redis of the test's own: the session's worker thread beats into the shared one, in whatever
    mode this process's settings say at that moment."""
    readiness_settings.REDIS_URL = second_redis.url
    return readiness_settings


@pytest.fixture
def paper_desk(own_redis):
    """A worker, beat and the bot that report paper (the mode they ran when they wrote their heartbeats)."""
    worker_beat(redis_for(own_redis.REDIS_URL), worker="w-paper@test", queues=list(QUEUES), rss={1: 1})
    heartbeat_record(component="beat")
    heartbeat_record(component="bot")
    return own_redis


def test_every_heartbeat_names_the_mode_its_process_runs(paper_desk):
    client = redis_for(paper_desk.REDIS_URL)
    assert heartbeat_read(client, ["bot"])["bot"]["mode"] == "paper"
    paper_desk.TRADING_MODE = "sandbox"
    worker_beat(client, worker="w-sandbox@test", queues=["trades"], rss={1: 1})
    heartbeat_record(component="bot")
    assert heartbeat_read(client, ["bot"])["bot"]["mode"] == "sandbox"
    consumers = queue_consumers(client, ["trades"])["trades"]
    modes = {name: beat["mode"] for name, beat in consumers.items()}
    assert modes == {"w-paper@test": "paper", "w-sandbox@test": "sandbox"}


@pytest.mark.django_db
def test_processes_that_disagree_on_the_mode_fail_readiness_and_raise_an_alert(paper_desk, recorded_alerts):
    mode = readiness_run(components=["mode"])["components"]["mode"]
    assert mode["status"] == "up" and mode["detail"] == "4 process(es) run paper"
    AlertRule.objects.all().delete()
    alert_rule_create(name="a component is down", metric="component_down", target="", threshold=0, cooldown_minutes=10)
    alerts_evaluate()
    assert not AlertEvent.objects.filter(target="mode").exists()

    paper_desk.TRADING_MODE = "sandbox"  # this process (web, say) now runs sandbox; the others still paper
    report = readiness_run(components=["mode"])
    assert report["status"] == "not_ready"
    assert report["components"]["mode"]["detail"] == DISAGREE
    alerts_evaluate()
    event = AlertEvent.objects.get(target="mode", state=AlertEvent.State.FIRING)
    assert event.message == f"mode is down: {DISAGREE}"


@pytest.mark.django_db
def test_a_process_stopped_in_another_mode_is_no_longer_counted(own_redis):
    readiness_settings = own_redis
    client = redis_for(readiness_settings.REDIS_URL)
    readiness_settings.TRADING_MODE = "live"
    worker_beat(client, worker="w-old@test", queues=list(QUEUES), now=time.time() - 60, rss={1: 1})
    heartbeat_record(component="beat")
    assert readiness_run(components=["mode"])["components"]["mode"]["status"] == "up"
    readiness_settings.TRADING_MODE = "paper"
    mode = readiness_run(components=["mode"])["components"]["mode"]
    assert mode["status"] == "down"
    assert mode["detail"] == "processes disagree on the trading mode (live: beat; paper: this process)"


def test_beats_heartbeat_names_the_mode_beat_runs_not_the_workers(readiness_settings, celery_worker):
    """Beat's heartbeat is written by a worker: the mode comes with the message, from the process that published it."""
    client = redis_for(readiness_settings.REDIS_URL)
    client.delete(component_key("beat"), component_key("bot"))
    app.send_task("monitoring.heartbeat", kwargs={"component": "beat"}, headers={MODE_HEADER: "sandbox"})
    wait_for(lambda: heartbeat_read(client, ["beat"])["beat"] is not None, message="the beat heartbeat")
    assert heartbeat_read(client, ["beat"])["beat"]["mode"] == "sandbox"  # the worker itself runs paper
    app.send_task("monitoring.heartbeat", kwargs={"component": "bot"})  # published here: this process's mode
    wait_for(lambda: heartbeat_read(client, ["bot"])["bot"] is not None, message="the second heartbeat")
    assert heartbeat_read(client, ["bot"])["bot"]["mode"] == "paper"


@pytest.mark.django_db
def test_status_in_the_bot_shows_the_mode_and_who_disagrees(paper_desk, tg_user):
    admin = tg_user(900001)
    assert "Trading mode: paper (every process)" in admin.send("/status")["text"]
    paper_desk.TRADING_MODE = "sandbox"
    assert f"Trading mode: sandbox; {DISAGREE}" in admin.send("/status")["text"]


@pytest.mark.django_db
def test_the_admin_front_page_shows_the_mode_and_who_disagrees(paper_desk, admin_client):  # noqa: F811
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert '<td id="desk-mode">paper</td>' in page
    paper_desk.TRADING_MODE = "sandbox"
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert f'<td id="desk-mode">sandbox <span id="desk-mode-problem" class="desk-bad">{DISAGREE}</span>' in page
