"""TP/SL sweep benchmark: the exit engine against a naive one-by-one bot, on the same Postgres book, in the same run.

    .venv/bin/python bench/tpsl_sweep.py [--sizes 10000,100000] [--mints 1000] [--sweeps 5] [--naive-sweeps 2]
                                         [--samples 40] [--keep]

For each size: builds a dedicated database (jarvis_bench_tpsl on BENCH_DATABASE_SERVER) with that many open positions
over --mints tokens with mixed plans (ladders, ladders with trailing stops, single pairs), bulk-loaded with COPY, and the
sandbox's Jupiter price stand-in in its own process as the price feed (prices go over HTTP, as in production). Each tick
moves every mint by up to ±2% and crashes 1% of the mints (so about 1% of the positions trigger). Then measures:

(a) one full engine sweep (trading.tpsl.sweep.tpsl_sweep: refresh prices in batches, bulk peak update, index lookup,
    decide, claim with compare-and-swap, enqueue the exit orders), p50 over --sweeps ticks;
(b) a naive baseline on the same book and the same prices: load each position, evaluate it in Python, save it one
    by one, create and queue its exit order (what a simple bot does), p50 over --naive-sweeps ticks. Above
    --naive-limit positions the per-position loop runs over the first --naive-limit positions and is scaled
    linearly to the whole book (its cost is per position by construction); the summary says so;
(c) on the largest size only: `celery beat` (DatabaseScheduler, TPSL_INTERVAL_SECONDS=1) and one `tpsl` worker as
    processes; a mint's price is crashed in the stand-in and the time until its first exit order exists in Postgres
    is taken, --samples times: p50 and p99.

Redis database BENCH_REDIS_DB (default 9). Last line:
{"bench": "tpsl_sweep", "positions", "sweep_p50_ms", "naive_p50_ms", "speedup", "trigger_to_order_p50_ms",
 "trigger_to_order_p99_ms", ...}
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
DB_NAME = "jarvis_bench_tpsl"
REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '9')}"
ENV = {
    "DATABASE_URL": f"{SERVER}/{DB_NAME}", "REDIS_URL": REDIS_URL, "DJANGO_SETTINGS_MODULE": "jarvis.settings",
    "JARVIS_IGNORE_DOTENV": "true", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-not-for-production"),
    "LOG_LEVEL": "warning", "TRADING_MODE": "paper", "TPSL_INTERVAL_SECONDS": "1",
    "JARVIS_VAR_DIR": str(ROOT / "var" / "bench-tpsl"),
}

PLANS = None  # filled after Django is set up
rng = random.Random(20261123)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def recreate_database() -> None:
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DB_NAME}")
    conn.close()


def _text(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    """COPY rows into table; other NOT NULL columns without a default get a typed zero (new model fields are fine)."""
    cursor.execute("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                   "WHERE table_schema = 'public' AND table_name = %s", [table])
    fill = {"bigint": 0, "integer": 0, "smallint": 0, "numeric": 0, "boolean": False, "text": "",
            "character varying": "", "jsonb": {}, "timestamp with time zone": "2026-11-23T00:00:00+00:00"}
    extra = {name: fill[kind] for name, kind, nullable, default in cursor.fetchall()
             if nullable == "NO" and default is None and name not in columns and name != "id"}
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_text(v) for v in (*row, *extra.values())) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join([*columns, *extra])}) FROM STDIN", buffer)


def _feed_main(conn, listing: list[tuple[str, str]]) -> None:
    """Child process: the sandbox's Jupiter price stand-in, serving `listing` (symbol, price); prices set by message."""
    from sandbox.server import Sandbox

    sandbox = Sandbox(walk=False, seed_tokens=False).start()
    mints = [sandbox.market.add_token(symbol=symbol, decimals=6, price=Decimal(price)).mint for symbol, price in listing]
    conn.send(({name: getattr(sandbox, name) for name in Feed.URLS}, mints))
    while True:
        command, payload = conn.recv()
        if command == "stop":
            break
        for mint, price in payload.items():
            sandbox.market.set_price(mint, Decimal(price))
        conn.send(time.time())  # when the pools changed on the sandbox chain
    sandbox.stop()


