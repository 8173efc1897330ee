"""The bot keeps its single-instance lock while its handlers' thread pool is busy."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from telegram_app import limits
from telegram_app.bot.runner import _hold


def test_the_lock_is_refreshed_while_every_handler_thread_is_busy(clean_redis):
    lock = limits.single_instance_lock("test-busy-pool", ttl_seconds=3)  # refreshed every second
    lock.acquire()
    release = threading.Event()

    async def scenario():
        loop = asyncio.get_running_loop()
        busy = ThreadPoolExecutor(1)  # the handlers' pool, its one thread stuck in a slow handler
        loop.set_default_executor(busy)
        stuck = loop.run_in_executor(None, release.wait, 60)
        stop = asyncio.Event()
        holder = asyncio.create_task(_hold(lock, stop))
        # Watch the refreshes themselves: each one raises the key's remaining lifetime again.
        refreshes, last, give_up = 0, clean_redis.pttl(lock.key), loop.time() + 30
        while refreshes < 3 and not stop.is_set() and loop.time() < give_up:
            await asyncio.sleep(0.05)
            remaining = clean_redis.pttl(lock.key)
            refreshes, last = refreshes + (remaining > last), remaining
        kept = not stop.is_set() and clean_redis.get(lock.key) == lock.token.encode()
        stop.set()
        release.set()
        await asyncio.gather(holder, stuck)
        return refreshes, kept

    try:
        assert asyncio.run(scenario()) == (3, True)
    finally:
        release.set()
        lock.release()
