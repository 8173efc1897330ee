"""The bot's probe (`manage.py heartbeat_check bot`) passes on a fresh heartbeat and fails on a stale or missing one."""

import time

import pytest
from django.core.management import CommandError, call_command

from monitoring import heartbeats


@pytest.fixture
def hb(settings):
    client = heartbeats.redis_for(settings.REDIS_URL)
    client.delete(heartbeats.component_key("bot"))
    yield client
    client.delete(heartbeats.component_key("bot"))


def test_the_bot_probe_follows_the_bots_heartbeat(hb, settings, capsys):
    settings.MONITORING_BOT_STALE_SECONDS = 60
    with pytest.raises(CommandError, match="bot has never sent a heartbeat"):
        call_command("heartbeat_check", "bot")

    heartbeats.heartbeat_write(hb, component="bot", now=time.time() - 120)
    with pytest.raises(CommandError, match=r"bot heartbeat is 1\d\d s old \(limit 60 s\)"):
        call_command("heartbeat_check", "bot")
    call_command("heartbeat_check", "bot", "--max-age", "600")

    heartbeats.heartbeat_write(hb, component="bot")
    call_command("heartbeat_check", "bot")
    assert "bot: heartbeat" in capsys.readouterr().out


def test_the_probe_fails_with_one_line_when_redis_is_unreachable(hb, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(CommandError, match="^bot heartbeat could not be read: ConnectionError$"):
        call_command("heartbeat_check", "bot")


READY = "/api/v1/health/ready/"


@pytest.mark.django_db
def test_a_web_pods_readiness_judges_its_database_and_redis_not_the_whole_desk(client, readiness_settings, second_redis):
    """The probe deploy/k8s gives web: ready while Postgres and Redis answer, though the bot and the workers are down;
    not ready when its Redis stops. The desk-wide answer stays 503."""
    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    readiness_settings.REDIS_URL = second_redis.url
    probe = {"components": "postgres,redis"}
    assert client.get(READY).status_code == 503  # no bot, no beat, no worker here: the desk is not ready
    response = client.get(READY, {**probe, "token": "t"})
    assert response.status_code == 200
    assert set(response.json()["components"]) == {"postgres", "redis"}
    assert client.get(READY, probe).json() == {"status": "ready"}

    second_redis.stop()
    from monitoring.checks import readiness_cache_clear

    readiness_cache_clear()
    response = client.get(READY, {**probe, "token": "t"})
    assert response.status_code == 503
    assert response.json()["components"]["redis"]["status"] == "down"


@pytest.mark.django_db
def test_a_malformed_or_unknown_component_is_a_400_and_one_the_desk_skips_is_left_out(client, readiness_settings):
    readiness_settings.MONITORING_READINESS_TOKEN = "t"
    readiness_settings.MONITORING_READINESS_SKIP = ["bot"]
    response = client.get(READY, {"components": "postgres,bot", "token": "t"})
    assert response.status_code == 200
    assert list(response.json()["components"]) == ["postgres"]
    for malformed in ("postgres,kafka", "queue:nowhere", ",", "Postgres", "postgres;redis", ""):
        response = client.get(READY, {"components": malformed})
        assert response.status_code == 400, malformed
        assert response.json()["error"]["code"] == "invalid"
        assert "postgres, redis, queue:<name>" in str(response.json()["error"]["message"]["components"])
