"""The local desk's supervisor (`jarvis.respawn`): a process that exits on its own is started again; a desk that
is stopping is not restarted. Real processes, started the way honcho starts them (a new session)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
runs = open(sys.argv[1], "a+")
runs.write("run\\n"); runs.flush()
if sum(1 for _ in open(sys.argv[1])) == 1:
    sys.exit(3)  # the first run dies on its own
time.sleep(120)
"""


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    runs = tmp_path / "runs"
    wrapper = subprocess.Popen([sys.executable, "-m", "jarvis.respawn", sys.executable, "-c", CHILD, str(runs)],
                               cwd=ROOT, start_new_session=True, stderr=subprocess.PIPE, text=True)
    return wrapper, runs


def _runs(path: Path) -> int:
    return path.read_text().count("run") if path.exists() else 0


def test_a_process_that_exits_on_its_own_is_started_again_and_stops_with_the_desk(tmp_path):
    wrapper, runs = _start(tmp_path)
    try:
        wait_for(lambda: _runs(runs) == 2, timeout=15, message="the command started again")
        assert wrapper.poll() is None
        os.killpg(wrapper.pid, signal.SIGTERM)  # what honcho does at Ctrl-C
        assert wrapper.wait(timeout=10) == 128 + signal.SIGTERM
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
    time.sleep(1.5)  # longer than the first restart pause: nothing starts after the stop
    assert _runs(runs) == 2
    log = wrapper.stderr.read()
    assert "exited on its own with code 3" in log and "starting it again in 1 s" in log


def test_a_desk_stopping_during_the_restart_pause_starts_nothing(tmp_path):
    wrapper, runs = _start(tmp_path)
    try:
        wait_for(lambda: _runs(runs) == 1, timeout=15, message="the first run")
        time.sleep(0.3)  # the first run has exited; the wrapper is in its pause
        os.killpg(wrapper.pid, signal.SIGTERM)
        assert wrapper.wait(timeout=10) == 3  # the code of the run that exited
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
    time.sleep(1.5)
    assert _runs(runs) == 1


def test_every_process_of_the_local_desk_runs_under_the_supervisor(settings):
    from jarvis.procs import procfile_lines

    for name, line in procfile_lines(port=8123).items():
        assert " -m jarvis.respawn " in line, name
