"""Redis Sentinel failover in the middle of paper buys and exits: nothing lost, nothing sold twice.

Real processes on Redis servers of the test's own: a primary, its replica and one Sentinel watching them
(`redis-server --sentinel`, quorum 1, the primary down after 1 s); a `celery worker -Q trades,default` and a
`manage.py shell` process that buys and sells as traders do, both on `REDIS_URL=sentinel://...` (broker, result
backend, cache, locks and rate limits). When the first buy has filled, the primary is killed (SIGKILL); Sentinel
promotes the replica and every client finds it through Sentinel. Reconciliation (beat's task, sent here as beat
would) re-queues an order whose message the failover lost. This is the drill of docs/runbooks/disaster-recovery.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis as redis_lib
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.db.utils import ConnectionHandler
from django.utils import timezone
from kombu import Connection

from jarvis.config import ConfigError, database_from_url, redis_url
from jarvis.locks import Lease
from jarvis.redis import redis_client, sentinel_parse
from monitoring.heartbeats import queue_consumers
from tests.conftest import wait_for
from tests.fixtures.monitoring import RedisServer, free_port
from trading.models import Order, Position, RiskLimits

ROOT = Path(__file__).resolve().parents[2]
E = Decimal("0.0001")
MASTER = "mymaster"
BUYS = 10
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The trader's side, as the bot would call it: buy one position after another, and sell each once its buy filled.
DRIVER = """
import json, time
from trading.models import Position, Trader
from trading.services import position_open, position_sell
trader = Trader.objects.get(pk={trader})
placed, refused, sold = [], [], set()
deadline = time.monotonic() + 50
while time.monotonic() < deadline:
    if len(placed) < {buys}:
        try:
            placed.append(position_open(trader=trader, mint='{mint}', amount_lamports=50_000_000).pk)
        except Exception as exc:
            refused.append(f"buy: {{type(exc).__name__}}: {{exc}}")
    for pk in Position.objects.filter(pk__in=placed, status="open").exclude(pk__in=sold).values_list("pk", flat=True):
        try:
            position_sell(trader=trader, position_id=pk, percent=100)
            sold.add(pk)
        except Exception as exc:
            refused.append(f"sell: {{type(exc).__name__}}: {{exc}}")
    unfinished = Position.objects.filter(pk__in=placed).exclude(status__in=["closed", "failed"])
    if len(placed) == {buys} and not unfinished.exists():
        break
    time.sleep(0.5)
