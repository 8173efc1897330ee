"""Exactly one scheduler: two real `celery -A jarvis beat` processes on the test's own Redis; the one holding the beat
lock sends, the other waits as a standby; the holder is killed (SIGKILL) and the standby takes over. Every message a
beat sends names the process that sent it (Celery's `origin` header), so the test counts what each beat sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_lib
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jarvis.beat import BEAT_LOCK_KEY
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
PROBE = "jarvis.beat_failover_probe"  # a task no worker runs: its messages stay in the queue to be counted
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def sent_by(client: redis_lib.Redis) -> dict[str, int]:
    """How many probe messages each beat sent (by the sender's `origin`, gen<pid>@host)."""
    counts: dict[str, int] = {}
    for raw in client.lrange("default", 0, -1):
        headers = json.loads(raw)["headers"]
        if headers["task"] == PROBE:
            pid = headers["origin"].split("@")[0].removeprefix("gen")
            counts[pid] = counts.get(pid, 0) + 1
    return counts


def test_a_second_beat_waits_and_takes_over_when_the_holder_is_killed(second_redis, tmp_path):
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="beat failover probe", task=PROBE, interval=every)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": second_redis.url,
        "BEAT_LOCK_SECONDS": "2",
        "LOG_LEVEL": "warning",
    }
    client = redis_lib.Redis.from_url(second_redis.url)
    beats: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "jarvis", "beat", "--loglevel", "WARNING",
             "--pidfile", str(tmp_path / f"{name}.pid")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        beats.append(process)
        return process

    def log(name: str) -> str:
        return (tmp_path / f"{name}.log").read_text(errors="replace")

    try:
        started = time.monotonic()
        first = start("first")
        wait_for(lambda: sent_by(client).get(str(first.pid), 0) >= 2, timeout=60, message="the first beat sending")
        second = start("second")
        wait_for(lambda: "beat: standby" in log("second"), timeout=60, message="the second beat waiting as a standby")
        before = sent_by(client).get(str(first.pid), 0)
        wait_for(lambda: sent_by(client).get(str(first.pid), 0) >= before + 3, timeout=30,
                 message="the first beat sending while the second waits")
        assert client.get(BEAT_LOCK_KEY).decode().split(":")[1] == str(first.pid)

        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        at_kill = sent_by(client)
        assert str(second.pid) not in at_kill  # the standby sent nothing while the holder lived

        wait_for(lambda: sent_by(client).get(str(second.pid), 0) >= 1, timeout=30, message="the standby taking over")
        took = time.monotonic() - killed_at
        print(f"\nbeat takeover: the standby sent its first task {took:.2f} s after the holder was killed "
              f"(BEAT_LOCK_SECONDS=2)")
        wait_for(lambda: sent_by(client).get(str(second.pid), 0) >= 3, timeout=30, message="the new holder sending")
        after = sent_by(client)
        assert after[str(first.pid)] == at_kill[str(first.pid)]
        assert "beat: active scheduler now" in log("second")
        assert client.get(BEAT_LOCK_KEY).decode().split(":")[1] == str(second.pid)
        # No slot sent twice: one scheduler sends the 1 s probe at most once a second, and the new holder starts from
        # the last run the old one wrote; two schedulers sending would pass this bound.
        assert sum(after.values()) <= (time.monotonic() - started) + 1
    finally:
        for process in beats:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        client.close()


def test_a_standby_reads_nothing_until_it_holds_the_lock_and_a_holder_that_loses_it_stops(settings, clean_redis):
    """In one process: a beat finding the lock held waits (reads no schedule, sends nothing); it takes the lock once
    free; when another holder has it (this one stalled past the lock's life), it stops instead of sending."""
    from jarvis.beat import LeasedScheduler
    from jarvis.celery import app
    from jarvis.locks import Lease

    settings.BEAT_LOCK_SECONDS = 2
    other = Lease(BEAT_LOCK_KEY, seconds=30)
    assert other.acquire()
    scheduler = LeasedScheduler(app=app)
    assert scheduler.tick() == scheduler.lease.renew_every
    assert (scheduler.active, scheduler.schedule_read) == (False, False)

    other.release()
    scheduler.tick()
    assert (scheduler.active, scheduler.schedule_read) == (True, True)
    assert clean_redis.get(BEAT_LOCK_KEY).decode() == scheduler.lease.token

    clean_redis.set(BEAT_LOCK_KEY, "elsewhere:1:0000", ex=30)
    with pytest.raises(SystemExit):
        wait_for(lambda: scheduler.tick() < 0, timeout=20, interval=0.1, message="the beat noticing the lock taken")
    assert clean_redis.get(BEAT_LOCK_KEY) == b"elsewhere:1:0000"  # never released someone else's lock
