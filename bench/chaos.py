"""Chaos: real processes trading on the sandbox while workers are killed and Redis, Postgres and beat are restarted.

    .venv/bin/python bench/chaos.py [--traders 30] [--per-trader 10] [--mints 40] [--kills 50] [--seed 7]

The run brings up its own Postgres cluster (initdb into a temporary directory, port CHAOS_PG_PORT, default 27432)
and its own redis-server (CHAOS_REDIS_PORT, default 27379, appendonly), because it restarts both; the machine's
shared servers are never touched. On them: `manage.py sandbox --no-walk` (chain, bags.fm and Jupiter stand-ins,
control API), the Bot API stand-in (in this process), gunicorn (web), two Celery workers on `trades`, one each on
`tpsl`, `telegram` and `default`, and beat, all in sandbox trading mode.

Traders (each with a wallet funded on the sandbox chain and a Telegram chat) open positions across many mints; the
exit plan depends on the mint's scenario: `tp` (ladder 1.5x/2x/3x, the price is driven to 1.6x then 2.1x: two
exits, 20% stays open), `sl` (price to 0.7x: the stop-loss sells all), `trailing` (armed at +30%, 10% below the
peak: 1.5x then 1.3x), `time` (60 s time stop, flat price) and `hold` (nothing triggers). A few traders also
withdraw SOL, each to an address of its own with an amount of its own, while the killing goes on. Meanwhile a trades worker
is killed with SIGKILL at random moments (the whole worker, or only the pool process running a task) and restarted,
Redis is restarted once, Postgres once (fast shutdown), beat is killed once and restarted.

After the reconciliation window the run compares, per (wallet, mint), the sandbox's ledger of submitted
transactions with what the scenario asks for and with the database: double submissions (more landed swaps than
expected), lost exits (fewer), stuck orders and positions (non-terminal), wallet balances on chain against the
positions' sizes, and the messages the Bot API stand-in received against the domain events (by chat and text). A
withdrawal is read back from the chain: its address holding twice its amount is a double submission, nothing a lost one.
Last line: {"bench": "chaos", "kills", "orders", "exits_expected", "exits_done", "withdrawals_expected",
"withdrawals_done", "double_submissions", "lost",
"stuck", "duplicate_messages", ...}; the exit status is 1 when any of the failure counts is not zero.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = ROOT / ".venv" / "bin"
PG_BIN = Path(os.environ.get("CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_PORT = int(os.environ.get("CHAOS_PG_PORT", "27432"))
REDIS_PORT = int(os.environ.get("CHAOS_REDIS_PORT", "27379"))
PORT_BASE = int(os.environ.get("CHAOS_PORT_BASE", "27800"))  # web, sandbox rpc/bags/jupiter, Bot API stand-in
# (below Linux's ephemeral range, 32768-60999, so no outgoing connection can be holding one of them)
# RPC + 1 is the sandbox's RPC WebSocket (the convention the prices role follows), so the stand-ins start at + 3
WEB_PORT, RPC_PORT, BAGS_PORT, JUP_PORT, TG_PORT = (PORT_BASE + i for i in (0, 1, 3, 4, 5))
SOL = 10**9
BUY_LAMPORTS = SOL // 20
CHAT_BASE = 910_000

# scenario -> price multiples to drive (one per phase), landed sells expected per position, share of the original
# size left open at the end, and the phase whose price move triggers each sell (for the exit delays)
SCENARIOS = {
    "tp": {"phases": [Decimal("1.6"), Decimal("2.1")], "sells": 2, "left": Decimal("0.2"), "trigger_phases": [0, 1]},
    "sl": {"phases": [Decimal("0.7"), None], "sells": 1, "left": Decimal(0), "trigger_phases": [0]},
    "trailing": {"phases": [Decimal("1.5"), Decimal("1.3")], "sells": 1, "left": Decimal(0), "trigger_phases": [1]},
    "time": {"phases": [None, None], "sells": 1, "left": Decimal(0), "trigger_phases": []},
    "hold": {"phases": [None, None], "sells": 0, "left": Decimal(1), "trigger_phases": []},
}
SCENARIO_ORDER = list(SCENARIOS)
TIME_STOP_SECONDS = 60
TERMINAL_ORDERS = {"confirmed", "failed"}
TERMINAL_POSITIONS = {"open", "closed", "failed"}
FAILURE_KEYS = ("double_submissions", "lost", "stuck", "duplicate_messages", "missing_messages", "balance_mismatches",
                "unrecorded_fills")


def plan_for(scenario: str):
    from trading.tpsl.plans import preset, spec_custom

    if scenario == "tp":
        return spec_custom(stop_loss="20", take_profits=[("1.5x", "50"), ("2x", "30"), ("3x", "20")])
    if scenario == "sl":
        return preset("balanced")
    if scenario == "trailing":
        return spec_custom(stop_loss="20", take_profits=[("5x", "100")], trailing_activation="30", trailing_distance="10")
    if scenario == "time":
        return spec_custom(stop_loss="30", take_profits=[("5x", "100")], max_hold_seconds=TIME_STOP_SECONDS)
    return spec_custom(stop_loss="50", take_profits=[("6x", "100")])


# --- accounting (pure; tests/bench/test_chaos.py) -------------------------------------------------------------------


@dataclass
class PositionFacts:
    """One position as the database sees it at the end (one per wallet and mint in this run)."""

    owner: str
    mint: str
    scenario: str
    status: str
    size: int
    original_size: int
    confirmed_sells: int
    orders_open: int  # orders of this position not in a terminal state


@dataclass(frozen=True)
class WithdrawalFacts:
    destination: str
    amount: int  # lamports the withdrawal sends; the address receives nothing else
    on_chain: int  # lamports the address holds at the end
    confirmed: int  # confirmed withdrawal orders to it in the database
    orders_open: int  # its orders not in a terminal state


@dataclass
class Report:
    exits_expected: int = 0
    exits_done: int = 0
    double_submissions: int = 0
    lost: int = 0
    stuck: int = 0
    balance_mismatches: int = 0
    unrecorded_fills: int = 0
    duplicate_messages: int = 0
    missing_messages: int = 0
    withdrawals_expected: int = 0
    withdrawals_done: int = 0
    notes: list[str] = field(default_factory=list)


def account(*, ledger: list[dict], positions: list[PositionFacts], balances: dict[tuple[str, str], int],
            expected_messages: dict[int, list[str]], sent_messages: dict[int, list[str]],
            withdrawals: list[WithdrawalFacts] = ()) -> Report:
    """Compare the sandbox's ledger, the chain's balances and the stand-in's messages with the database.

    ledger: the sandbox ledger's swap entries (`GET /sandbox/ledger?swaps=true`); balances: token amount on chain
    per (owner, mint); messages: texts per chat (expected from the domain events, sent as counted by the stand-in).
    """
    report = Report()
    landed: Counter = Counter()
    for entry in ledger:
        swap = entry.get("swap")
        if swap and entry.get("status") == "landed":
            landed[(swap["owner"], swap["mint"], swap["side"])] += 1
    known = {(p.owner, p.mint) for p in positions}
    for (owner, mint, side), count in landed.items():
        if (owner, mint) not in known:
            report.unrecorded_fills += count
            report.notes.append(f"{count} landed {side}(s) of {owner[:8]}/{mint[:8]} with no position in the database")
    for p in positions:
        buys, sells = landed[(p.owner, p.mint, "buy")], landed[(p.owner, p.mint, "sell")]
        if buys > 1:
            report.double_submissions += buys - 1
            report.notes.append(f"{p.owner[:8]}/{p.mint[:8]}: {buys} landed buys")
        expected = SCENARIOS[p.scenario]["sells"] if buys else 0
        report.exits_expected += expected
        report.exits_done += sells
        if sells > expected:
            report.double_submissions += sells - expected
            report.notes.append(f"{p.owner[:8]}/{p.mint[:8]} ({p.scenario}): {sells} landed sells, {expected} expected")
        elif sells < expected:
            report.lost += expected - sells
            report.notes.append(f"{p.owner[:8]}/{p.mint[:8]} ({p.scenario}): {sells} landed sells, {expected} expected")
        if sells != p.confirmed_sells:
            report.unrecorded_fills += abs(sells - p.confirmed_sells)
            report.notes.append(f"{p.owner[:8]}/{p.mint[:8]}: ledger {sells} sells, database {p.confirmed_sells}")
        if p.orders_open or p.status not in TERMINAL_POSITIONS:
            report.stuck += max(1, p.orders_open)
            report.notes.append(f"{p.owner[:8]}/{p.mint[:8]}: position {p.status}, {p.orders_open} order(s) in flight")
        held = p.size if p.status in ("open", "closing") else 0
        on_chain = balances.get((p.owner, p.mint), 0)
        if on_chain != held:
            report.balance_mismatches += 1
            report.notes.append(f"{p.owner[:8]}/{p.mint[:8]}: {on_chain} on chain, {held} in the database")
    for w in withdrawals:
        landed, odd = divmod(w.on_chain, w.amount)
        report.withdrawals_expected += 1
        report.withdrawals_done += landed
        if odd:
            report.balance_mismatches += 1
            report.notes.append(f"withdrawal to {w.destination[:8]}: {w.on_chain} on chain, not a multiple of {w.amount}")
        if landed > 1:
            report.double_submissions += landed - 1
            report.notes.append(f"withdrawal to {w.destination[:8]}: landed {landed} times")
        elif landed == 0:
            report.lost += 1
            report.notes.append(f"withdrawal to {w.destination[:8]}: nothing arrived")
        if landed != w.confirmed:
            report.unrecorded_fills += abs(landed - w.confirmed)
            report.notes.append(f"withdrawal to {w.destination[:8]}: {landed} on chain, {w.confirmed} confirmed")
        if w.orders_open:
            report.stuck += w.orders_open
            report.notes.append(f"withdrawal to {w.destination[:8]}: {w.orders_open} order(s) in flight")
    for chat in set(expected_messages) | set(sent_messages):
        want, got = Counter(expected_messages.get(chat, [])), Counter(sent_messages.get(chat, []))
        for text in set(want) | set(got):
            if got[text] > want[text]:
                report.duplicate_messages += got[text] - want[text]
                report.notes.append(f"chat {chat}: {got[text]}x {text[:60]!r}, {want[text]} expected")
            elif got[text] < want[text]:
                report.missing_messages += want[text] - got[text]
                report.notes.append(f"chat {chat}: {got[text]}x {text[:60]!r}, {want[text]} expected")
    return report


def exit_delays(*, ledger: list[dict], scenario_of: dict[str, str], moves: dict[tuple[str, int], float]) -> list[float]:
    """Seconds from a price move to the landing of the sell it triggered (the k-th landed sell of a wallet and mint
    belongs to the k-th phase of its scenario that triggers one)."""
    landed: dict[tuple[str, str], list[float]] = {}
    for entry in ledger:
        swap = entry.get("swap")
        if swap and swap["side"] == "sell" and entry.get("status") == "landed" and entry.get("landed_at"):
            landed.setdefault((swap["owner"], swap["mint"]), []).append(entry["landed_at"])
    delays = []
    for (owner, mint), times in landed.items():
        phases = SCENARIOS[scenario_of[mint]]["trigger_phases"] if mint in scenario_of else []
        for phase, at in zip(phases, sorted(times)):
            if (mint, phase) in moves:
                delays.append(at - moves[(mint, phase)])
    return delays


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))] if ordered else 0.0


# --- processes -------------------------------------------------------------------------------------------------------


def as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Proc:
    """A child in its own session (so SIGKILL reaches its pool processes), output to a log file."""

    def __init__(self, name: str, command: list[str], env: dict, logdir: Path):
        self.name, self.command, self.env, self.log_path = name, command, env, logdir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.starts, self.started_at = 0, 0.0

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        self.starts += 1
        self.started_at = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def children(self) -> list[int]:
        if not self.alive():
            return []
        out = subprocess.run(["pgrep", "-P", str(self.popen.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill9(self) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait()

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        except ProcessLookupError:
            pass


class Postgres:
    def __init__(self, workdir: Path):
        self.data, self.log = workdir / "pg", workdir / "pg.log"
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(workdir, "postgres")
            shutil.chown(self.data, "postgres")
        subprocess.run(as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                    "--no-sync", "-E", "UTF8"]), check=True, capture_output=True)

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {PG_PORT} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                                    "-o", options, *args]), check=True, capture_output=True)

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "stop", "-m", "immediate"]),
                       capture_output=True)


class Redis:
    def __init__(self, workdir: Path):
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.proc = Proc("redis", ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir", str(self.dir),
                                   "--appendonly", "yes", "--save", ""], os.environ.copy(), workdir)

    def start(self) -> None:
        import redis

        self.proc.start()
        client = redis.Redis(port=REDIS_PORT)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise SystemExit("redis-server did not start; see its log")

    def restart(self) -> None:
        self.proc.stop()  # SIGTERM: redis writes the append-only file and exits
        self.start()


def environment(workdir: Path) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TELEGRAM_"))},
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PG_PORT}/jarvis_chaos",
        "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "DJANGO_SETTINGS_MODULE": "jarvis.settings",
        "JARVIS_IGNORE_DOTENV": "true",
        "SECRET_KEY": "chaos-only-secret-key-not-for-production",
        "LOG_LEVEL": "warning",
        "TRADING_MODE": "sandbox",
        "WALLET_ENCRYPTION_KEYS": "chaos:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "SOLANA_RPC_URL": f"http://127.0.0.1:{RPC_PORT}",
        "SANDBOX_RPC_PORT": str(RPC_PORT), "SANDBOX_BAGS_PORT": str(BAGS_PORT), "SANDBOX_JUPITER_PORT": str(JUP_PORT),
        "BAGS_API_URL": f"http://127.0.0.1:{BAGS_PORT}/api/v1",
        "BAGS_API_KEY": "sandbox-bags-key",
        "JUPITER_API_URL": f"http://127.0.0.1:{JUP_PORT}",
        "JUPITER_API_KEY": "sandbox-jupiter-key",
        "TELEGRAM_STANDIN_PORT": str(TG_PORT),
        "TELEGRAM_API_URL": f"http://127.0.0.1:{TG_PORT}",
        "PRICE_MAX_AGE_SECONDS": "3600",
        "EXECUTION_STALE_SECONDS": "10",
        "WEB_CONCURRENCY": "1", "WEB_THREADS": "2",
        "JARVIS_VAR_DIR": str(workdir / "var"),
    }


def celery_worker(name: str, queue: str, concurrency: int, env: dict, logdir: Path) -> Proc:
    command = [str(VENV_BIN / "celery"), "-A", "jarvis", "worker", "-Q", queue, "-P", "prefork", "-c", str(concurrency),
               "--prefetch-multiplier", "1", "-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat",
               "-n", f"chaos-{name}-{os.getpid()}@%h"]
    return Proc(name, command, env, logdir)


def port_taken(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def db_retry(fn, *args, attempts: int = 60, **kwargs):
    """Run a database call from this process, riding out the Postgres restart."""
    from django.db import OperationalError, InterfaceError, connections

    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError):
            connections.close_all()
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)


# --- the run ---------------------------------------------------------------------------------------------------------


class Chaos:
    def __init__(self, args, workdir: Path):
        self.args, self.workdir = args, workdir
        self.rng = random.Random(args.seed)
        self.logdir = workdir / "logs"
        self.logdir.mkdir()
        self.events: list[str] = []
        self.moves: dict[tuple[str, int], float] = {}  # (mint, phase) -> when its price was moved (wall clock)
        self.kills = {"worker": 0, "pool_process": 0, "with_orders_in_flight": 0}
        self.stop_killing = threading.Event()
        self.stop_supervising = threading.Event()
        self.beat_held = threading.Event()
        self.lock = threading.Lock()
        self.exits: dict[str, int] = {}
        self.withdrawals: list[tuple[str, int]] = []  # (destination, lamports) of each withdrawal placed
        self.t0 = time.monotonic()

    def note(self, text: str) -> None:
        line = f"[{time.monotonic() - self.t0:6.1f}s] {text}"
        self.events.append(line)
        print(line, flush=True)

    # killer thread: SIGKILL a trades worker (whole worker or the pool process of a running task) every few seconds
    def killer(self) -> None:
        while not self.stop_killing.wait(self.rng.uniform(self.args.kill_min, self.args.kill_max)):
            ready = [p for p in self.trades if p.alive() and time.monotonic() - p.started_at >= self.args.min_uptime]
            if not ready:  # every trades worker is still booting: a kill now would only stop the desk
                continue
            victim = self.rng.choice(ready)
            in_flight = orders_in_flight()
            children = victim.children()
            if children and self.rng.random() < 0.5:
                try:
                    os.kill(self.rng.choice(children), signal.SIGKILL)  # the worker's master forks a new one
                    self.kills["pool_process"] += 1
                except ProcessLookupError:
                    continue
            else:
                with self.lock:
                    victim.kill9()
                    self.kills["worker"] += 1
                    victim.start()
            self.kills["with_orders_in_flight"] += in_flight > 0

    # supervisor thread: what compose's restart policy (or systemd) does for the desk's processes
    def supervise(self, procs: list[Proc]) -> None:
        """Start again a desk process that exited on its own, and count it; the run's own kills restart their
        process themselves, and beat stays down while the run holds it down."""
        while not self.stop_supervising.wait(1.0):
            for proc in procs:
                with self.lock:
                    if proc.alive() or (proc.name == "beat" and self.beat_held.is_set()):
                        continue
                    self.exits[proc.name] = self.exits.get(proc.name, 0) + 1
                    self.note(f"{proc.name} exited on its own (status {proc.popen.returncode}); started again")
                    proc.start()

    def total_kills(self) -> int:
        return self.kills["worker"] + self.kills["pool_process"]


def orders_in_flight() -> int:
    """Orders between quoting and confirmation right now (0 when Postgres does not answer)."""
    import psycopg2

    try:
        conn = psycopg2.connect(f"postgres://postgres@127.0.0.1:{PG_PORT}/jarvis_chaos", connect_timeout=2)
    except psycopg2.Error:
        return 0
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM trading_order WHERE status IN ('quoting', 'signed', 'submitted')")
            return cursor.fetchone()[0]
    except psycopg2.Error:
        return 0
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traders", type=int, default=30)
    parser.add_argument("--per-trader", type=int, default=10)
    parser.add_argument("--mints", type=int, default=40)
    parser.add_argument("--kills", type=int, default=50, help="at least this many SIGKILLs of trades workers")
    parser.add_argument("--kill-min", type=float, default=2.0)
    parser.add_argument("--kill-max", type=float, default=5.0)
    parser.add_argument("--min-uptime", type=float, default=6.0,
                        help="a trades worker is killed again only after running this long (it needs a few s to boot)")
    parser.add_argument("--settle", type=float, default=200, help="reconciliation window cap, seconds")
    parser.add_argument("--confirm-delay", type=float, default=1.5,
                        help="seconds a share of transactions waits before its status shows (widens the send-confirm window)")
    parser.add_argument("--confirm-delay-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--withdrawals", type=int, default=6, help="SOL withdrawals placed while workers are killed")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, data) at the end")
    args = parser.parse_args()
    if args.per_trader > args.mints:
        parser.error("--per-trader cannot exceed --mints (one position per wallet and mint)")
    busy = [port for port in (PG_PORT, REDIS_PORT, WEB_PORT, RPC_PORT, BAGS_PORT, JUP_PORT, TG_PORT) if port_taken(port)]
    if busy:
        raise SystemExit(f"ports {busy} are in use (another chaos run?); set CHAOS_PG_PORT, CHAOS_REDIS_PORT, CHAOS_PORT_BASE")
    workdir = Path(tempfile.mkdtemp(prefix="jarvis-chaos-"))
    os.chmod(workdir, 0o755)
    run = Chaos(args, workdir)
    procs: list[Proc] = []
    pg = redis_server = None
    try:
        pg = Postgres(workdir)
        pg.start()
        redis_server = Redis(workdir)
        redis_server.start()
        env = environment(workdir)
        os.environ.update(env)
        run.note(f"own Postgres on {PG_PORT}, own Redis on {REDIS_PORT}, workdir {workdir}")
        return drive(run, env, procs, pg, redis_server)
    finally:
        run.stop_killing.set()
        run.stop_supervising.set()
        for proc in reversed(procs):
            proc.stop(timeout=10)
        if redis_server is not None:
            redis_server.proc.stop()
        if pg is not None:
            pg.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def drive(run: Chaos, env: dict, procs: list[Proc], pg: Postgres, redis_server: Redis) -> int:
    args = run.args
    import psycopg2

    conn = psycopg2.connect(f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres")
    conn.autocommit = True
    conn.cursor().execute("CREATE DATABASE jarvis_chaos")
    conn.close()
    py = str(VENV_BIN / "python")
    sandbox = Proc("sandbox", [py, "manage.py", "sandbox", "--no-walk", "--seed", str(args.seed)], env, run.logdir).start()
    procs.append(sandbox)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("setup_periodic_tasks", verbosity=0)
    wait_http(f"http://127.0.0.1:{RPC_PORT}/sandbox/state")
    from sandbox.telegram import BotApiStandin
    from sandbox.control import RemoteSandbox

    remote = RemoteSandbox(f"http://127.0.0.1:{RPC_PORT}/sandbox", timeout=30)
    standin = BotApiStandin(port=TG_PORT).start()
    base_prices = setup_market(remote, args)
    if args.confirm_delay > 0:
        remote.set_fault("rpc", "confirm_delay", probability=args.confirm_delay_share, seconds=args.confirm_delay)
    traders = setup_traders(remote, standin, args)
    run.note(f"{len(base_prices)} mints, {len(traders)} traders funded; starting the desk")

    web = Proc("web", [str(VENV_BIN / "gunicorn"), "jarvis.wsgi:application", "-c", "python:jarvis.gunicorn_conf",
                       "-b", f"127.0.0.1:{WEB_PORT}"], env, run.logdir)
    run.trades = [celery_worker("trades-a", "trades", 2, env, run.logdir), celery_worker("trades-b", "trades", 2, env, run.logdir)]
    others = [celery_worker("tpsl", "tpsl", 2, env, run.logdir), celery_worker("telegram", "telegram", 2, env, run.logdir),
              celery_worker("default", "default", 1, env, run.logdir)]
    beat = Proc("beat", [str(VENV_BIN / "celery"), "-A", "jarvis", "beat", "-l", "warning",
                         "--pidfile", str(run.workdir / "beat.pid"), "-s", str(run.workdir / "beat-schedule")], env, run.logdir)
    for proc in (web, *run.trades, *others, beat):
        procs.append(proc.start())
    wait_http(f"http://127.0.0.1:{WEB_PORT}/api/v1/health/")
    time.sleep(3)
    threading.Thread(target=run.supervise, args=(list(procs[1:]),), daemon=True).start()  # not the sandbox
    killer = threading.Thread(target=run.killer, daemon=True)
    killer.start()
    run.note("desk up; killing trades workers from now on")

    open_positions(run, traders, base_prices)
    place_withdrawals(run, traders)
    wait_for(run, remote, traders, base_prices, phase=-1, timeout=150)
    run.note("Redis restart")
    redis_server.restart()
    for phase in (0, 1):
        drive_prices(run, remote, base_prices, phase)
        if phase == 0:
            time.sleep(8)
            run.note("Postgres restart (fast shutdown)")
            pg.restart()
        wait_for(run, remote, traders, base_prices, phase=phase, timeout=150)
        if phase == 0:
            run.note("beat killed (SIGKILL); restarted in 10 s")
            with run.lock:
                run.beat_held.set()
                beat.kill9()
            time.sleep(10)
            with run.lock:
                beat.start()
                run.beat_held.clear()
    while run.total_kills() < args.kills:
        time.sleep(1)
    run.stop_killing.set()
    killer.join()
    run.note(f"chaos over after {run.total_kills()} kills; reconciliation window (at most {args.settle:.0f} s)")
    settle(run, remote, traders, base_prices, args.settle)
    return finish(run, remote, standin, traders, base_prices, web)


def setup_market(remote, args) -> dict[str, tuple[str, Decimal]]:
    """mint -> (scenario, base price)."""
    out = {}
    for index in range(args.mints):
        price = Decimal("0.0001") * (index + 1)
        token = remote._call("POST", "/tokens", json={"symbol": f"C{index:03d}", "decimals": 6 + index % 4, "price": str(price)})
        out[token["mint"]] = (SCENARIO_ORDER[index % len(SCENARIO_ORDER)], price)
    return out


def setup_traders(remote, standin, args) -> list[dict]:
    from telegram_app.models import TelegramAccount
    from trading.models import RiskLimits
    from trading.services import trader_register, trading_settings_update
    from trading.wallets import wallet_create

    big = 10**9 * SOL
    RiskLimits.objects.create(max_trade_lamports=big, max_open_positions=100_000, daily_loss_limit_lamports=big,
                              daily_volume_cap_lamports=big)
    traders = []
    for index in range(args.traders):
        trader = trader_register(name=f"chaos-{index}")
        trading_settings_update(trader=trader, mode="sandbox")
        wallet = wallet_create(trader=trader)
        chat_id = CHAT_BASE + index
        TelegramAccount.objects.create(telegram_user_id=chat_id, chat_id=chat_id, trader=trader)
        standin.add_chat(chat_id)
        remote.airdrop(wallet.public_key, (args.per_trader + 2) * BUY_LAMPORTS * 2)
        traders.append({"trader": trader, "owner": wallet.public_key, "chat_id": chat_id})
    return traders


def open_positions(run: Chaos, traders: list[dict], base_prices: dict) -> None:
    from trading.errors import TradingError
    from trading.models import Position
    from trading.services import position_open

    mints = list(base_prices)
    wanted = []
    for t_index, t in enumerate(traders):
        for j in range(run.args.per_trader):
            wanted.append((t, mints[(t_index * 7 + j) % len(mints)]))
    run.rng.shuffle(wanted)
    errors = refused = 0
    for t, mint in wanted:
        for _ in range(20):
            try:
                position_open(trader=t["trader"], mint=mint, amount_lamports=BUY_LAMPORTS, exit_plan=plan_for(base_prices[mint][0]))
                break
            except TradingError as exc:  # a refusal is the desk's answer, not a fault: nothing was written
                refused += 1
                run.note(f"open refused: {exc}")
                break
            except Exception as exc:  # noqa: BLE001 - Redis or Postgres may be down; the row may exist already
                errors += 1
                if errors <= 5:
                    run.note(f"open failed ({type(exc).__name__}: {str(exc)[:100]}); retrying")
                time.sleep(0.5)
                if db_retry(lambda: Position.objects.filter(trader=t["trader"], token__mint=mint).exists()):
                    break
    run.note(f"{len(wanted)} positions requested ({refused} refused, {errors} service errors on the way)")


def place_withdrawals(run: Chaos, traders: list[dict]) -> None:
    """SOL withdrawals of the first traders, through the desk's service (the order path every withdrawal takes), each
    to a fresh address with an amount no other has; retried like the entries while Redis or Postgres are away."""
    from solders.keypair import Keypair

    from trading.errors import TradingError
    from trading.models import Order
    from trading.services.withdrawals import SOL as SOL_ASSET, withdrawal_place

    errors = 0
    for index, t in enumerate(traders[: run.args.withdrawals]):
        destination, amount = str(Keypair().pubkey()), SOL // 50 + index
        for _ in range(20):
            try:
                withdrawal_place(trader=t["trader"], asset=SOL_ASSET, amount=amount, destination=destination)
                run.withdrawals.append((destination, amount))
                break
            except TradingError as exc:
                run.note(f"withdrawal refused: {exc}")
                break
            except Exception as exc:  # noqa: BLE001 - Redis or Postgres may be down; the order may exist already
                errors += 1
                time.sleep(0.5)
                if db_retry(lambda: Order.objects.filter(destination=destination).exists()):
                    run.withdrawals.append((destination, amount))
                    break
    run.note(f"{len(run.withdrawals)} withdrawals placed ({errors} service errors on the way)")


def landed_counts(remote) -> Counter:
    counts: Counter = Counter()
    for entry in remote.ledger(swaps="true", status="landed"):
        swap = entry["swap"]
        counts[(swap["owner"], swap["mint"], swap["side"])] += 1
    return counts


def drive_prices(run: Chaos, remote, base_prices: dict, phase: int) -> None:
    moved = 0
    for mint, (scenario, base) in base_prices.items():
        multiple = SCENARIOS[scenario]["phases"][phase]
        if multiple is not None:
            remote.set_price(mint, base * multiple)
            run.moves[(mint, phase)] = time.time()
            moved += 1
    run.note(f"phase {phase + 1}: {moved} mints moved")


def expected_sells_by_phase(scenario: str, phase: int) -> int:
    if phase < 0:
        return 0
    if scenario == "tp":
        return phase + 1
    if scenario in ("sl",):
        return 1
    if scenario == "trailing":
        return 0 if phase == 0 else 1
    return 0


def wait_for(run: Chaos, remote, traders, base_prices, *, phase: int, timeout: float) -> None:
    """Until every position has the landed buy and the sells this phase asks for (ledger), or the timeout."""
    deadline = time.monotonic() + timeout
    owners_mints = positions_wanted(run, traders, base_prices)
    while True:
        counts = landed_counts(remote)
        behind = sum(1 for owner, mint in owners_mints if counts[(owner, mint, "buy")] < 1
                     or counts[(owner, mint, "sell")] < expected_sells_by_phase(base_prices[mint][0], phase))
        if behind == 0 or time.monotonic() > deadline:
            run.note(f"phase {phase + 1} settled: {behind} position(s) behind, kills so far {run.total_kills()}")
            return
        time.sleep(1)


def positions_wanted(run: Chaos, traders, base_prices) -> list[tuple[str, str]]:
    """(owner, mint) of every position the database holds that did not fail."""
    from trading.models import Position

    rows = Position.objects.exclude(status="failed").values_list("wallet__public_key", "token__mint")
    return db_retry(lambda: list(rows))


def db_state() -> tuple[int, int, int]:
    from telegram_app.models import OutboxMessage
    from trading.models import DomainEvent, Order, Position

    open_orders = Order.objects.exclude(status__in=TERMINAL_ORDERS).count()
    moving = Position.objects.exclude(status__in=TERMINAL_POSITIONS).count()
    unsent = OutboxMessage.objects.filter(status__in=("pending", "sending")).count()
    unsent += DomainEvent.objects.filter(delivered_at__isnull=True, trader__isnull=False).count()
    return open_orders, moving, unsent


def settle(run: Chaos, remote, traders, base_prices, cap: float) -> None:
    deadline = time.monotonic() + cap
    owners_mints = positions_wanted(run, traders, base_prices)
    while time.monotonic() < deadline:
        counts = landed_counts(remote)
        behind = sum(1 for owner, mint in owners_mints
                     if counts[(owner, mint, "buy")] and counts[(owner, mint, "sell")] < SCENARIOS[base_prices[mint][0]]["sells"])
        open_orders, moving, unsent = db_retry(db_state)
        if not (behind or open_orders or moving or unsent):
            run.note("settled: every exit landed, no order in flight, every message sent")
            return
        time.sleep(2)
    run.note(f"reconciliation window over: {behind} exit(s) behind, {open_orders} order(s) and {moving} position(s) "
             f"in flight, {unsent} message(s) unsent")


def finish(run: Chaos, remote, standin, traders, base_prices, web: Proc) -> int:
    import httpx
    from django.db.models import Count, Q

    from telegram_app.notify import event_text
    from trading.models import DomainEvent, Order, Position

    by_owner = {t["owner"]: t for t in traders}
    facts = []
    rows = Position.objects.select_related("token", "wallet").annotate(
        sells=Count("orders", filter=Q(orders__side="sell", orders__status="confirmed")),
        inflight=Count("orders", filter=~Q(orders__status__in=TERMINAL_ORDERS)),
    )
    balances = {}
    for p in rows:
        owner = p.wallet.public_key
        facts.append(PositionFacts(owner=owner, mint=p.token.mint, scenario=base_prices[p.token.mint][0], status=p.status,
                                   size=p.size, original_size=p.original_size or 0, confirmed_sells=p.sells,
                                   orders_open=p.inflight))
        balances[(owner, p.token.mint)] = int(remote.balance(owner, p.token.mint).get("amount") or 0)
    expected: dict[int, list[str]] = {}
    chat_of = {t["trader"].pk: t["chat_id"] for t in by_owner.values()}
    for event in DomainEvent.objects.filter(trader__isnull=False).order_by("id"):
        text = event_text(event.kind, event.payload or {})
        if text:
            expected.setdefault(chat_of[event.trader_id], []).append(text)
    sent: dict[int, list[str]] = {}
    for entry in standin.log(method="sendMessage"):
        sent.setdefault(entry["chat_id"], []).append(entry["text"])
    withdrawals = []
    for destination, amount in run.withdrawals:
        orders = Counter(Order.objects.filter(destination=destination).values_list("status", flat=True))
        withdrawals.append(WithdrawalFacts(
            destination=destination, amount=amount, on_chain=int(remote.balance(destination)["lamports"]),
            confirmed=orders["confirmed"], orders_open=sum(n for st, n in orders.items() if st not in TERMINAL_ORDERS)))
    ledger = remote.ledger(swaps="true")
    report = account(ledger=ledger, positions=facts, balances=balances, expected_messages=expected, sent_messages=sent,
                     withdrawals=withdrawals)
    delays = exit_delays(ledger=ledger, scenario_of={m: sc for m, (sc, _) in base_prices.items()}, moves=run.moves)
    orders = Order.objects.count()
    statuses = dict(Counter(Order.objects.values_list("status", flat=True)))
    health = httpx.get(f"http://127.0.0.1:{WEB_PORT}/api/v1/health/", timeout=5).status_code if web.alive() else None
    load = os.getloadavg()
    for line in report.notes[:40]:
        print("  !", line)
    print(f"orders by status: {statuses}; ledger: {remote.ledger_summary()}")
    print(f"messages sent by the stand-in: {sum(len(v) for v in sent.values())}, expected {sum(len(v) for v in expected.values())}; "
          f"flood 429s: {standin.stats()['flood_429s']}; web liveness: {health}; load average {load[0]:.2f} {load[1]:.2f}")
    result = {
        "bench": "chaos", "kills": run.total_kills(), "kills_worker": run.kills["worker"],
        "kills_pool_process": run.kills["pool_process"], "kills_with_orders_in_flight": run.kills["with_orders_in_flight"],
        "restarts": {"redis": 1, "postgres": 1, "beat": 1},
        "positions": len(facts), "orders": orders, "exits_expected": report.exits_expected, "exits_done": report.exits_done,
        "withdrawals_expected": report.withdrawals_expected, "withdrawals_done": report.withdrawals_done,
        "double_submissions": report.double_submissions, "lost": report.lost, "stuck": report.stuck,
        "duplicate_messages": report.duplicate_messages, "missing_messages": report.missing_messages,
        "balance_mismatches": report.balance_mismatches, "unrecorded_fills": report.unrecorded_fills,
        "exits_on_their_own": run.exits,
        "exit_delay_p50_s": round(percentile(delays, 50), 1), "exit_delay_p95_s": round(percentile(delays, 95), 1),
        "exit_delay_max_s": round(max(delays, default=0.0), 1),
        "messages": sum(len(v) for v in sent.values()), "seconds": round(time.monotonic() - run.t0, 1),
        "load_avg_1m": round(load[0], 2),
    }
    print(json.dumps(result))
    return 1 if any(result[k] for k in FAILURE_KEYS) else 0


if __name__ == "__main__":
    sys.exit(main())
