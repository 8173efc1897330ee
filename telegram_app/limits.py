"""Limits kept in Redis so every process shares them: the outbound send schedule (Telegram's flood
limits), the pause after a 429, per-user command token buckets, and the single-bot lock.

Times are Redis server milliseconds (``TIME``), so clocks of different machines never disagree.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import redis
from django.conf import settings

from jarvis.locks import Lease
from jarvis.redis import redis_client

logger = logging.getLogger(__name__)

PREFIX = "jarvis:tg:"
GLOBAL_TAT = PREFIX + "send:global"
PAUSE = PREFIX + "send:pause"
REPLIES = PREFIX + "sent:replies"  # the bot's replies and edits among the sends of the bot-wide window

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gi = tonumber(ARGV[1]); local ci = tonumber(ARGV[2])
local base = math.max(now, tonumber(redis.call('GET', KEYS[3]) or '0'))
local g = tonumber(redis.call('GET', KEYS[1]) or '0')
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
if c > math.max(base, g) then return {0, math.ceil(c - now), now, 1} end
local start = math.max(base, g, c)
if start - now > tonumber(ARGV[3]) then return {0, math.ceil(start - now), now, 0} end
redis.call('SET', KEYS[1], start + gi, 'PX', math.ceil(start + gi - now + 60000))
redis.call('SET', KEYS[2], start + ci, 'PX', math.ceil(start + ci - now + 60000))
return {1, math.ceil(start - now), now, 0}
"""

# The gate right before the HTTP call: actual send times in a sliding window (bot-wide, and the replies among them)
# and the last send per chat, each widened by a guard so network jitter between here and Telegram cannot bunch them.
# A reply may fill the bot-wide window. Notifications may hold at most the limit less the replies sent in the window
# less the reserve (so replies always find room above their recent rate and can grow into the whole second), but
# never less than the floor: under a flood of commands exit fills still go out. Returns {wait ms, 1 if the wait is
# for the chat's own second}.
_GATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1]); local window = tonumber(ARGV[2]); local gap = tonumber(ARGV[3])
local reply = tonumber(ARGV[5]); local reserve = tonumber(ARGV[6]); local floor = tonumber(ARGV[7])
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
if pause > now then return {math.ceil(pause - now), 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
local r = redis.call('ZCARD', KEYS[4])
local wait = 0
local full = n >= limit
if reply == 0 and n - r >= math.max(floor, limit - reserve - r) then full = true end
if full and n > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = math.max(1, tonumber(oldest[2]) + window - now)
end
local chat = 0
local last = tonumber(redis.call('GET', KEYS[2]) or '-1')
if last >= 0 and now - last < gap and last + gap - now > wait then wait = last + gap - now; chat = 1 end
if wait > 0 then return {math.ceil(wait), chat} end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window + 1000)
if reply == 1 then
  redis.call('ZADD', KEYS[4], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[4], window + 1000)
end
redis.call('SET', KEYS[2], now, 'PX', gap + 1000)
return {0, 0}
"""

_DONE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1]) end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then redis.call('ZADD', KEYS[3], 'XX', now, ARGV[1]) end
local last = tonumber(redis.call('GET', KEYS[2]) or '-1')
if now > last then redis.call('SET', KEYS[2], now, 'PX', ARGV[2]) end
return now
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilms = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilms > cur then redis.call('SET', KEYS[1], untilms, 'PX', tonumber(ARGV[1]) + 60000) end
local g = tonumber(redis.call('GET', KEYS[2]) or '0')
if untilms > g then redis.call('SET', KEYS[2], untilms, 'PX', math.ceil(tonumber(ARGV[1]) + 60000)) end
return math.max(untilms, cur)
"""

