"""Exit latency: from a price change on chain to the exit order sent and landed, streamed prices against polling.

    .venv/bin/python bench/exit_latency.py [--positions 10000] [--mints 50] [--limits 1000] [--crossings 20]
                                           [--per-crossing 5]

One run, on its own database (jarvis_bench_exitlat_<pid> on BENCH_DATABASE_SERVER, dropped at the end) and Redis database
BENCH_REDIS_DB (default 10; flushed): the book of bench/tpsl_sweep.py (--positions open paper positions with mixed
plans over --mints tokens, loaded with COPY) plus --limits active limit buys over the same mints (levels far from the
price: they sit in the trigger index the lookup reads, and none fires), and the sandbox (chain with its pools, its RPC
WebSocket, the Jupiter stand-in) in its own process. Real processes: one `celery worker -Q trades` (bench/trade_latency)
and one `celery worker -Q tpsl`.

(a) streaming: `manage.py run_prices` subscribed to the 50 pools, no beat. Each crossing moves one mint's price (in the
    sandbox, so its pool account changes and the WebSocket notifies) just under the --per-crossing highest stops of
    that mint's positions: the stream caches the price and queues the mint's evaluation, which claims those exits and
    queues them on the trades queue.
(b) polling, the baseline, in the same run: run_prices stopped, `celery beat` (TPSL_INTERVAL_SECONDS=1) and the sweep
    on polled prices (the Jupiter stand-in), the same kind of crossing on other mints.

Per exit order: from the time the sandbox changed the pool to the order's `submitted_at` (sent) and `confirmed_at`
(landed), p50/p95/p99. Paper orders land as they are sent, so sent and landed differ by the fill's write only.
Last line: {"bench": "exit_latency", "positions", "stream_to_sent_p99_ms", "stream_to_landed_p99_ms",
"poll_to_sent_p99_ms", "stream_speedup_p99", ...}. Goal: streamed exit sent p99 under 250 ms, at least 4x polling's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import tpsl_sweep as book  # noqa: E402 - the book, the sandbox feed process, COPY, the bench environment
import trade_latency  # noqa: E402 - the trades worker

DB_NAME = f"jarvis_bench_exitlat_{os.getpid()}"  # one database per run, dropped at the end
book.DB_NAME = DB_NAME
os.environ.update(book.ENV)  # the sweep bench's settings, then this run's own database, Redis and files
os.environ.update({
    "DATABASE_URL": f"{book.SERVER}/{DB_NAME}",
    "REDIS_URL": f"redis://127.0.0.1:6379/{os.environ.get('BENCH_REDIS_DB', '10')}",
    "JARVIS_VAR_DIR": str(ROOT / "var" / "bench-exitlat"),
    "TPSL_EXIT_REQUEUE_SECONDS": "86400",
    "PYTHONPATH": str(ROOT),  # the workers import this checkout's code, not an installed copy's
})
GOAL_MS, GOAL_SPEEDUP = 250, 4
CELERY = str(ROOT / ".venv" / "bin" / "celery")


def spawn(name: str, command: list[str]) -> subprocess.Popen:
    var = Path(os.environ["JARVIS_VAR_DIR"])
    var.mkdir(parents=True, exist_ok=True)
    with (var / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)


def wait(condition, *, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {message}")


def limits_load(*, count: int, tokens: dict[int, tuple[str, Decimal]]) -> None:
    """`count` active limit buys over the mints, half dips at 0.3-0.5x and half breakouts at 2-3x the price."""
    from django.db import connection
    from django.utils import timezone

    from trading.models import Trader

    trader = Trader.objects.order_by("id").first()
    now = timezone.now()
    ids = sorted(tokens)
    rows = []
    for i in range(count):
        token_id = ids[i % len(ids)]
        below = i % 2 == 0
        factor = Decimal(book.rng.randint(30, 50) if below else book.rng.randint(200, 300)) / 100
        rows.append((trader.id, token_id, "buy", "below" if below else "above", tokens[token_id][1] * factor,
                     10**8, [], now + timedelta(days=1), "active", "", now))
    with connection.cursor() as cursor:
        book.copy_rows(cursor, "trading_limitorder", ["trader_id", "token_id", "side", "direction", "price",
                                                      "amount_lamports", "accepted_risks", "expires_at", "status",
                                                      "note", "created_at"], rows)
        cursor.execute("ANALYZE")


def lookup_plan(token_id: int, price: Decimal) -> list[str]:
    """The index names in the plan of the one-mint lookup (what an event runs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from trading.tpsl.sweep import triggers_find

    with CaptureQueriesContext(connection) as queries:
        triggers_find(prices={token_id: price}, now=timezone.now(), time_stops=False)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + queries.captured_queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return sorted({word.strip("()") for word in plan.split() if word.startswith(("position_", "limit_", "order_"))})


def crossing_price(token_id: int, count: int) -> tuple[Decimal, int]:
    """A price just under the `count`th highest stop of the mint's open positions, and how many exits it fires (ties
    included)."""
    from django.db.models import Q

    from trading.models import Position

    open_positions = Position.objects.filter(token_id=token_id, status="open")
    stops = list(open_positions.filter(stop_price__isnull=False).order_by("-stop_price")
                 .values_list("stop_price", flat=True)[:count])
    price = stops[-1] * Decimal("0.999999")  # the pool's own rounding is far smaller
    return price, open_positions.filter(Q(stop_price__gte=price) | Q(trailing_stop_price__gte=price)).count()


def crossings(feed, tokens, token_ids: list[int], *, per_crossing: int, warmup: int) -> tuple[list[float], list[float]]:
    """Cross each mint's stops; ms from the pool change to each exit order's submitted_at and confirmed_at (and, printed,
    to its row: the claim)."""
    from trading.models import Order

    sent, landed, claimed = [], [], []
    for index, token_id in enumerate(token_ids):
        mint = tokens[token_id][0]
        price, expected = crossing_price(token_id, per_crossing)
        changed = feed.set_prices({mint: price})
        orders = Order.objects.filter(position__token_id=token_id, side="sell")

        def done():
            rows = list(orders.values_list("status", "submitted_at", "confirmed_at", "created_at"))
            return rows if len(rows) >= expected and all(status == "confirmed" for status, *_ in rows) else None

        rows = wait(done, timeout=120 if index < warmup else 30, message=f"the exits of crossing {index + 1} (sell orders: "
                    f"{list(orders.values_list('status', 'error'))})")
        if index < warmup:
            continue
        for _, submitted_at, confirmed_at, created_at in rows:
            claimed.append((created_at.timestamp() - changed) * 1000)
            sent.append(((submitted_at or confirmed_at).timestamp() - changed) * 1000)
            landed.append((confirmed_at.timestamp() - changed) * 1000)
        time.sleep(0.2)  # the next crossing on a quiet desk
    print(line("  (of which -> claimed)", claimed), flush=True)
    return sent, landed


def line(name: str, values: list[float]) -> str:
    p = book.percentile
    return f"{name:<22} n={len(values):<4} p50={p(values, 50):8.1f} ms  p95={p(values, 95):8.1f} ms  p99={p(values, 99):8.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--positions", type=int, default=10_000)
    parser.add_argument("--mints", type=int, default=50)
    parser.add_argument("--limits", type=int, default=1_000)
    parser.add_argument("--crossings", type=int, default=20, help="per path, after 2 warm-up crossings")
    parser.add_argument("--per-crossing", type=int, default=5, help="stops each crossing fires")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()
    warmup = 2
    if 2 * (args.crossings + warmup) > args.mints:
        raise SystemExit(f"--mints {args.mints} is too few for 2 x ({args.crossings} + {warmup}) crossings")

    book.recreate_database()
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection

    from monitoring.checks import CheckFailed, check_price_stream

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    tokens, feed = book.build(positions=args.positions, mints=args.mints)
    limits_load(count=args.limits, tokens=tokens)
    call_command("setup_periodic_tasks", verbosity=0)
    os.environ.update({"JUPITER_API_URL": feed.jupiter_url, "JUPITER_API_KEY": feed.jupiter_api_key,
                       "SOLANA_WS_URL": feed.ws_url})
    ids = sorted(tokens)
    plan = lookup_plan(ids[0], crossing_price(ids[0], args.per_crossing)[0])
    print(f"book: {args.positions} positions over {args.mints} mints, {args.limits} limit orders; "
          f"one-mint lookup plan uses {', '.join(plan)}", flush=True)

    def stream_up():
        try:
            return check_price_stream().startswith(f"connected, {args.mints} subscription")
        except CheckFailed:
            return False

    procs = {"trades": trade_latency.start_worker(),
             "tpsl": spawn("tpsl", [CELERY, "-A", "jarvis", "worker", "-Q", "tpsl", "-c", "2", "--prefetch-multiplier",
                                    "1", "-l", os.environ.get("BENCH_LOG", "warning"), "--without-gossip", "--without-mingle", "--without-heartbeat",
                                    "-n", f"bench-tpsl-{os.getpid()}@%h"]),
             "prices": spawn("prices", [sys.executable, str(ROOT / "manage.py"), "run_prices"])}
    result: dict = {"bench": "exit_latency", "positions": args.positions}
    try:
        wait(stream_up, timeout=90, message="run_prices subscribed to every pool")
        streamed = ids[: args.crossings + warmup]
        polled = ids[args.crossings + warmup : 2 * (args.crossings + warmup)]
        s_sent, s_landed = crossings(feed, tokens, streamed, per_crossing=args.per_crossing, warmup=warmup)
        print(line("stream -> sent", s_sent), flush=True)
        print(line("stream -> landed", s_landed), flush=True)
        trade_latency.stop(procs.pop("prices"))
        procs["beat"] = spawn("beat", [CELERY, "-A", "jarvis", "beat", "-l", "warning", "-s",
                                       str(Path(os.environ["JARVIS_VAR_DIR"]) / "beat-schedule"), "--pidfile", ""])
        p_sent, p_landed = crossings(feed, tokens, polled, per_crossing=args.per_crossing, warmup=warmup)
        print(line("poll -> sent", p_sent), flush=True)
        print(line("poll -> landed", p_landed), flush=True)
    finally:
        for proc in procs.values():
            trade_latency.stop(proc)
        feed.stop()
        connection.close()
        if not args.keep:
            trade_latency.server_sql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    p = book.percentile
    result.update({
        "stream_to_sent_p50_ms": round(p(s_sent, 50), 1), "stream_to_sent_p95_ms": round(p(s_sent, 95), 1),
        "stream_to_sent_p99_ms": round(p(s_sent, 99), 1), "stream_to_landed_p50_ms": round(p(s_landed, 50), 1),
        "stream_to_landed_p95_ms": round(p(s_landed, 95), 1), "stream_to_landed_p99_ms": round(p(s_landed, 99), 1),
        "poll_to_sent_p50_ms": round(p(p_sent, 50), 1), "poll_to_sent_p95_ms": round(p(p_sent, 95), 1),
        "poll_to_sent_p99_ms": round(p(p_sent, 99), 1), "poll_to_landed_p99_ms": round(p(p_landed, 99), 1),
        "exits": {"stream": len(s_sent), "poll": len(p_sent)}, "mints": args.mints, "limits": args.limits,
    })
    result["stream_speedup_p99"] = round(result["poll_to_sent_p99_ms"] / result["stream_to_sent_p99_ms"], 1)
    met = result["stream_to_sent_p99_ms"] < GOAL_MS and result["stream_speedup_p99"] >= GOAL_SPEEDUP
    print(f"goal (stream sent p99 < {GOAL_MS} ms and >= {GOAL_SPEEDUP}x polling): {'met' if met else 'NOT met'}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
