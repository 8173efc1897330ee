"""Telegram load: N simulated traders through the Bot API stand-in, against the real bot and dispatcher.

    .venv/bin/python bench/telegram_load.py --users 1000 --seconds 60

Each trader sends a command at random (exponential gaps, mean 10 s by default (`--mean-gap`): ~100 updates/s for
1,000 users, open loop: senders never wait for replies) from a mix of /positions, /wallet, /pnl (read-only, measured), /help and a
pasted mint; meanwhile trading "exit.filled" events arrive at 50/s, faster than Telegram's 30/s, and become
outbox messages for the dispatcher. The bot runs as `manage.py runbot` and the dispatcher as a Celery worker on
the telegram queue, both in their own processes, against the stand-in served from this process.

Measured: reply latency (update handed to the bot -> its reply arrives at the stand-in) p50/p95 for the read-only
commands that were answered (`unanswered` counts the rest: the bot drops an answer that finds no send slot within
30 s rather than draw a 429); outbound notifications per second while a backlog exists; 429s the stand-in answered. Baseline, same
run: the same read-only commands at 5 updates/s before the load (the idle reply latency); the load p95 is also
reported as a ratio of it. After the load, --backlog notifications (900) are written to the outbox at once and
the rate at which the dispatcher drains them is measured, with the 429s it drew: the dispatcher's own rate, which
the load phase cannot show when the publishers cannot write 30 a second on a busy machine.

Where it runs: a database of its own, jarvis_bench_telegram_r<BENCH_REDIS_DB> on BENCH_DATABASE_SERVER (default
postgres://postgres@127.0.0.1:5432; created and migrated when missing, kept between runs so the simulated traders
are made once), and Redis database BENCH_REDIS_DB (default 10; the bot's keys there are cleared at the start). The
Bot API stand-in listens on a free port. So runs with different BENCH_REDIS_DB values do not share anything.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import heapq
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "10")
DB_NAME = f"jarvis_bench_telegram_r{REDIS_DB}"
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "jarvis.settings", "DATABASE_URL": f"{SERVER}/{DB_NAME}",
    "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}", "JARVIS_IGNORE_DOTENV": "true", "LOG_LEVEL": "warning",
    "SECRET_KEY": "bench-only-secret-key-not-for-production", "JARVIS_VAR_DIR": str(ROOT / "var" / f"bench-telegram-r{REDIS_DB}"),
})


def ensure_database() -> None:
    """The bench's own database: created when missing, migrated (a no-op once it is up to date)."""
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
from django.db import transaction  # noqa: E402

from telegram_app import limits  # noqa: E402
from telegram_app.models import BlockedChat, OutboxMessage, TelegramAccount  # noqa: E402
from sandbox.telegram import BotApiStandin  # noqa: E402

BASE_USER = 770_000_000
READ_ONLY = ("/positions", "/wallet", "/pnl")
MINT = "BenchMint1111111111111111111111111111111111"[:43] + "1"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def prepare(users: int) -> tuple[list[int], object]:
    """Accounts for the simulated traders (created once, reused), one open paper position each."""
    from trading.models import Position, Token
    from trading.prices import PricePoint, prices_store
    from trading.services import trader_register
    from trading.services.exits import exit_plan_create, exit_spec_resolve

    token, _ = Token.objects.get_or_create(mint=MINT, defaults={"symbol": "BENCH", "decimals": 6})
    prices_store({MINT: PricePoint(price=Decimal("0.0001"), at=time.time(), source="bench", decimals=6)})
    have = set(TelegramAccount.objects.filter(telegram_user_id__gte=BASE_USER, telegram_user_id__lt=BASE_USER + users)
               .values_list("telegram_user_id", flat=True))
    for i in range(users):
        uid = BASE_USER + i
        if uid in have:
            continue
        with transaction.atomic():
            trader = trader_register(name=f"bench {i}")
            TelegramAccount.objects.create(telegram_user_id=uid, chat_id=uid, trader=trader)
            position = Position.objects.create(trader=trader, token=token, mode="paper", status="open", size=5_000_000_000,
                                               original_size=5_000_000_000, cost_lamports=500_000_000,
                                               entry_price=Decimal("0.0001"))
            exit_plan_create(position=position, spec=exit_spec_resolve(spec=None, default=None))
    OutboxMessage.objects.filter(chat_id__gte=BASE_USER, status__in=["pending", "sending"]).update(status="dropped")
    BlockedChat.objects.filter(chat_id__gte=BASE_USER).delete()
    client = limits.client()
    for key in client.scan_iter(match=f"{limits.PREFIX}*", count=1000):
        client.delete(key)
    return [BASE_USER + i for i in range(users)], token


