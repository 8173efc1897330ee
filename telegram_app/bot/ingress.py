"""Partitioned ingress (`manage.py runbot --partitions N`): one process reads getUpdates, N bot processes answer.

One python-telegram-bot Application answers updates on one core at most (decoding updates and building requests
run on its event loop), so past that rate the work is split by Telegram user id over N processes:

- the reader (the runbot process, holding the single-bot lock) long-polls getUpdates and appends each raw update
  to the Redis list of its partition (`user id % N`) BEFORE confirming it with the next offset;
- partition k (a child process) moves a batch from its list to its work list in one step (Lua), hands the updates
  to its Application in list order, and removes each from the work list once its handlers ran. A partition that
  dies leaves its unfinished updates in the work list; the next one for that partition processes them first.
- A reader that dies between the append and the offset confirmation makes Telegram deliver those updates again:
  partitions drop an update id they have already taken (`SET NX`, an hour).

A user's updates always land in the same partition, in the order Telegram gave them, and PerUserOrder keeps them in
order inside the partition's Application.
"""

from __future__ import annotations

import asyncio
import json
import logging

from telegram import Update
from telegram.error import NetworkError, RetryAfter

from telegram_app import limits

logger = logging.getLogger(__name__)
BATCH = 100
SEEN_TTL_S = 3600

# Move up to ARGV[1] raw updates from the partition's list to its work list; return them.
_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
end
return items
"""


def queue_key(partition: int) -> str:
    return f"{limits.PREFIX}in:{partition}"


def work_key(partition: int) -> str:
    return f"{limits.PREFIX}work:{partition}"


def user_of(update: dict) -> int:
    for kind in ("message", "edited_message", "callback_query"):
        sender = (update.get(kind) or {}).get("from") or {}
        if isinstance(sender.get("id"), int):
            return sender["id"]
    return 0


def partition_of(update: dict, partitions: int) -> int:
    return user_of(update) % partitions


def updates_route(updates: list[dict], partitions: int) -> None:
    """Append each raw update to its partition's list (one round trip), in the order given."""
    pipe = limits.client().pipeline(transaction=False)
    for update in updates:
        pipe.rpush(queue_key(partition_of(update, partitions)), json.dumps(update, separators=(",", ":")))
    pipe.execute()


async def read_updates(bot, *, partitions: int, stop: asyncio.Event, allowed_updates: list[str]) -> None:
    """The reader: getUpdates (long polling) -> partition lists, each batch routed before its offset is confirmed."""
    offset = None
    delay = 0.0
    while not stop.is_set():
        try:
            # Raw dicts, not Update objects the reader would only turn back into JSON. Bot API method names are
            # case-insensitive; spelled "getupdates", python-telegram-bot does not warn that get_updates exists.
            updates = await bot.do_api_request(
                "getupdates", api_kwargs={"offset": offset, "timeout": 30, "allowed_updates": allowed_updates},
                read_timeout=45)
            delay = 0.0
        except RetryAfter as exc:
            delay = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else float(exc.retry_after)
        except NetworkError as exc:  # TimedOut included; the Bot API (or the stand-in) may be restarting
            if stop.is_set():
                return
            delay = min(max(delay * 2, 0.5), 5.0)
            logger.warning("Bot API unreachable while reading updates (%s); retrying in %.1f s", type(exc).__name__, delay)
        else:
            if updates:
                await asyncio.to_thread(updates_route, updates, partitions)
                offset = updates[-1]["update_id"] + 1
        if delay:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass


def _take(partition: int) -> list[bytes]:
    return list(limits._run(_TAKE, [queue_key(partition), work_key(partition)], [BATCH]))


def _fresh(update_ids: list[int]) -> list[bool]:
    """True for the update ids no partition took before (a re-read after a reader crash is dropped)."""
    pipe = limits.client().pipeline(transaction=False)
    for update_id in update_ids:
        pipe.set(f"{limits.PREFIX}seen:{update_id}", 1, nx=True, ex=SEEN_TTL_S)
    return [bool(r) for r in pipe.execute()]


def _next_batch(partition: int) -> list[tuple[bytes, dict, bool]]:
    """The next updates of the partition as (raw, payload, fresh), moved to its work list: a batch when some are
    waiting, else the next one to arrive (waiting a second at most, so the caller sees its stop signal). One
    thread hop per batch: taking, decoding and the taken-before check together."""
    items = _take(partition)
    if not items:
        one = limits.client().blmove(queue_key(partition), work_key(partition), 1, "LEFT", "RIGHT")
        items = [one] if one is not None else []
    if not items:
        return []
    payloads = [json.loads(raw) for raw in items]
    return list(zip(items, payloads, _fresh([p["update_id"] for p in payloads])))


def _done(partition: int, raws: list[bytes]) -> None:
    """Remove handled updates from the work list (one round trip)."""
    pipe = limits.client().pipeline(transaction=False)
    for raw in raws:
        pipe.lrem(work_key(partition), 1, raw)
    pipe.execute()


class PartitionFeed:
    """Feeds one partition's updates to an Application and removes each from the work list once handled."""

    def __init__(self, app, partition: int):
        self.app, self.partition = app, partition
        self.raw_of: dict[int, bytes] = {}
        # Handled updates wait here for one removal round trip that takes every update finished meanwhile: a
        # thread hop and a Redis call per update cost a busy partition more than the rest of the hop.
        self._finished: list[bytes] = []
        self._wake = asyncio.Event()
        self._remover: asyncio.Task | None = None

    async def _put(self, batch: list[tuple[bytes, dict, bool]]) -> None:
        """Hand (raw, payload, fresh) updates to the Application in order; drop the ones taken before."""
        stale = [raw for raw, _, fresh in batch if not fresh]
        if stale:
            await asyncio.to_thread(_done, self.partition, stale)
        for raw, payload, fresh in batch:
            if fresh:
                self.raw_of[payload["update_id"]] = raw
                await self.app.update_queue.put(Update.de_json(payload, self.app.bot))

    async def _remove_finished(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except Exception:  # noqa: BLE001 - Redis away: those stay in the work list (handled again after a restart)
                logger.warning("partition %s: could not remove handled updates from the work list", self.partition,
                               exc_info=True)

    async def _flush(self) -> None:
        batch, self._finished = self._finished, []
        if batch:
            await asyncio.to_thread(_done, self.partition, batch)

    async def run(self, stop: asyncio.Event) -> None:
        self._remover = asyncio.create_task(self._remove_finished())
        try:
            await self._feed(stop)
        finally:
            remover, self._remover = self._remover, None
            remover.cancel()
            await asyncio.gather(remover, return_exceptions=True)
            await self._flush()  # what the remover had not taken yet

    async def _feed(self, stop: asyncio.Event) -> None:
        client = limits.client()
        left = await asyncio.to_thread(client.lrange, work_key(self.partition), 0, -1)
        if left:  # taken by a partition process that died before handling them
            logger.warning("partition %s: %s updates left unfinished by a previous process, handling them first",
                           self.partition, len(left))
            await self._put([(raw, json.loads(raw), True) for raw in left])
        while not stop.is_set():
            batch = await asyncio.to_thread(_next_batch, self.partition)
            if batch:
                await self._put(batch)

    async def handled(self, update: Update) -> None:
        raw = self.raw_of.pop(update.update_id, None)
        if raw is None:
            return
        if self._remover is not None:
            self._finished.append(raw)
            self._wake.set()
        else:  # the feed stopped; updates still finishing are removed one by one
            await asyncio.to_thread(_done, self.partition, [raw])

