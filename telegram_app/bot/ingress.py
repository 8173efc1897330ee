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
    from telegram.error import NetworkError, RetryAfter

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


def _done(partition: int, raw: bytes) -> None:
    limits.client().lrem(work_key(partition), 1, raw)


class PartitionFeed:
    """Feeds one partition's updates to an Application and removes each from the work list once handled."""

    def __init__(self, app, partition: int):
        self.app, self.partition = app, partition
        self.raw_of: dict[int, bytes] = {}

    async def _put(self, items: list[bytes], *, recovered: bool) -> None:
        payloads = [json.loads(raw) for raw in items]
        fresh = [True] * len(items) if recovered else await asyncio.to_thread(_fresh, [p["update_id"] for p in payloads])
        for raw, payload, new in zip(items, payloads, fresh):
            if not new:
                await asyncio.to_thread(_done, self.partition, raw)
                continue
            self.raw_of[payload["update_id"]] = raw
            await self.app.update_queue.put(Update.de_json(payload, self.app.bot))

    async def run(self, stop: asyncio.Event) -> None:
        client = limits.client()
        left = await asyncio.to_thread(client.lrange, work_key(self.partition), 0, -1)
        if left:  # taken by a partition process that died before handling them
            logger.warning("partition %s: %s updates left unfinished by a previous process, handling them first",
                           self.partition, len(left))
            await self._put(left, recovered=True)
        while not stop.is_set():
            items = await asyncio.to_thread(_take, self.partition)
            if not items:  # wait (a second at most, to see `stop`) for the next one, moved the same way
                one = await asyncio.to_thread(client.blmove, queue_key(self.partition), work_key(self.partition), 1,
                                              "LEFT", "RIGHT")
                items = [one] if one is not None else []
            if items:
                await self._put(items, recovered=False)

    async def handled(self, update: Update) -> None:
        raw = self.raw_of.pop(update.update_id, None)
        if raw is not None:
            await asyncio.to_thread(_done, self.partition, raw)

