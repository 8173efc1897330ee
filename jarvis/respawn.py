"""Keep one process of the local desk running: start it again when it exits on its own (`make run`).

    python -m jarvis.respawn [--first-pause SECONDS] <command> [argument ...]

docker-compose.yml restarts a service that exits (`restart: unless-stopped`); honcho, which runs the local desk,
stops every process when one exits. This wrapper gives the local desk compose's behaviour. honcho starts it as the
leader of a process group and the command runs in that group, so honcho's SIGTERM at Ctrl-C (and its SIGKILL after
the grace period) reach the command directly. A signal to the wrapper means the desk is stopping: it waits for the command
and exits with the command's code. A command that exits on its own (a Celery worker that lost Redis with messages
in hand, a process killed by the OOM killer or by hand) is started again after a pause, 1 s at first and doubling
up to 30 s while it keeps exiting within a minute of its start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0
HEALTHY_AFTER = 60.0  # a run this long resets the pause


def run(argv: list[str], *, first_pause: float = FIRST_PAUSE) -> int:
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    name = os.path.basename(argv[0])
    pause = first_pause
    while True:
        started = time.monotonic()
        try:
            child = subprocess.Popen(argv)
        except OSError as exc:
            print(f"respawn: cannot start {name}: {exc}", file=sys.stderr, flush=True)
            return 127
        code = child.wait()
        if stopping:
            return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention
        ran = time.monotonic() - started
        pause = first_pause if ran >= HEALTHY_AFTER else pause
        print(f"respawn: {name} (pid {child.pid}) exited on its own with code {code} after {ran:.0f} s; "
              f"starting it again in {pause:.0f} s", file=sys.stderr, flush=True)
        until = time.monotonic() + pause
        while time.monotonic() < until and not stopping:
            time.sleep(0.1)
        if stopping:
            return code if code >= 0 else 128 - code
        pause = min(LONGEST_PAUSE, pause * 2)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    argv = sys.argv[1:]
    if argv[:1] == ["--first-pause"] and len(argv) >= 3:
        return run(argv[2:], first_pause=float(argv[1]))
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
