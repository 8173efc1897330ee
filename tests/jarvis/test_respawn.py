"""The local desk's supervisor (`jarvis.respawn`): a process that exits on its own is started again; a desk that
is stopping is not restarted. Real processes, started the way honcho starts them (a new session)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


def _start(tmp_path: Path, *options: str) -> tuple[subprocess.Popen, Path]:
    runs = tmp_path / "runs"
    wrapper = subprocess.Popen([sys.executable, "-m", "jarvis.respawn", *options, sys.executable, "-c", CHILD, str(runs)],
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
    assert _runs(runs) == 2  # the wrapper is gone: nothing is left that could start a third run
    log = wrapper.stderr.read()
    assert "exited on its own with code 3" in log and "starting it again in 1 s" in log


def test_a_desk_stopping_during_the_restart_pause_starts_nothing(tmp_path):
    wrapper, runs = _start(tmp_path, "--first-pause", "600")  # a pause no loaded machine can outlast
    try:
        line = wrapper.stderr.readline()  # written when the first run has exited and the pause begins
        assert "exited on its own with code 3" in line and "starting it again in 600 s" in line
        os.killpg(wrapper.pid, signal.SIGTERM)
        assert wrapper.wait(timeout=30) == 3  # the code of the run that exited, without waiting out the pause
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)
    assert _runs(runs) == 1  # the wrapper is gone: nothing is left that could start a second run


def test_every_process_of_the_local_desk_runs_under_the_supervisor(settings):
    from jarvis.procs import procfile_lines

    for name, line in procfile_lines(port=8123).items():
        assert " -m jarvis.respawn " in line, name
