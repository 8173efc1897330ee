"""The python-telegram-bot layer: turns updates into `Incoming`, runs the router in a worker thread (the
event loop never blocks on the database), and performs the actions it returns with the real client."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, connections
from telegram import InputFile, Update
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from telegram_app.bot.core import Answer, Delete, Edit, Incoming, Photo, Reply
from telegram_app.bot.pool import handle_in_child, pool_create
from telegram_app.bot.router import handle
from telegram_app.bot.transport import BotApiRequest
from telegram_app.limits import reply_gate, send_done
from telegram_app.tasks import delete_message

logger = logging.getLogger(__name__)
THREADS = 16


# Updates one bot process holds at most: read from Telegram and waiting, or being handled. Past it the poller waits and
# unread updates stay with Telegram (kept there for 24 h), so an overload costs latency, never unbounded memory.
IN_HAND_UPDATES = 1024


class BoundedUpdateQueue(asyncio.Queue):
    """The Application's update queue, bounded by the updates in hand: each one taken out holds a slot until its
    handling ends (``release``), and at most ``limit`` wait in the queue, so a full desk stops the poller's put."""

    def __init__(self, limit: int = IN_HAND_UPDATES):
        super().__init__(maxsize=limit)
        self._slots = asyncio.Semaphore(limit)

    async def get(self):
        await self._slots.acquire()
        return await super().get()

    def release(self) -> None:
        self._slots.release()


class PerUserOrder(BaseUpdateProcessor):
    """Updates of different users run concurrently; one user's updates run in the order they came."""

    def __init__(self, max_concurrent_updates: int = 256, on_done=None):
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self._on_done = on_done  # called once per update handled (BoundedUpdateQueue.release)

    async def do_process_update(self, update, coroutine) -> None:
        key = update.effective_user.id if isinstance(update, Update) and update.effective_user else 0
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
            if self._on_done is not None:
                self._on_done()

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _sync_handle(inc: Incoming) -> list:
    try:
        return handle(inc)
    finally:
        connection.close_if_unusable_or_obsolete()  # keeps a healthy connection, drops a broken one


def incoming_from(update: Update) -> Incoming | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    common = dict(user_id=user.id, chat_id=chat.id, chat_type=chat.type, username=user.username or "",
                  first_name=user.first_name or "")
    if update.callback_query is not None:
        message = update.callback_query.message
        return Incoming(callback_data=update.callback_query.data or "", message_id=message.message_id if message else None, **common)
    message = update.effective_message  # a new message or an edited one
    # A photo's or a file's caption is read like text: a key pasted there is deleted like one in a message.
    text = None if message is None else message.text if message.text is not None else message.caption
    if text is not None:
        return Incoming(text=text, message_id=message.message_id, edited=update.edited_message is not None, **common)
    return None


async def _send(bot, params: dict) -> dict:
    """sendMessage with plain parameters, answered as a plain dict: building and parsing python-telegram-bot's
    objects for a reply cost the event loop more than the request. (Method names are case-insensitive in the Bot
    API; spelled in lower case, python-telegram-bot does not warn that Bot.send_message exists.)"""
    return await _once_more_after_429(lambda: bot.do_api_request("sendmessage", api_kwargs=params))


async def _send_photo(bot, chat_id: int, photo: Photo):
    """sendPhoto, the PNG uploaded as multipart/form-data (python-telegram-bot's InputFile)."""
    return await _once_more_after_429(lambda: bot.send_photo(
        chat_id=chat_id, photo=InputFile(photo.png, filename="pnl.png"), caption=photo.caption[:1024] or None,
        api_kwargs={"reply_markup": photo.markup} if photo.markup else None))


async def _once_more_after_429(call):
    """The call; after a 429 asking for at most 5 s, once more after that wait."""
    for attempt in range(2):
        try:
            return await call()
        except RetryAfter as exc:
            wait = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else float(exc.retry_after)
            if attempt or wait > 5:
                raise
            await asyncio.sleep(wait)


SLOT_WAIT_S = 30.0  # a reply that finds no slot for this long is dropped (logged), never sent into a 429
# The send windows' Redis calls get threads of their own: queued behind handlers in the default pool, a reply's turn
# in the line would last as long as the slowest handler's.
_LIMITS_POOL = ThreadPoolExecutor(4, thread_name_prefix="bot-limits")
_turns: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _turn() -> asyncio.Lock:
    """The process's line for a full bot-wide second: one waiting reply at a time asks Redis, the others wait in
    arrival order (without it, a hundred waiting replies would each poll Redis every few milliseconds)."""
    loop = asyncio.get_running_loop()
    if loop not in _turns:
        _turns[loop] = asyncio.Lock()
    return _turns[loop]


