"""One Redis lock for the whole desk: redis-py's `Lock` (a token, an expiry, atomic renew and release) held by
one process and renewed while it works.

    lease = Lease("jarvis:order:7:lander", seconds=30)
    if lease.acquire():                 # False: someone else holds it
        try:
            ...; lease.renew()          # push the expiry out; False once another holder has it
        finally:
            lease.release()             # never releases someone else's lock

    with Lease(name, seconds=ttl) as held:  # a watchdog thread renews it while the block runs
        if held is None: ...               # taken: not run
        held.owned()                       # False once a renewal found another holder

A lapsed lease that nobody took is taken back on renewal. The token names the holder (host:pid:random), so a
refused caller can say who holds the lock, and it can be handed to the next task (`Lease(name, token=...)`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import redis

from jarvis.redis import redis_client

logger = logging.getLogger(__name__)


class Lease:
    def __init__(self, key: str, *, seconds: float, token: str | None = None, renew_every: float = 0.0,
                 client: redis.Redis | None = None):
        self.key = key
        self.seconds = seconds
        self.renew_every = renew_every  # at most one Redis call per this many seconds from renew()
        self.token = token or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = client or redis_client()
        self.lock = self.client.lock(key, timeout=seconds, blocking=False, thread_local=False)
        self.lock.local.token = self.token.encode()  # the token is ours from the start: a handed-over lease renews
        self.lost = False
        self._renewed_at = float("-inf")
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    def acquire(self) -> bool:
        held = bool(self.lock.acquire(blocking=False, token=self.token))
        if held:
            self._renewed_at = time.monotonic()
        return held

    def renew(self) -> bool:
        """Push the expiry out again; if it lapsed while nobody took it, take it back. False only when another
        holder has it now."""
        if time.monotonic() - self._renewed_at < self.renew_every:
            return True
        try:
            self.lock.reacquire()
        except redis.exceptions.LockError:
            return self.acquire()
        self._renewed_at = time.monotonic()
        return True

    def release(self) -> None:
        try:
            self.lock.release()
        except redis.exceptions.LockError:  # lapsed, or someone else's by now: nothing of ours to release
            pass

    def holder(self) -> str | None:
        """Who holds the lock now (their token), if anyone."""
        value = self.client.get(self.key)
        return value.decode() if value else None

    def owned(self) -> bool:
        if self.lost:
            logger.warning("lost the lock %s to another holder", self.key)
        return not self.lost

    def _watch(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                renewed = self.renew()
            except redis.RedisError:
                logger.warning("could not renew the lock %s", self.key, exc_info=True)
                continue
            if not renewed:
                self.lost = True
                return

    def __enter__(self) -> Lease | None:
        if not self.acquire():
            return None
        self._watchdog = threading.Thread(target=self._watch, name=f"lease:{self.key}", daemon=True)
        self._watchdog.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._watchdog is not None and self._watchdog.is_alive():
            self._watchdog.join()
        self.release()
