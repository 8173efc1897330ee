"""Scale: orders a second and exits a second for 1, 2 and 4 worker processes, each as if on a host of its own,
against one Redis and one Postgres; and the resource that saturated, from CPU measurements.

    .venv/bin/python bench/scale.py [--workers 1,2,4] [--buys 600] [--traders 50] [--mints 10] [--concurrency 1]
                                    [--settle 11]

On a database of its own (jarvis_bench_scale_<pid> on BENCH_DATABASE_SERVER, created, migrated and dropped by the
run) and Redis database BENCH_REDIS_DB (default 13; flushed), with the sandbox's price stand-in in a process of its
own (bench/tpsl_sweep.py's Feed) and one `celery beat` (the sweep every second). For each worker count N, N
`celery -A jarvis worker -Q trades,tpsl` processes start as worker-trades runs (prefork, --concurrency pool
processes each, prefetch 1), each with its own node name (`scale<i>@bench-host-<i>`), METRICS_PORT and
JARVIS_VAR_DIR (so its own Prometheus multiprocess directory and log): nothing on disk is shared between them.
Then, for a fresh set of traders and mints:

(a) orders: the workers stop consuming `trades` (Celery's cancel_consumer), --buys paper buys are offered through
    `position_open` (so every one waits in the queue: offered faster than served), the workers resume
    (add_consumer), and the buys that open are counted a second: the rate between 5% and 95% of them done;
(b) exits: every position of the round has the default plan (stop-loss -20%); the mints' prices fall 45% in the
    stand-in, the beat's next sweep claims every position and queues its exit, and the exit orders filled are
    counted a second in the same way.

During each phase the CPU time of the worker processes (main and pool), the Postgres backends of the bench's
database, redis-server, beat + feed + this process, and the whole machine is read from /proc; the phase's resource
that saturated is named from those figures (bench/scale.py::saturation). Postgres commits and rows written per
order (pg_stat_database of the bench's database, read after the stats settle) and Redis commands per order
(INFO's total_commands_processed, less the rate measured with the workers idle in the same run) are the per-unit
costs docs/scaling.md scales up. Redis and the Postgres server are the machine's own and may serve others: the
baseline is taken in the same run, and "machine" is the whole machine's CPU.

Last line: {"bench": "scale", "orders_per_s": {"1": .., "2": .., "4": ..}, "exits_per_s": {...}, "saturated": "...",
"by_workers": {...}, "per_order": {...}, "load_average": [...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tpsl_sweep import Feed  # noqa: E402
from bench.trade_latency import SERVER, environment, server_sql, start_worker, stop  # noqa: E402

DB_NAME = f"jarvis_bench_scale_{os.getpid()}"  # one database per run, dropped at the end
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '13')}"
METRICS_PORT_BASE = int(os.environ.get("BENCH_SCALE_METRICS_PORT", "29400"))
SOL = 10**9
BASE_PRICE = Decimal("0.00005")  # SOL per whole token
CRASH = Decimal("0.55")  # the exits phase: every mint of the round falls 45%, through the -20% stop
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
PARTS = ("workers", "postgres", "redis", "others")
SATURATED = 0.85  # a share of a ceiling (one core for a single-threaded server, all cores for the machine)


# --- CPU from /proc (pure helpers; tests/bench/test_scale.py) -----------------------------------------------------


def proc_table(proc: Path = Path("/proc")) -> dict[int, tuple[str, int, int, int]]:
    """pid -> (command name, parent pid, CPU ticks used: user + system, nanoseconds spent runnable but waiting for a
    core: schedstat's second field, 0 where the kernel keeps none) for every process."""
    table = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        try:
            waited = int((entry / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            waited = 0
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        table[int(entry.name)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]), waited)
    return table


def descendants(table: dict[int, tuple], roots: set[int]) -> set[int]:
    """The roots and every process below them."""
    found = set(roots) & set(table)
    grew = True
    while grew:
        more = {pid for pid, row in table.items() if row[1] in found} - found
        found |= more
        grew = bool(more)
    return found


def machine_ticks(stat: str | None = None) -> tuple[int, int]:
    """(busy, total) ticks of all CPUs from /proc/stat's first line (idle and iowait count as not busy)."""
    stat = stat if stat is not None else Path("/proc/stat").read_text()
    values = [int(v) for v in stat.splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle, sum(values[:8])


@dataclass
class Snapshot:
    at: float
    table: dict[int, tuple[str, int, int, int]]
    machine: tuple[int, int]


def snapshot() -> Snapshot:
    return Snapshot(time.monotonic(), proc_table(), machine_ticks())


def saturation(usage: dict[str, float], *, ncpu: int, pool_processes: int) -> str:
    """The resource that ran out, from the cores each part used: redis-server is one thread (one core is its
    ceiling); the machine's ceiling is its cores; each worker pool process is one Python thread. The biggest user
    of a full machine is named with the shares."""
    parts = {k: usage[k] for k in (*PARTS, "elsewhere")}
    shares = ", ".join(f"{k} {v / max(usage['machine'], 1e-9):.0%}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
    if usage["redis"] >= SATURATED:
        return f"redis (one core: {usage['redis']:.2f})"
    if usage["machine"] >= SATURATED * ncpu:
        top = max(parts, key=parts.get)
        waited = usage.get("workers_waiting", 0.0)
        queue = f"; the workers waited for a core {waited:.2f} s a second" if waited else ""
        return f"cpu: the machine's {ncpu} cores ({usage['machine']:.2f} busy), most of it {top} ({shares}{queue})"
    if usage["workers"] >= SATURATED * pool_processes:
        return f"worker processes (each pool process near one core; {shares})"
    if usage["postgres"] >= SATURATED:
        return f"postgres backends ({usage['postgres']:.2f} cores; {shares})"
    return f"none of CPU, redis or worker processes: waits (locks, commits, round trips) ({shares})"


def rate(samples: list[tuple[float, int]], total: int, low: float = 0.05, high: float = 0.95) -> float:
    """Completions a second between `low` and `high` of `total` done, from (time, done) samples."""
    def when(share):
        need = max(1, round(share * total))
        return next(t for t, done in samples if done >= need), need

    (t1, n1), (t2, n2) = when(low), when(high)
    return (n2 - n1) / (t2 - t1) if t2 > t1 else float("nan")


def metric_sum(text: str, name: str) -> float:
    """Sum of every sample of `name` in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


# --- the run ------------------------------------------------------------------------------------------------------


def host_env(host: str, **extra: str) -> dict:
    """The environment of a process on a host of its own: a fresh JARVIS_VAR_DIR (so its own Prometheus
    multiprocess directory, not the one this process's monitoring.metrics chose)."""
    var = ROOT / "var" / "bench-scale" / host
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, "JARVIS_VAR_DIR": str(var), **extra}


class Cluster:
    """N worker processes, each as on its own host: node name, METRICS_PORT and JARVIS_VAR_DIR of its own."""

    def __init__(self, *, count: int, concurrency: int, round_no: int):
        from jarvis.celery import app

        self.app = app
        self.names, self.ports, self.procs = [], [], []
        for i in range(count):
            host = f"bench-host-{i}"
            port = METRICS_PORT_BASE + 10 * round_no + i
            env = host_env(host, METRICS_PORT=str(port))
            name = f"scale{i}@{host}"
            self.procs.append(start_worker(queues="trades,tpsl", concurrency=concurrency, name=name, env=env))
            self.names.append(name)
            self.ports.append(port)

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in self.procs):
                raise SystemExit("a worker exited at start; see var/bench-scale/*/worker.log")
            answered = {name for reply in self.app.control.ping(destination=self.names, timeout=1.0) for name in reply}
            if answered >= set(self.names):
                return
        raise SystemExit(f"workers not ready within {timeout:.0f} s")

    def consume_trades(self, on: bool) -> None:
        control = self.app.control.add_consumer if on else self.app.control.cancel_consumer
        replies = control("trades", destination=self.names, reply=True, timeout=5)
        if len(replies) < len(self.names):
            raise SystemExit(f"only {len(replies)} of {len(self.names)} workers answered the consumer change")

    def roots(self) -> set[int]:
        return {proc.pid for proc in self.procs}

    def executions(self) -> list[float]:
        """Orders each worker reports as finished, from its own METRICS_PORT."""
        counts = []
        for port in self.ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                counts.append(metric_sum(answer.read().decode(), "jarvis_trade_executions_total"))
        return counts

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def redis_commands() -> int:
    import redis

    return int(redis.Redis.from_url(REDIS_URL).info("stats")["total_commands_processed"])


def pg_writes() -> tuple[int, int]:
    """(commits, rows inserted + updated + deleted) of the bench's database so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
                       "WHERE datname = current_database()")
        commits, rows = cursor.fetchone()
    return int(commits), int(rows)


def backend_pids() -> set[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return {row[0] for row in cursor.fetchall()}


def count_until(query, total: int, *, timeout: float, failed=None, meter=None) -> list[tuple[float, int]]:
    """(seconds since the start, done) samples every 50 ms until `total` are done; stops at a failure."""
    start = time.monotonic()
    samples = [(0.0, 0)]
    while samples[-1][1] < total:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"only {samples[-1][1]} of {total} done within {timeout:.0f} s")
        if failed is not None and failed():
            raise SystemExit(f"an order failed: {failed()}")
        time.sleep(0.05)
        samples.append((time.monotonic() - start, query()))
        if meter is not None:
            meter.sample()
    return samples


class Meter:
    """CPU of the parts during one phase (cores). The process table is read every half second, so a process that
    started (a Postgres backend reopened after DATABASE_CONN_MAX_AGE, a pool process replaced) or ended during the
    phase counts with the time it used within it."""

    def __init__(self, *, cluster: Cluster, helpers: set[int]):
        self.cluster, self.helpers = cluster, helpers
        self.first = snapshot()
        self.latest = dict(self.first.table)
        self.groups: dict[str, set[int]] = {part: set() for part in PARTS}
        self.sampled = 0.0
        self.sample()

    def sample(self) -> None:
        if time.monotonic() - self.sampled < 0.5:
            return
        table = proc_table()
        self.latest.update(table)
        workers = descendants(table, self.cluster.roots())
        self.groups["workers"] |= workers
        self.groups["postgres"] |= backend_pids()
        self.groups["redis"] |= {pid for pid, row in table.items() if row[0] == "redis-server"}
        self.groups["others"] |= descendants(table, self.helpers) - workers  # beat, the price feed, this process
        self.sampled = time.monotonic()

    def stop(self) -> dict[str, float]:
        self.sampled = 0.0
        self.sample()
        seconds = time.monotonic() - self.first.at
        busy, total = (last - first for last, first in zip(machine_ticks(), self.first.machine))
        def used(pids, field):
            return sum(self.latest[pid][field] - self.first.table.get(pid, ("", 0, 0, 0))[field] for pid in pids)

        usage = {part: used(pids, 2) / CLK_TCK / seconds for part, pids in self.groups.items()}
        # seconds a second the worker processes were ready to run and waited for a core (the run queue)
        usage["workers_waiting"] = used(self.groups["workers"], 3) / 1e9 / seconds
        usage["machine"] = busy / max(total, 1) * NCPU
        # the rest of the machine's busy time: Postgres's own processes (WAL writer, checkpointer), the kernel, and
        # whatever else runs on this machine
        usage["elsewhere"] = max(0.0, usage["machine"] - sum(usage[k] for k in PARTS))
        return {k: round(v, 2) for k, v in usage.items()}


def settle_pg(seconds: float) -> tuple[int, int]:
    """pg_stat_database after the backends' pending counters are flushed (an idle backend flushes within 10 s, so
    --settle 11 by default; less gives rougher per-unit costs, not other rates)."""
    time.sleep(seconds)
    return pg_writes()


def per_unit(before, after, seconds: float, idle: tuple[float, float], redis_ops: float, units: int) -> dict:
    """Postgres commits and rows written and Redis commands per unit of work, less the idle rates."""
    return {
        "pg_commits": round((after[0] - before[0] - idle[0] * seconds) / units, 1),
        "pg_rows_written": round((after[1] - before[1] - idle[1] * seconds) / units, 1),
        # None when the shared server's other traffic swamped the desk's (the delta fell below the idle rate)
        "redis_commands": round(redis_ops / units, 1) if redis_ops > 0 else None,
    }


def one_round(*, count: int, round_no: int, args, feed: Feed, helpers: set[int]) -> dict:
    from trading.models import Order, Position
    from trading.services import position_open, trader_register

    mints = feed.mints[round_no * args.mints:(round_no + 1) * args.mints]
    traders = [trader_register(name=f"scale {count}.{i}") for i in range(args.traders)]
    book = Position.objects.filter(trader__in=traders)
    cluster = Cluster(count=count, concurrency=args.concurrency, round_no=round_no)
    try:
        cluster.wait_ready()
        cluster.consume_trades(False)
        # idle baseline (beat's sweeps, the workers' polling, whatever else uses this Redis): 11 s between two
        # settled readings of pg_stat_database
        settle_pg(args.settle)
        idle_pg, idle_commands, idle_start = pg_writes(), redis_commands(), time.monotonic()
        pg0 = settle_pg(max(args.settle, 1))
        redis0, idle_s = redis_commands(), time.monotonic() - idle_start
        redis_idle_rate = (redis0 - idle_commands) / idle_s
        pg_idle_rate = ((pg0[0] - idle_pg[0]) / idle_s, (pg0[1] - idle_pg[1]) / idle_s)
        start = time.monotonic()
        for i in range(args.buys):
            position_open(trader=traders[i % len(traders)], mint=mints[i % len(mints)], amount_lamports=SOL // 100)
        offered_s = time.monotonic() - start
        print(f"[{count} worker{'s' * (count > 1)}] {args.buys} buys offered in {offered_s:.1f} s "
              f"({args.buys / offered_s:.0f}/s), all waiting in the queue", flush=True)

        def failed_buy():
            return Order.objects.filter(position__in=book, status="failed").values_list("error", flat=True).first()

        meter = Meter(cluster=cluster, helpers=helpers)
        cluster.consume_trades(True)
        order_start = time.monotonic()
        samples = count_until(lambda: book.filter(status="open").count(), args.buys, timeout=600, failed=failed_buy,
                              meter=meter)
        order_cpu = meter.stop()
        orders_s = rate(samples, args.buys)
        order_redis = redis_commands() - redis0 - redis_idle_rate * (time.monotonic() - start)
        print(f"  orders: {orders_s:.1f}/s (all {args.buys} in {time.monotonic() - order_start:.1f} s); "
              f"cpu cores {order_cpu}", flush=True)
        pg1, pg1_at = settle_pg(args.settle), time.monotonic()

        redis1 = redis_commands()
        meter = Meter(cluster=cluster, helpers=helpers)
        exit_start = time.monotonic()
        feed.set_prices({mint: BASE_PRICE * CRASH for mint in mints})
        exits = Order.objects.filter(position__in=book, side="sell")
        samples = count_until(lambda: exits.filter(status="confirmed").count(), args.buys, timeout=600,
                              failed=lambda: exits.filter(status="failed").values_list("error", flat=True).first(),
                              meter=meter)
        exit_cpu = meter.stop()
        exits_s = rate(samples, args.buys)
        exit_redis = redis_commands() - redis1 - redis_idle_rate * (time.monotonic() - exit_start)
        print(f"  exits: {exits_s:.1f}/s (all {args.buys} filled {time.monotonic() - exit_start:.1f} s after the "
              f"price move); cpu cores {exit_cpu}", flush=True)
        pg2, pg2_at = settle_pg(args.settle), time.monotonic()
        per_host = cluster.executions()
        print(f"  orders finished per worker (each one's METRICS_PORT): {[int(c) for c in per_host]}", flush=True)
        if sum(per_host) != 2 * args.buys:
            raise SystemExit(f"the workers' metrics count {sum(per_host):.0f} orders, not the {2 * args.buys} filled")
        closed = book.filter(status="closed").count()
        if closed != args.buys:
            raise SystemExit(f"{closed} of {args.buys} positions closed")
    finally:
        cluster.stop()
    pool = count * args.concurrency
    return {
        "orders_per_s": round(orders_s, 1),
        "exits_per_s": round(exits_s, 1),
        "orders_cpu": order_cpu,
        "exits_cpu": exit_cpu,
        "orders_saturated": saturation(order_cpu, ncpu=NCPU, pool_processes=pool),
        "exits_saturated": saturation(exit_cpu, ncpu=NCPU, pool_processes=pool),
        "per_worker_executions": [int(c) for c in per_host],
        "per_order": per_unit(pg0, pg1, pg1_at - start, pg_idle_rate, order_redis, args.buys),
        "per_exit": per_unit(pg1, pg2, pg2_at - pg1_at, pg_idle_rate, exit_redis, args.buys),
        "idle_per_s": {"pg_commits": round(pg_idle_rate[0], 1), "pg_rows_written": round(pg_idle_rate[1], 1),
                       "redis_commands": round(redis_idle_rate, 1)},
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def start_beat() -> subprocess.Popen:
    env = host_env("beat")
    var = Path(env["JARVIS_VAR_DIR"])
    with (var / "beat.log").open("wb") as log:
        return subprocess.Popen([str(ROOT / ".venv" / "bin" / "celery"), "-A", "jarvis", "beat", "-l", "warning",
                                 "-s", str(var / "beat-schedule"), "--pidfile", ""],
                                cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, one round each")
    parser.add_argument("--buys", type=int, default=600, help="paper buys (and so exits) per round")
    parser.add_argument("--traders", type=int, default=50)
    parser.add_argument("--mints", type=int, default=10, help="mints per round")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker")
    parser.add_argument("--settle", type=float, default=11, help="seconds for Postgres's statistics to settle")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.workers.split(",")]

    feed = Feed([(f"S{i}", str(BASE_PRICE)) for i in range(len(counts) * args.mints)])
    os.environ.update(environment(feed, db_name=DB_NAME, redis_url=REDIS_URL, var_dir="bench-scale"))
    os.environ.update(TRADING_MODE="paper", JUPITER_RATE_LIMIT="1000000/60", PRICE_MAX_AGE_SECONDS="30")
    server_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}")
    beat = None
    try:
        import django

        django.setup()
        import redis
        from django.core.management import call_command

        redis.Redis.from_url(REDIS_URL).flushdb()
        call_command("migrate", verbosity=0)
        call_command("setup_periodic_tasks", verbosity=0)
        from trading.models import RiskLimits

        big = 10**9 * SOL
        RiskLimits.objects.create(max_trade_lamports=big, max_open_positions=1_000_000, daily_loss_limit_lamports=big,
                                  daily_volume_cap_lamports=big)
        beat = start_beat()
        helpers = {os.getpid(), beat.pid, feed.proc.pid}
        by_workers = {}
        for round_no, count in enumerate(counts):
            by_workers[str(count)] = one_round(count=count, round_no=round_no, args=args, feed=feed, helpers=helpers)
    finally:
        if beat is not None:  # SIGKILL if SIGTERM is lost (celery beat swallowed one inside a weakref callback once)
            stop(beat)
        feed.stop()
        from django.db import connections

        connections.close_all()
        server_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")

    top = by_workers[str(max(counts))]
    saturated = top["orders_saturated"]
    print("\nworkers  orders/s  exits/s   load average   saturated (orders)")
    for count, r in by_workers.items():
        print(f"{count:>7}  {r['orders_per_s']:>8}  {r['exits_per_s']:>7}   {r['load_average']}   {r['orders_saturated']}")
    first = by_workers[str(counts[0])]
    print(f"per order: {first['per_order']}; per exit: {first['per_exit']} (round of {counts[0]})")
    line = {
        "bench": "scale",
        "orders_per_s": {c: r["orders_per_s"] for c, r in by_workers.items()},
        "exits_per_s": {c: r["exits_per_s"] for c, r in by_workers.items()},
        "saturated": saturated,
        "exits_saturated": top["exits_saturated"],
        "per_order": first["per_order"],
        "per_exit": first["per_exit"],
        "by_workers": by_workers,
        "cores": NCPU,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(line))
    return line


if __name__ == "__main__":
    main()
