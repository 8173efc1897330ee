"""The local `make run` desk on its embedded SQLite database: a buy, a stop-loss exit by the sweep and a trader's sell,
through a real `celery worker` process on a SQLite file (the same code as on Postgres: there is no second version).

The worker and the desk's service calls run as processes with DATABASE_URL pointing at the file; the test reads the
file with sqlite3 and moves prices in the sandbox's Jupiter stand-in (the price feed).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import redis as redis_lib
from django.conf import settings as django_settings

from tests.conftest import process_stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
E = Decimal("0.0001")
pytestmark = [pytest.mark.slow]

DESK = """
import json, sys
import django
django.setup()
from decimal import Decimal
from trading.models import Order, Trader
from trading.services import position_open, position_sell, trader_register
"""


def own_broker_url() -> str:
    base, db = django_settings.REDIS_URL.rsplit("/", 1)
    return f"{base}/{(int(db or 0) + 8) % 16}"


def test_the_local_desk_on_sqlite_buys_exits_and_sells(tmp_path, price_feed, celery_app):
    database = tmp_path / "desk.sqlite3"
    broker_url = own_broker_url()
    broker = redis_lib.Redis.from_url(broker_url)
    broker.flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": broker_url,
        "JARVIS_VAR_DIR": str(tmp_path),
        "JUPITER_API_URL": price_feed.jupiter_url,
        "JUPITER_API_KEY": price_feed.jupiter_api_key,
        "TRADING_MODE": "paper",
        "LOG_LEVEL": "warning",
        "DJANGO_SETTINGS_MODULE": "jarvis.settings",
    }
    env.pop("DEXSCREENER_API_URL", None)

    def desk(code: str):
        done = subprocess.run([sys.executable, "-c", DESK + code], env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def rows(sql: str, *params):
        with sqlite3.connect(database, timeout=20) as db:
            return db.execute(sql, params).fetchall()

    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=300)
    falling, holding = (price_feed.market.add_token(symbol=s, decimals=6, price=E) for s in ("SQLA", "SQLB"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "jarvis", "worker", "-Q", "trades,tpsl,default", "-P", "solo",
         "-l", "warning", "-n", "sqlite-desk@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    sender = celery_app.connection_for_write(broker_url)
    try:
        opened = desk(f"""
trader = trader_register(name="local")
ids = [position_open(trader=trader, mint=m, amount_lamports=10**8, exit_plan="balanced").id
       for m in ({falling.mint!r}, {holding.mint!r})]
print(json.dumps(ids))
""")

        def statuses():
            return dict(rows("SELECT id, status FROM trading_position"))

        wait_for(lambda: set(statuses().values()) == {"open"} and len(statuses()) == 2, timeout=60,
                 message="both buys filled by the worker")

        price_feed.market.set_price(falling.mint, E / 3)

        def swept():
            if rows("SELECT 1 FROM trading_order WHERE side = 'sell' AND status = 'confirmed'"):
                return True
            broker.delete("jarvis:tpsl:sweep-start:0/1")
            celery_app.send_task("trading.tpsl_sweep", connection=sender)
            return False

        wait_for(swept, timeout=90, interval=1.0, message="the stop-loss claimed by the sweep and filled")
        sold = desk(f"""
order = position_sell(trader=Trader.objects.get(name="local"), position_id={opened[1]}, percent=Decimal(100))
print(json.dumps(order.id))
""")
        wait_for(lambda: rows("SELECT status FROM trading_order WHERE id = ?", sold) == [("confirmed",)], timeout=60,
                 message="the trader's sell filled")
        sells = rows(
            "SELECT position_id, reason, status, trader_id IS NOT NULL, amount_out_actual > 0 FROM trading_order "
            "WHERE side = 'sell' ORDER BY id"
        )
        assert sells == [(opened[0], "sl", "confirmed", 1, 1), (opened[1], "manual", "confirmed", 1, 1)]
        assert statuses() == {opened[0]: "closed", opened[1]: "closed"}
        (loss,) = rows("SELECT realised_pnl_lamports FROM trading_position WHERE id = ?", opened[0])[0]
        assert loss < -5 * 10**7  # sold at a third of the entry price
    finally:
        sender.release()
        process_stop(worker)
        broker.flushdb()
