"""Soak: the trade and Telegram loads at ten times their issues' benchmarks for ten minutes; memory per process, errors.

    .venv/bin/python bench/soak.py [--seconds 600] [--trade-clients 10] [--users 10000] [--sample-every 10]

Two loads at once, each on a database and a Redis database of its own (dropped / flushed at the end):

- trades: `--trade-clients` traders (half paper, half sandbox with funded wallets) each buying and then selling in a
  closed loop as fast as the desk answers, against a `celery worker -Q trades,tpsl` (prefork, 2 processes, as
  worker-trades runs), celery beat (TP/SL sweep, reconciliation, heartbeats) and an in-process sandbox whose prices
  walk, so exit plans fire too. trade_latency drives one trader at a time: ten clients are ten times its load.
- telegram: `bench/telegram_load.py --users 10000` (ten times its 1,000 traders: ~1,000 updates/s offered, plus
  its notification stream) for the same duration, as a child process with its bot and dispatcher.

Every process under this one is sampled every `--sample-every` seconds (RSS from /proc). Baseline, same run: each
process's RSS when the warm-up (the first fifth of the run) ends. Reported per process: RSS then, at the end and
at its peak, the growth, and the growth rate over the second half of the run; a process whose second-half growth
exceeds both 5 % of its RSS and 8 MiB is listed as "growing". Errors: failed or stuck trades, ERROR lines and
tracebacks in every process's log, and telegram_load's own figures (unanswered updates, 429s).
Last line: {"bench": "soak", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "9"))
TRADE_DB = f"jarvis_bench_soak_trade_{os.getpid()}"
TG_DB = f"jarvis_bench_soak_tg_{os.getpid()}"
LOG_DIR = ROOT / "var" / "bench-soak"
SOL = 10**9
MIB = 1024 * 1024


# ---------------------------------------------------------------- processes and memory


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def descendants(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live process below `root`."""
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, str] = {}
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
        cmdlines[int(entry.name)] = cmd
        parents[int(entry.name)] = ppid
    found: dict[int, str] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in cmdlines:
            found[pid] = (parents[pid], cmdlines[pid])
            stack.extend(children.get(pid, []))
    return found


def role(cmd: str) -> str:
    """A readable name for a process of the soak."""
    if " worker " in f" {cmd} ":
        match = re.search(r"-n (\S+?)@", cmd)
        return f"celery worker {match.group(1) if match else ''}".strip()
    if " beat" in cmd:
        return "celery beat"
    if "manage.py" in cmd:
        words = cmd.split()
        return " ".join(words[words.index(next(w for w in words if w.endswith("manage.py"))) + 1:][:1]) or "manage.py"
    if "telegram_load.py" in cmd:
        return "telegram_load driver"
    if "multiprocessing" in cmd:
        return "telegram_load notifier"
    return cmd.split()[1] if len(cmd.split()) > 1 else cmd


class Sampler(threading.Thread):
    """RSS of every descendant process, every `every` seconds."""

    def __init__(self, every: float):
        super().__init__(daemon=True)
        self.every = every
        self.samples: dict[int, list[tuple[float, int]]] = {}
        self.names: dict[int, str] = {}
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every)

    def sample(self) -> None:
        now = time.monotonic() - self.t0
        found = descendants(os.getpid())
        for pid, (ppid, cmd) in found.items():
            rss = rss_bytes(pid)
            if rss is None:
                continue
            if pid not in self.names:
                name = role(cmd)
                if name.startswith("celery worker") and found.get(ppid, (0, ""))[1] == cmd:
                    name += " (pool child)"
                self.names[pid] = name
            self.samples.setdefault(pid, []).append((now, rss))
        own = rss_bytes(os.getpid())
        self.names[os.getpid()] = "soak harness (sandbox, clients)"
        self.samples.setdefault(os.getpid(), []).append((now, own or 0))

    def report(self, warmup_end: float, end: float) -> list[dict]:
        rows = []
        labels: dict[str, int] = {}
        for pid, points in sorted(self.samples.items()):
            after = [(t, r) for t, r in points if t >= warmup_end]
            if len(after) < 3:
                continue  # a short-lived process (a restarted child, a management command)
            name = self.names[pid]
            labels[name] = labels.get(name, 0) + 1
            if labels[name] > 1:
                name = f"{name} #{labels[name]}"
            half = warmup_end + (end - warmup_end) / 2
            second = [r for t, r in after if t >= half] or [after[-1][1]]
            start_rss, end_rss = after[0][1], after[-1][1]
            half_growth = second[-1] - second[0]
            half_minutes = max((after[-1][0] - max(half, after[0][0])) / 60, 1e-9)
            rows.append({
                "process": name, "pid": pid,
                "rss_start_mib": round(start_rss / MIB, 1), "rss_end_mib": round(end_rss / MIB, 1),
                "rss_peak_mib": round(max(r for _, r in after) / MIB, 1),
                "growth_mib": round((end_rss - start_rss) / MIB, 1),
                "second_half_mib_per_min": round(half_growth / MIB / half_minutes, 2),
                "growing": half_growth > max(0.05 * start_rss, 8 * MIB),
            })
        return rows


