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
