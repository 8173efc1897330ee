"""One precedence for configuration, the desk's process manager included: the real environment, then `.env`, then
defaults. The desk runs as `make run` starts it (`jarvis/bootstrap.py` writes `.env`, `manage.py desk_procfile`, then
`python -m jarvis.desk ... start`), with TRADING_MODE=sandbox in the environment and paper in `.env`. Every process
and every screen must report sandbox: the banner, each worker's, beat's and the bot's own heartbeat, readiness
answered by web, the admin front page, the bot's /status. The same run shows the INFO log free of the 1 s sweep's
routine lines, and the banner's metrics command scraping the web process with the token `.env` holds.

The desk gets a Redis of its own (no other test's worker can answer for it); the sandbox's servers run in this
process, as in test_shutdown.py.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from celery import Celery
from django.contrib.auth import get_user_model
from django.db import connection
from dotenv import dotenv_values

from monitoring.heartbeats import heartbeat_read, queue_consumers, redis_for
from tests.conftest import wait_for
from tests.fixtures.monitoring import free_port
from jarvis.desk import honcho_argv
from tests.jarvis.test_shutdown import alive, kill_groups, process_tree

ROOT = Path(__file__).resolve().parents[2]
ADMIN_ID = 900001
READINESS_TOKEN = "desk-config-readiness-token"
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_honcho_gets_no_env_file_of_its_own_and_may_not_be_given_one():
    from honcho.command import parser

    args = parser.parse_args(honcho_argv(["-d", ".", "-f", "var/Procfile", "start"]))
    assert (args.env, args.app_root, args.command) == (os.devnull, ".", "start")
    for extra in (["-e", "other.env"], ["--env=other.env"]):
        with pytest.raises(SystemExit, match="jarvis.desk reads .env itself"):
            honcho_argv(["start", *extra])


def desk_env(tmp_path, sandbox, redis_url: str, ports: dict[str, int]) -> dict[str, str]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "TRADING_MODE": "sandbox",  # .env says paper (below): the environment wins
        "LOG_LEVEL": "info",  # .env says warning
        "JARVIS_ENV_FILE": str(tmp_path / ".env"),
        "TELEGRAM_BOT_TOKEN": "",
        "TELEGRAM_ADMIN_IDS": str(ADMIN_ID),
        "TELEGRAM_STANDIN_PORT": str(ports["standin"]),
        "SOLANA_RPC_URL": sandbox.rpc_url,
        "BAGS_API_URL": sandbox.bags_url,
        "BAGS_API_KEY": sandbox.bags_api_key,
        "JUPITER_API_URL": sandbox.jupiter_url,
        "JUPITER_API_KEY": sandbox.jupiter_api_key,
        "MONITORING_READINESS_TOKEN": READINESS_TOKEN,
        "MONITORING_WORKER_HEARTBEAT_SECONDS": "1",
        "JARVIS_VAR_DIR": str(tmp_path / "var"),
        "LOG_FORMAT": "text",
    }
    for name in ("JARVIS_IGNORE_DOTENV", "METRICS_TOKEN", "TELEGRAM_API_URL", "DEXSCREENER_API_URL"):
        env.pop(name, None)  # .env is read, the metrics token comes from it, the rest derived as on a fresh clone
    return env


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True).stdout


def admin_front_page(base: str) -> str:
    """The admin's front page as an operator sees it: logged in through the login form of the web process."""
    get_user_model().objects.create_superuser("desk-config-op", password="a-long-desk-config-password")
    with httpx.Client(base_url=base, timeout=10) as client:
        client.get("/admin/login/")
        login = client.post("/admin/login/?next=/admin/", data={
            "username": "desk-config-op", "password": "a-long-desk-config-password",
            "csrfmiddlewaretoken": client.cookies["csrftoken"], "next": "/admin/"})
        assert login.status_code == 302, login.text[:500]
        return client.get("/admin/").text


def bot_status(standin: str) -> str:
    """/status sent to the bot by an operator through the Bot API stand-in; the bot's answer."""
    httpx.post(f"{standin}/_control/send", data={"user_id": ADMIN_ID, "text": "/status"}, timeout=10).raise_for_status()
    answer: list[str] = []

    def answered() -> bool:
        messages = httpx.get(f"{standin}/_control/messages", params={"chat_id": ADMIN_ID}, timeout=10).json()["messages"]
        answer[:] = [m["text"] for m in messages if m.get("text", "").startswith("Desk status")]
        return bool(answer)

    wait_for(answered, timeout=60, interval=0.3, message="the bot's /status answer")
    return answer[0]