def start_processes(standin_url: str, bot_processes: int, partitions: int = 0) -> list[subprocess.Popen]:
    env = dict(os.environ, TELEGRAM_API_URL=standin_url, LOG_LEVEL="warning", TELEGRAM_BOT_TOKEN="",
               TELEGRAM_BOT_PROCESSES=str(bot_processes))
    python = sys.executable
    log_dir = Path(settings.VAR_DIR) / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    bot = subprocess.Popen([python, str(ROOT / "manage.py"), "runbot", "--partitions", str(partitions)], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=open(log_dir / "telegram_load.runbot.log", "w"))
    worker = subprocess.Popen([str(Path(python).parent / "celery"), "-A", "jarvis", "worker", "-Q", "telegram", "-P",
                               "threads", "-c", "8", "-n", "bench-telegram@%h", "--loglevel", "WARNING"],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=open(log_dir / "telegram_load.worker.log", "w"))
    return [bot, worker]


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                pass
    return pids


def cpu_seconds(pid: int, *, descendants: bool = True) -> float:
    """CPU time (user + system) of a process and (by default) its live descendants, from /proc."""
    total = 0
    for p in _tree(pid) if descendants else [pid]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_bot_ready(standin: BotApiStandin, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    probe = standin.send_text(BASE_USER, "/help")
    while time.monotonic() < deadline:
        if probe["update_id"] in standin.world.answered:
            return
        time.sleep(0.1)
    raise SystemExit("the bot did not answer within a minute")


def drive(standin, users: list[int], rate: float, seconds: float, log: dict, stop: threading.Event) -> int:
    """Open loop: Poisson arrivals at ``rate`` updates/s, each from a random user (exponential per user)."""
    rng = random.Random(7)
    heap = [(time.monotonic() + rng.expovariate(rate / len(users)), u) for u in users]
    heapq.heapify(heap)
    end = time.monotonic() + seconds
    sent = 0
    while not stop.is_set():
        at, user = heapq.heappop(heap)
        if at > end:
            break
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        roll = rng.random()
        text = READ_ONLY[int(roll * 3 / 0.8)] if roll < 0.8 else ("/help" if roll < 0.9 else MINT)
        update = standin.send_text(user, text)
        log[update["update_id"]] = text
        sent += 1
        heapq.heappush(heap, (at + rng.expovariate(rate / len(users)), user))
    return sent


def notify(users: list[int], rate: float, seconds: float, counter, ready, go, seed: int = 11) -> None:
    """Exit fills published as trading domain events at ``rate``/s (in a process of its own, so the load
    generator does not starve it); the telegram consumer turns each into an outbox message."""
    from trading.events import event_publish
    from trading.models import Trader

    traders = dict(TelegramAccount.objects.filter(telegram_user_id__in=users).values_list("telegram_user_id", "trader_id"))
    rng = random.Random(seed)
    with ready.get_lock():
        ready.value += 1
    go.wait()
    start, n = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        user = rng.choice(users)
        with transaction.atomic():
            event_publish(kind="exit.filled", trader=Trader(pk=traders[user]), payload={
                "symbol": "BENCH", "reason": "tp", "leg": 0, "received_lamports": 250_000_000,
                "realised_pnl_lamports": 50_000_000, "remaining_size": 1, "plan": "TP 2x 50%"})
        n += 1
        with counter.get_lock():
            counter.value += 1
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def drain_backlog(standin, users: list[int], count: int) -> dict:
    """After the load: ``count`` notifications written to the outbox at once (one transaction, distinct chats),
    then how fast the dispatcher empties that backlog and whether Telegram (the stand-in) refused any."""
    from telegram_app.outbox import outbox_enqueue

    deadline = time.monotonic() + 120
    while (OutboxMessage.objects.filter(status__in=["pending", "sending"], chat_id__gte=BASE_USER).exists()
           and time.monotonic() < deadline):
        time.sleep(0.5)  # the load phase's messages first
    before, refused = len(standin.log(method="sendMessage")), standin.stats()["flood_429s"]
    with transaction.atomic():
        for user in users[:count]:
            outbox_enqueue(chat_id=user, text="Take-profit filled (backlog)", kind="bench")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        sent = [e["at"] for e in standin.log(method="sendMessage")[before:] if e["text"] == "Take-profit filled (backlog)"]
        if len(sent) >= count:
            break
        time.sleep(0.5)
    span = sent[-1] - sent[0] if len(sent) > 1 else 0.0
    return {"messages": count, "sent": len(sent), "sent_per_s": round((len(sent) - 1) / span, 2) if span else None,
            "flood_429s": standin.stats()["flood_429s"] - refused}


def refresh_prices(stop: threading.Event) -> None:
    from trading.prices import PricePoint, prices_store

    while not stop.wait(5):
        prices_store({MINT: PricePoint(price=Decimal("0.0001"), at=time.time(), source="bench", decimals=6)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mean-gap", type=float, default=10.0, help="mean seconds between one user's commands")
    parser.add_argument("--notify-rate", type=float, default=50.0)
    parser.add_argument("--publishers", type=int, default=2, help="processes publishing the exit fills (rate split)")
    parser.add_argument("--backlog", type=int, default=900,
                        help="after the load, notifications written at once; the dispatcher's rate draining them")
    parser.add_argument("--bot-processes", type=int, default=0, help="TELEGRAM_BOT_PROCESSES for runbot (each bot process)")
    parser.add_argument("--partitions", type=int, default=0,
                        help="runbot --partitions: a getUpdates reader and this many answering bot processes")
    args = parser.parse_args()
    users, _ = prepare(args.users)
    standin = BotApiStandin().start()
    for user in users:  # every simulated trader has talked to the bot before (else Telegram: chat not found)
        standin.add_chat(user)
    procs = start_processes(standin.url, args.bot_processes, args.partitions)
    stop = threading.Event()
    try:
        wait_bot_ready(standin)
        threading.Thread(target=refresh_prices, args=(stop,), daemon=True).start()
        # Baseline: the same read-only commands at 5 updates/s, nothing else running.
        base_log: dict[int, str] = {}
        drive(standin, users, 5.0, 8.0, base_log, stop)
        time.sleep(1.0)
        # Load.
        rate = len(users) / args.mean_gap
        load_log: dict[int, str] = {}
        ctx = multiprocessing.get_context("spawn")
        counter, ready, go = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Event()
        notifiers = [ctx.Process(target=notify, args=(users, args.notify_rate / args.publishers, args.seconds, counter,
                                                      ready, go, 11 + i), daemon=True) for i in range(args.publishers)]
        for notifier in notifiers:  # started (Django set up) before the clock starts
            notifier.start()
        deadline = time.monotonic() + 120
        while ready.value < len(notifiers) and time.monotonic() < deadline:
            time.sleep(0.2)
        sends_before = len(standin.log(method="sendMessage"))
        roles = {"bot": procs[0].pid, "dispatcher": procs[1].pid, "bench (stand-in, load)": os.getpid()}
        roles.update({f"publisher {i + 1}": notifier.pid for i, notifier in enumerate(notifiers)})
        bench_role = "bench (stand-in, load)"  # this process alone: the others are its children

        def role_cpu(role, pid):
            return cpu_seconds(pid, descendants=role != bench_role)

        cpu0 = {role: role_cpu(role, pid) for role, pid in roles.items()}
        t0 = time.monotonic()
        go.set()
        driven = drive(standin, users, rate, args.seconds, load_log, stop)
        elapsed = time.monotonic() - t0
        cpu = {role: round((role_cpu(role, pid) - cpu0[role]) / elapsed, 2) for role, pid in roles.items()}
        load_avg = os.getloadavg()
        for notifier in notifiers:
            notifier.join(30)
        time.sleep(2.0)
        backlog = drain_backlog(standin, users, args.backlog) if args.backlog else None
    finally:
        stop.set()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    latencies = standin.latencies()

    def read_only_ms(log):
        return [latencies[u] * 1000 for u, text in log.items() if text in READ_ONLY and u in latencies]

    base, load = read_only_ms(base_log), read_only_ms(load_log)
    unanswered = sum(1 for u in load_log if u not in latencies)
    answered_in_window = sum(1 for u in load_log if u in latencies and standin.world.answered[u] <= t0 + elapsed)
    notes = [e for e in standin.log(method="sendMessage")[sends_before:] if e["reply_to"] is None and e["at"] >= t0]
    window = [e["at"] for e in notes if e["at"] <= t0 + elapsed]
    sent_per_s = len(window) / elapsed if elapsed else 0.0
    replies = [e for e in standin.log(method="sendMessage")[sends_before:] if e["reply_to"] is not None
               and t0 <= e["at"] <= t0 + elapsed]
    replies_per_s = len(replies) / elapsed if elapsed else 0.0
    stats = standin.stats()
    flood, flood_notifications = stats["flood_429s"], stats["flood_429s_unsolicited"]
    standin.stop()

    result = {
        "bench": "telegram_load", "users": args.users, "seconds": round(elapsed, 1), "bot_processes": args.bot_processes,
        "partitions": args.partitions,
        "updates_sent": driven, "updates_per_s": round(driven / elapsed, 1), "unanswered": unanswered,
        "answered_per_s": round(answered_in_window / elapsed, 1),
        "reply_p50_ms": round(statistics.median(load), 1) if load else None,
        "reply_p95_ms": round(percentile(load, 0.95), 1) if load else None,
        "baseline_p50_ms": round(statistics.median(base), 1) if base else None,
        "baseline_p95_ms": round(percentile(base, 0.95), 1) if base else None,
        "p95_vs_baseline": round(percentile(load, 0.95) / percentile(base, 0.95), 2) if load and base else None,
        "notifications_published": counter.value, "sent_per_s": round(sent_per_s, 2),
        "replies_per_s": round(replies_per_s, 2), "flood_429s": flood,
        "flood_429s_notifications": flood_notifications, "backlog": backlog, "cpu_cores_used": cpu,
        "load_average": [round(x, 2) for x in load_avg],
    }
    print(f"users {args.users}, {driven} updates in {elapsed:.0f} s ({driven / elapsed:.0f}/s), "
          f"{result['answered_per_s']}/s answered during the run, {unanswered} never answered")
    print(f"read-only reply latency: p50 {result['reply_p50_ms']} ms, p95 {result['reply_p95_ms']} ms "
          f"(baseline at 5/s: p50 {result['baseline_p50_ms']} ms, p95 {result['baseline_p95_ms']} ms)")
    print(f"notifications: {counter.value} published at {args.notify_rate}/s, sent {sent_per_s:.1f}/s; 429s from the stand-in: {flood} "
          f"({flood_notifications} to notifications, the rest to replies and edits)")
    print(f"Telegram's budget: replies {replies_per_s:.1f}/s and notifications {sent_per_s:.1f}/s share the bot-wide 30/s "
          "(the stand-in counts every message, replies and edits included, as Telegram's FAQ gives no exception); "
          f"offered {driven / elapsed:.0f} updates/s")
    if backlog:
        print(f"backlog: {backlog['messages']} notifications written at once after the load, {backlog['sent']} sent at "
              f"{backlog['sent_per_s']}/s (the dispatcher keeps at most 30 per second and TELEGRAM_SEND_MARGIN_MS), {backlog['flood_429s']} 429s")
    print("CPU cores used during the load: " + ", ".join(f"{role} {v}" for role, v in cpu.items())
          + f" (Postgres and Redis not counted); load average {' '.join(f'{x:.2f}' for x in load_avg)}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