print(json.dumps({{"positions": placed, "refused": refused}}), flush=True)
"""


class SentinelSet:
    """A Redis primary, a replica of it and one Sentinel, on free ports."""

    def __init__(self, workdir: Path):
        (workdir / "primary").mkdir()
        (workdir / "replica").mkdir()
        self.primary = RedisServer(workdir / "primary")
        self.replica = RedisServer(workdir / "replica", "--replicaof", "127.0.0.1", str(self.primary.port))
        self.port = free_port()
        conf = workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary.port} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        self.process = subprocess.Popen([shutil.which("redis-server") or "redis-server", str(conf), "--sentinel"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"sentinel://127.0.0.1:{self.port}/0"
        self.sentinel = redis_lib.Redis(port=self.port, socket_timeout=1, decode_responses=True)
        wait_for(self._watching_the_replica, timeout=30, interval=0.2, message="Sentinel watching the replica in sync")

    def _watching_the_replica(self) -> bool:
        try:
            replicas = self.sentinel.sentinel_slaves(MASTER)
        except redis_lib.ConnectionError:
            return False
        in_sync = redis_lib.Redis(port=self.replica.port).info("replication").get("master_link_status") == "up"
        return in_sync and any(r["port"] == self.replica.port and not r["is_sdown"] for r in replicas)

    def master_port(self) -> int:
        return int(self.sentinel.sentinel_get_master_addr_by_name(MASTER)[1])

    def stop(self) -> None:
        for process in (self.process,):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        self.sentinel.close()
        self.replica.stop()
        self.primary.stop()


@pytest.fixture
def sentinel_set(tmp_path):
    servers = SentinelSet(tmp_path)
    yield servers
    servers.stop()


def test_a_failover_mid_buys_and_exits_loses_no_order_and_sells_nothing_twice(
    sentinel_set, make_trader, listed_token, price_feed
):
    trader = make_trader("failover")
    RiskLimits.objects.create(trader=trader, max_open_positions=BUYS)
    token = listed_token(price=E)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": sentinel_set.url,
        "REDIS_SENTINEL_MASTER": MASTER,
        "JUPITER_API_URL": price_feed.jupiter_url,
        "JUPITER_API_KEY": price_feed.jupiter_api_key,
        "TRADING_MODE": "paper",
        "EXECUTION_STALE_SECONDS": "5",
        "LOG_LEVEL": "warning",
    }
    env.pop("DEXSCREENER_API_URL", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "jarvis", "worker", "-Q", "trades,default", "-P", "solo",
         "-l", "warning", "-n", "failover@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    driver = None
    sender = Connection(sentinel_set.url, transport_options={"master_name": MASTER})
    from jarvis.celery import app as celery_app

    def reconcile() -> None:
        celery_app.send_task("trading.reconcile_orders", connection=sender, ignore_result=True)

    try:
        wait_for(lambda: queue_consumers(redis_client(sentinel_set.url), ["trades"])["trades"], timeout=60,
                 message="the worker consuming through Sentinel")
        driver = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", DRIVER.format(trader=trader.pk, mint=token.mint, buys=BUYS)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        wait_for(lambda: Order.objects.filter(side="buy", status="confirmed").exists(), timeout=90,
                 message="a buy filled before the failover")
        old = sentinel_set.primary.port
        killed = timezone.now()
        sentinel_set.primary.process.kill()
        sentinel_set.primary.process.wait()
        killed_at = time.monotonic()
        wait_for(lambda: sentinel_set.master_port() == sentinel_set.replica.port, timeout=30, interval=0.2,
                 message="Sentinel promoting the replica")
        print(f"\nredis failover: primary :{old} killed, replica :{sentinel_set.replica.port} promoted "
              f"{time.monotonic() - killed_at:.1f} s later")

        def finished() -> bool:
            if driver.poll() is not None:
                return True
            reconcile()
            return False

        wait_for(finished, timeout=120, interval=2.0, message="the trader's buys and sells finished")
        out, err = driver.communicate()
        assert driver.returncode == 0, err[-3000:]
        summary = json.loads(out.strip().splitlines()[-1])
        positions = Position.objects.filter(pk__in=summary["positions"])
        print(f"redis failover: {len(summary['positions'])} buys placed, refused while Redis moved: "
              f"{summary['refused']}")
        assert len(summary["positions"]) == BUYS
        after = {side: Order.objects.filter(position__in=positions, side=side, created_at__gt=killed).count()
                 for side in ("buy", "sell")}
        print(f"redis failover: placed after the kill: {after['buy']} buys, {after['sell']} sells")
        assert after["buy"] and after["sell"]  # the failover fell in the middle of both

        def all_terminal() -> bool:
            if not Order.objects.filter(position__in=positions).exclude(status__in=["confirmed", "failed"]).exists():
                return True
            reconcile()
            return False

        wait_for(all_terminal, timeout=60, interval=2.0, message="every order terminal")
        assert Order.objects.filter(position__in=positions, side="buy").count() == BUYS  # 0 lost
        for position in positions:
            sells = list(position.orders.filter(side="sell", status="confirmed"))
            bought = position.orders.filter(side="buy", status="confirmed").exists()
            if bought:
                assert len(sells) == 1, (position.pk, sells)  # 0 sold twice, none left unsold
                assert (position.status, position.size) == ("closed", 0)
            else:
                assert sells == [] and position.status == "failed"
    finally:
        sender.release()
        for process in (driver, worker):
            if process is not None and process.poll() is None:
                process.terminate()
        for process in (driver, worker):
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_the_desks_redis_client_cache_and_locks_follow_sentinel_to_the_new_master(sentinel_set, settings):
    """redis_client (locks, rate limits, prices, heartbeats) and Django's cache on a sentinel:// URL: written before
    the primary is killed, read and written after, on the promoted replica."""
    settings.REDIS_SENTINEL_MASTER = MASTER
    client = redis_client(sentinel_set.url)
    cache = RedisCache([sentinel_set.url], {"OPTIONS": dict(settings.CACHES["default"]["OPTIONS"],
                                                             pool_class="jarvis.redis.SentinelPool")})
    client.set("failover:kept", "1")
    cache.set("failover:cached", {"n": 1}, 60)
    lease = Lease("failover:lock", seconds=30, client=client)
    assert lease.acquire()
    assert client.execute_command("WAIT", 1, 5000) == 1  # on the replica too

    sentinel_set.primary.process.kill()
    sentinel_set.primary.process.wait()
    wait_for(lambda: sentinel_set.master_port() == sentinel_set.replica.port, timeout=30, interval=0.2,
             message="Sentinel promoting the replica")

    assert client.get("failover:kept") == b"1"
    assert client.connection_pool.get_master_address()[1] == sentinel_set.replica.port
    assert cache.get("failover:cached") == {"n": 1}
    cache.set("failover:after", 2, 60)
    assert cache.get("failover:after") == 2
    assert lease.renew() and lease.holder() == lease.token
    assert not Lease("failover:lock", seconds=30, client=client).acquire()  # still held: no second holder


@pytest.mark.parametrize("url, error", [
    ("sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379/2", None),
    ("sentinel://:secret@10.0.0.1:26379/0", None),
    ("sentinel://10.0.0.1:26379;redis://10.0.0.2:6379", "only sentinel:// addresses may be listed"),
    ("redis://10.0.0.1:6379;redis://10.0.0.2:6379", "only sentinel:// addresses may be listed"),
    ("sentinel://10.0.0.1/0", "needs a host and a port"),
    ("sentinel://10.0.0.1:26379/1;sentinel://10.0.0.2:26379/2", "different database numbers"),
    ("sentinel://10.0.0.1:26379/x", "is not an integer"),
])
def test_sentinel_urls_parse_strictly(monkeypatch, url, error):
    monkeypatch.setenv("REDIS_URL", url)
    if error is None:
        assert redis_url("REDIS_URL", "redis://127.0.0.1:6379/0") == url
    else:
        with pytest.raises(ConfigError, match=error):
            redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")


def test_sentinel_url_names_sentinels_db_and_the_masters_password():
    assert sentinel_parse("sentinel://:s%40cret@10.0.0.1:26379/3;sentinel://10.0.0.2:26380") == {
        "sentinels": [("10.0.0.1", 26379), ("10.0.0.2", 26380)], "db": 3, "username": None, "password": "s@cret"}


def test_a_database_url_with_several_hosts_reaches_the_read_write_one(monkeypatch, tmp_path):
    """libpq's multi-host form through dj-database-url: the first host refuses, the read-write one is used. A list
    without target_session_attrs=read-write is refused (it could land on a read-only standby)."""
    db = connection.settings_dict
    monkeypatch.setenv("DATABASE_URL", f"postgres://{db['USER']}@nobody.invalid,{db['HOST']}/{db['NAME']}"
                                       f"?port=1,{db['PORT']}&target_session_attrs=read-write")
    config = database_from_url("DATABASE_URL", "sqlite:///x.sqlite3", base_dir=tmp_path)
    assert config["HOST"] == f"nobody.invalid,{db['HOST']}"
    assert config["OPTIONS"]["target_session_attrs"] == "read-write"
    handler = ConnectionHandler({"default": config})
    try:
        with handler["default"].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), current_database()")
            assert cursor.fetchone() == (False, db["NAME"])
    finally:
        handler.close_all()

    monkeypatch.setenv("DATABASE_URL", f"postgres://{db['USER']}@pg1,pg2/{db['NAME']}")
    with pytest.raises(ConfigError, match="target_session_attrs=read-write"):
        database_from_url("DATABASE_URL", "sqlite:///x.sqlite3", base_dir=tmp_path)