async def _send_slot(chat_id: int, *, on_wait=None) -> str | None:
    """Wait until the bot-wide and per-chat windows the dispatcher keeps allow one more message, and record it there,
    before the bot sends or edits a message: Telegram counts every one, replies included. Replies may use the whole
    bot-wide second (notifications get what replies leave). A reply that finds the second full joins the line; one
    waiting for its own chat's second waits out of it, so other chats' replies go first. Returns the send's member
    in the windows, for `_send_done` once Telegram answered; None when no slot came within SLOT_WAIT_S. ``on_wait``
    (a coroutine function) is awaited once when the message must wait for the bot-wide budget (a line of unknown
    length), not when it waits only for its chat's own second."""
    loop = asyncio.get_running_loop()
    member = f"reply:{chat_id}:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + SLOT_WAIT_S
    attempt = 0

    async def ask() -> tuple[int, bool]:
        nonlocal attempt
        attempt += 1
        return await loop.run_in_executor(_LIMITS_POOL, functools.partial(reply_gate, chat_id=chat_id,
                                                                          member=f"{member}:{attempt}"))

    wait_ms, for_chat = await ask()  # most replies find room at once: no line
    while wait_ms:
        if time.monotonic() + wait_ms / 1000 > deadline:
            logger.warning("no send slot for chat %s within %.0f s; the answer is dropped", chat_id, SLOT_WAIT_S)
            return None
        if for_chat:
            await asyncio.sleep(wait_ms / 1000)
            wait_ms, for_chat = await ask()
            continue
        if on_wait is not None:  # the bot-wide budget, not the chat's own second: the wait can be long
            await on_wait()
            on_wait = None
        async with _turn():
            while wait_ms and not for_chat and time.monotonic() + wait_ms / 1000 <= deadline:
                await asyncio.sleep(wait_ms / 1000)
                wait_ms, for_chat = await ask()
    return f"{member}:{attempt}"


async def _send_done(chat_id: int, member: str) -> None:
    """As the dispatcher does: the send's place in the windows moves to its answer (Telegram had it by then)."""
    await asyncio.get_running_loop().run_in_executor(_LIMITS_POOL, functools.partial(send_done, chat_id=chat_id,
                                                                                     member=member))


async def perform(bot, inc: Incoming, actions: list, *, query=None) -> None:
    actions = sorted(actions, key=lambda a: isinstance(a, Answer))  # the button's answer last: the tap is done
    answer = next((a for a in actions if isinstance(a, Answer)), None)
    answered = False

    async def answer_now() -> None:
        """A tap whose edit must wait for the bot-wide budget is answered first: the answer is not a message (not
        counted), it stops the button's spinner at once, and Telegram refuses an answer that comes too late."""
        nonlocal answered
        if query is None or answer is None or answered:
            return
        answered = True
        try:
            await query.answer(text=answer.text or None, show_alert=answer.alert)
        except TelegramError as exc:
            logger.warning("bot action Answer failed for user %s: %s", inc.user_id, exc)

    for action in actions:
        markup = getattr(action, "markup", None)
        try:
            if isinstance(action, Reply):
                params = {"chat_id": inc.chat_id, "text": action.text}
                if markup:
                    params["reply_markup"] = markup
                if inc.callback_data is None and inc.message_id:
                    params["reply_parameters"] = {"message_id": inc.message_id, "allow_sending_without_reply": True}
                slot = await _send_slot(inc.chat_id, on_wait=answer_now)
                if slot is None:
                    continue
                try:
                    sent = await _send(bot, params)
                finally:
                    await _send_done(inc.chat_id, slot)
                if action.delete_after_s:
                    await asyncio.to_thread(_delete_later, inc.chat_id, sent["message_id"], action.delete_after_s)
            elif isinstance(action, Edit):
                params = {"chat_id": inc.chat_id, "message_id": inc.message_id, "text": action.text}
                if markup:
                    params["reply_markup"] = markup
                slot = await _send_slot(inc.chat_id, on_wait=answer_now)
                if slot is None:
                    continue
                try:
                    await bot.do_api_request("editmessagetext", api_kwargs=params)
                finally:
                    await _send_done(inc.chat_id, slot)
            elif isinstance(action, Photo):
                slot = await _send_slot(inc.chat_id)  # a picture is a message: it takes its place in the windows
                if slot is None:
                    continue
                try:
                    await _send_photo(bot, inc.chat_id, action)
                finally:
                    await _send_done(inc.chat_id, slot)
            elif isinstance(action, Delete):
                await bot.delete_message(chat_id=inc.chat_id, message_id=action.message_id)
            elif isinstance(action, Answer):
                await answer_now()
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                logger.warning("bot action %s failed for user %s: %s", type(action).__name__, inc.user_id, exc.message)
        except TelegramError as exc:
            logger.warning("bot action %s failed for user %s: %s", type(action).__name__, inc.user_id, exc)


