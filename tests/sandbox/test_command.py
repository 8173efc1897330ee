"""`manage.py sandbox` serves on the ports it is given and prints them; the Procfile includes it outside live mode."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_manage_py_sandbox_serves_prints_its_ports_and_stops_on_sigterm():
    rpc, bags, jupiter = _free_ports(3)
    env = {**os.environ, "DEBUG": "true", "TRADING_MODE": "sandbox", "JARVIS_IGNORE_DOTENV": "true"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "sandbox", "--rpc-port", str(rpc), "--bags-port", str(bags),
         "--jupiter-port", str(jupiter), "--no-walk"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        assert lines[0].strip() == "Sandbox ready:", "".join(lines)
        assert f"http://127.0.0.1:{rpc}" in lines[1] and f"http://127.0.0.1:{bags}/api/v1" in lines[2]
        answer = httpx.post(f"http://127.0.0.1:{rpc}", json={"jsonrpc": "2.0", "id": 1, "method": "getBlockHeight"})
        assert answer.json()["result"] >= 1000
        quote = httpx.get(f"http://127.0.0.1:{jupiter}/price/v3", params={"ids": "So11111111111111111111111111111111111111112"},
                          headers={"x-api-key": "sandbox-jupiter-key"})
        assert quote.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize(("mode", "expected"), [("paper", True), ("sandbox", True), ("live", False)])
def test_the_procfile_runs_the_sandbox_outside_live_mode(settings, mode, expected):
    from sandbox.procs import processes

    settings.TRADING_MODE = mode
    procs = processes("/venv/bin/python")
    assert ("sandbox" in procs) is expected
    if expected:
        assert procs["sandbox"].startswith("/venv/bin/python ") and procs["sandbox"].endswith("manage.py sandbox")