class Feed:
    """The price feed in its own process (as a remote price API is): the bench never shares a GIL with it. It has the
    stand-ins' URLs and keys as a Sandbox has them (bench/trade_latency.py's environment() takes either)."""

    URLS = ("jupiter_url", "jupiter_api_key", "rpc_url", "bags_url", "bags_api_key", "ws_url")

    def __init__(self, listing: list[tuple[str, str]]):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_feed_main, args=(child, listing), daemon=True)
        self.proc.start()
        urls, self.mints = self.conn.recv()
        for name, value in urls.items():
            setattr(self, name, value)

    def set_prices(self, prices: dict[str, Decimal]) -> float:
        """Set the prices (their pools change on the sandbox chain); returns the time the pools changed."""
        self.conn.send(("set", {mint: str(price) for mint, price in prices.items()}))
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop", None))
        self.proc.join(timeout=10)


def plan_for(i: int):
    from trading.tpsl.plans import preset, spec_custom, spec_single

    global PLANS
    if PLANS is None:
        PLANS = [
            preset("balanced"), preset("conservative"), preset("aggressive"), preset("moon"),
            spec_custom(stop_loss="25%", take_profits=[("2x", "50%"), ("4x", "30%")], trailing_activation="30%",
                        trailing_distance="15%", breakeven_after_first_tp=True),
            spec_custom(stop_loss="20%", take_profits=[("3x", "60%")], trailing_activation="20%", trailing_distance="10%"),
            spec_single(), spec_single(take_profit="+80%", stop_loss="30%"),
        ]
    return PLANS[i % len(PLANS)]


