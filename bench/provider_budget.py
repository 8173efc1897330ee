"""Provider budget: a busy desk's calls to bags.fm and Jupiter through the shared rate limiter, against stand-ins set
to the providers' plan limits.

    BENCH_REDIS_DB=7 .venv/bin/python bench/provider_budget.py --seconds 120

The sandbox serves bags.fm at 1,000 requests an hour and Jupiter at 100 per 10 s (10 a second, its Swap and Price
sharing the account), sliding windows answering 429 with Retry-After past them; the desk's limiter is set to the same
plans. In this process the desk's own clients (trading.venues, trading.prices, trading.ratelimit) run on threads that
stand for its processes, all sharing one Redis limiter:

- price polling: every second the prices of `--mints` mints (200: 1,000 open positions over 200 mints), Jupiter
  Price v3 in batches of 49 and SOL, at polling priority (never waits; skips a tick without room);
- entries: `--buys` a second (2, Poisson): a quote and a swap built, bags.fm first, Jupiter when bags.fm is full or
  paused, at entry priority;
- exits: `--exits` a second (1, Poisson), each on a thread of its own the moment it fires: a quote and a swap built
  at exit priority. Its time is from the trigger to the swap transaction in hand (the moment the desk can send it;
  landing on the chain is bench/trade_latency.py's subject, and this bench runs no Postgres, Celery or chain work);
- previews: `--previews` a second (1): a trader's quote at preview priority.

Baseline, same run: `--baseline-seconds` (10) of exits alone, nothing else running. Measured: 429s the stand-ins
answered (goal 0), exit time p50/p99 (goal under one second), and what waited or was refused for room, by provider
and class (previews and polling may; exits never should). Last line: one JSON object.

Where it runs: Redis database BENCH_REDIS_DB (default 10; the limiter's keys there are cleared at the start) and a
database of its own, jarvis_bench_provider_r<BENCH_REDIS_DB> on BENCH_DATABASE_SERVER (made and migrated once: the
provider budgets the clients count against live there).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "10")
DB_NAME = f"jarvis_bench_provider_r{REDIS_DB}"
BAGS_PLAN, JUPITER_PLAN = (1000, 3600.0), (100, 10.0)
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "jarvis.settings", "DATABASE_URL": f"{SERVER}/{DB_NAME}",
    "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}", "JARVIS_IGNORE_DOTENV": "true", "LOG_LEVEL": "error",
    "SECRET_KEY": "bench-only-secret-key-not-for-production", "JARVIS_VAR_DIR": str(ROOT / "var" / f"bench-provider-r{REDIS_DB}"),
    "BAGS_RATE_LIMIT": f"{BAGS_PLAN[0]}/{int(BAGS_PLAN[1])}", "JUPITER_RATE_LIMIT": f"{JUPITER_PLAN[0]}/{int(JUPITER_PLAN[1])}",
})


def ensure_database() -> None:
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE DATABASE {DB_NAME}")
    conn.close()
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)


ensure_database()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from sandbox.server import Sandbox  # noqa: E402
from trading.models.choices import SOL_MINT  # noqa: E402
from trading.prices import prices_refresh  # noqa: E402
from trading.ratelimit import PREFIX, Priority, call_priority, rate_stats  # noqa: E402
from trading.venues.bags import BagsVenue  # noqa: E402
from trading.venues.base import FeePolicy, VenueError  # noqa: E402
from trading.venues.jupiter import JupiterVenue  # noqa: E402
from trading.venues.router import route_quote, route_swap  # noqa: E402

FEE = FeePolicy(priority_level="veryHigh", max_lamports=1_000_000)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Desk:
    """The desk's calls, counted: each kind's successes, failures and times."""

    def __init__(self, sandbox: Sandbox, owner: str, tradable: list[str], polled: list[str]):
        self.venues = [BagsVenue(base_url=sandbox.bags_url, api_key=sandbox.bags_api_key, timeout=5.0),
                       JupiterVenue(base_url=sandbox.jupiter_url, api_key=sandbox.jupiter_api_key, timeout=5.0)]
        self.owner, self.tradable, self.polled = owner, tradable, polled
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.exit_ms: list[float] = []
        self.venue_of_exits: dict[str, int] = {}
        self.rng = random.Random(3)

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def swap(self, *, sell: bool) -> str:
        mint = self.rng.choice(self.tradable)
        routed = route_swap(
            venues=self.venues, input_mint=mint if sell else SOL_MINT, output_mint=SOL_MINT if sell else mint,
            amount=1_000_000 if sell else 50_000_000, slippage_bps=500, user_public_key=self.owner, fee=FEE,
            on_auth_failure=lambda exc: None, rounds=2, backoff=0.05,
        )
        return routed.quote.venue

    def exit(self, triggered: float) -> None:
        try:
            venue = self.swap(sell=True)
        except VenueError:
            self.count("exits_failed")
            return
        with self.lock:
            self.exit_ms.append((time.monotonic() - triggered) * 1000)
            self.venue_of_exits[venue] = self.venue_of_exits.get(venue, 0) + 1
        self.count("exits")

    def entry(self) -> None:
        try:
            self.swap(sell=False)
            self.count("entries")
        except VenueError:
            self.count("entries_failed")

    def preview(self) -> None:
        try:
            route_quote(venues=self.venues, input_mint=SOL_MINT, output_mint=self.rng.choice(self.tradable),
                        amount=10_000_000, slippage_bps=300, on_auth_failure=lambda exc: None)
            self.count("previews")
        except VenueError:
            self.count("previews_refused")

    def poll(self) -> None:
        found = prices_refresh(mints=self.polled)
        self.count("price_polls")
        if len([m for m in self.tradable if m in found]) < len(self.tradable):
            self.count("price_polls_incomplete")


def poisson(rate: float, seconds: float, stop: threading.Event, fire, rng: random.Random) -> None:
    if rate <= 0:
        return
    end = time.monotonic() + seconds
    at = time.monotonic() + rng.expovariate(rate)
    while not stop.is_set() and at < end:
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        fire(at)
        at += rng.expovariate(rate)


def every(period: float, seconds: float, stop: threading.Event, fire) -> None:
    end, at = time.monotonic() + seconds, time.monotonic()
    while not stop.is_set() and at < end:
        fire()
        at += period
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def run_phase(desk: Desk, *, seconds: float, exits: float, buys: float, previews: float, poll: bool) -> dict:
    stop = threading.Event()
    pool = ThreadPoolExecutor(64, thread_name_prefix="desk")  # each call on a thread of its own, at once
    rng = random.Random(11)
    loops = [threading.Thread(target=poisson, args=(exits, seconds, stop, lambda at: pool.submit(desk.exit, at),
                                                    random.Random(rng.random())))]
    loops.append(threading.Thread(target=poisson, args=(buys, seconds, stop, lambda at: pool.submit(desk.entry),
                                                        random.Random(rng.random()))))
    loops.append(threading.Thread(target=poisson, args=(previews, seconds, stop, lambda at: pool.submit(desk.preview),
                                                        random.Random(rng.random()))))
    if poll:
        loops.append(threading.Thread(target=every, args=(1.0, seconds, stop, lambda: pool.submit(desk.poll))))
    started = time.monotonic()
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join()
    pool.shutdown(wait=True)
    return {"seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120, help="the busy desk's run (the issue's is 600)")
    parser.add_argument("--baseline-seconds", type=float, default=10)
    parser.add_argument("--mints", type=int, default=200)
    parser.add_argument("--buys", type=float, default=2.0)
    parser.add_argument("--exits", type=float, default=1.0)
    parser.add_argument("--previews", type=float, default=1.0)
    args = parser.parse_args()

    from redis import Redis
    from solders.keypair import Keypair

    redis = Redis.from_url(settings.REDIS_URL)
    for key in redis.scan_iter(match=f"{PREFIX}*", count=1000):
        redis.delete(key)
    desk = None
    sandbox = Sandbox(seed=7, walk=True, slot_seconds=0.4, bags_rate_limit=BAGS_PLAN[0], bags_rate_window=BAGS_PLAN[1],
                      jupiter_rate_limit=JUPITER_PLAN[0], jupiter_rate_window=JUPITER_PLAN[1]).start()
    try:
        tradable = [token.mint for token in sandbox.market.tokens()]
        polled = tradable + [str(Keypair().pubkey()) for _ in range(max(0, args.mints - len(tradable)))]
        settings.JUPITER_API_URL, settings.JUPITER_API_KEY = sandbox.jupiter_url, sandbox.jupiter_api_key  # the feed's
        settings.DEXSCREENER_API_URL = None
        owner = Keypair().pubkey()
        sandbox.chain.airdrop(owner, 1_000 * 10**9)
        desk = Desk(sandbox, str(owner), tradable, polled)

        run_phase(desk, seconds=args.baseline_seconds, exits=args.exits, buys=0, previews=0, poll=False)
        baseline_ms = list(desk.exit_ms)
        desk.exit_ms.clear()
        desk.counts.clear()
        desk.venue_of_exits.clear()
        for key in redis.scan_iter(match=f"{PREFIX}*:stats", count=100):
            redis.delete(key)
        sandbox.bags.rate_limited = sandbox.jupiter.rate_limited = 0
        requests_before = {"bags": sandbox.bags.requests, "jupiter": sandbox.jupiter.requests}

        phase = run_phase(desk, seconds=args.seconds, exits=args.exits, buys=args.buys, previews=args.previews, poll=True)
        requests = {name: getattr(sandbox, name).requests - requests_before[name] for name in ("bags", "jupiter")}
        rate_limited = sandbox.bags.rate_limited + sandbox.jupiter.rate_limited
    finally:
        sandbox.stop()
        for venue in desk.venues if desk else []:
            venue.close()

    waited = {account: rate_stats(account=account) for account in ("bags", "jupiter")}
    p99 = percentile(desk.exit_ms, 0.99)
    base_p99 = percentile(baseline_ms, 0.99)
    result = {
        "bench": "provider_budget", "seconds": phase["seconds"], "rate_limited_429s": rate_limited,
        "exit_sent_p50_ms": round(statistics.median(desk.exit_ms), 1) if desk.exit_ms else None,
        "exit_sent_p99_ms": round(p99, 1) if p99 is not None else None,
        "baseline_exit_p99_ms": round(base_p99, 1) if base_p99 is not None else None,
        "exits": desk.counts.get("exits", 0), "exits_failed": desk.counts.get("exits_failed", 0),
        "exits_by_venue": desk.venue_of_exits,
        "entries": desk.counts.get("entries", 0), "entries_failed": desk.counts.get("entries_failed", 0),
        "previews": desk.counts.get("previews", 0), "previews_refused": desk.counts.get("previews_refused", 0),
        "price_polls": desk.counts.get("price_polls", 0),
        "price_polls_incomplete": desk.counts.get("price_polls_incomplete", 0),
        "requests": requests, "requests_per_s": {k: round(v / phase["seconds"], 2) for k, v in requests.items()},
        "plans": {"bags": f"{BAGS_PLAN[0]} per {int(BAGS_PLAN[1])} s", "jupiter": f"{JUPITER_PLAN[0]} per {int(JUPITER_PLAN[1])} s"},
        "waited": waited,
    }
    print(f"{phase['seconds']} s: {result['exits']} exits ({result['exits_failed']} failed; by venue {desk.venue_of_exits}), "
          f"{result['entries']} entries ({result['entries_failed']} failed), {result['previews']} previews "
          f"({result['previews_refused']} refused), {result['price_polls']} price polls "
          f"({result['price_polls_incomplete']} without every tradable mint)")
    print(f"exit trigger -> swap in hand: p50 {result['exit_sent_p50_ms']} ms, p99 {result['exit_sent_p99_ms']} ms "
          f"(baseline, exits alone: p99 {result['baseline_exit_p99_ms']} ms)")
    print(f"requests: bags.fm {requests['bags']}, Jupiter {requests['jupiter']}; 429s answered by the stand-ins: {rate_limited}")
    print(f"waited or refused for room: {json.dumps(waited)}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
