"""/vibe latency: from an admin's message to the first edit of the answer, with the provider answering after 1 s.

    .venv/bin/python bench/vibe.py --admins 10 --questions 50

The bot runs as `manage.py runbot`, the `vibe` queue's worker and the `telegram` queue's worker as Celery workers
(threads, as docker-compose.yml runs them), each in its own process; the Bot API stand-in and the LLM stand-in
(`sandbox.llm`, first byte after --delay seconds, then the answer streamed) are served from this process, so the
admin's message and the edits are timed on one clock.

Measured: the time from the message handed to the bot to the first editMessageText of its answer, p50/p95, for
--questions questions asked by --admins admins at once (each asks its next question when the last was answered).
Baseline, same run: the same questions asked by one admin at a time (no concurrency), after one unmeasured
warm-up question per admin; the load p95 is also given as a ratio of it. Goal: p95 under 2 s at 10 admins.

Where it runs: a database of its own, jarvis_bench_vibe_r<BENCH_REDIS_DB> (created and migrated when missing), and
Redis database BENCH_REDIS_DB (default 12). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "12")
DB_NAME = f"jarvis_bench_vibe_r{REDIS_DB}"
BASE_ADMIN = 880_000_000
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "jarvis.settings", "DATABASE_URL": f"{SERVER}/{DB_NAME}",
    "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}", "JARVIS_IGNORE_DOTENV": "true", "LOG_LEVEL": "warning",
    "SECRET_KEY": "bench-only-secret-key-not-for-production", "JARVIS_VAR_DIR": str(ROOT / "var" / f"bench-vibe-r{REDIS_DB}"),
    "TELEGRAM_BOT_TOKEN": "", "VIBE_API_KEY": "bench-llm-key-0123456789", "VIBE_DAILY_TOKENS": "100000000",
    "TELEGRAM_COMMAND_BURST": "100",
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

import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from sandbox.llm import LlmStandin  # noqa: E402
from sandbox.telegram import BotApiStandin  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


def start_processes(env: dict) -> list[subprocess.Popen]:
    python = sys.executable
    celery = str(Path(python).parent / "celery")
    log_dir = Path(settings.VAR_DIR) / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)

    def spawn(name: str, argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log_dir / f"vibe.{name}.log", "w"))

    return [
        spawn("runbot", [python, str(ROOT / "manage.py"), "runbot"]),
        spawn("worker-vibe", [celery, "-A", "jarvis", "worker", "-Q", "vibe", "-P", "threads", "-c", "16",
                              "-n", "bench-vibe@%h", "--loglevel", "WARNING"]),
        spawn("worker-telegram", [celery, "-A", "jarvis", "worker", "-Q", "telegram", "-P", "threads", "-c", "8",
                                  "-n", "bench-vibe-telegram@%h", "--loglevel", "WARNING"]),
    ]


def wait_bot_ready(standin: BotApiStandin, user: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    probe = standin.send_text(user, "/help")
    while time.monotonic() < deadline:
        if probe["update_id"] in standin.world.answered:
            return
        time.sleep(0.1)
    raise SystemExit("the bot did not answer within 90 s")


def ask(standin: BotApiStandin, admin: int, n: int, timeout: float = 60) -> float:
    """One question; returns seconds from the message to the first edit of its answer (waits for the whole answer)."""
    question = f"/vibe how is it going, question {n}?"
    sent = time.monotonic()
    standin.send_text(admin, question)
    first = None
    deadline = sent + timeout
    while time.monotonic() < deadline:
        edits = [e for e in standin.log(admin, "editMessageText") if e["at"] >= sent]
        if edits and first is None:
            first = edits[0]["at"] - sent
        if any("I found no desk tool for it." in e["text"] for e in edits):
            return first
        time.sleep(0.01)
    raise SystemExit(f"admin {admin}: no whole answer to question {n} within {timeout} s")


def run(standin: BotApiStandin, admins: list[int], questions: int) -> list[float]:
    """``questions`` questions spread over ``admins`` asking at once (each waits for its answer before the next)."""
    results: list[float] = []
    lock = threading.Lock()
    counter = iter(range(questions))

    def admin_loop(admin: int) -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            took = ask(standin, admin, n)
            with lock:
                results.append(took)

    threads = [threading.Thread(target=admin_loop, args=(a,)) for a in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admins", type=int, default=10)
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--baseline-questions", type=int, default=10)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds the provider stand-in takes to its first byte")
    args = parser.parse_args()
    admins = [BASE_ADMIN + i for i in range(args.admins)]
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    from assistant.models import Conversation

    Conversation.objects.filter(admin_id__in=admins).delete()  # each run starts with fresh conversations
    standin = BotApiStandin().start()
    llm = LlmStandin(delay_s=args.delay, chunk_delay_s=0.02).start()
    env = dict(os.environ, TELEGRAM_API_URL=standin.url, VIBE_BASE_URL=llm.url,
               TELEGRAM_ADMIN_IDS=",".join(str(a) for a in admins))
    procs = start_processes(env)
    try:
        wait_bot_ready(standin, admins[0])
        run(standin, admins, len(admins))  # warm-up, not measured: workers start, threads connect, the SDK loads
        baseline = run(standin, admins[:1], args.baseline_questions)
        load = run(standin, admins, args.questions)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        standin.stop()
        llm.stop()
    base_p95, p50, p95 = percentile(baseline, 95) * 1000, percentile(load, 50) * 1000, percentile(load, 95) * 1000
    print(f"provider first byte after {args.delay:.1f} s; {len(llm.received)} provider requests")
    print(f"baseline, one admin at a time: {len(baseline)} questions, first edit p50 "
          f"{statistics.median(baseline) * 1000:.0f} ms, p95 {base_p95:.0f} ms")
    print(f"{args.admins} admins at once: {len(load)} questions, first edit p50 {p50:.0f} ms, p95 {p95:.0f} ms "
          f"({p95 / base_p95:.2f}x the baseline); goal p95 < 2000 ms: {'met' if p95 < 2000 else 'NOT met'}")
    print(json.dumps({"bench": "vibe", "first_edit_p95_ms": round(p95, 1), "first_edit_p50_ms": round(p50, 1),
                      "questions": len(load), "admins": args.admins, "baseline_p95_ms": round(base_p95, 1),
                      "ratio_to_baseline": round(p95 / base_p95, 2), "provider_delay_s": args.delay}))


if __name__ == "__main__":
    main()