def build(*, positions: int, mints: int) -> tuple[dict[int, tuple[str, Decimal]], Feed]:
    """Load the book; returns token id -> (mint, base price)."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from trading.models import Trader, TradingSettings
    from trading.tpsl.decide import PositionState, triggers_for
    from trading.tpsl.plans import spec_to_json

    call_command("migrate", verbosity=0)
    now = timezone.now()
    traders = [Trader.objects.create(name=f"bench {i}") for i in range(100)]
    for trader in traders:
        TradingSettings.objects.create(trader=trader)
    tokens: dict[int, tuple[str, Decimal]] = {}
    token_rows = []
    bases = [Decimal(rng.randint(1_000, 99_999)) / Decimal(10**9) for _ in range(mints)]
    feed = Feed([(f"B{t}", str(price)) for t, price in enumerate(bases, start=1)])
    for t, (mint, price) in enumerate(zip(feed.mints, bases), start=1):
        tokens[t] = (mint, price)
        token_rows.append((t, mint, f"B{t}", f"B{t}", 6, now))
    pos_rows, plan_rows, leg_rows = [], [], []
    specs = {}
    for i in range(1, positions + 1):
        token_id = 1 + i % mints
        base = tokens[token_id][1]
        entry = (base * Decimal(rng.randint(900, 1100)) / 1000).quantize(Decimal("1e-20"))
        spec = plan_for(i)
        size = 1_000_000 + i
        t = triggers_for(PositionState(entry, size, size, frozenset(), entry, now), spec)
        pos_rows.append((i, traders[i % 100].id, token_id, "paper", "open", size, size, int(entry * size * 1000), entry,
                         0, 0, 0, entry, t.stop_price, t.take_profit_price, t.trailing_stop_price,
                         t.trailing_activation_price, t.trailing_factor, None, now, now, now))
        key = id(spec)
        specs.setdefault(key, spec_to_json(spec))
        plan_rows.append((i, i, spec.name, specs[key], spec.stop_loss_pct, spec.trailing_activation_pct,
                          spec.trailing_distance_pct, spec.breakeven_after_first_tp, spec.max_hold_seconds, now, now))
        for index, leg in enumerate(spec.take_profits):
            leg_rows.append((i, index, leg.trigger_multiple, leg.fraction, "pending"))
    with connection.cursor() as cursor:
        copy_rows(cursor, "trading_token", ["id", "mint", "symbol", "name", "decimals", "created_at"], token_rows)
        copy_rows(cursor, "trading_position", [
            "id", "trader_id", "token_id", "mode", "status", "size", "original_size", "cost_lamports", "entry_price",
            "realised_pnl_lamports", "proceeds_lamports", "fees_lamports", "peak_price", "stop_price",
            "take_profit_price", "trailing_stop_price", "trailing_activation_price", "trailing_factor", "time_stop_at",
            "opened_at", "created_at", "updated_at"], pos_rows)
        copy_rows(cursor, "trading_exitplan", [
            "id", "position_id", "preset", "spec", "stop_loss_pct", "trailing_activation_pct", "trailing_distance_pct",
            "breakeven_after_first_tp", "max_hold_seconds", "created_at", "updated_at"], plan_rows)
        copy_rows(cursor, "trading_exitleg", ["plan_id", "index", "trigger_multiple", "fraction", "status"], leg_rows)
        for table in ("trading_token", "trading_position", "trading_exitplan", "trading_exitleg"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cursor.execute("ANALYZE")
    return tokens, feed


def tick(feed: Feed, tokens, crash: list[int]) -> None:
    """Every mint moves by up to ±2%; the `crash` mints fall 45% (every stop on them fires)."""
    prices = {}
    for token_id, (mint, base) in tokens.items():
        factor = Decimal("0.55") if token_id in crash else Decimal(rng.randint(980, 1020)) / 1000
        prices[mint] = base * factor
    feed.set_prices(prices)


def naive_sweep(*, limit: int) -> tuple[int, float, float, int]:
    """A simple bot: every open position loaded, evaluated in Python and saved one by one.

    Returns (exits, price refresh ms, loop ms, positions looped over)."""
    from django.utils import timezone

    from trading.models import ExitLeg, Order, Position, Token
    from trading.models.choices import ORDER_IN_FLIGHT
    from trading.tasks import execute_order
    from trading.tpsl.decide import PositionState, decide
    from trading.tpsl.plans import spec_from_json
    from trading.tpsl.sweep import prices_for, stale_after

    start = time.perf_counter()
    mints = list(Token.objects.filter(positions__status="open").distinct().values_list("mint", flat=True))
    points = prices_for(mints=mints)
    refreshed = time.perf_counter()
    now = timezone.now()
    exits = looped = 0
    book = Position.objects.filter(status="open").select_related("exit_plan", "token").order_by("id")[:limit]
    for position in book.iterator(chunk_size=2000):
        looped += 1
        legs = list(position.exit_plan.legs.all())
        done = frozenset(leg.index for leg in legs if leg.status == ExitLeg.Status.FILLED)
        point = points.get(position.token.mint)
        state = PositionState(position.entry_price, position.size, position.original_size, done, position.peak_price,
                              position.opened_at)
        at = None if point is None else datetime.fromtimestamp(point.at, tz=UTC)
        decision = decide(state, spec_from_json(position.exit_plan.spec), point and point.price, at, now, stale_after())
        position.peak_price = decision.peak_price
        position.trailing_stop_price = decision.triggers.trailing_stop_price
        position.save(update_fields=["peak_price", "trailing_stop_price", "updated_at"])
        for action in decision.exits:
            if Order.objects.filter(position=position, side="sell", status__in=ORDER_IN_FLIGHT).exists():
                continue
            order = Order.objects.create(position=position, side="sell", reason=action.reason, mode="paper",
                                         venue="paper", amount_in=action.amount)
            if action.amount == position.size:
                Position.objects.filter(id=position.id).update(status="closing")
            execute_order.delay(order.id)
            exits += 1
    return exits, (refreshed - start) * 1000, (time.perf_counter() - refreshed) * 1000, looped


def trigger_latency(*, feed: Feed, tokens, crash_pool: list[int], samples: int) -> list[float]:
    """Beat + one tpsl worker as processes; ms from a price crossing a stop to the exit order's row existing."""
    from django.core.management import call_command
    from django.db import connection

    call_command("setup_periodic_tasks", verbosity=0)
    # The book holds the pending exits of (a) and (b) and no trades worker runs: no re-queueing of those here.
    env = {**os.environ, **ENV, "JUPITER_API_URL": feed.jupiter_url, "JUPITER_API_KEY": feed.jupiter_api_key,
           "TPSL_EXIT_REQUEUE_SECONDS": "86400"}
    celery = str(ROOT / ".venv" / "bin" / "celery")
    var = Path(ENV["JARVIS_VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    logs = [open(var / "worker.log", "w"), open(var / "beat.log", "w")]  # noqa: SIM115 - closed in finally
    procs = [
        subprocess.Popen([celery, "-A", "jarvis", "worker", "-Q", "tpsl", "-c", "2", "-l", "warning", "-n", "bench-tpsl@%h"],
                         env=env, cwd=ROOT, stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([celery, "-A", "jarvis", "beat", "-l", "warning", "-s", str(var / "beat-schedule"),
                          "--pidfile", ""], env=env, cwd=ROOT, stdout=logs[1], stderr=subprocess.STDOUT),
    ]
    latencies = []
    try:
        warm = time.monotonic() + 60
        with connection.cursor() as cursor:
            while time.monotonic() < warm:  # wait for the first sweep of the worker (its own start-up)
                cursor.execute("SELECT count(*) FROM trading_position WHERE status = 'closing'")
                before = cursor.fetchone()[0]
                first = crash_pool.pop()
                feed.set_prices({tokens[first][0]: tokens[first][1] * Decimal("0.55")})
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    cursor.execute("SELECT count(*) FROM trading_position WHERE status = 'closing'")
                    if cursor.fetchone()[0] > before:
                        break
                    time.sleep(0.05)
                else:
                    continue
                break
            for _ in range(samples):
                token_id = crash_pool.pop()
                time.sleep(rng.random())  # a random phase against the beat
                mint, base = tokens[token_id]
                start = time.perf_counter()
                feed.set_prices({mint: base * Decimal("0.55")})
                while True:
                    cursor.execute("SELECT 1 FROM trading_order o JOIN trading_position p ON p.id = o.position_id "
                                   "WHERE p.token_id = %s AND o.side = 'sell' LIMIT 1", [token_id])
                    if cursor.fetchone():
                        break
                    if time.perf_counter() - start > 30:
                        raise SystemExit("no exit order within 30 s: is the tpsl worker running?")
                    time.sleep(0.005)
                latencies.append((time.perf_counter() - start) * 1000)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
    return latencies


def run_size(*, positions: int, mints: int, sweeps: int, naive_sweeps: int, naive_limit: int, samples: int) -> dict:
    import redis
    from django.db import connections

    from django.conf import settings

    from trading.models import Position
    from trading.tpsl.sweep import tpsl_sweep

    connections.close_all()
    recreate_database()
    redis.Redis.from_url(REDIS_URL).flushdb()
    started = time.perf_counter()
    tokens, feed = build(positions=positions, mints=mints)
    settings.JUPITER_API_URL, settings.JUPITER_API_KEY = feed.jupiter_url, feed.jupiter_api_key
    settings.DEXSCREENER_API_URL = None
    try:
        print(f"[{positions} positions / {mints} mints] loaded in {time.perf_counter() - started:.1f}s", flush=True)
        crash_pool = list(tokens)
        rng.shuffle(crash_pool)
        per_tick = max(1, mints // 100)
        engine, claimed, phases = [], [], []
        tpsl_sweep()  # warm-up: connections, plan cache, first peaks
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            tick(feed, tokens, [crash_pool.pop() for _ in range(per_tick)])
            profile = cProfile.Profile()
            profile.runcall(tpsl_sweep)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
        for _ in range(sweeps):
            tick(feed, tokens, [crash_pool.pop() for _ in range(per_tick)])
            start = time.perf_counter()
            report = tpsl_sweep()
            engine.append((time.perf_counter() - start) * 1000)
            claimed.append(len(report.claimed))
            phases.append(report.timings_ms)
        print(f"  engine sweep ms: {[round(v) for v in engine]}; exits claimed per sweep {claimed}", flush=True)
        print(f"  engine phases (last): {phases[-1]}", flush=True)
        naive, naive_exits = [], []
        for _ in range(naive_sweeps):
            tick(feed, tokens, [crash_pool.pop() for _ in range(per_tick)])
            open_now = Position.objects.filter(status="open").count()
            exits, refresh_ms, loop_ms, looped = naive_sweep(limit=naive_limit)
            naive.append(refresh_ms + loop_ms * open_now / looped)
            naive_exits.append(exits)
            note = "" if looped >= open_now else f" (loop over {looped} of {open_now} positions, scaled linearly)"
            print(f"  naive sweep: refresh {refresh_ms:.0f} ms + loop {loop_ms:.0f} ms{note}", flush=True)
        print(f"  naive sweep ms: {[round(v) for v in naive]}; exits per sweep {naive_exits}", flush=True)
        result = {
            "positions": positions,
            "sweep_p50_ms": round(statistics.median(engine), 1),
            "naive_p50_ms": round(statistics.median(naive), 1) if naive else None,
            "exits_per_sweep_p50": statistics.median(claimed),
        }
        result["speedup"] = round(result["naive_p50_ms"] / result["sweep_p50_ms"], 1) if naive else None
        if samples:
            tick(feed, tokens, [])
            latencies = trigger_latency(feed=feed, tokens=tokens, crash_pool=crash_pool, samples=samples)
            result["trigger_to_order_p50_ms"] = round(percentile(latencies, 50), 1)
            result["trigger_to_order_p99_ms"] = round(percentile(latencies, 99), 1)
            result["trigger_samples"] = len(latencies)
            print(f"  trigger -> order ms: p50 {result['trigger_to_order_p50_ms']} p99 {result['trigger_to_order_p99_ms']}"
                  f" max {max(latencies):.0f} over {len(latencies)} crossings (beat + 1 tpsl worker, 1 s interval)")
        return result
    finally:
        feed.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--mints", type=int, default=1000)
    parser.add_argument("--sweeps", type=int, default=5)
    parser.add_argument("--naive-sweeps", type=int, default=2)
    parser.add_argument("--naive-limit", type=int, default=20000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()
    os.environ.update(ENV)
    import django

    django.setup()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        results.append(run_size(positions=size, mints=args.mints, sweeps=args.sweeps, naive_sweeps=args.naive_sweeps,
                                naive_limit=args.naive_limit, samples=args.samples if size == max(sizes) else 0))
    if not args.keep:
        from django.db import connections

        connections.close_all()
        import psycopg2

        conn = psycopg2.connect(f"{SERVER}/postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.close()
    print("\nsize      engine p50   naive p50   speedup")
    for r in results:
        print(f"{r['positions']:>7}  {r['sweep_p50_ms']:>9.1f}ms {r['naive_p50_ms'] or 0:>9.1f}ms {r['speedup'] or 0:>8.1f}x")
    top = results[-1]
    line = {"bench": "tpsl_sweep", **{k: top[k] for k in ("positions", "sweep_p50_ms", "naive_p50_ms", "speedup")}}
    line["trigger_to_order_p50_ms"] = top.get("trigger_to_order_p50_ms")
    line["trigger_to_order_p99_ms"] = top.get("trigger_to_order_p99_ms")
    line["by_size"] = {str(r["positions"]): {k: r[k] for k in ("sweep_p50_ms", "naive_p50_ms", "speedup")} for r in results}
    print(json.dumps(line))


if __name__ == "__main__":
    main()