def log_errors(directory: Path) -> dict[str, int]:
    counts = {}
    for path in sorted(directory.glob("*.log")):
        text = path.read_text(errors="replace")
        n = len(re.findall(r"\bERROR\b|Traceback \(most recent call last\)|\"levelname\": \"ERROR\"", text))
        if n:
            counts[path.name] = n
    return counts


# ---------------------------------------------------------------- the trade desk


def server_sql(*statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{SERVER}/postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    conn.close()


def trade_environment(sandbox) -> dict:
    """The latency bench's desk settings, on the soak's own database, Redis database and log directory; prices keep
    the default freshness limit (the soak's market walks)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from trade_latency import environment

    env = environment(sandbox)
    env.pop("PRICE_MAX_AGE_SECONDS")
    env.update(DATABASE_URL=f"{SERVER}/{TRADE_DB}", REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
               JARVIS_VAR_DIR=str(LOG_DIR / "trade"))
    return env


def start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / f"{name}.log").open("wb") as log:  # a file, not a pipe: an unread pipe blocks a chatty process
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


class TradeClient(threading.Thread):
    """One trader buying then selling everything, in a closed loop, until told to stop."""

    def __init__(self, trader, mint: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.trader, self.mint, self.stop = trader, mint, stop
        self.round_trips = 0
        self.closed_by_plan = 0
        self.refused: dict[str, int] = {}
        self.failed: list[str] = []
        self.stuck: list[int] = []

    def wait_status(self, position_id: int, wanted: set[str], timeout: float = 60.0) -> str:
        from trading.models import Position

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = Position.objects.filter(pk=position_id).values_list("status", flat=True).first()
            if status in wanted:
                return status
            time.sleep(0.02)
        return "timeout"

    def run(self) -> None:
        from django.db import connection

        from trading.errors import TradingError
        from trading.models import Order
        from trading.services import position_open, position_sell

        try:
            while not self.stop.is_set():
                try:
                    position = position_open(trader=self.trader, mint=self.mint, amount_lamports=SOL // 100)
                except TradingError as exc:
                    self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
                    self.stop.wait(0.5)
                    continue
                status = self.wait_status(position.pk, {"open", "closed", "failed"})
                if status == "open":
                    try:
                        position_sell(trader=self.trader, position_id=position.pk, percent=100)
                    except TradingError:
                        self.closed_by_plan += 1  # the TP/SL sweep got there first: its exit is in flight
                    status = self.wait_status(position.pk, {"closed", "failed"})
                if status == "timeout":
                    self.stuck.append(position.pk)
                elif status == "failed" or Order.objects.filter(position=position, status="failed").exists():
                    error = Order.objects.filter(position=position, status="failed").values_list("error", flat=True).first()
                    self.failed.append((error or "position failed")[:160])
                else:
                    self.round_trips += 1
        finally:
            connection.close()


def load_started(proc: subprocess.Popen, timeout: float) -> None:
    """Wait until telegram_load has prepared its traders and started its load (its notifier process exists), so
    both loads share one window. Falls through after `timeout` (the soak then measures what there is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any("multiprocessing" in cmd for _, cmd in descendants(proc.pid).values()):
            return
        time.sleep(0.5)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--trade-clients", type=int, default=10)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--sample-every", type=float, default=10)
    parser.add_argument("--no-telegram", action="store_true", help="the trade load alone")
    args = parser.parse_args()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for old in LOG_DIR.glob("*.log"):
        old.unlink()

    from sandbox.server import Sandbox
    from sandbox.simulator import DEFAULT_TOKENS

    sandbox = Sandbox(walk=True).start()
    env = trade_environment(sandbox)
    os.environ.update(env)
    server_sql(f"DROP DATABASE IF EXISTS {TRADE_DB} WITH (FORCE)", f"CREATE DATABASE {TRADE_DB}")
    if not args.no_telegram:
        server_sql(f"DROP DATABASE IF EXISTS {TG_DB} WITH (FORCE)", f"CREATE DATABASE {TG_DB}")
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    call_command("migrate", verbosity=0)
    call_command("setup_periodic_tasks", stdout=open(os.devnull, "w"))

    from solders.pubkey import Pubkey

    from trading.models import Order, RiskLimits
    from trading.services import trader_register, trading_settings_update
    from trading.wallets import wallet_create

    big = 10**9 * SOL
    RiskLimits.objects.create(max_trade_lamports=big, max_open_positions=100_000, daily_loss_limit_lamports=big,
                              daily_volume_cap_lamports=big)
    plain = {spec["symbol"] for spec in DEFAULT_TOKENS}  # not the risky ones (one of them cannot be sold)
    mints = [t.mint for t in sandbox.market.tokens() if t.symbol in plain]
    procs = {
        "worker-trades": start("worker-trades", [str(BIN / "celery"), "-A", "jarvis", "worker", "-Q", "trades,tpsl", "-P",
                                                 "prefork", "-c", "2", "-n", "soak-trades@%h", "-l", "warning"], env),
        "beat": start("beat", [str(BIN / "celery"), "-A", "jarvis", "beat", "-l", "warning",
                               "-s", str(LOG_DIR / "beat-schedule")], env),
    }
    tg_result: dict | None = None
    if not args.no_telegram:
        tg_env = dict(env, DATABASE_URL=f"{SERVER}/{TG_DB}", REDIS_URL=f"redis://127.0.0.1:6379/{REDIS_DB + 1}",
                      BENCH_REDIS_DB=str(REDIS_DB + 1), JARVIS_VAR_DIR=str(LOG_DIR / "telegram"), TRADING_MODE="paper")
        redis.Redis.from_url(tg_env["REDIS_URL"]).flushdb()
        subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=tg_env, check=True)
        print(f"telegram: preparing {args.users} traders (once per database) ...", flush=True)
        procs["telegram_load"] = subprocess.Popen(
            [PYTHON, "bench/telegram_load.py", "--users", str(args.users), "--seconds", str(args.seconds),
             # the overload the soak was written for: every trader every 10 s, fills at 50/s, typed commands only
             "--mean-gap", "10", "--notify-rate", "50", "--publishers", "2", "--tap-share", "0", "--surge-seconds", "0"],
            cwd=ROOT, env=tg_env, stdout=subprocess.PIPE, stderr=open(LOG_DIR / "telegram_load.log", "wb"), text=True)

    if "telegram_load" in procs:
        load_started(procs["telegram_load"], timeout=args.seconds + 900)
    stop = threading.Event()
    clients = []
    for i in range(args.trade_clients):
        trader = trader_register(name=f"soak {i}")
        if i % 2:
            trading_settings_update(trader=trader, mode="sandbox")
            wallet = wallet_create(trader=trader)
            sandbox.chain.airdrop(Pubkey.from_string(wallet.public_key), 10_000 * SOL)
        clients.append(TradeClient(trader, mints[i % len(mints)], stop))

    sampler = Sampler(args.sample_every)
    sampler.start()
    print(f"soak: {args.seconds:.0f} s, {args.trade_clients} trade clients"
          + ("" if args.no_telegram else f", telegram_load with {args.users} users"), flush=True)
    t_start = time.monotonic() - sampler.t0
    for client in clients:
        client.start()
    tg_stdout = ""
    try:
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            time.sleep(5)
            dead = [name for name, p in procs.items() if p.poll() is not None and name != "telegram_load"]
            if dead:
                raise SystemExit(f"soak: {', '.join(dead)} exited early (logs in {LOG_DIR})")
        stop.set()
        for client in clients:
            client.join(90)
        t_end = time.monotonic() - sampler.t0
        sampler.sample()
        if "telegram_load" in procs:
            tg_stdout, _ = procs["telegram_load"].communicate(timeout=args.seconds + 900)
            lines = [line for line in tg_stdout.splitlines() if line.startswith("{")]
            tg_result = json.loads(lines[-1]) if lines else {"error": f"no result (exit {procs['telegram_load'].returncode})"}
    finally:
        stop.set()
        sampler.stop.set()
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        in_flight = Order.objects.exclude(status__in=["confirmed", "failed"]).count()
        ledger = sandbox.ledger.summary()
        sandbox.stop()
        from django.db import connections

        connections.close_all()
        server_sql(f"DROP DATABASE IF EXISTS {TRADE_DB} WITH (FORCE)", f"DROP DATABASE IF EXISTS {TG_DB} WITH (FORCE)")

    warmup_end = t_start + (t_end - t_start) / 5
    rows = sampler.report(warmup_end, t_end)
    errors = log_errors(LOG_DIR)
    round_trips = sum(c.round_trips for c in clients)
    failed = [reason for c in clients for reason in c.failed]
    stuck = sum(len(c.stuck) for c in clients)
    print(f"\ntrades: {round_trips} buy+sell round trips in {t_end - t_start:.0f} s "
          f"({round_trips / (t_end - t_start):.1f}/s), {sum(c.closed_by_plan for c in clients)} closed by their exit plan "
          f"first, {len(failed)} failed, {stuck} stuck, {in_flight} orders not terminal at the end; ledger {ledger}")
    for reason in sorted(set(failed))[:10]:
        print(f"  failed: {failed.count(reason)} x {reason}")
    refused = {}
    for c in clients:
        for code, n in c.refused.items():
            refused[code] = refused.get(code, 0) + n
    if refused:
        print(f"  refused by the services: {refused}")
    if tg_result is not None:
        print("telegram: " + "\n          ".join(line for line in tg_stdout.splitlines()[-4:-1]))
    print(f"\nmemory per process (baseline: RSS at the end of the {warmup_end - t_start:.0f} s warm-up, same run):")
    print(f"  {'process':<34} {'start':>8} {'end':>8} {'peak':>8} {'growth':>8} {'2nd half':>12}")
    for row in rows:
        print(f"  {row['process'][:34]:<34} {row['rss_start_mib']:>7.1f}M {row['rss_end_mib']:>7.1f}M "
              f"{row['rss_peak_mib']:>7.1f}M {row['growth_mib']:>+7.1f}M {row['second_half_mib_per_min']:>+8.2f}M/min"
              + ("  GROWING" if row["growing"] else ""))
    print(f"errors in logs ({LOG_DIR}): {errors or 'none'}")
    result = {
        "bench": "soak", "seconds": round(t_end - t_start, 1), "trade_clients": args.trade_clients,
        "trade_round_trips": round_trips, "trade_round_trips_per_s": round(round_trips / (t_end - t_start), 2),
        "trade_failed": len(failed), "trade_stuck": stuck, "orders_not_terminal": in_flight,
        "telegram": tg_result, "log_errors": sum(errors.values()),
        "growing": [row["process"] for row in rows if row["growing"]],
        "max_second_half_mib_per_min": max((row["second_half_mib_per_min"] for row in rows), default=None),
        "processes": {row["process"]: {k: row[k] for k in ("rss_start_mib", "rss_end_mib", "growth_mib",
                                                            "second_half_mib_per_min")} for row in rows},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