def _delete_later(chat_id: int, message_id: int, seconds: int) -> None:
    delete_message.apply_async((chat_id, message_id), countdown=seconds)


async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    inc = incoming_from(update)
    if inc is None:
        return
    pool = context.application.bot_data.get("pool")
    if pool is not None:
        actions = await asyncio.get_running_loop().run_in_executor(pool, handle_in_child, inc)
    else:
        actions = await asyncio.to_thread(_sync_handle, inc)
    await perform(context.bot, inc, actions, query=update.callback_query)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    logger.error("unhandled bot error: %s", type(context.error).__name__, exc_info=context.error)


async def _post_init(app: Application) -> None:
    executor = app.bot_data["executor"] = ThreadPoolExecutor(THREADS, thread_name_prefix="bot-sync")
    asyncio.get_running_loop().set_default_executor(executor)
    if settings.TELEGRAM_BOT_PROCESSES:
        pool = pool_create(settings.TELEGRAM_BOT_PROCESSES)
        app.bot_data["pool"] = pool
        # Start every child now (Django set-up takes a while), not on the first update.
        await asyncio.gather(*(asyncio.get_running_loop().run_in_executor(pool, os.getpid)
                               for _ in range(settings.TELEGRAM_BOT_PROCESSES)))


def _close_thread_connections(executor: ThreadPoolExecutor) -> None:
    """Close the database connections the executor's threads keep (CONN_MAX_AGE): one job per thread, each
    held at a barrier until all have started, so every thread runs exactly one of them."""
    count = len(getattr(executor, "_threads", ()))
    if not count:
        return
    barrier = threading.Barrier(count)

    def close():
        connections.close_all()
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass

    for future in [executor.submit(close) for _ in range(count)]:
        future.result(timeout=10)


async def _post_shutdown(app: Application) -> None:
    executor = app.bot_data.pop("executor", None)
    if executor is not None:
        with ThreadPoolExecutor(1) as outside:  # not one of the executor's own threads
            await asyncio.get_running_loop().run_in_executor(outside, _close_thread_connections, executor)
    pool = app.bot_data.pop("pool", None)
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


BOT_API_CONNECTIONS = 8  # httpcore examines every pooled connection on each request: a few, kept alive


def build_application(*, token: str, api_url: str, polling: bool = True, after_update=None,
                      in_hand: int | None = None) -> Application:
    """The Application with every handler. ``after_update`` (async, gets the Update) runs after each update;
    ``in_hand`` bounds the updates the process holds (BoundedUpdateQueue)."""
    base = api_url.rstrip("/")
    queue = BoundedUpdateQueue(in_hand or IN_HAND_UPDATES)
    builder = (ApplicationBuilder().token(token).base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
               .update_queue(queue).concurrent_updates(PerUserOrder(on_done=queue.release))
               .get_updates_read_timeout(40.0)  # before .request(): python-telegram-bot refuses it after
               .request(BotApiRequest(connection_pool_size=BOT_API_CONNECTIONS, pool_timeout=10.0, connect_timeout=5.0,
                                      read_timeout=15.0, write_timeout=15.0))
               .post_init(_post_init).post_shutdown(_post_shutdown))
    if not polling:
        builder = builder.updater(None)
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT | filters.CAPTION, on_update))
    app.add_handler(CallbackQueryHandler(on_update))
    if after_update is not None:
        async def _after(update, context):
            await after_update(update)

        app.add_handler(TypeHandler(Update, _after), group=100)
    app.add_error_handler(on_error)
    return app
