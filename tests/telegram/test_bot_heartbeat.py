"""A running bot keeps its readiness heartbeat fresh, so /api/v1/health/ready/ can see it."""

import json

from monitoring import checks, heartbeats
from tests.conftest import wait_for


def test_a_running_bot_writes_the_heartbeat_readiness_reads(bot_runner, redis_client):
    key = heartbeats.component_key("bot")
    beat = wait_for(lambda: redis_client.get(key), message="the bot heartbeat")
    assert json.loads(beat)["detail"] == {"mode": "polling"}
    assert "heartbeat" in checks.check_heartbeat("bot", 60)
