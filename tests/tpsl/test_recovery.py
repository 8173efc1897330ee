"""A worker killed in the middle of an exit: after recovery the position is sold exactly once.

Real processes: a `tpsl` worker (the sweep) and `trades` workers (execution) run as `celery worker` subprocesses on
a redis-server of their own (started by the test on a free port, so no other test's database is touched), against
the test database; the first trades worker is SIGKILLed while it is inside
the exit (its paper fill is waiting on the price feed, held by the sandbox's "slow" fault).
"""

from __future__ import annotations

import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings as django_settings
from django.db import connection

from tests.conftest import wait_for
from trading.models import DomainEvent, Order
from trading.prices import KEY_PREFIX

ROOT = Path(__file__).resolve().parents[2]
E = Decimal("0.0001")
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def start_worker(queue: str, name: str, env: dict) -> subprocess.Popen:
    command = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "jarvis", "worker", "-Q", queue, "-P", "solo",
               "-l", "warning", "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_worker_killed_mid_exit_then_exactly_one_sale(celery_app, trader, listed_token, make_position, price_feed,
                                                     second_redis):
    broker_url = second_redis.url
    assert broker_url != django_settings.REDIS_URL
    broker = redis_lib.Redis.from_url(broker_url)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": broker_url,
        "JUPITER_API_URL": price_feed.jupiter_url,
        "JUPITER_API_KEY": price_feed.jupiter_api_key,
        "TRADING_MODE": "paper",
        "TPSL_EXIT_REQUEUE_SECONDS": "5",
        "LOG_LEVEL": "warning",
    }
    env.pop("DEXSCREENER_API_URL", None)
    token = listed_token(price=E)
    position = make_position(trader=trader, token=token, entry_price=E, size=424_242)
    price_feed.market.set_price(token.mint, E / 2)
    workers = {"sweep": start_worker("tpsl", "tpsl-recovery", env)}
    sender = celery_app.connection_for_write(broker_url)

    def sweep_until(predicate, message):
        def step():
            if predicate():
                return True
            broker.delete("jarvis:tpsl:sweep-start:0/1")
            celery_app.send_task("trading.tpsl_sweep", connection=sender)
            return False

        wait_for(step, timeout=150, interval=1.0, message=message)

    try:
        sweep_until(lambda: Order.objects.filter(position=position, side="sell").exists(), "the exit claimed")
        order = Order.objects.get(position=position, side="sell")
        assert (order.reason, order.amount_in, order.status) == ("sl", 424_242, "pending")

        # The sweep worker idle (no queued tick, no run holding the lock), so nothing refreshes the price behind us.
        wait_for(
            lambda: broker.llen("tpsl") == 0 and not broker.exists("jarvis:tpsl:sweep-lock:0/1"),
            timeout=60,
            message="the sweep worker idle",
        )
        broker.delete(KEY_PREFIX + token.mint)  # the fill must ask the feed, which now hangs
        fault = price_feed.faults.set("jupiter", "slow", count=1, seconds=20)
        workers["doomed"] = start_worker("trades", "trades-doomed", env)
        wait_for(lambda: fault.fired >= 1, timeout=150, message="the trades worker inside the exit")
        os.kill(workers["doomed"].pid, signal.SIGKILL)
        workers["doomed"].wait(timeout=10)
        order.refresh_from_db()
        position.refresh_from_db()
        assert order.status == "pending" and position.size == 424_242 and position.status == "closing"

        workers["fresh"] = start_worker("trades", "trades-fresh", env)
        sweep_until(lambda: Order.objects.filter(position=position, status="confirmed").exists(), "the exit filled")
        for _ in range(3):
            broker.delete("jarvis:tpsl:sweep-start:0/1")
            celery_app.send_task("trading.tpsl_sweep", connection=sender)
        wait_for(lambda: broker.llen("tpsl") == 0, message="the last sweeps ran")
        position.refresh_from_db()
        assert position.status == "closed" and position.size == 0
        assert list(Order.objects.filter(position=position, side="sell").values_list("status", flat=True)) == ["confirmed"]
        assert DomainEvent.objects.filter(kind="exit.filled", payload__position_id=position.id).count() == 1
    finally:
        sender.release()
        for proc in workers.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in workers.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.close()
