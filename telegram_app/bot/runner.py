"""Running the bot: long polling, or draining updates the webhook view stored, under a single-instance lock."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from telegram import Update
from telegram.error import NetworkError, TimedOut

from jarvis.locks import Lease
from monitoring import heartbeats
from telegram_app import botapi, limits, services
from telegram_app.bot import ingress
from telegram_app.bot.app import build_application

logger = logging.getLogger(__name__)
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]  # an edit can paste a key too


def lock_for(token: str, api_url: str) -> Lease:
    digest = hashlib.sha256(f"{api_url}|{token}".encode()).hexdigest()[:16]
    return limits.single_instance_lock(f"runbot:{digest}")


def _acquire(lock: Lease) -> None:
    if not lock.acquire():
        raise limits.LockHeld(lock.holder() or "another process")


def _heartbeat(mode: str) -> None:
    """The bot's readiness heartbeat (monitoring reads it); a Redis blip must not stop the bot."""
    try:
        heartbeats.heartbeat_write(heartbeats.redis_for(settings.REDIS_URL), component="bot", detail={"mode": mode})
    except Exception:  # noqa: BLE001 - readiness will report the stale heartbeat instead
        logger.warning("could not write the bot heartbeat", exc_info=True)


async def _hold(lock: Lease, stop: asyncio.Event, mode: str = "polling") -> None:
    """Keep the single-instance lock and the heartbeat fresh while the bot runs. On a thread of its own: behind
    the handlers' pool (busy updates, or handlers waiting on a slow price source) a refresh could wait past the
    lock's lifetime and the bot would stop itself."""
    loop = asyncio.get_running_loop()
    parent = os.getppid() if mode == "partition" else None
    with ThreadPoolExecutor(1, thread_name_prefix="bot-lock") as keeper:
        await loop.run_in_executor(keeper, _heartbeat, mode)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=lock.seconds / 3)
            except TimeoutError:
                pass
            if parent is not None and os.getppid() != parent:
                logger.error("the runbot reader that started this partition is gone; stopping")
                stop.set()
            if not stop.is_set() and not await loop.run_in_executor(keeper, lock.renew):
                logger.error("the single-bot lock was lost; stopping so two bots never run at once")
                stop.set()
            elif not stop.is_set():
                await loop.run_in_executor(keeper, _heartbeat, mode)


async def _drain_webhook(app, stop: asyncio.Event) -> None:
    """Feed stored webhook updates to the application in update_id order; a crash leaves them stored."""
    client = limits.client()
    last = 0
    while not stop.is_set():
        rows = await asyncio.to_thread(services.inbound_next, after=last, limit=100)
        for row in rows:
            await app.update_queue.put(Update.de_json(row.payload, app.bot))
            last = row.update_id
        if not rows:
            await asyncio.to_thread(client.blpop, [f"{limits.PREFIX}inbound"], 1)


