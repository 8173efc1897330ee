"""Redis at its maxmemory, named: readiness says "Redis is full", an alert fires without the broker's help, and a
trader whose buy was accepted but could not be queued is told it is delayed, then told when it is bought.

Real processes on a Redis of the test's own (`redis-server --maxmemory 4mb --maxmemory-policy noeviction`): a
`celery worker -Q trades,default` (execution and reconciliation) and a `manage.py shell` process that places the buy,
as the bot would; the test fills Redis with keys until it refuses writes, then frees them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import redis as redis_lib
from django.db import connection

from monitoring.checks import readiness_run
from monitoring.heartbeats import queue_consumers
from monitoring.models import AlertEvent
from tests.conftest import process_stop, wait_for
from tests.fixtures.monitoring import RedisServer
from trading.models import DomainEvent, Order, Position
from trading.prices import price_fresh

ROOT = Path(__file__).resolve().parents[2]
E = Decimal("0.0001")
CHAT = 777_001
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def small_redis(tmp_path):
    server = RedisServer(tmp_path, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
    yield server
    server.stop()


def fill(client: redis_lib.Redis) -> list[str]:
    """Write keys, 64 KiB then smaller, until Redis refuses even a small one for lack of memory."""
    keys: list[str] = []
    for size in (65536, 4096, 256, 16):
        while True:
            key = f"test:filler:{len(keys)}"
            try:
                client.set(key, b"x" * size)
            except redis_lib.exceptions.OutOfMemoryError:
                break
            keys.append(key)
    return keys


def test_a_full_redis_is_named_and_a_delayed_buy_is_told_then_bought(
    settings, readiness_settings, small_redis, trader, listed_token, price_feed
):
    from telegram_app.models import OutboxMessage, TelegramAccount

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": small_redis.url,
        "JUPITER_API_URL": price_feed.jupiter_url,
        "JUPITER_API_KEY": price_feed.jupiter_api_key,
        "TRADING_MODE": "paper",
        "EXECUTION_STALE_SECONDS": "5",
        "MONITORING_WORKER_HEARTBEAT_SECONDS": "1",
        "LOG_LEVEL": "warning",
    }
    env.pop("DEXSCREENER_API_URL", None)
    settings.REDIS_URL = settings.CELERY_BROKER_URL = small_redis.url
    client = redis_lib.Redis.from_url(small_redis.url)
    TelegramAccount.objects.create(telegram_user_id=CHAT, chat_id=CHAT, trader=trader)
    token = listed_token(price=E)
    assert price_fresh(mint=token.mint) is not None  # cached in this Redis while it still takes writes

    redis_state = readiness_run(components=["redis"])["components"]["redis"]
    assert redis_state["status"] == "up"
    assert "used of 4.0 MB" in redis_state["detail"] and "policy noeviction, 0 writes refused" in redis_state["detail"]

    command = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "jarvis", "worker", "-Q", "trades,default", "-P", "solo",
               "-l", "warning", "-n", "redis-full@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    worker = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from jarvis.celery import app as celery_app

    sender = celery_app.connection_for_write(small_redis.url)
    try:
        wait_for(lambda: queue_consumers(client, ["trades"])["trades"], timeout=60, message="the worker consuming")
        fillers = fill(client)
        # At the edge, used memory wobbles (client buffers shrink) and a small write may pass again; a cap well under
        # what is used keeps Redis full, as a desk that keeps writing does.
        client.config_set("maxmemory", client.info("memory")["used_memory"] * 3 // 4)

        # Readiness names it, and the worker whose heartbeat was refused raises the alert (no beat, no queue needed).
        redis_state = readiness_run(components=["redis"])["components"]["redis"]
        assert redis_state["status"] == "down"
        assert redis_state["detail"].startswith("Redis is full: writes are refused (OOM")
        assert re.search(r"MB used of [\d.]+ MB \(1\d\d%\)", redis_state["detail"])
        assert "0 writes refused" not in redis_state["detail"]
        alert = wait_for(lambda: AlertEvent.objects.filter(target="redis.full", state="firing").first(), timeout=30,
                         message="the Redis-full alert")
        assert "Redis is full: worker redis-full@" in alert.message

        # The trader's buy is accepted (committed) but cannot be queued: no error, a "delayed" message.
        placed = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             "from trading.models import Trader\nfrom trading.services import position_open\n"
             f"print(position_open(trader=Trader.objects.get(pk={trader.pk}), mint='{token.mint}', "
             "amount_lamports=100_000_000).pk)"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert placed.returncode == 0, placed.stderr[-2000:]
        position = Position.objects.get(pk=int(placed.stdout.strip().splitlines()[-1]))
        order = Order.objects.get(position=position)
        assert (order.side, order.status) == ("buy", "pending")
        assert DomainEvent.objects.filter(kind="order.delayed", payload__order_id=order.pk).count() == 1
        texts = list(OutboxMessage.objects.filter(chat_id=CHAT).order_by("id").values_list("text", flat=True))
        assert len(texts) == 1 and texts[0].startswith(f"⏳ Your buy of {token.symbol} is accepted but delayed")

        # Memory freed: readiness is back, and reconciliation (beat's task) queues the order again; it fills.
        client.delete(*fillers)
        assert readiness_run(components=["redis"])["components"]["redis"]["status"] == "up"

        def bought() -> bool:
            if Order.objects.filter(pk=order.pk, status="confirmed").exists():
                return True
            celery_app.send_task("trading.reconcile_orders", connection=sender, ignore_result=True)
            return False

        wait_for(bought, timeout=90, interval=2.0, message="the delayed buy filled")
        wait_for(lambda: OutboxMessage.objects.filter(chat_id=CHAT).count() == 2, message="the fill message")
        texts = list(OutboxMessage.objects.filter(chat_id=CHAT).order_by("id").values_list("text", flat=True))
        assert texts[1].startswith(f"✅ Bought {token.symbol}")
        assert Position.objects.get(pk=position.pk).status == "open"
    finally:
        sender.release()
        process_stop(worker)
