"""Ctrl-C on the local desk: every process stops with a warm shutdown and the order in flight is not lost; before
it, a worker killed with SIGKILL is started again by the desk's supervisor.

The desk `make run` starts (the Procfile `manage.py desk_procfile` writes: web, both workers, beat, Flower, the Bot
API stand-in and the bot) runs under honcho against the test database and Redis, on free ports, under `jarvis.desk` as `make run` starts it. The sandbox stands
in for services outside the desk, which do not stop with it, so it runs in this process instead of under honcho.
A paper buy is made to take two seconds inside the trades worker (the sandbox's Jupiter price answers slowly once,
and the fill has to ask it); SIGINT reaches honcho while the worker is inside that task. honcho sends
SIGTERM to every process group and SIGKILLs whatever is still running after the grace period: a process that needs
it fails the test. The buy must end filled once, and nothing of the desk may be left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
from django.conf import settings as django_settings
from django.db import connection

from tests.conftest import redis_clear, wait_for
from tests.fixtures.monitoring import free_port
from trading.models import Order, Position, RiskLimits
from trading.prices import KEY_PREFIX
from trading.services import position_open, trader_register

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def process_tree(root: int) -> dict[int, str]:
    """pid -> command line of every live process below `root` (honcho starts each child in a session of its own)."""
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z":
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            cmdlines[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (ProcessLookupError, FileNotFoundError, PermissionError, IndexError):
            continue
    found: dict[int, str] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in cmdlines:
            found[pid] = cmdlines[pid]
            stack.extend(children.get(pid, []))
    return found


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def alive(pids) -> list[int]:
    left = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state != "Z":
            left.append(pid)
    return left


def kill_groups(pids) -> None:
    for pid in pids:
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_ctrl_c_stops_the_whole_desk_warmly_and_finishes_the_order_in_flight(tmp_path, settings, sandbox, sandbox_settings):
    db = connection.settings_dict
    ports = {name: free_port() for name in ("web", "flower", "standin", "llm")}
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "TRADING_MODE": "paper",
        "TELEGRAM_BOT_TOKEN": "",
        "SOLANA_RPC_URL": sandbox.rpc_url,
        "SOLANA_WS_URL": sandbox.ws_url,  # the prices role streams from the in-process sandbox
        "BAGS_API_URL": sandbox.bags_url,
        "JUPITER_API_URL": sandbox.jupiter_url,
        "JUPITER_API_KEY": sandbox.jupiter_api_key,
        "TELEGRAM_STANDIN_PORT": str(ports["standin"]),
        "VIBE_STANDIN_PORT": str(ports["llm"]),
        "JARVIS_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "warning",
        "LOG_FORMAT": "text",
    }
    for name in ("TELEGRAM_API_URL", "DEXSCREENER_API_URL"):
        env.pop(name, None)  # derived from the port above / none, as on a fresh `make run`
    redis_clear(redis_lib.Redis.from_url(django_settings.REDIS_URL))  # the session worker's queues stay
    subprocess.run([sys.executable, "manage.py", "setup_periodic_tasks"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # as `make run` does before it starts the desk
    procfile = subprocess.run(
        [sys.executable, "manage.py", "desk_procfile", "--port", str(ports["web"]), "--flower-port", str(ports["flower"])],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout
    lines = {line.split(":")[0]: line for line in procfile.splitlines()}
    assert set(lines) >= {"web", "worker-trades", "worker-ops", "beat", "flower", "prices", "sandbox", "telegram-standin",
                          "bot"}
    del lines["sandbox"]  # in this process (above)
    (tmp_path / "Procfile").write_text("\n".join(lines.values()) + "\n")
    log = (tmp_path / "honcho.log").open("w+")
    desk: dict[int, str] = {}
    honcho = subprocess.Popen(
        [sys.executable, "-m", "jarvis.desk", "-d", str(ROOT), "-f", str(tmp_path / "Procfile"), "start"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        last: list[str] = [""]

        def ready() -> bool:
            try:
                answer = httpx.get(f"http://127.0.0.1:{ports['web']}/api/v1/health/ready/", timeout=2)
            except httpx.HTTPError as exc:
                last[0] = repr(exc)
                return False
            last[0] = answer.text
            return answer.status_code == 200

        try:
            wait_for(ready, timeout=120, interval=0.5, message="the desk ready (web, workers, beat, bot)")
        except BaseException:
            log.seek(0)
            print(f"readiness: {last[0]}\nhoncho:\n{log.read()[-4000:]}")
            raise
        def consuming() -> bool:  # a ping answered from each worker's consumer loop: started, not just starting
            from jarvis.celery import app

            names = {name.split("@")[0] for reply in app.control.ping(timeout=1.0) for name in reply}
            return {"worker-trades", "worker-ops"} <= names

        wait_for(consuming, timeout=60, interval=0.5, message="both workers consuming")

        def worker_ops() -> list[int]:  # the Celery main process (not its pool child, not the supervisor)
            celery = {pid for pid, cmd in process_tree(honcho.pid).items() if "worker-ops@" in cmd and "celery" in cmd
                      and "jarvis.respawn" not in cmd and not cmd.startswith("/bin/sh")}
            return [pid for pid in celery if _parent(pid) not in celery]

        # A worker that dies on its own is started again, as compose's restart policy does (jarvis.respawn).
        (dead,) = worker_ops()
        os.kill(dead, signal.SIGKILL)
        wait_for(lambda: worker_ops() and dead not in worker_ops(), timeout=30, interval=0.2, message="worker-ops started again")
        wait_for(consuming, timeout=60, interval=0.5, message="both workers consuming again")
        settings.JUPITER_API_URL = sandbox.jupiter_url  # this process prices the buy as the desk does
        settings.JUPITER_API_KEY = sandbox.jupiter_api_key
        settings.DEXSCREENER_API_URL = None
        mint = sandbox.market.tokens()[0].mint
        RiskLimits.objects.create()
        trader = trader_register(name="ctrl-c")
        trades_worker = [pid for pid, cmd in process_tree(honcho.pid).items() if "worker-trades@" in cmd and "celery" in cmd
                         and not cmd.startswith("/bin/sh") and "jarvis.respawn" not in cmd]
        for pid in trades_worker:  # held still while the buy is queued, so its fill finds no cached price
            os.kill(pid, signal.SIGSTOP)
        try:
            position = position_open(trader=trader, mint=mint, amount_lamports=10**7)
            redis_lib.Redis.from_url(django_settings.REDIS_URL).delete(KEY_PREFIX + mint)  # the fill must ask the feed
            fault = sandbox.faults.set("jupiter", "slow", count=1, seconds=2)
        finally:
            for pid in trades_worker:
                os.kill(pid, signal.SIGCONT)
        wait_for(lambda: fault.fired, timeout=60, interval=0.05, message="the worker inside the fill")
        desk = process_tree(honcho.pid)
        honcho.send_signal(signal.SIGINT)
        assert honcho.wait(timeout=60) is not None
    finally:
        if honcho.poll() is None:
            started = process_tree(honcho.pid)
            honcho.kill()
            honcho.wait()
            kill_groups(started)
    log.seek(0)
    output = log.read()
    time.sleep(0.5)  # orphans reaped by init after honcho left
    left = alive(desk)
    kill_groups(left)
    assert left == [], (sorted(desk[pid] for pid in left), output[-3000:])
    assert "SIGKILL" not in output, f"a process needed SIGKILL:\n{output[-3000:]}"
    noisy = sorted({line.split("|")[0].split()[-1] for line in output.splitlines() if "Traceback" in line})
    assert noisy == [], f"tracebacks from {noisy} at shutdown:\n{output[-3000:]}"
    position.refresh_from_db()
    orders = list(Order.objects.filter(position=position).values_list("side", "status"))
    assert orders == [("buy", "confirmed")], (orders, output[-3000:])
    assert Position.objects.get(pk=position.pk).status == "open"
