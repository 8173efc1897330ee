"""Telegram load: N simulated traders through the Bot API stand-in, against the real bot and dispatcher.

    .venv/bin/python bench/telegram_load.py --users 1000 --seconds 60

Telegram lets a bot send about 30 messages a second in all and one a second per chat, and counts every message it
sends or edits, answers included (the stand-in counts the same way). So the traffic a desk can serve at once is
bounded by Telegram, not by the bot, and the bench states the traffic it offers.

The traffic model of 1,000 traders (the defaults): a busy hour in which every one of them is online and acts once
every 100 s on average (`--mean-gap`, exponential gaps, open loop: senders never wait for answers), ~10 actions a
second. A desk whose traders each act about 50 times a day averages 0.6 a second, so this is some fifteen times the
day's average. Half of the actions are taps on a screen the trader has open (the position list and a position's
card, each tap edits that message: `--tap-share`), half are typed: /positions, /wallet, /pnl (80 %), /help (10 %)
and a pasted mint (10 %). Exit fills arrive as trading "exit.filled" events at 3 a second (`--notify-rate`: 1,000
traders with about ten fills an hour each) and become outbox messages for the dispatcher. With the answers that is
~13 of Telegram's 30 a second, leaving room for bursts.

Above the bot's limit (`--surge-seconds`, 30 by default, after the load): every trader acts every 10 s
(`--surge-gap`), ~100 typed commands a second, three times what Telegram lets the bot send. What must happen then:
no 429 from Telegram, the answers queued in each chat's order, sent as fast as the budget allows (what the
notifications leave of the 30 a second), and none sent into a 429: an answer that finds no place within 30 s is
dropped (`SLOT_WAIT_S`), and the bot's own bound on updates in hand (256 handled at once) keeps the send line
shorter than that, so the rest waits, in order, as updates. The bench waits the line out (until no answer has come
for 3 s) and reports: 429s, answers out of their chat's order, the answer rate, the wait of the answered (p50, p95,
max), the never answered, and when the line was empty.

Measured: reply latency (update handed to the bot -> its answer arrives at the stand-in) p50/p95 for the read-only
typed commands, and for taps (tap handed to the bot -> the edited screen arrives); outbound notifications per
second; 429s the stand-in answered. Baseline, same run: the same read-only commands at 5 updates/s before the load
(the idle reply latency); the load p95 is also reported as a ratio of it. After the surge, --backlog notifications
(900) are written to the outbox at once and the rate at which the dispatcher drains them is measured, with the 429s
it drew: the dispatcher's own rate.

The bot runs as `manage.py runbot` and the dispatcher as a Celery worker on the telegram queue, both in their own
processes, against the stand-in served from this process. Where it runs: a database of its own,
jarvis_bench_telegram_r<BENCH_REDIS_DB> on BENCH_DATABASE_SERVER (default postgres://postgres@127.0.0.1:5432; created
and migrated when missing, kept between runs so the simulated traders are made once), and Redis database
BENCH_REDIS_DB (default 10; the bot's keys there are cleared at the start). The Bot API stand-in listens on a free
port. So runs with different BENCH_REDIS_DB values do not share anything. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import bisect
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


def typed_command(rng: random.Random) -> str:
    roll = rng.random()
    return READ_ONLY[int(roll * 3 / 0.8)] if roll < 0.8 else ("/help" if roll < 0.9 else MINT)


class Screens:
    """The screen each tapping trader has open (the bot's answer to its /positions): a tap edits it, from the position
    list to a position's card and back, so every tap changes what the message shows."""

    def __init__(self, standin):
        self.standin = standin
        self.open: dict[int, int] = {}  # user -> message id of the screen
        self.pending: dict[int, str] = {}  # user -> the screen's text when it was tapped, until the edit shows
        self.taps: dict[int, tuple[int, int]] = {}  # update id -> (chat, message id)

    def open_for(self, users: list[int], rate: float, timeout: float = 120) -> None:
        """Each user sends /positions (paced at ``rate`` a second, inside Telegram's budget); its answer is the screen."""
        sent, started = {}, time.monotonic()
        for i, user in enumerate(users):
            sent[user] = self.standin.send_text(user, "/positions")["update_id"]
            delay = started + (i + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(u in self.standin.world.answered for u in sent.values()):
            time.sleep(0.2)
        for entry in self.standin.log(method="sendMessage"):
            if entry["chat_id"] in sent and entry.get("reply_markup") and entry["text"].startswith("Open positions"):
                self.open[entry["chat_id"]] = entry["message_id"]

    def tap(self, user: int) -> dict | None:
        """Tap the screen's next button; None when the user has no screen or its last tap is not shown yet."""
        mid = self.open.get(user)
        if mid is None:
            return None
        msg = self.standin.message(user, mid)
        if msg is None or self.pending.get(user) == msg["text"]:
            return None
        buttons = [b["callback_data"] for row in msg.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
        data = next((d for d in buttons if d.startswith("ps:")), None) or next((d for d in buttons if d.startswith("pv:")), None)
        if data is None:
            return None
        update = self.standin.press(user, user, mid, data)
        self.pending[user] = msg["text"]
        self.taps[update["update_id"]] = (user, mid)
        return update

    def latencies(self, update_ids) -> tuple[list[float], int]:
        """Seconds from each tap's delivery to the first edit of its screen after it, and the taps never edited."""
        edits: dict[tuple[int, int], list[float]] = {}
        for entry in self.standin.log(method="editMessageText"):
            edits.setdefault((entry["chat_id"], entry["message_id"]), []).append(entry["at"])
        delivered = self.standin.world.delivered
        out, missing = [], 0
        for update_id in update_ids:
            key, at = self.taps[update_id], delivered.get(update_id)
            times = edits.get(key, [])
            i = bisect.bisect_left(times, at) if at is not None else len(times)
            if i < len(times):
                out.append(times[i] - at)
            else:
                missing += 1
        return out, missing


def drive(standin, users: list[int], rate: float, seconds: float, log: dict, stop: threading.Event, *,
          screens: Screens | None = None, tap_share: float = 0.0, taps: list | None = None, seed: int = 7) -> int:
    """Open loop: Poisson arrivals at ``rate`` updates/s, each from a random user (exponential per user). A share of
    them (``tap_share``) are taps on the user's open screen when it has one; the rest are typed commands."""
    rng = random.Random(seed)
    heap = [(time.monotonic() + rng.expovariate(rate / len(users)), u) for u in users]
    heapq.heapify(heap)
    end = time.monotonic() + seconds
    sent = 0
    tap_chance = min(1.0, tap_share * len(users) / max(1, len(screens.open))) if screens else 0.0
    while not stop.is_set():
        at, user = heapq.heappop(heap)
        if at > end:
            break
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        update = None
        if screens is not None and user in screens.open and rng.random() < tap_chance:
            update = screens.tap(user)
            if update is not None:
                taps.append(update["update_id"])
        if update is None:
            text = typed_command(rng)
            update = standin.send_text(user, text)
            log[update["update_id"]] = text
        sent += 1
        heapq.heappush(heap, (at + rng.expovariate(rate / len(users)), user))
    return sent


def surge_report(standin, log: dict[int, str], t0: float, elapsed: float, drain_timeout: float = 150.0) -> dict:
    """Above the bot's limit: wait for the queued answers to go out or be dropped (the line is empty when no answer
    has come for 3 s: it sends at the budget's pace while it holds any), then what happened to them."""
    world = standin.world
    deadline = time.monotonic() + drain_timeout
    answered, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now_answered = sum(1 for u in log if u in world.answered)
        if now_answered == len(log):
            break
        if now_answered != answered:
            answered, quiet_since = now_answered, time.monotonic()
        elif time.monotonic() - quiet_since > 3.0:
            break
        time.sleep(0.5)
    latencies = standin.latencies()
    waits = [latencies[u] * 1000 for u in log if u in latencies]
    # Each chat's answers in the order of its commands: the commands' message ids against the answers' reply_to.
    asked: dict[int, list[int]] = {}
    for update_id in sorted(log):
        chat, message_id = world.update_chat[update_id]
        asked.setdefault(chat, []).append(message_id)
    out_of_order = 0
    answers: dict[int, list[int]] = {}
    for entry in standin.log(method="sendMessage"):
        if entry["chat_id"] in asked and entry.get("reply_to") in asked[entry["chat_id"]]:
            answers.setdefault(entry["chat_id"], []).append(entry["reply_to"])
    for chat, replied in answers.items():
        out_of_order += sum(1 for a, b in zip(replied, replied[1:]) if b < a)
    answered_at = sorted(world.answered[u] for u in log if u in world.answered)
    in_window = sum(1 for at in answered_at if at <= t0 + elapsed)
    cleared = (answered_at[-1] - (t0 + elapsed)) if answered_at else None
    return {"seconds": round(elapsed, 1), "updates_sent": len(log), "offered_per_s": round(len(log) / elapsed, 1),
            "answered": len(waits), "answered_per_s": round(in_window / elapsed, 1), "dropped": len(log) - len(waits),
            "answers_out_of_chat_order": out_of_order,
            "wait_p50_ms": round(statistics.median(waits), 1) if waits else None,
            "wait_p95_ms": round(percentile(waits, 0.95), 1) if waits else None,
            "wait_max_ms": round(max(waits), 1) if waits else None,
            "queue_cleared_s_after_surge": round(cleared, 1) if cleared is not None else None}


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
    parser.add_argument("--mean-gap", type=float, default=100.0, help="mean seconds between one trader's actions")
    parser.add_argument("--tap-share", type=float, default=0.5, help="share of the actions that are taps (edits)")
    parser.add_argument("--tappers", type=int, default=500, help="traders with a screen open to tap (it costs a "
                        "/positions each before the load, paced inside Telegram's budget)")
    parser.add_argument("--notify-rate", type=float, default=3.0, help="exit fills a second during the load")
    parser.add_argument("--publishers", type=int, default=1, help="processes publishing the exit fills (rate split)")
    parser.add_argument("--surge-seconds", type=float, default=30.0, help="above the bot's limit after the load (0: none)")
    parser.add_argument("--surge-gap", type=float, default=10.0, help="mean seconds between one trader's commands then")
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
    surge = None
    try:
        wait_bot_ready(standin)
        threading.Thread(target=refresh_prices, args=(stop,), daemon=True).start()
        # Baseline: the same read-only commands at 5 updates/s, nothing else running.
        base_log: dict[int, str] = {}
        drive(standin, users, 5.0, 8.0, base_log, stop)
        time.sleep(1.0)
        screens = Screens(standin)
        if args.tap_share > 0 and args.tappers:
            screens.open_for(users[:args.tappers], rate=20.0)
        time.sleep(1.5)  # the screens' chats' seconds pass
        # Load: the traffic model.
        rate = len(users) / args.mean_gap
        load_log: dict[int, str] = {}
        taps: list[int] = []
        ctx = multiprocessing.get_context("spawn")
        counter, ready, go = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Event()
        seconds_notifying = args.seconds + args.surge_seconds
        notifiers = [ctx.Process(target=notify, args=(users, args.notify_rate / args.publishers, seconds_notifying,
                                                      counter, ready, go, 11 + i), daemon=True)
                     for i in range(args.publishers)] if args.notify_rate > 0 else []
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
        driven = drive(standin, users, rate, args.seconds, load_log, stop, screens=screens, tap_share=args.tap_share,
                       taps=taps)
        elapsed = time.monotonic() - t0
        cpu = {role: round((role_cpu(role, pid) - cpu0[role]) / elapsed, 2) for role, pid in roles.items()}
        load_avg = os.getloadavg()
        flood_load = standin.stats()["flood_429s"]
        if args.surge_seconds > 0:
            surge_log: dict[int, str] = {}
            flood_before = standin.stats()["flood_429s"]
            notes_before = len(standin.log(method="sendMessage"))
            s0 = time.monotonic()
            drive(standin, users, len(users) / args.surge_gap, args.surge_seconds, surge_log, stop, seed=13)
            surge_elapsed = time.monotonic() - s0
            surge_load_avg = os.getloadavg()
            surge = surge_report(standin, surge_log, s0, surge_elapsed)
            surge_notes = [e for e in standin.log(method="sendMessage")[notes_before:]
                           if e["reply_to"] is None and s0 <= e["at"] <= s0 + surge_elapsed]
            surge.update({"notifications_sent_per_s": round(len(surge_notes) / surge_elapsed, 1),
                          "flood_429s": standin.stats()["flood_429s"] - flood_before,
                          "load_average": [round(x, 2) for x in surge_load_avg]})
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
    tap_s, taps_unanswered = screens.latencies(taps)
    tap_ms = [x * 1000 for x in tap_s]
    unanswered = sum(1 for u in load_log if u not in latencies) + taps_unanswered
    answered_in_window = sum(1 for u in load_log if u in latencies and standin.world.answered[u] <= t0 + elapsed)
    notes = [e for e in standin.log(method="sendMessage")[sends_before:] if e["reply_to"] is None and e["at"] >= t0]
    window = [e["at"] for e in notes if e["at"] <= t0 + elapsed]
    sent_per_s = len(window) / elapsed if elapsed else 0.0
    counted = [e for e in standin.log()[:] if e["method"] in ("sendMessage", "editMessageText")
               and t0 <= e["at"] <= t0 + elapsed]
    answers_per_s = (len(counted) - len(window)) / elapsed if elapsed else 0.0
    stats = standin.stats()
    flood, flood_notifications = stats["flood_429s"], stats["flood_429s_unsolicited"]
    standin.stop()

    def ms(values, q):
        return round(statistics.median(values) if q == 0.5 else percentile(values, q), 1) if values else None

    result = {
        "bench": "telegram_load", "users": args.users, "seconds": round(elapsed, 1), "bot_processes": args.bot_processes,
        "partitions": args.partitions,
        "model": {"mean_gap_s": args.mean_gap, "tap_share": args.tap_share, "tappers": len(screens.open),
                  "notify_per_s": args.notify_rate},
        "updates_sent": driven, "updates_per_s": round(driven / elapsed, 1), "taps": len(taps),
        "unanswered": unanswered, "answered_per_s": round((answered_in_window + len(tap_ms)) / elapsed, 1),
        "reply_p50_ms": ms(load, 0.5), "reply_p95_ms": ms(load, 0.95),
        "tap_edit_p50_ms": ms(tap_ms, 0.5), "tap_edit_p95_ms": ms(tap_ms, 0.95),
        "baseline_p50_ms": ms(base, 0.5), "baseline_p95_ms": ms(base, 0.95),
        "p95_vs_baseline": round(percentile(load, 0.95) / percentile(base, 0.95), 2) if load and base else None,
        "notifications_published": counter.value, "sent_per_s": round(sent_per_s, 2),
        "answers_per_s": round(answers_per_s, 2), "flood_429s_load": flood_load, "flood_429s": flood,
        "flood_429s_notifications": flood_notifications, "surge": surge, "backlog": backlog, "cpu_cores_used": cpu,
        "load_average": [round(x, 2) for x in load_avg],
    }
    print(f"model: {args.users} traders, one action each every {args.mean_gap:g} s ({args.tap_share:.0%} taps on "
          f"{len(screens.open)} open screens), exit fills at {args.notify_rate:g}/s")
    print(f"load: {driven} updates in {elapsed:.0f} s ({driven / elapsed:.1f}/s, {len(taps)} taps), "
          f"{result['answered_per_s']}/s answered during the run, {unanswered} never answered")
    print(f"typed read-only commands: p50 {result['reply_p50_ms']} ms, p95 {result['reply_p95_ms']} ms; taps (the edited "
          f"screen): p50 {result['tap_edit_p50_ms']} ms, p95 {result['tap_edit_p95_ms']} ms (idle baseline at 5/s: "
          f"p50 {result['baseline_p50_ms']} ms, p95 {result['baseline_p95_ms']} ms)")
    print(f"Telegram's budget during the load: answers {answers_per_s:.1f}/s and notifications {sent_per_s:.1f}/s of 30/s; "
          f"{counter.value} fills published; 429s during the load: {flood_load}")
    if surge:
        print(f"above the limit: {surge['updates_sent']} commands in {surge['seconds']} s ({surge['offered_per_s']}/s), "
              f"answered {surge['answered_per_s']}/s with notifications at {surge['notifications_sent_per_s']}/s, "
              f"waits p50 {surge['wait_p50_ms']} ms, p95 {surge['wait_p95_ms']} ms, max {surge['wait_max_ms']} ms; "
              f"{surge['dropped']} dropped after the bot's 30 s bound; {surge['answers_out_of_chat_order']} answers out of "
              f"their chat's order; {surge['flood_429s']} 429s; queue cleared {surge['queue_cleared_s_after_surge']} s "
              f"after the surge (load average {' '.join(f'{x:.2f}' for x in surge['load_average'])})")
    if backlog:
        print(f"backlog: {backlog['messages']} notifications written at once after the load, {backlog['sent']} sent at "
              f"{backlog['sent_per_s']}/s (the dispatcher keeps at most 30 per second and TELEGRAM_SEND_MARGIN_MS), {backlog['flood_429s']} 429s")
    print("CPU cores used during the load: " + ", ".join(f"{role} {v}" for role, v in cpu.items())
          + f" (Postgres and Redis not counted); load average {' '.join(f'{x:.2f}' for x in load_avg)}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
