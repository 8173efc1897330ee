"""Trade latency: from the service call to the position being open, against the raw Celery round trip.

    .venv/bin/python bench/trade_latency.py [--buys 220] [--warmup 10] [--probes 300]

In one run, on a database of its own (jarvis_bench_trade_<pid> on BENCH_DATABASE_SERVER, dropped at the end) and
Redis database BENCH_REDIS_DB (default 8; flushed, so one run at a time per Redis database), with an in-process sandbox (chain, bags.fm and Jupiter stand-ins; no confirmation delay)
and one `celery worker -Q trades` process (prefork, 2 processes, prefetch 1, as worker-trades runs):

(a) baseline: the round trip of a no-op task on the trades queue (`trading.order_probe`, apply_async + result get);
(b) paper: `position_open` of a paper buy until the position is open (`--buys` buys after `--warmup`);
(c) sandbox: the same for a sandbox-mode trader whose wallet is funded on the sandbox chain; the order goes through
    the live code path (venue quote and swap, signing, send, confirmation) against the stand-ins.

The bench notices "open" through Postgres LISTEN/NOTIFY (a trigger in its own database), so it adds no polling load.
Last line: {"bench": "trade_latency", "celery_roundtrip_p50_ms", "paper_p50_ms", "paper_p95_ms", "sandbox_p50_ms",
"sandbox_p95_ms", "paper_over_celery_p50", ...}. Goals (issue 15): paper p50 <= 4x the Celery round trip; sandbox
p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DB_NAME = f"jarvis_bench_trade_{os.getpid()}"  # one database per run, dropped at the end
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '8')}"
SOL = 10**9
PAPER_GOAL = 4  # paper p50 at most this many Celery round trips (issue 15)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def environment(sandbox, *, db_name: str = DB_NAME, redis_url: str = REDIS_URL, var_dir: str = "bench-trade") -> dict:
    """The bench processes' settings: `sandbox` is anything with the stand-ins' URLs and keys (sandbox.server.Sandbox,
    bench/tpsl_sweep.py's Feed)."""
    return {
        "DATABASE_URL": f"{SERVER}/{db_name}",
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "jarvis.settings",
        "JARVIS_IGNORE_DOTENV": "true",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "LOG_LEVEL": "warning",
        "TRADING_MODE": "sandbox",
        "WALLET_ENCRYPTION_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "SOLANA_RPC_URL": sandbox.rpc_url,
        "BAGS_API_URL": sandbox.bags_url,
        "BAGS_API_KEY": sandbox.bags_api_key,
        "JUPITER_API_URL": sandbox.jupiter_url,
        "JUPITER_API_KEY": sandbox.jupiter_api_key,
        "PRICE_MAX_AGE_SECONDS": "3600",
        "PAPER_START_BALANCE_SOL": "1000000",
        "JARVIS_VAR_DIR": str(ROOT / "var" / var_dir),
    }


def server_sql(*statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    conn.close()


def recreate_database() -> None:
    server_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}")


def start_worker(
    *, queues: str = "trades", concurrency: int = 2, name: str | None = None, env: dict | None = None
) -> subprocess.Popen:
    """One `celery worker` process (prefork, prefetch 1); its log is worker.log in its env's JARVIS_VAR_DIR."""
    env = os.environ.copy() if env is None else env
    command = [str(ROOT / ".venv" / "bin" / "celery"), "-A", "jarvis", "worker", "-Q", queues, "-P", "prefork",
               "-c", str(concurrency), "--prefetch-multiplier", "1", "-l", "warning", "--without-gossip",
               "--without-mingle", "--without-heartbeat", "-n", name or f"bench-trades-{os.getpid()}@%h"]
    log_path = Path(env["JARVIS_VAR_DIR"]) / "worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:  # a file, not a pipe: an unread pipe would block a chatty worker
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    """Stop a bench process: SIGTERM (a warm shutdown), SIGKILL after 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def probe_round_trips(count: int) -> list[float]:
    from trading.tasks import order_probe

    order_probe.apply_async().get(timeout=60)  # the worker is up and warm
    times = []
    for _ in range(count):
        start = time.perf_counter()
        order_probe.apply_async().get(timeout=10)
        times.append((time.perf_counter() - start) * 1000)
    return times


NOTIFY_SQL = """
CREATE OR REPLACE FUNCTION bench_position_settled() RETURNS trigger AS $$
BEGIN
    IF NEW.status IN ('open', 'failed') AND OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('bench_position', NEW.id || ':' || NEW.status);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER bench_position_settled AFTER UPDATE ON trading_position
    FOR EACH ROW EXECUTE FUNCTION bench_position_settled();
"""


class Settled:
    """Postgres LISTEN/NOTIFY on position status (a trigger in the bench's own database): no polling load."""

    def __init__(self):
        import psycopg2

        self.conn = psycopg2.connect(f"{SERVER}/{DB_NAME}")
        self.conn.autocommit = True
        with self.conn.cursor() as cursor:
            cursor.execute(NOTIFY_SQL)
            cursor.execute("LISTEN bench_position")
        self.seen: dict[int, str] = {}

    def wait(self, position_id: int, timeout: float = 30.0) -> str:
        import select

        deadline = time.monotonic() + timeout
        while position_id not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            if select.select([self.conn], [], [], remaining)[0]:
                self.conn.poll()
                while self.conn.notifies:
                    pid, status = self.conn.notifies.pop(0).payload.split(":")
                    self.seen[int(pid)] = status
        return self.seen.pop(position_id)


def buys(
    *, settled: Settled, trader, mint: str, amount: int, count: int, warmup: int
) -> tuple[list[float], list[float], str | None]:
    """Latencies (ms) of `count` buys after `warmup` to open and of their service calls; stops with a reason at the
    first buy that does not open."""
    from trading.models import Order
    from trading.services import position_open

    times: list[float] = []
    service: list[float] = []
    for index in range(warmup + count):
        start = time.perf_counter()
        position = position_open(trader=trader, mint=mint, amount_lamports=amount)
        service.append((time.perf_counter() - start) * 1000)
        status = settled.wait(position.pk)
        elapsed = (time.perf_counter() - start) * 1000
        if status != "open":
            error = Order.objects.filter(position=position).values_list("error", flat=True).first() or ""
            return times, service, f"buy {index + 1} ended {status}: {error[:200]}"
        if index >= warmup:
            times.append(elapsed)
    return times, service[warmup:], None


def summary(name: str, times: list[float]) -> str:
    return (f"{name:<28} n={len(times):<4} p50={percentile(times, 50):7.2f} ms  p95={percentile(times, 95):7.2f} ms  "
            f"mean={statistics.fmean(times):7.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buys", type=int, default=220)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--probes", type=int, default=300)
    args = parser.parse_args()

    from sandbox.server import Sandbox

    sandbox = Sandbox(walk=False).start()
    os.environ.update(environment(sandbox))
    recreate_database()
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    redis.Redis.from_url(REDIS_URL).flushdb()
    call_command("migrate", verbosity=0)

    from trading.models import RiskLimits
    from trading.services import trader_register, trading_settings_update
    from trading.wallets import wallet_create

    big = 10**9 * SOL
    RiskLimits.objects.create(max_trade_lamports=big, max_open_positions=100_000, daily_loss_limit_lamports=big,
                              daily_volume_cap_lamports=big)
    token = sandbox.market.tokens()[0]
    settled = Settled()
    worker = start_worker()
    result: dict = {"bench": "trade_latency"}
    try:
        probes = probe_round_trips(args.probes)[20:]
        print(summary("celery no-op round trip", probes))

        paper_trader = trader_register(name="bench-paper")
        paper, paper_service, reason = buys(settled=settled, trader=paper_trader, mint=token.mint, amount=SOL // 100, count=args.buys, warmup=args.warmup)
        if reason:
            tail = (Path(os.environ["JARVIS_VAR_DIR"]) / "worker.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"paper buys failed: {reason}\nworker log (tail):\n{tail}")
        print(summary("paper buy -> open", paper))
        print(f"  (of which the service call itself: p50={percentile(paper_service, 50):.2f} ms)")

        sandbox_trader = trader_register(name="bench-sandbox")
        trading_settings_update(trader=sandbox_trader, mode="sandbox")
        wallet = wallet_create(trader=sandbox_trader)
        from solders.pubkey import Pubkey

        sandbox.chain.airdrop(Pubkey.from_string(wallet.public_key), 10_000 * SOL)
        onchain, onchain_service, sandbox_reason = buys(
            settled=settled, trader=sandbox_trader, mint=token.mint, amount=SOL // 100, count=args.buys, warmup=args.warmup
        )
        if sandbox_reason is None:
            print(summary("sandbox buy -> open", onchain))
            print(f"  (of which the service call itself: p50={percentile(onchain_service, 50):.2f} ms)")
            print(f"sandbox ledger: {sandbox.ledger.summary()}")
        else:
            print(f"sandbox buys: not measured ({sandbox_reason})")
    finally:
        stop(worker)
        sandbox.stop()
        settled.conn.close()
        from django.db import connections

        connections.close_all()
        server_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")

    celery_p50 = percentile(probes, 50)
    result.update(
        celery_roundtrip_p50_ms=round(celery_p50, 3),
        celery_roundtrip_p95_ms=round(percentile(probes, 95), 3),
        paper_p50_ms=round(percentile(paper, 50), 3),
        paper_p95_ms=round(percentile(paper, 95), 3),
        sandbox_p50_ms=round(percentile(onchain, 50), 3) if sandbox_reason is None else None,
        sandbox_p95_ms=round(percentile(onchain, 95), 3) if sandbox_reason is None else None,
        paper_over_celery_p50=round(percentile(paper, 50) / celery_p50, 2),
        buys=len(paper),
    )
    if sandbox_reason is not None:
        result["sandbox_not_measured"] = sandbox_reason
    goal_paper = result["paper_over_celery_p50"] <= PAPER_GOAL
    goal_sandbox = result["sandbox_p95_ms"] is not None and result["sandbox_p95_ms"] < 50
    print(f"goals: paper p50 <= {PAPER_GOAL}x celery: {'met' if goal_paper else 'NOT met'}; "
          f"sandbox p95 < 50 ms: {'met' if goal_sandbox else 'NOT met'}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
