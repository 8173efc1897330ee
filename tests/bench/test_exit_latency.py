"""bench/exit_latency.py end to end on a tiny book: the sandbox in its process, run_prices, a tpsl and a trades worker,
streamed crossings then polled ones, and its last line. The figures are the full run's (docs/exits.md), not this."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

BENCH = Path(__file__).resolve().parents[2] / "bench" / "exit_latency.py"


def test_the_exit_latency_bench_runs_both_paths_on_a_tiny_book():
    # Not the suite's Redis database: the suite's own Celery worker would take the bench's tasks.
    suite_db = int(urlparse(settings.REDIS_URL).path.strip("/") or 0)
    env = {**os.environ, "BENCH_REDIS_DB": os.environ.get("BENCH_REDIS_DB", str((suite_db + 8) % 16))}
    assert env["BENCH_REDIS_DB"] != str(suite_db)
    run = subprocess.run([sys.executable, str(BENCH), "--positions", "300", "--mints", "6", "--limits", "30",
                          "--crossings", "1", "--per-crossing", "1"], env=env, capture_output=True, text=True,
                         timeout=600, cwd=BENCH.parents[1])
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["bench"] == "exit_latency" and result["positions"] == 300
    assert result["exits"]["stream"] >= 1 and result["exits"]["poll"] >= 1
    for key in ("stream_to_sent_p99_ms", "stream_to_landed_p99_ms", "poll_to_sent_p99_ms", "stream_speedup_p99"):
        assert result[key] > 0
    assert result["stream_to_landed_p99_ms"] >= result["stream_to_sent_p99_ms"]
