"""Token card latency: from a pasted mint to the rendered safety card, with a cold and a warm cache, against the plain
price card in the same run.

    .venv/bin/python bench/token_card.py [--pastes 60] [--latency 0.05]

An in-process sandbox (chain, bags.fm and Jupiter stand-ins) answers every provider call `--latency` seconds late (the
`slow` fault of the RPC, bags.fm and Jupiter). A pasted mint goes through the bot's router (`telegram_app.bot.router
.handle`, the code a Telegram update reaches) to the rendered card:

- cold: the card's Redis entries and the mint's cached price deleted before each paste, so every look-up goes to the
  providers (the mint and metadata accounts, the largest holders, the price, a sell quote, Jupiter's warnings);
- warm: the same mint pasted again at once (every look-up answered from Redis);
- baseline, plain card: what the card showed before (the price, and the buy buttons) with a cold price cache.

Where it runs: a database of its own, jarvis_bench_card_r<BENCH_REDIS_DB> (created and migrated when missing), and Redis
database BENCH_REDIS_DB (default 14; flushed). Goal (issue 18): p95 under 300 ms cold and under 50 ms warm. Last line:
{"bench": "token_card", "cold_p95_ms", "warm_p95_ms", "plain_card_p95_ms", "lookups", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "14")
DB_NAME = f"jarvis_bench_card_r{REDIS_DB}"
USER_ID = 770_000_001
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "jarvis.settings", "DATABASE_URL": f"{SERVER}/{DB_NAME}",
    "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}", "JARVIS_IGNORE_DOTENV": "true", "LOG_LEVEL": "error",
    "SECRET_KEY": "bench-only-secret-key-not-for-production", "JARVIS_VAR_DIR": str(ROOT / "var" / f"bench-card-r{REDIS_DB}"),
    "TELEGRAM_BOT_TOKEN": "", "TELEGRAM_COMMAND_BURST": "100000", "TRADING_MODE": "sandbox",
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

from jarvis.redis import redis_client  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402
from telegram_app import services as tg_services  # noqa: E402
from telegram_app.bot.core import Incoming, Reply  # noqa: E402
from telegram_app.bot.router import handle  # noqa: E402
from trading.prices import KEY_PREFIX as PRICE_PREFIX  # noqa: E402
from trading.safety import CACHE_PREFIX, LOOKUPS  # noqa: E402
from trading.services import trading_settings_get  # noqa: E402
from trading.services.quotes import token_resolve  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


def paste(mint: str) -> tuple[float, str]:
    started = time.perf_counter()
    actions = handle(Incoming(user_id=USER_ID, chat_id=USER_ID, text=mint, message_id=1, sent_at=time.time()))
    elapsed = (time.perf_counter() - started) * 1000
    text = next((a.text for a in actions if isinstance(a, Reply)), "")
    return elapsed, text


def plain_card(mint: str) -> float:
    """The card as it was: the token and its price (the feed), the trader's buy presets, a reference for the buttons."""
    from trading.models import Trader

    started = time.perf_counter()
    token, point = token_resolve(mint=mint)
    tg_services.mint_ref(mint=mint)
    trading_settings_get(trader=Trader.objects.get(telegram_account__telegram_user_id=USER_ID))
    text = f"{token.symbol or mint[:6]}  {mint}\nPrice: {point.price} SOL (source {point.source})"
    assert text
    return (time.perf_counter() - started) * 1000


def forget(redis, mint: str) -> None:
    redis.delete(PRICE_PREFIX + mint, *[f"{CACHE_PREFIX}{name}:{mint}" for name in LOOKUPS])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pastes", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every provider call")
    args = parser.parse_args()

    redis = redis_client()
    redis.flushdb()
    sandbox = Sandbox(seed=7, walk=False).start()
    settings.SOLANA_RPC_URL, settings.BAGS_API_URL, settings.JUPITER_API_URL = (
        sandbox.rpc_url, sandbox.bags_url, sandbox.jupiter_url)
    settings.BAGS_API_KEY, settings.JUPITER_API_KEY = sandbox.bags_api_key, sandbox.jupiter_api_key
    try:
        handle(Incoming(user_id=USER_ID, chat_id=USER_ID, text="/start", message_id=1, sent_at=time.time()))
        mints = [t.mint for t in sandbox.market.tokens()]
        for mint in mints:  # warm-up: connections, code paths (unmeasured, no added latency)
            paste(mint)
        sandbox.bags.reset_rate_limit()
        for service in ("rpc", "bags", "jupiter"):
            sandbox.faults.set(service, "slow", seconds=args.latency)
        cold, warm, plain = [], [], []
        for i in range(args.pastes):
            mint = mints[i % len(mints)]
            forget(redis, mint)
            elapsed, text = paste(mint)
            assert "Top 10 holders" in text and "Not checked" not in text, text
            cold.append(elapsed)
            elapsed, text = paste(mint)
            assert "Top 10 holders" in text, text
            warm.append(elapsed)
            forget(redis, mint)
            plain.append(plain_card(mint))
            if i % 20 == 19:
                sandbox.bags.reset_rate_limit()  # the sell quotes would otherwise meet bags.fm's per-minute limit
    finally:
        sandbox.faults.clear()
        sandbox.stop()
    result = {
        "bench": "token_card",
        "cold_p50_ms": round(statistics.median(cold), 1),
        "cold_p95_ms": round(percentile(cold, 95), 1),
        "warm_p50_ms": round(statistics.median(warm), 1),
        "warm_p95_ms": round(percentile(warm, 95), 1),
        "plain_card_p50_ms": round(statistics.median(plain), 1),
        "plain_card_p95_ms": round(percentile(plain, 95), 1),
        "cold_over_plain_p95": round(percentile(cold, 95) / percentile(plain, 95), 2),
        "lookups": len(LOOKUPS) + 1,  # the cached look-ups and the price
        "added_latency_ms": round(args.latency * 1000),
        "pastes": args.pastes,
        "goal_met": percentile(cold, 95) < 300 and percentile(warm, 95) < 50,
    }
    print(f"paste to card, {args.pastes} pastes, {result['added_latency_ms']} ms added to every provider call")
    print(f"  cold : p50 {result['cold_p50_ms']} ms  p95 {result['cold_p95_ms']} ms  (goal < 300)")
    print(f"  warm : p50 {result['warm_p50_ms']} ms  p95 {result['warm_p95_ms']} ms  (goal < 50)")
    print(f"  plain price card (cold price): p50 {result['plain_card_p50_ms']} ms  p95 {result['plain_card_p95_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
