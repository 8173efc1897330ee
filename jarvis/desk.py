"""The local desk's process manager (`make run`): honcho, with a grace period long enough for a warm shutdown.

    python -m jarvis.desk -d . -f var/Procfile start

honcho sends SIGTERM to every process group on Ctrl-C and SIGKILLs what still runs KILL_WAIT seconds later (5 by
default): too short for a worker to finish the task in its hands. The workers' soft-shutdown wait
(`jarvis.procs.LOCAL_WORKER_ENV`) must stay well inside this grace period.

Configuration has one precedence everywhere: the real environment, then `.env`, then defaults. honcho's own `.env`
handling applies the file OVER the environment (`start` copies `os.environ` and updates it with the file), so the desk
reads `.env` itself, the way the settings do (`jarvis.config.dotenv_load`: only what the environment leaves unset),
and gives honcho an empty environment file. Every process then inherits the environment its settings would read.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from honcho import manager
from honcho.command import main

from jarvis.config import dotenv_load

GRACE_SECONDS = 20
BASE_DIR = Path(__file__).resolve().parent.parent


def honcho_argv(argv: list[str]) -> list[str]:
    """honcho's arguments with its environment file replaced by an empty one (`.env` is already in os.environ)."""
    if any(arg in ("-e", "--env") or arg.startswith("--env=") for arg in argv):
        raise SystemExit("jarvis.desk reads .env itself (JARVIS_ENV_FILE names another file); drop -e/--env.")
    return ["--env", os.devnull, *argv]


if __name__ == "__main__":
    manager.KILL_WAIT = GRACE_SECONDS
    dotenv_load(BASE_DIR)
    sys.exit(main(honcho_argv(sys.argv[1:])))
