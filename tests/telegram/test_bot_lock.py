"""The bot keeps its single-instance lock while its handlers' thread pool is busy."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from telegram_app import limits
from telegram_app.bot.runner import _hold


def test_the_lock_is_refreshed_while_every_handler_thread_is_busy(clean_redis):
    lock = limits.single_instance_lock("test-busy-pool", ttl_seconds=0.6)  # refreshed every 0.2 s
    lock.acquire()
    release = threading.Event()

    async def scenario():
        busy = ThreadPoolExecutor(1)  # the handlers' pool, its one thread stuck in a slow handler
        asyncio.get_running_loop().set_default_executor(busy)
        stuck = asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        stop = asyncio.Event()
        holder = asyncio.create_task(_hold(lock, stop))
        await asyncio.sleep(2.0)  # more than three lifetimes of the lock
        kept = not stop.is_set() and clean_redis.get(lock.key) == lock.token.encode()
        stop.set()
        release.set()
        await asyncio.gather(holder, stuck)
        return kept

    try:
        assert asyncio.run(scenario())
    finally:
        release.set()
        lock.release()