_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1]); local per_ms = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1] or cap); local at = tonumber(state[2] or now)
tokens = math.min(cap, tokens + (now - at) * per_ms)
local allowed = 0; local wait = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 else wait = math.ceil((1 - tokens) / per_ms) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / per_ms) + 1000)
return {allowed, wait}
"""

TIMEOUT_SECONDS = 5.0  # a send waits on Redis longer than a health check does


def client() -> redis.Redis:
    return redis_client(timeout=TIMEOUT_SECONDS)


@functools.lru_cache(maxsize=16)
def _script(url: str, source: str):
    return redis_client(url, timeout=TIMEOUT_SECONDS).register_script(source)


def _run(source: str, keys: list[str], args: list) -> list | int:
    return _script(settings.REDIS_URL, source)(keys=keys, args=args)


# --- outbound send schedule --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    reserved: bool
    wait_ms: int  # until the slot (reserved), until the chat is free, or until the bot-wide budget has room
    now_ms: int
    chat_busy: bool = False  # not reserved because of the chat's own limit (other chats may go first)


def chat_interval_ms(chat_id: int) -> int:
    """1 a second per private chat (TELEGRAM_CHAT_INTERVAL_MS); 20 a minute per group (negative ids are groups and
    channels)."""
    return 60_000 // settings.TELEGRAM_GROUP_PER_MINUTE if chat_id < 0 else settings.TELEGRAM_CHAT_INTERVAL_MS


# The bot-wide second is kept this much longer. A send's time in the window is when its answer came back (the latest
# moment Telegram can have counted it, `send_done`), so the guard covers only clock granularity, not the network.
GLOBAL_GUARD_MS = 10


def global_window_ms() -> int:
    """The window in which at most TELEGRAM_SEND_PER_SECOND sends are allowed: a second and a guard. Each send is
    recorded twice: when it passes the gate, then at its answer (`send_done`); a send that took long on its way
    (a busy machine, the network) keeps its place later in the window, so Telegram never counts 31 in a second."""
    return 1000 + max(settings.TELEGRAM_SEND_MARGIN_MS, GLOBAL_GUARD_MS)


def notification_limit() -> int:
    """Messages a second the dispatcher paces itself to: Telegram's 30 less the replies' reserve (replies count at
    Telegram like any message, and go first: a trader waiting on an answer beats a notification). The gate may
    leave notifications less while the bot answers more than the reserve."""
    return max(1, settings.TELEGRAM_SEND_PER_SECOND - settings.TELEGRAM_REPLY_RESERVE_PER_SECOND)


def global_interval_ms() -> float:
    return global_window_ms() / notification_limit()


def send_slot_reserve(*, chat_id: int, max_wait_ms: int) -> Slot:
    """The next send slot of the bot and the chat, reserved only when it is at most ``max_wait_ms`` away: a slot
    nobody will use would hold back every later message."""
    reserved, wait, now, chat_busy = _run(_RESERVE, [GLOBAL_TAT, f"{PREFIX}send:chat:{chat_id}", PAUSE],
                                          [global_interval_ms(), chat_interval_ms(chat_id), int(max_wait_ms)])
    return Slot(reserved=bool(reserved), wait_ms=int(wait), now_ms=int(now), chat_busy=bool(chat_busy))


CHAT_GUARD_MS = 250  # a chat's next message waits this much longer: cheap, and absorbs a busy machine's jitter


def _chat_gap_ms(chat_id: int) -> int:
    return chat_interval_ms(chat_id) + max(settings.TELEGRAM_SEND_MARGIN_MS, CHAT_GUARD_MS)


def _gate(chat_id: int, member: str, reply: bool) -> tuple[int, bool]:
    wait, chat = _run(_GATE, [f"{PREFIX}sent:global", f"{PREFIX}sent:chat:{chat_id}", PAUSE, REPLIES],
                      [settings.TELEGRAM_SEND_PER_SECOND, global_window_ms(), _chat_gap_ms(chat_id), member, int(reply),
                       settings.TELEGRAM_REPLY_RESERVE_PER_SECOND, settings.TELEGRAM_NOTIFICATION_FLOOR_PER_SECOND])
    return int(wait), bool(chat)


def send_gate(*, chat_id: int, member: str) -> int:
    """A notification: record its send happening now if every limit allows it (returns 0); else the milliseconds to
    wait. Notifications fill the bot-wide second only as far as the bot's replies leave it."""
    return _gate(chat_id, member, False)[0]


def reply_gate(*, chat_id: int, member: str) -> tuple[int, bool]:
    """A reply or an edit of the bot (Telegram counts them like any message): record it now if the bot-wide second
    and its chat's allow it, returning (0, False); else (milliseconds to wait, whether the wait is its chat's own)."""
    return _gate(chat_id, member, True)


def send_done(*, chat_id: int, member: str) -> None:
    """The answer to a gated send came back: move its time in the bot-wide window, and its chat's last send, to now
    (Telegram received it somewhere between the gate and now). Never raises: a Redis failure here must not keep a
    sent message from being recorded as sent (it would be sent again after its lease)."""
    try:
        _run(_DONE, [f"{PREFIX}sent:global", f"{PREFIX}sent:chat:{chat_id}", REPLIES],
             [member, _chat_gap_ms(chat_id) + 1000])
    except redis.RedisError:
        logger.warning("could not record when Telegram answered send %s (Redis unreachable)", member)


def send_pause(*, seconds: float) -> int:
    """After a 429: every sender waits ``retry_after``. Returns the pause end (Redis ms)."""
    return int(_run(_PAUSE, [PAUSE, GLOBAL_TAT], [int(seconds * 1000)]))


PUMP_LOCK = "outbox-pump"  # held by the outbox pump while it sends (single_instance_lock name)
PUMP_KICK = PREFIX + "outbox-pump:kick"

_KICK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""


def pump_active() -> bool:
    return bool(client().exists(f"{PREFIX}lock:{PUMP_LOCK}"))


def pump_kick_claim(*, quiet_ms: int = 2000) -> bool:
    """True when the caller should queue the pump: none holds its lock and none was queued in the last
    ``quiet_ms`` (a burst of deferred messages queues one pump, not one each)."""
    return bool(_run(_KICK, [f"{PREFIX}lock:{PUMP_LOCK}", PUMP_KICK], [quiet_ms]))


def pump_kick_clear() -> None:
    client().delete(PUMP_KICK)


# --- per-user command buckets ---------------------------------------------------------------------------
def command_allow(*, user_id: int) -> tuple[bool, int]:
    """Token bucket per Telegram user: (allowed, seconds to wait). Burst and rate from settings."""
    cap = settings.TELEGRAM_COMMAND_BURST
    per_ms = settings.TELEGRAM_COMMANDS_PER_MINUTE / 60_000
    allowed, wait = _run(_BUCKET, [f"{PREFIX}cmd:{user_id}"], [cap, repr(per_ms)])
    return bool(allowed), max(1, -(-int(wait) // 1000)) if not allowed else 0


# --- one bot process ------------------------------------------------------------------------------------
class LockHeld(Exception):
    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


def single_instance_lock(name: str, *, ttl_seconds: float = 30.0, token: str | None = None) -> Lease:
    """The lock one process holds while it is the only one doing `name` (the bot, the outbox pump); `token`
    carries a held lock over to the next task."""
    return Lease(f"{PREFIX}lock:{name}", seconds=ttl_seconds, token=token, client=client())
