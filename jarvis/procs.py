"""The processes of the desk, one line each: the source of the local Procfile (`make run`).

docker-compose.yml gives each of these roles its own service; tests check the two agree.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from django.conf import settings

# Workers: every queue has a consumer. Locally three workers cover all five queues (2 cores): two take trades and tpsl,
# so an exit never waits behind one hung process (a sweep or an order held by a stopped pool process is served by the
# other; monitoring.stuck names the hung one). Compose runs one service per queue, and worker-trades also sweeps.
# honcho stops a process by sending SIGTERM to its whole process group, so a prefork pool child would die under a
# running task. Locally the workers therefore take SIGTERM as Celery's cold shutdown (pool children ignore it) with a
# soft-shutdown wait (Celery sleeps all of it) that leaves the cold shutdown well within the desk's grace period
# before SIGKILL (jarvis.desk):
# a task that finishes in time finishes, a longer late-ack task goes back to its queue. Compose signals only the main process, which does Celery's ordinary warm shutdown.
LOCAL_WORKER_ENV = "REMAP_SIGTERM=SIGQUIT CELERY_SOFT_SHUTDOWN_SECONDS=3"
LOCAL_WORKERS = {
    "worker-trades": ("trades", "tpsl"),
    "worker-trades-2": ("trades", "tpsl"),
    "worker-ops": ("telegram", "backups", "default"),
    "worker-vibe": ("vibe",),
}


def procfile_lines(*, port: int = 8000, flower_port: int = 5555) -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    python = sys.executable
    respawn = f"{python} -m jarvis.respawn"  # compose's `restart: unless-stopped`, locally
    lines = {
        "web": (
            f"{respawn} {bin_dir}/gunicorn jarvis.wsgi:application -c python:jarvis.gunicorn_conf --bind 127.0.0.1:{port}"
        ),
    }
    for name, queues in LOCAL_WORKERS.items():
        lines[name] = (
            f"{LOCAL_WORKER_ENV} {respawn} {bin_dir}/celery -A jarvis worker -Q {','.join(queues)} -n {name}@%h"
            " --concurrency 1 --loglevel INFO"
        )
    lines["beat"] = f"{respawn} {bin_dir}/celery -A jarvis beat --loglevel INFO"
    lines["prices"] = f"{respawn} {python} {settings.BASE_DIR / 'manage.py'} run_prices"  # the price stream
    lines["flower"] = (
        f"{respawn} {bin_dir}/celery -A jarvis flower --port={flower_port} --address=127.0.0.1"
        f" --persistent=True --db={settings.VAR_DIR / 'flower.db'} --state_save_interval=10000"
    )
    for name, command in extra_processes(python).items():
        lines[name] = f"{respawn} {command}"
    return lines


def extra_processes(python: str) -> dict[str, str]:
    """Processes contributed by apps (sandbox servers, the bot) through `<app>.procs.PROCESSES(python)`."""
    extra: dict[str, str] = {}
    for app in ("sandbox", "telegram_app", "monitoring", "backups"):
        try:
            module = importlib.import_module(f"{app}.procs")
        except ModuleNotFoundError as exc:
            if exc.name == f"{app}.procs":
                continue
            raise
        extra.update(module.processes(python))
    return extra
