"""The trigger lookup with limit orders in it: what 1,000 active limit orders add to the one lookup of the exit sweep.

    .venv/bin/python bench/limit_lookup.py [--positions 10000] [--mints 50] [--limits 1000] [--runs 50]

Builds a dedicated database (jarvis_bench_limits on BENCH_DATABASE_SERVER), migrates it, and loads --positions open
positions with their triggers over --mints tokens (entries at 1.0, stops at 0.8, take-profits at 2.0). Then, in the same
run, times `trading.tpsl.sweep.triggers_find` (the sweep's lookup: one statement) at a price vector where 1% of the
mints crossed their stops:

(a) baseline: the book with no active limit orders;
(b) the same book plus --limits active limit orders spread over the same mints (half dip buys at 0.5 to 0.95, half
    breakout buys at 1.05 to 1.5), 1% of them crossed at the same prices.

p50 and p99 over --runs lookups each, in five interleaved rounds (the same rows, cancelled for (a) and active for (b)),
and the rows each lookup returned. Last line:
{"bench": "limit_lookup", "positions", "limits", "baseline_p50_ms", "with_limits_p50_ms", "overhead_p50_ms", ...}
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DB_NAME = "jarvis_bench_limits"
os.environ.update({
    "DATABASE_URL": f"{SERVER}/{DB_NAME}", "DJANGO_SETTINGS_MODULE": "jarvis.settings", "JARVIS_IGNORE_DOTENV": "true",
    "REDIS_URL": f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '9')}", "LOG_LEVEL": "warning",
    "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-not-for-production"),
    "JARVIS_VAR_DIR": str(ROOT / "var" / "bench-limits"),
})
rng = random.Random(20261207)


def recreate_database() -> None:
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DB_NAME}")
    conn.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def timed(fn, runs: int) -> tuple[list[float], object]:
    fn()  # warm
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--mints", type=int, default=50)
    parser.add_argument("--limits", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from solders.keypair import Keypair

    from trading.models import LimitOrder, Position, Token, Trader
    from trading.tpsl.sweep import triggers_find

    trader = Trader.objects.create(name="bench")
    tokens = Token.objects.bulk_create([Token(mint=str(Keypair().pubkey()), symbol=f"B{i}", decimals=6) for i in range(args.mints)])
    now = timezone.now()
    Position.objects.bulk_create([
        Position(trader=trader, token=tokens[i % args.mints], mode="paper", status="open", size=1000, original_size=1000,
                 entry_price=Decimal(1), peak_price=Decimal(1), stop_price=Decimal("0.8"),
                 take_profit_price=Decimal(2), opened_at=now)
        for i in range(args.positions)
    ], batch_size=2000)
    crashed = {tokens[i].id for i in range(max(1, args.mints // 100))}
    prices = {t.id: (Decimal("0.7") if t.id in crashed else Decimal(1)) for t in tokens}
    expires = now + timedelta(days=1)

    def lookup():
        return triggers_find(prices=prices, now=timezone.now())

    limits = []
    for i in range(args.limits):
        token = tokens[i % args.mints]
        below = (i // args.mints) % 2 == 0
        level = Decimal(rng.randint(50, 95)) / 100 if below else Decimal(rng.randint(105, 150)) / 100
        limits.append(LimitOrder(trader=trader, token=token, side="buy", direction="below" if below else "above",
                                 price=level, amount_lamports=10**8, expires_at=expires, status="cancelled"))
    LimitOrder.objects.bulk_create(limits, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # Interleaved rounds (the limit orders cancelled: baseline; active: with limits), so load drift hits both alike.
    base_times, with_times, base, found = [], [], None, None
    rounds = 5
    for _ in range(rounds):
        LimitOrder.objects.update(status="cancelled")
        times, base = timed(lookup, args.runs // rounds)
        base_times += times
        LimitOrder.objects.update(status="active")
        times, found = timed(lookup, args.runs // rounds)
        with_times += times
    result = {
        "bench": "limit_lookup", "positions": args.positions, "mints": args.mints, "limits": args.limits,
        "runs": args.runs, "found_positions": len(found.positions), "found_limits": len(found.limits),
        "baseline_found_positions": len(base.positions),
        "baseline_p50_ms": round(statistics.median(base_times), 2),
        "baseline_p99_ms": round(percentile(base_times, 99), 2),
        "with_limits_p50_ms": round(statistics.median(with_times), 2),
        "with_limits_p99_ms": round(percentile(with_times, 99), 2),
    }
    result["overhead_p50_ms"] = round(result["with_limits_p50_ms"] - result["baseline_p50_ms"], 2)
    print(f"lookup over {args.positions} positions / {args.mints} mints: baseline p50 {result['baseline_p50_ms']} ms, "
          f"with {args.limits} limit orders p50 {result['with_limits_p50_ms']} ms "
          f"({result['found_positions']} positions and {result['found_limits']} limit orders found)")
    connection.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
