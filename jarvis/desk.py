"""The local desk's process manager (`make run`): honcho, with a grace period long enough for a warm shutdown.

    python -m jarvis.desk -d . -f var/Procfile start

honcho sends SIGTERM to every process group on Ctrl-C and SIGKILLs what still runs KILL_WAIT seconds later (5 by
default): too short for a worker to finish the task in its hands. The workers' soft-shutdown wait
(`jarvis.procs.LOCAL_WORKER_ENV`) must stay well inside this grace period.
"""

from __future__ import annotations

import sys

from honcho import manager
from honcho.command import main

GRACE_SECONDS = 20

if __name__ == "__main__":
    manager.KILL_WAIT = GRACE_SECONDS
    sys.exit(main())