def test_the_environment_beats_dotenv_in_every_process_and_screen_of_the_desk(tmp_path, sandbox, sandbox_settings,
                                                                              second_redis):
    ports = {name: free_port() for name in ("web", "flower", "standin")}
    env = desk_env(tmp_path, sandbox, second_redis.url, ports)
    subprocess.run([sys.executable, "jarvis/bootstrap.py"], cwd=ROOT, env=env, check=True, capture_output=True)
    with (tmp_path / ".env").open("a") as dotenv:
        dotenv.write("LOG_LEVEL=warning\n")
    written = dotenv_values(tmp_path / ".env")
    assert written["TRADING_MODE"] == "paper" and written["METRICS_TOKEN"]

    banner = manage(env, "desk_urls", "--port", str(ports["web"]))
    assert banner.startswith("Jarvis desk (sandbox mode) starting:")
    manage(env, "setup_periodic_tasks")
    procfile = manage(env, "desk_procfile", "--port", str(ports["web"]), "--flower-port", str(ports["flower"]))
    lines = {line.split(":")[0]: line for line in procfile.splitlines()}
    wanted = ("web", "worker-trades", "worker-ops", "beat", "telegram-standin", "bot")
    (tmp_path / "Procfile").write_text("\n".join(lines[name] for name in wanted) + "\n")

    log = (tmp_path / "desk.log").open("w+")
    honcho = subprocess.Popen(
        # The app root holds the .env, as `make run`'s `-d .` does: where honcho itself would read it.
        [sys.executable, "-m", "jarvis.desk", "-d", str(tmp_path), "-f", str(tmp_path / "Procfile"), "start"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{ports['web']}"
    desk: dict[int, str] = {}
    try:
        readiness: dict = {}

        def every_process_reported() -> bool:
            try:
                answer = httpx.get(f"{base}/api/v1/health/ready/", params={"token": READINESS_TOKEN}, timeout=5)
                readiness.update(answer.json())
            except (httpx.HTTPError, ValueError):
                return False
            return readiness.get("components", {}).get("mode", {}).get("detail", "").startswith("5 process(es)")

        try:
            wait_for(every_process_reported, timeout=180, interval=0.5, message="web, both workers, beat and the bot")
        except BaseException:
            log.seek(0)
            print(f"readiness: {readiness}\ndesk:\n{log.read()[-4000:]}")
            raise
        # Readiness answered by web: web itself and the four others all run sandbox.
        assert readiness["components"]["mode"] == {**readiness["components"]["mode"], "status": "up",
                                                   "detail": "5 process(es) run sandbox"}
        # Each process's own heartbeat.
        client = redis_for(second_redis.url)
        workers = {name.split("@")[0]: beat["mode"] for consumers in queue_consumers(client, ["trades", "default"]).values()
                   for name, beat in consumers.items()}
        assert workers == {"worker-trades": "sandbox", "worker-ops": "sandbox"}
        assert {name: beat["mode"] for name, beat in heartbeat_read(client, ["beat", "bot"]).items()} == {
            "beat": "sandbox", "bot": "sandbox"}
        # The screens.
        assert '<td id="desk-mode">sandbox</td>' in admin_front_page(base)
        assert "Trading mode: sandbox (every process)" in bot_status(f"http://127.0.0.1:{ports['standin']}")
        # The banner's metrics command, run as printed, scrapes web with the token .env holds.
        command = next(line for line in banner.splitlines() if line.strip().startswith("metrics")).split("metrics", 1)[1]
        scraped = subprocess.run(["bash", "-c", command.strip().replace("curl ", "curl -sf ", 1)], cwd=ROOT,
                                 capture_output=True, text=True)
        assert scraped.returncode == 0 and "jarvis_" in scraped.stdout, scraped.stderr

        # The log at INFO (the environment's level, not .env's warning) without a line per sweep: wait for sweeps.
        # Asks the desk's workers, on the desk's Redis; never this process's current app (shared tasks would follow it).
        probe = Celery("desk-probe", broker=second_redis.url, set_as_current=False)

        def swept(times: int) -> bool:
            stats = probe.control.inspect(timeout=1.0).stats() or {}
            return any(s.get("total", {}).get("trading.tpsl_sweep", 0) >= times for s in stats.values())

        try:
            wait_for(lambda: swept(5), timeout=60, interval=0.5, message="five sweeps run by the desk")
        finally:
            probe.close()
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
    kill_groups(alive(desk))
    assert re.search(r" INFO celery\.", output), output[-3000:]  # INFO reaches the log
    for routine in ("Task trading.tpsl_sweep[", "Sending due task", "Task monitoring.heartbeat["):
        assert routine not in output, (routine, output[-3000:])