class _QuietWhileStopping(logging.Filter):
    """While the bot stops, a Bot API that is already gone is expected (`make run` stops the local stand-in at
    the same time as the bot): one INFO line instead of python-telegram-bot's traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, NetworkError):  # TimedOut included
            record.msg = "Bot API unreachable while stopping (%s); updates not confirmed are fetched again on restart"
            record.args = (type(exc).__name__,)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
        return True


def _polling_error(stop: asyncio.Event):
    """python-telegram-bot retries polling by itself; a network error is one line, not a traceback."""
    def report(exc) -> None:
        if stop.is_set():
            return
        if isinstance(exc, NetworkError):
            logger.warning("Bot API unreachable while polling (%s: %s); retrying", type(exc).__name__, exc)
        else:
            logger.error("polling for updates failed: %s", type(exc).__name__, exc_info=exc)

    return report


async def _mark_done(update: Update) -> None:
    await asyncio.to_thread(services.inbound_done, update_id=update.update_id)


async def _initialize(app, stop: asyncio.Event, *, budget_s: float = 60.0) -> None:
    """getMe until the Bot API answers (the local stand-in may still be starting); bounded, with backoff."""
    loop = asyncio.get_running_loop()
    deadline, delay = loop.time() + budget_s, 0.25
    while True:
        try:
            await app.initialize()
            return
        except (NetworkError, TimedOut) as exc:
            if loop.time() + delay > deadline or stop.is_set():
                raise
            logger.warning("Bot API not reachable yet (%s); retrying in %.1f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def serve(*, mode: str = "polling", token: str | None = None, api_url: str | None = None,
                stop: asyncio.Event | None = None, ready: asyncio.Event | None = None,
                partitions: int = 0, partition: int | None = None) -> None:
    """Run until ``stop`` is set (or SIGINT/SIGTERM). Raises limits.LockHeld if another bot runs.

    Modes: "polling" (getUpdates, handled here), "webhook" (updates the web role stored), "reader" (getUpdates
    routed to ``partitions`` Redis lists, handled by nothing here) and "partition" (the updates of partition
    ``partition``): see telegram_app.bot.ingress."""
    token = token or botapi.bot_token()
    api_url = api_url or settings.TELEGRAM_API_URL
    stop = stop or asyncio.Event()
    lock = lock_for(token, api_url if mode != "partition" else f"{api_url}#partition{partition}")
    await asyncio.to_thread(_acquire, lock)
    loop = asyncio.get_running_loop()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (RuntimeError, ValueError):
                pass  # not the main thread (tests, botshell): the caller sets `stop`
        feed = None
        if mode == "partition":
            app = build_application(token=token, api_url=api_url, polling=False, after_update=lambda u: feed.handled(u))
            feed = ingress.PartitionFeed(app, partition)
        else:
            app = build_application(token=token, api_url=api_url, polling=mode == "polling",
                                    after_update=_mark_done if mode == "webhook" else None)
        holder = asyncio.create_task(_hold(lock, stop, mode))
        await _initialize(app, stop)
        await app.post_init(app)  # run_polling() would call it; serve() drives the Application itself
        async with app:
            await app.start()
            if mode == "polling":
                await app.bot.delete_webhook(drop_pending_updates=False)
                await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=30, poll_interval=0.0,
                                                error_callback=_polling_error(stop))
                drain = None
            elif mode == "reader":
                await app.bot.delete_webhook(drop_pending_updates=False)
                drain = asyncio.create_task(ingress.read_updates(app.bot, partitions=partitions, stop=stop,
                                                                 allowed_updates=ALLOWED_UPDATES))
            elif mode == "partition":
                drain = asyncio.create_task(feed.run(stop))
            else:
                drain = asyncio.create_task(_drain_webhook(app, stop))
            logger.info("bot running (%s) as @%s", mode, app.bot.username)
            if ready is not None:
                ready.set()
            await stop.wait()
            quiet = _QuietWhileStopping()
            logging.getLogger("telegram.ext.Updater").addFilter(quiet)
            if drain is not None:
                drain.cancel()
                await asyncio.gather(drain, return_exceptions=True)
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await app.stop()
            logging.getLogger("telegram.ext.Updater").removeFilter(quiet)
        await app.post_shutdown(app)
        holder.cancel()
    finally:
        await asyncio.to_thread(lock.release)


class BackgroundBot:
    """serve() on its own event loop in a thread: botshell, the benchmark and the tests run the bot this way."""

    def __init__(self, *, api_url: str, mode: str = "polling", token: str | None = None, **serve_kwargs):
        self.api_url, self.mode, self.token = api_url, mode, token
        self.serve_kwargs = serve_kwargs  # partitions / partition
        self.state: dict = {}

    def start(self, timeout: float = 60.0) -> "BackgroundBot":
        state = self.state = {}
        started = threading.Event()

        async def main():
            state["stop"], ready = asyncio.Event(), asyncio.Event()
            state["loop"] = asyncio.get_running_loop()
            task = asyncio.create_task(serve(mode=self.mode, token=self.token, api_url=self.api_url,
                                             stop=state["stop"], ready=ready, **self.serve_kwargs))
            await asyncio.wait([task, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
            started.set()
            await task

        def run():
            try:
                asyncio.run(main())
            except BaseException as exc:  # handed to start()'s caller
                state["error"] = exc
                started.set()

        state["thread"] = threading.Thread(target=run, name="bot", daemon=True)
        state["thread"].start()
        if not started.wait(timeout):
            raise RuntimeError("the bot did not start")
        if "error" in state:
            raise state["error"]
        return self

    def stop(self, timeout: float = 30.0) -> None:
        thread = self.state.get("thread")
        if thread is not None and thread.is_alive() and "loop" in self.state:
            self.state["loop"].call_soon_threadsafe(self.state["stop"].set)
            thread.join(timeout)
