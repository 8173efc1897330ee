"""bench/scale.py: its judgement of what saturated and its rates from hand-made figures, and one tiny real run
(one worker process, a few buys and exits) so the benchmark cannot rot. The measured run is `bench/scale.py`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PATH = ROOT / "bench" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    from bench import scale

    return scale


def usage(**cores):
    base = {"workers": 0.2, "postgres": 0.1, "redis": 0.05, "others": 0.05, "elsewhere": 0.0}
    base.update(cores)
    base.setdefault("machine", sum(v for k, v in base.items() if k not in ("machine", "workers_waiting")))
    return base


def test_the_resource_that_saturated_is_named_from_the_cores_each_part_used(scale):
    assert scale.saturation(usage(redis=0.95), ncpu=2, pool_processes=4).startswith("redis")
    full = scale.saturation(usage(workers=1.5, postgres=0.3), ncpu=2, pool_processes=4)
    assert full.startswith("cpu: the machine's 2 cores") and "most of it workers" in full
    busy_elsewhere = scale.saturation(usage(elsewhere=1.6, workers_waiting=0.4), ncpu=2, pool_processes=4)
    assert "most of it elsewhere" in busy_elsewhere and "waited for a core 0.40 s a second" in busy_elsewhere
    assert scale.saturation(usage(workers=0.9), ncpu=8, pool_processes=1).startswith("worker processes")
    assert scale.saturation(usage(postgres=1.2), ncpu=8, pool_processes=4).startswith("postgres")
    assert scale.saturation(usage(), ncpu=8, pool_processes=4).startswith("none of CPU")


def test_rates_count_between_five_and_ninety_five_percent_done(scale):
    samples = [(0.0, 0), (1.0, 0), (2.0, 5), (3.0, 50), (4.0, 95), (9.0, 100)]
    assert scale.rate(samples, 100) == pytest.approx((95 - 5) / (4.0 - 2.0))


def test_process_cpu_and_trees_come_from_proc(scale, tmp_path):
    for pid, name, ppid, utime, stime in ((10, "celery", 1, 100, 20), (11, "python (pool)", 10, 300, 40),
                                          (12, "redis-server", 1, 7, 3), (13, "x", 11, 1, 1)):
        (tmp_path / str(pid)).mkdir()
        fields = ["S", str(ppid)] + ["0"] * 9 + [str(utime), str(stime)] + ["0"] * 10
        (tmp_path / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")
    (tmp_path / "11" / "schedstat").write_text("5000 2500000000 9\n")
    table = scale.proc_table(tmp_path)
    assert table[11] == ("python (pool)", 10, 340, 2_500_000_000)  # 2.5 s waiting for a core
    assert table[10][3] == 0  # no schedstat
    assert scale.descendants(table, {10}) == {10, 11, 13}
    assert scale.machine_ticks("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3") == (150, 1000)
    text = 'jarvis_trade_executions_total{venue="paper",outcome="filled"} 7.0\njarvis_trade_executions_created 1.0\n' \
           'jarvis_trade_executions_total{venue="paper",outcome="failed"} 2.0\n'
    assert scale.metric_sum(text, "jarvis_trade_executions_total") == 9.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_a_tiny_run_measures_orders_and_exits_through_real_workers():
    _, db = settings.REDIS_URL.rsplit("/", 1)
    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {
        **os.environ,
        "BENCH_DATABASE_SERVER": server,
        "BENCH_REDIS_DB": str((int(db or 0) + 9) % 16),  # not the suite's: its session worker would take the tasks
        "BENCH_SCALE_METRICS_PORT": str(free_port()),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    bench = subprocess.Popen([sys.executable, str(PATH), "--workers", "1", "--buys", "8", "--traders", "2", "--mints",
                              "2", "--settle", "0"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    out, err = bench.communicate(timeout=300)
    assert bench.returncode == 0, (out + err)[-3000:]
    line = json.loads(out.strip().splitlines()[-1])
    assert line["bench"] == "scale"
    assert line["orders_per_s"]["1"] > 0 and line["exits_per_s"]["1"] > 0
    assert line["by_workers"]["1"]["per_worker_executions"] == [16]  # 8 buys and 8 exits, on its own METRICS_PORT
    assert line["saturated"] and set(line["by_workers"]["1"]["orders_cpu"]) >= {"workers", "postgres", "redis", "machine"}
    import psycopg2

    conn = psycopg2.connect(f"{server}/postgres")
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [f"jarvis_bench_scale_{bench.pid}"])
        assert cursor.fetchone()[0] == 0  # dropped at the end
    conn.close()
